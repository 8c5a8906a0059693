/* json.h - checking and quoting JSON text without building a tree.
 *
 * What it owns: the decision "is this event's document JSON that Django can
 * json.loads()?", made once per event on the hot path, and the one way the
 * fleet writes a JSON string literal.  What it does not: reading values out
 * of a document; code that needs a tree uses jansson.
 *
 * Why beside jansson: jansson's json_loadb() builds a tree, one malloc per
 * value, to answer a yes/no question that is asked hundreds of thousands of
 * times a second.  cf_json_validate() answers it in one pass over the bytes,
 * with no allocation and a fixed, small stack frame whatever the input.  Its
 * rules are the web tier's, not a library's limits: like jansson it rejects
 * lone surrogate escapes (json.loads would take them, browsers and Django's
 * consumers would not), but it accepts \u0000 and numbers beyond 64 bits or
 * a double's range, which json.loads accepts and jansson refuses.
 *
 * Thread safety: both functions are pure; any thread may call them at any
 * time.  They never allocate.
 */
#ifndef CF_JSON_H
#define CF_JSON_H

#include <stddef.h>

/* The largest max_depth cf_json_validate() accepts: the nesting state is a
 * fixed bit stack of this many levels, so the stack use is bounded. */
#define CF_JSON_DEPTH_MAX 256

/* Checks that buf[0..len) is one JSON text (RFC 8259): any value at top level,
 * surrounded by optional whitespace, UTF-8 valid (no overlongs, no surrogates
 * encoded in UTF-8, nothing above U+10FFFF), strings without raw control
 * characters, \u escapes well-formed (a high surrogate escape must be followed by a low
 * one and vice versa — Python's json.loads accepts lone surrogates but
 * Django's JSON consumers and browsers do not, reject them), numbers in RFC
 * grammar (no leading zeros, no '+', no NaN/Infinity, no trailing '.'), nesting
 * at most max_depth (arrays+objects), no NUL bytes anywhere.
 * Returns 0 if valid; -1 otherwise with a short reason written into
 * reason (e.g. "invalid JSON at byte 17: unterminated string"), never
 * quoting the document's content (it may be a customer's data).
 *
 * - buf need not be NUL-terminated; exactly len bytes are read.  buf may be
 *   NULL only when len is 0 (an empty document, rejected).
 * - "No NUL bytes" means raw 0x00 bytes.  The escape \u0000 is valid JSON
 *   and is accepted (json.loads decodes it; jansson refuses it unless given
 *   JSON_ALLOW_NUL).
 * - Duplicate object keys are accepted (json.loads keeps the last one).
 *   Numbers are checked against the grammar only: 1e999 and integers longer
 *   than 64 bits are accepted, as json.loads accepts them.
 * - max_depth counts arrays and objects: "[[1]]" needs 2, a scalar 0.  It
 *   must be within 0..CF_JSON_DEPTH_MAX; outside that every document is
 *   rejected with a reason naming the bad max_depth.
 * - "byte N" in the reason is the 0-based offset where the problem was
 *   found; a document cut short reports N == len.  The reason holds only
 *   fixed text, the offset and the depth limit.  It is truncated to fit
 *   reason_size and always NUL-terminated when reason_size > 0; on success
 *   it is set to "".  reason may be NULL when reason_size is 0. */
int cf_json_validate(const char *buf, size_t len, int max_depth, char *reason, size_t reason_size);

/* Appends the JSON string literal (with the surrounding quotes) for the
 * UTF-8 text s[0..len) into out[0..out_size), escaping '"', '\\', control
 * characters (\n \r \t \b \f short forms, others \u00XX). Returns the number of bytes the
 * literal needs (like snprintf: the output is complete only if the return
 * value is < out_size). Invalid UTF-8 input: return -1.
 *
 * - The return value r >= 2 is the length of the whole literal, not counting
 *   a terminating NUL, whatever out_size is.  The output is complete, and
 *   out[r] == '\0', exactly when r < out_size.
 * - When r >= out_size > 0 the output is truncated: out holds the longest
 *   prefix of the literal made of whole units that fits in out_size - 1
 *   bytes, then a NUL.  A unit is one escape sequence (\n, \u001f), one
 *   UTF-8 character or one ASCII byte, so a truncated output never ends in
 *   half an escape or half a character; it may be shorter than
 *   out_size - 1 bytes and it lacks the closing quote.
 * - out_size == 0 writes nothing (out may then be NULL): call once with 0 to
 *   measure, then again with r + 1 bytes.
 * - Control characters are U+0000..U+001F; a NUL in s becomes \u0000.  '/'
 *   and DEL (0x7f) are written as they are, as are all characters from
 *   U+0080 on (raw UTF-8).  Hex digits are lowercase, as Python writes them.
 * - -1: s[0..len) is not valid UTF-8 (same rules as cf_json_validate), or
 *   len is so large that the result might not fit in a long.  out[0] is then
 *   set to '\0' when out_size > 0; nothing else is promised about out. */
long cf_json_quote(const char *s, size_t len, char *out, size_t out_size);

#endif
