/* events.c - the benchmark's events in memory (see events.h).
 *
 * DESIGN
 * Growth doubles the arena and the record array; allocation failure aborts
 * with a message, like common/plan.c: a benchmark that cannot hold its
 * workload has nothing useful to do.
 *
 * Thread: see events.h (filled by the main thread, then read-only).
 */
#include "events.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fprintf(stderr, "cachefleet-bench: out of memory (%zu bytes for events)\n", size);
        abort();
    }
    return q;
}

void bench_events_init(struct bench_events *es)
{
    memset(es, 0, sizeof(*es));
}

void bench_events_add(struct bench_events *es, const void *payload, size_t len,
                      const struct bench_event *meta)
{
    if (es->arena_len + len > es->arena_cap) {
        size_t cap = es->arena_cap ? es->arena_cap : (size_t)1 << 20;
        while (cap < es->arena_len + len)
            cap *= 2;
        es->arena = xrealloc(es->arena, cap);
        es->arena_cap = cap;
    }
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 4096;
        es->ev = xrealloc(es->ev, es->cap * sizeof(*es->ev));
    }
    struct bench_event *e = &es->ev[es->n++];
    *e = *meta;
    e->off = es->arena_len;
    e->len = (uint32_t)len;
    memcpy(es->arena + es->arena_len, payload, len);
    es->arena_len += len;
}

void bench_events_set_side_value(struct bench_events *es, const void *value, size_t len)
{
    assert(es->n > 0);
    if (es->side_len + len > es->side_cap) {
        size_t cap = es->side_cap ? es->side_cap : (size_t)1 << 16;
        while (cap < es->side_len + len)
            cap *= 2;
        es->side = xrealloc(es->side, cap);
        es->side_cap = cap;
    }
    struct bench_event *e = &es->ev[es->n - 1];
    e->has_value = 1;
    e->value_side = 1;
    e->value_off = (uint32_t)es->side_len;
    e->value_len = (uint32_t)len;
    memcpy(es->side + es->side_len, value, len);
    es->side_len += len;
}

const void *bench_events_payload(const struct bench_events *es, size_t i)
{
    return es->arena + es->ev[i].off;
}

const char *bench_events_value(const struct bench_events *es, size_t i)
{
    const struct bench_event *e = &es->ev[i];
    if (!e->has_value)
        return NULL;
    return e->value_side ? es->side + e->value_off : es->arena + e->off + e->value_off;
}

uint64_t bench_events_bytes(const struct bench_events *es, size_t from, size_t to)
{
    uint64_t total = 0;
    for (size_t i = from; i < to && i < es->n; i++)
        total += es->ev[i].len;
    return total;
}

void bench_events_free(struct bench_events *es)
{
    free(es->arena);
    free(es->side);
    free(es->ev);
    memset(es, 0, sizeof(*es));
}
