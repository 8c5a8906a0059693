/* jsoncheck.c - common/json.c's contract, checked on arbitrary bytes (see
 * jsoncheck.h).
 *
 * DESIGN
 * jansson is the oracle for "is this JSON" and "is this UTF-8": it is an
 * independent implementation of the same RFCs, and json.h lists where the
 * fleet's rules differ from it on purpose (numbers beyond 64 bits or a
 * double's range are JSON to Python, not to jansson; \u0000 in an object
 * key is JSON, jansson cannot hold it; jansson nests deeper than
 * CF_JSON_DEPTH_MAX; jansson takes a raw NUL byte after a top-level number
 * as the end of the document, json.h refuses NUL bytes anywhere).  Every
 * other disagreement is a finding.
 *
 * Buffers handed to the functions under test are allocated at exactly the
 * size passed, so AddressSanitizer sees a write one byte past them.
 *
 * Thread: any; no state.
 */
#include "jsoncheck.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define REASON_PREFIX "invalid JSON at byte "

__attribute__((format(printf, 3, 4))) static int
json_check_failed(char *problem, size_t problem_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, problem_size, fmt, ap);
    va_end(ap);
    return -1;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

/* ------------------------------------------------------------------------
 * cf_json_validate
 * ------------------------------------------------------------------------ */

/* A rejection's reason: "invalid JSON at byte N: <fixed text>", N <= size,
 * printable ASCII only (the document's bytes never appear). */
static int check_reason(const char *reason, size_t size, char *problem, size_t problem_size)
{
    size_t n = strlen(REASON_PREFIX);
    if (strncmp(reason, REASON_PREFIX, n) != 0)
        return json_check_failed(problem, problem_size,
                                 "cf_json_validate reason \"%s\" lacks \"%s\"", reason,
                                 REASON_PREFIX);
    char *end;
    unsigned long long at = strtoull(reason + n, &end, 10);
    if (end == reason + n || end[0] != ':' || end[1] != ' ' || !end[2])
        return json_check_failed(problem, problem_size,
                                 "cf_json_validate reason \"%s\" is malformed", reason);
    if (at > size)
        return json_check_failed(problem, problem_size,
                                 "cf_json_validate reason names byte %llu of a %zu-byte document",
                                 at, size);
    for (const char *c = reason; *c; c++) {
        if (*c < 0x20 || *c > 0x7e)
            return json_check_failed(problem, problem_size,
                                     "cf_json_validate reason holds byte 0x%02x, not fixed text",
                                     (unsigned char)*c);
    }
    return 0;
}

/* Runs cf_json_validate() with a reason buffer of exactly reason_size bytes
 * and checks the buffer's promises; the reason is copied into copy. */
static int validate(const uint8_t *data, size_t size, int max_depth, size_t reason_size, int *valid,
                    char *copy, size_t copy_size, char *problem, size_t problem_size)
{
    char *reason = reason_size ? xmalloc(reason_size) : NULL;
    if (reason)
        memset(reason, 'x', reason_size);
    int rc = cf_json_validate((const char *)data, size, max_depth, reason, reason_size);
    int out = 0;
    if (rc != 0 && rc != -1)
        out = json_check_failed(problem, problem_size, "cf_json_validate returned %d", rc);
    else if (reason && !memchr(reason, '\0', reason_size))
        out = json_check_failed(problem, problem_size,
                                "cf_json_validate left its reason unterminated");
    else if (reason && rc == 0 && reason[0])
        out = json_check_failed(problem, problem_size,
                                "cf_json_validate accepted with the reason \"%s\"", reason);
    else if (reason && rc < 0 && reason_size > 1 && !reason[0])
        out =
            json_check_failed(problem, problem_size, "cf_json_validate rejected without a reason");
    snprintf(copy, copy_size, "%s", reason && out == 0 ? reason : "");
    *valid = rc == 0;
    free(reason);
    return out;
}

