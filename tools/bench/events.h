/* events.h - the benchmark's events, encoded once and kept in memory.
 *
 * What it owns: a store of encoded Kafka messages (one arena of payload
 * bytes and one array of small records), with what the benchmark needs to
 * know about each event without decoding it again: its Kafka key, entity,
 * version, time, type, and where the cached value it carries (a product's
 * representation) sits inside the payload.  What it does not own: what the
 * events say (the per-consumer generators in targets.h fill it) or Kafka.
 *
 * DESIGN
 * The store is written once, then only read: the producer hands payload
 * pointers to librdkafka without copying them, the Redis baselines read the
 * values in place, and the correctness check derives the expected cache
 * state from the records.  A range [from, to) of the store is what a phase
 * produces (the batch-size and event-age phases reuse the tail of the main
 * workload).  The arena only grows while events are added, so a payload
 * pointer is stable once adding is over (never produce while adding).
 *
 * Thread: filled by the main thread; read concurrently afterwards.
 */
#ifndef BENCH_EVENTS_H
#define BENCH_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_KEY_SIZE 32

struct bench_event {
    uint64_t off;             /* payload offset in the arena (set by bench_events_add) */
    uint32_t len;             /* payload bytes (set by bench_events_add) */
    uint32_t value_off;       /* the cached value: its offset within the payload */
    uint32_t value_len;       /* and its length */
    uint32_t entity;          /* numeric entity id (product or category id) */
    uint64_t version;         /* the entity's version */
    int64_t ts_us;            /* occurred_at */
    uint8_t type;             /* consumer-specific event type */
    uint8_t has_value;        /* 1: the event carries a value to cache */
    uint8_t value_side;       /* 1: the value is not in the payload (a stock count, a
                               * permissions array the planner builds): value_off is
                               * then an offset in the store's side arena */
    char key[BENCH_KEY_SIZE]; /* the Kafka message key (the entity id as text) */
};

struct bench_events {
    char *arena;
    size_t arena_len, arena_cap;
    char *side; /* values that are not bytes of their payload */
    size_t side_len, side_cap;
    struct bench_event *ev;
    size_t n, cap;
};

/* Empties a zeroed or freed store. */
void bench_events_init(struct bench_events *es);

/* Appends one event: payload is copied into the arena, meta is copied and
 * its off and len set.  Aborts when out of memory (the benchmark cannot
 * run without its events). */
void bench_events_add(struct bench_events *es, const void *payload, size_t len,
                      const struct bench_event *meta);

/* Gives the last event added a value that is not part of its payload (the
 * cached bytes the consumer derives from it: a stock count as decimal, a
 * permissions array): copied to the side arena.  Aborts when out of
 * memory. */
void bench_events_set_side_value(struct bench_events *es, const void *value, size_t len);

/* The payload of event i (valid while the store lives and nothing is added). */
const void *bench_events_payload(const struct bench_events *es, size_t i);

/* The value carried by event i, or NULL when it carries none. */
const char *bench_events_value(const struct bench_events *es, size_t i);

/* Total payload bytes of events [from, to). */
uint64_t bench_events_bytes(const struct bench_events *es, size_t from, size_t to);

void bench_events_free(struct bench_events *es);

#endif
