/* keys.h - what may be part of a cache key, and rejection reasons.
 *
 * What it owns: the rule that an id taken from an event may become part of
 * a Redis key only if it is a "safe key part", and the format of the reason
 * a rejected event carries to the dead-letter topic.
 *
 * A safe key part is 1 to max_len bytes of ASCII letters, digits, '.', '_'
 * and '-'; with CF_KEY_UTF8 (search terms), also well-formed UTF-8
 * characters above ASCII, except invisible ones (C1 controls, no-break and
 * other spaces, zero-width and direction marks, separators, BOM).  Everything else is refused: spaces, control
 * bytes, ':' (it separates key parts: "1:v" must not forge a companion
 * key), the glob characters "*?[]" (an operator's SCAN or KEYS pattern
 * must match what it means), braces (Redis Cluster hash tags) and quotes.
 *
 * Reasons are "<code>: <detail>", <code> one short token that metrics count
 * by (see CF_REASON_* below).  A detail describes where and what is wrong
 * (field name, byte position, byte class, length) and never repeats the
 * rejected content, which may be a customer's data or an attacker's.
 */
#ifndef CF_KEYS_H
#define CF_KEYS_H

#include <stddef.h>

#define CF_KEY_ASCII 0u
#define CF_KEY_UTF8  1u

/* Reason codes (the dead-letter header and the metrics label). */
#define CF_REASON_UNDECODABLE    "undecodable"     /* not Avro of the writer schema */
#define CF_REASON_UNKNOWN_SCHEMA "unknown-schema"  /* a framed schema id we do not have */
#define CF_REASON_TOO_LARGE      "too-large"       /* over cache.max_payload_bytes */
#define CF_REASON_INVALID_FIELD  "invalid-field"   /* a field's value breaks the contract */
#define CF_REASON_UNSAFE_ID      "unsafe-id"       /* an id that is not a safe key part */
#define CF_REASON_INVALID_JSON   "invalid-json"    /* a document that is not JSON */
#define CF_REASON_UNKNOWN_TYPE   "unknown-type"    /* an event type this consumer lacks */

/* Checks s[0..len) as a safe key part for field (named in the reason).
 * Returns 0, or -1 with an "unsafe-id: ..." reason in reason. */
int cf_key_part_check(const char *field, const char *s, size_t len, size_t max_len, unsigned flags,
                      char *reason, size_t reason_size);

/* Writes "<code>: <formatted detail>" into reason; returns -1 so a planner
 * can `return cf_reason(...)`. */
int cf_reason(char *reason, size_t reason_size, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copies the code of a reason ("unsafe-id" of "unsafe-id: ...") into buf. */
char *cf_reason_code(const char *reason, char *buf, size_t size);

#endif
