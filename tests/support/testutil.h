/* testutil.h - small helpers shared by the cmocka programs.
 *
 * Paths of the source and build trees are compiled in (CF_SOURCE_DIR,
 * CF_BUILD_DIR) so a test finds the schemas and the programs it starts
 * wherever ctest runs it from.
 */
#ifndef CF_TESTUTIL_H
#define CF_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* CF_TEST_SANITIZED is 1 in a build with AddressSanitizer or
 * MemorySanitizer, which replace malloc (mallopt and mallinfo2 do nothing
 * there), 0 otherwise. */
#if defined(__SANITIZE_ADDRESS__)
#define CF_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define CF_TEST_SANITIZED 1
#endif
#endif
#ifndef CF_TEST_SANITIZED
#define CF_TEST_SANITIZED 0
#endif

/* The schemas folder of the source tree. */
const char *cf_test_schemas_dir(void);

/* Writes "<CF_BUILD_DIR>/<name>" into buf; returns buf. */
char *cf_test_program(const char *name, char *buf, size_t size);

/* Creates a fresh temporary directory under $TMPDIR (or /tmp) and returns its
 * path in buf. Aborts the test when that fails. */
char *cf_test_tmpdir(const char *tag, char *buf, size_t size);

/* Removes a directory tree created by cf_test_tmpdir(). */
void cf_test_rmtree(const char *path);

#endif