static int check_validate(const uint8_t *data, size_t size, int *valid, char *reason,
                          size_t reason_size, char *problem, size_t problem_size)
{
    static const int depths[] = {0, 1, 2, 64, CF_JSON_DEPTH_MAX};
    static const int bad[] = {-1, CF_JSON_DEPTH_MAX + 1};
    static const size_t shorts[] = {0, 1, 2, 20};
    char other[160];
    int v = 0, before = 0;

    /* A max_depth outside 0..CF_JSON_DEPTH_MAX rejects every document. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (validate(data, size, bad[i], 64, &v, other, sizeof(other), problem, problem_size) < 0)
            return -1;
        if (v)
            return json_check_failed(problem, problem_size,
                                     "cf_json_validate accepted max_depth %d", bad[i]);
    }
    /* Valid at one depth: valid at every greater one.  The last depth's
     * reason stays in reason. */
    for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        if (validate(data, size, depths[i], reason_size, &v, reason, reason_size, problem,
                     problem_size) < 0)
            return -1;
        if (!v && check_reason(reason, size, problem, problem_size) < 0)
            return -1;
        if (before && !v)
            return json_check_failed(problem, problem_size,
                                     "cf_json_validate accepts at a max_depth of %d "
                                     "but not at %d",
                                     depths[i - 1], depths[i]);
        before = v;
    }
    *valid = v;
    /* Short reason buffers: the same answer, a truncated reason. */
    for (size_t i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++) {
        if (validate(data, size, CF_JSON_DEPTH_MAX, shorts[i], &v, other, sizeof(other), problem,
                     problem_size) < 0)
            return -1;
        if (v != *valid)
            return json_check_failed(problem, problem_size,
                                     "cf_json_validate's answer depends on the size "
                                     "of its reason buffer (%zu)",
                                     shorts[i]);
        if (strncmp(reason, other, strlen(other)) != 0)
            return json_check_failed(problem, problem_size,
                                     "cf_json_validate's %zu-byte reason \"%s\" is "
                                     "not a prefix of \"%s\"",
                                     shorts[i], other, reason);
    }
    return 0;
}

/* jansson's opinion, and whether json.h documents the disagreement. */
static int check_against_jansson(const uint8_t *data, size_t size, int valid, const char *reason,
                                 char *problem, size_t problem_size)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    int theirs = root != NULL;
    json_decref(root);
    if (valid == theirs)
        return 0;
    if (valid) {
        enum json_error_code code = json_error_code(&err);
        if (code == json_error_numeric_overflow || code == json_error_null_byte_in_key)
            return 0;
        return json_check_failed(
            problem, problem_size,
            "cf_json_validate accepts a document jansson refuses (%s, at byte %d)", err.text,
            err.position);
    }
    if (strstr(reason, "nesting deeper than"))
        return 0;
    /* json.h: no raw NUL byte anywhere; jansson takes one after a
     * top-level number as the end of the document. */
    unsigned long long at = strtoull(reason + strlen(REASON_PREFIX), NULL, 10);
    if (strstr(reason, ": NUL byte") && at < size && data[at] == 0)
        return 0;
    return json_check_failed(problem, problem_size,
                             "cf_json_validate refuses a document jansson accepts: %s", reason);
}

/* ------------------------------------------------------------------------
 * cf_json_quote
 * ------------------------------------------------------------------------ */

/* Length of the output unit that starts at lit[i] (an escape, a UTF-8
 * character, or one byte). */
static size_t unit_len(const char *lit, size_t len, size_t i)
{
    unsigned char c = (unsigned char)lit[i];
    if (c == '\\')
        return i + 1 < len && lit[i + 1] == 'u' ? 6 : 2;
    if (c >= 0xf0)
        return 4;
    if (c >= 0xe0)
        return 3;
    if (c >= 0xc0)
        return 2;
    return 1;
}

/* A call with out_size bytes: the literal's length whatever the size, a
 * NUL-terminated prefix of whole units of the full literal, the longest
 * that fits. */
