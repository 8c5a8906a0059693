/* plantest.h - what the planners' unit tests share.
 *
 * What it owns: rendering a plan's operations as text, one line per
 * operation in a fixed format (so a test states the operations it expects
 * as strings, and a failure prints both sides), heap copies of an event's
 * strings of exactly their length (so that a planner reading past a
 * string's end is caught by the sanitizers), and the checks of a
 * rejection.  Every planner test uses the same format, so an operation
 * reads the same in every table:
 *
 *   W <key> v=<version> ts=<us> ttl=<ms> value=<bytes>
 *   T <key> v= ts= ttl= value= guards=<key>,<key>
 *   D <key> v= ts=          X <key> ts=          G <key> ts=
 *   A <set> member=<m> v= ttl=                   R <set> member=<m> v=
 *   F <set> ts= prefix=<p>                       P <set> prefix=<p> v=
 *   C <hash> id=<id> v= ts= payload=<bytes>      M <key> hash=<hash> ttl=
 *
 * A field an operation does not use but carries anyway is shown with a
 * "!" (" !v=3"), so a stray value fails the comparison.  Control bytes
 * and DEL are shown as \xNN.
 */
#ifndef CF_PLANTEST_H
#define CF_PLANTEST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "event.h"
#include "plan.h"

void cf_pt_put_fmt(struct cf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One operation, in the format above, appended to b (not terminated). */
void cf_pt_render_op(struct cf_buf *b, const struct cf_plan *plan, const struct cf_op *op);

/* Operations [from, to) of plan (the live ones only, if live_only), one
 * per line, into b as a NUL-terminated string. */
void cf_pt_render_plan(struct cf_buf *b, const struct cf_plan *plan, size_t from, size_t to,
                       bool live_only);

/* Asserts that operations [from, to) of plan are exactly want (NULL-ended),
 * printing both when they differ. */
void cf_pt_expect_ops(const struct cf_plan *plan, size_t from, size_t to, bool live_only,
                      const char *const *want);

/* Lines of a NULL-ended array. */
size_t cf_pt_count_lines(const char *const *lines);

/* Heap blocks freed together. */
struct cf_pt_owned {
    void **p;
    size_t n, cap;
};
void *cf_pt_own(struct cf_pt_owned *o, size_t size);
void cf_pt_owned_free(struct cf_pt_owned *o);
/* A copy of s in a block of exactly s.len bytes (s itself when s.ptr is
 * NULL); of every string of a list, likewise. */
struct cf_str cf_pt_dup_str(struct cf_pt_owned *o, struct cf_str s);
struct cf_strs cf_pt_dup_strs(struct cf_pt_owned *o, struct cf_strs s);

/* Asserts a rejection: rc -1, a reason starting with prefix
 * ("unsafe-id: ") and carrying a detail, and never repeating secret (if
 * not NULL). */
void cf_pt_expect_rejected(int rc, const char *reason, const char *prefix, const char *secret);

/* n times c, NUL-terminated; free() it. */
char *cf_pt_repeat(char c, size_t n);

#endif
