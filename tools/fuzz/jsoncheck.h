/* jsoncheck.h - common/json.c's contract, checked on arbitrary bytes.
 *
 * What it owns: the properties json.h promises, each turned into a check
 * that any input can be run through: cf_json_validate() agrees with jansson
 * (a tree-building parser) except where json.h documents a difference,
 * answers with a reason that holds only its fixed text and an offset within
 * the document, is monotonic in max_depth and refuses a max_depth outside
 * 0..CF_JSON_DEPTH_MAX; cf_json_quote() refuses exactly what jansson's
 * json_stringn() refuses (bytes that are not UTF-8), writes a literal that
 * validates and that jansson reads back as the same bytes, and, when the
 * output is short, writes the longest prefix of whole units that fits.
 * What it does not own: libFuzzer (fuzz_json.c) or files.
 *
 * Thread: any; no state.
 */
#ifndef CF_FUZZ_JSONCHECK_H
#define CF_FUZZ_JSONCHECK_H

#include <stddef.h>
#include <stdint.h>

/* Runs every check on data[0..size) (data may be NULL when size is 0).
 * Returns 0, or -1 with the broken promise in problem. */
int cf_fuzz_json_check(const uint8_t *data, size_t size, char *problem, size_t problem_size);

#endif