static int check_short_quote(const uint8_t *data, size_t size, const char *lit, long r,
                             size_t out_size, char *problem, size_t problem_size)
{
    char *out = xmalloc(out_size);
    long r2 = cf_json_quote((const char *)data, size, out, out_size);
    int rc = 0;
    size_t n = out_size ? strnlen(out, out_size) : 0;
    if (r2 != r) {
        rc = json_check_failed(problem, problem_size,
                               "cf_json_quote returned %ld with %zu bytes of room, %ld "
                               "with none",
                               r2, out_size, r);
    } else if (n == out_size) {
        rc = json_check_failed(problem, problem_size, "cf_json_quote left %zu bytes unterminated",
                               out_size);
    } else if (memcmp(out, lit, n) != 0) {
        rc = json_check_failed(problem, problem_size,
                               "cf_json_quote's %zu-byte output is not a prefix of the "
                               "literal",
                               out_size);
    } else if ((size_t)r < out_size && n != (size_t)r) {
        rc = json_check_failed(problem, problem_size,
                               "cf_json_quote wrote %zu bytes of a %ld-byte literal "
                               "into %zu bytes of room",
                               n, r, out_size);
    } else if ((size_t)r >= out_size && n < (size_t)r &&
               n + unit_len(lit, (size_t)r, n) <= out_size - 1) {
        rc = json_check_failed(problem, problem_size,
                               "cf_json_quote stopped at byte %zu of %zu bytes of room "
                               "although the next unit fits",
                               n, out_size);
    } else if ((size_t)r >= out_size && n > 0) {
        /* Whole units: the prefix closed with a quote is a JSON string. */
        char *closed = xmalloc(n + 1);
        memcpy(closed, out, n);
        closed[n] = '"';
        if (cf_json_validate(closed, n + 1, 0, NULL, 0) != 0)
            rc = json_check_failed(problem, problem_size,
                                   "cf_json_quote's %zu-byte prefix ends inside a unit", n);
        free(closed);
    }
    free(out);
    return rc;
}

static int check_quote(const uint8_t *data, size_t size, char *problem, size_t problem_size)
{
    long r = cf_json_quote((const char *)data, size, NULL, 0);
    json_t *str = json_stringn((const char *)data, size);
    int rc = 0;
    char *lit = NULL;
    if ((r < 0) != (str == NULL)) {
        rc = json_check_failed(problem, problem_size,
                               "cf_json_quote %s bytes that jansson %s as UTF-8",
                               r < 0 ? "refuses" : "accepts", r < 0 ? "accepts" : "refuses");
        goto out;
    }
    if (r < 0)
        goto out;
    if (r < 2 || (size_t)r > 6 * size + 2) {
        rc = json_check_failed(problem, problem_size, "cf_json_quote needs %ld bytes for %zu", r,
                               size);
        goto out;
    }
    lit = xmalloc((size_t)r + 1);
    if (cf_json_quote((const char *)data, size, lit, (size_t)r + 1) != r || lit[r] != '\0' ||
        strlen(lit) != (size_t)r || lit[0] != '"' || lit[r - 1] != '"') {
        rc = json_check_failed(problem, problem_size,
                               "cf_json_quote's full output is not one quoted literal");
        goto out;
    }
    /* The literal is JSON, and reads back as the same bytes. */
    char why[160];
    if (cf_json_validate(lit, (size_t)r, 0, why, sizeof(why)) != 0) {
        rc = json_check_failed(problem, problem_size, "cf_json_quote's literal is not JSON: %s",
                               why);
        goto out;
    }
    json_error_t err;
    json_t *back = json_loadb(lit, (size_t)r, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    bool same = back && json_is_string(back) && json_string_length(back) == size &&
                memcmp(json_string_value(back), data, size) == 0;
    json_decref(back);
    if (!same) {
        rc = json_check_failed(problem, problem_size,
                               "cf_json_quote's literal does not read back as the input");
        goto out;
    }
    size_t sizes[] = {1, 2, 3, (size_t)r / 2 + 1, (size_t)r, (size_t)r + 1, (size_t)r + 2};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && rc == 0; i++)
        rc = check_short_quote(data, size, lit, r, sizes[i], problem, problem_size);
out:
    free(lit);
    json_decref(str);
    return rc;
}

int cf_fuzz_json_check(const uint8_t *data, size_t size, char *problem, size_t problem_size)
{
    static const uint8_t empty[1];
    char reason[160];
    int valid = 0;
    if (!data)
        data = empty;
    problem[0] = '\0';
    if (check_validate(data, size, &valid, reason, sizeof(reason), problem, problem_size) < 0 ||
        check_against_jansson(data, size, valid, reason, problem, problem_size) < 0 ||
        check_quote(data, size, problem, problem_size) < 0)
        return -1;
    return 0;
}
