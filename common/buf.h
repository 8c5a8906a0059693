/* buf.h - a growable byte buffer, reused from event to event.
 *
 * Planners that compose a value (a menu record, a permission list) write
 * it here: the buffer keeps its capacity, so after the first few events no
 * call allocates.  Allocation failure aborts, as in plan.c.
 */
#ifndef CF_BUF_H
#define CF_BUF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cf_buf {
    char *data;
    size_t len, cap;
};

static inline void cf_buf_reserve(struct cf_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        fprintf(stderr, "cachefleet: out of memory (%zu bytes)\n", cap);
        abort();
    }
    b->data = d;
    b->cap = cap;
}

static inline void cf_buf_put(struct cf_buf *b, const void *p, size_t n)
{
    cf_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void cf_buf_puts(struct cf_buf *b, const char *s)
{
    cf_buf_put(b, s, strlen(s));
}

static inline void cf_buf_free(struct cf_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

#endif
