/* oracle.h - what the cache must hold after the events in Kafka, checked
 * against Redis.
 *
 * What it owns: reading the fleet's topics from the beginning up to their
 * high watermarks, turning every message into cache operations exactly as
 * the consumers do (the real decoder, common/decode.h, and the real
 * handler of the consumer of that topic), applying the operations of all
 * events in the order of their occurred_at to a model of the cache
 * (model.h), and comparing the model with a live Redis: per key right,
 * missing, stale, or explained (expired by its TTL, or lost with a Redis
 * that restarted empty before since_us), plus the keys Redis holds under
 * the fleet's value kinds that no event ever touched (extra).
 *
 * What it does not own: connecting to Redis (the caller hands a connected,
 * authenticated redisContext) and the process (tools/oracle/main.c is the
 * program; the fault tests link this library).
 *
 * DESIGN
 * Events of one entity share a partition, so their produced order is
 * their occurred_at order; the fleet's rules (functions.lua) make the
 * final state of a key independent of the order in which events of
 * different entities are applied (a fan-out, F, included: like X it
 * leaves a value written by an event newer than itself; model.h).  So the
 * model applies events by occurred_at, ties broken by topic (in the
 * oracle's topic order), partition and offset, without the consumers'
 * batching and coalescing, which the rules make invisible in the result.
 *
 * A value the model expects and Redis lacks is explained, in this order,
 * by its TTL (occurred_at + TTL has passed: expired) or by since_us (its
 * last event is older: lost before since).  Anything else is missing.
 * Stale is never explained.
 *
 * A message that does not decode, is larger than the runtime's
 * cache.max_payload_bytes default, or that the handler rejects, is
 * dead-lettered by the consumer and contributes nothing here either.  The
 * consumers' settings are their defaults (products.menu_name "main", the
 * TTLs, ...), as are the runtime's cache.max_id_bytes and
 * cache.max_payload_bytes.
 *
 * Checked kinds: values at <prefix>product:, cart:, stock:, perms:,
 * menu: (GET, compared byte for byte) and the index sets at
 * <prefix>cf:role:, cf:sessions: (SMEMBERS, compared as sets).  The check
 * is read-only: GET, SMEMBERS and SCAN, pipelined.
 *
 * Memory: every event's operations are kept (in one cf_plan) until the
 * model is built; an audit of N events holds them all at once.
 *
 * Thread: an oracle belongs to the thread that made it (librdkafka runs
 * its own threads inside cf_oracle_read_kafka()).
 */
#ifndef CF_ORACLE_H
#define CF_ORACLE_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* Samples kept per class, and the bytes kept of each value. */
#define CF_ORACLE_SAMPLES      5
#define CF_ORACLE_SAMPLE_BYTES 80
#define CF_ORACLE_KEY_BYTES    256

struct cf_oracle_sample {
    char key[CF_ORACLE_KEY_BYTES + 1];         /* NUL-terminated, cut */
    int expected_present;                      /* 0: the model says absent (or: never touched) */
    int actual_present;                        /* 0: Redis holds nothing */
    char expected[CF_ORACLE_SAMPLE_BYTES + 1]; /* bytes (a set: its members, sorted,
                                                * comma-separated), cut, NUL-terminated */
    size_t expected_len;                       /* bytes kept */
    size_t expected_full_len;                  /* before the cut */
    char actual[CF_ORACLE_SAMPLE_BYTES + 1];
    size_t actual_len;
    size_t actual_full_len;
};

struct cf_oracle_report {
    /* The events */
    uint64_t events;           /* messages read from the topics */
    uint64_t dead_lettered;    /* of them: undecodable or rejected by the handler */
    uint64_t ops;              /* operations applied to the model */
    uint64_t broker_truncated; /* messages gone from the topics' log start (offset > 0) */
    /* The keys */
    uint64_t keys_checked;      /* right + missing + stale + expired + lost_before_since */
    uint64_t right;             /* same bytes or members, or absent on both sides */
    uint64_t missing;           /* a value expected, none in Redis, nothing explains it */
    uint64_t stale;             /* Redis holds other bytes, or a value where none is expected */
    uint64_t extra;             /* in Redis under a checked kind; no event touched the key */
    uint64_t expired;           /* missing, explained: occurred_at + TTL has passed */
    uint64_t lost_before_since; /* missing, explained: its last event is older than since_us */
    size_t nmissing_samples, nstale_samples, nextra_samples;
    struct cf_oracle_sample missing_samples[CF_ORACLE_SAMPLES];
    struct cf_oracle_sample stale_samples[CF_ORACLE_SAMPLES];
    struct cf_oracle_sample extra_samples[CF_ORACLE_SAMPLES];
};

struct cf_oracle;

/* A new oracle for keys starting with prefix (":1:"), with the schemas of
 * schemas_dir (every consumer's reader schema must load) and the five
 * consumers on their default topics.  Returns NULL with errstr set. */
struct cf_oracle *cf_oracle_new(const char *schemas_dir, const char *prefix, char *errstr,
                                size_t errstr_size);
void cf_oracle_destroy(struct cf_oracle *o);

/* Reads consumer_name's events ("products", "carts", "orders", "access",
 * "stock") from topic instead of its default.  Returns 0, or -1 with
 * errstr when the consumer is unknown or the topic is another consumer's. */
int cf_oracle_set_topic(struct cf_oracle *o, const char *consumer_name, const char *topic,
                        char *errstr, size_t errstr_size);

/* Reads topics (a NULL-terminated list of topic names set for consumers;
 * NULL: every consumer's topic) from bootstrap, every partition from its
 * log start up to the high watermark it has when the call starts, plans
 * every message with its topic's consumer, and builds the model (it
 * replaces what an earlier call read).  Gives up after timeout_ms.
 * Returns 0, or -1 with errstr (no metadata, a timeout, an unknown topic);
 * the oracle then holds no events. */
int cf_oracle_read_kafka(struct cf_oracle *o, const char *bootstrap, const char *const *topics,
                         int timeout_ms, char *errstr, size_t errstr_size);

/* Compares the model built by the last read with Redis through rc (read
 * only: GET, SMEMBERS, SCAN).  now_us is the check's wall-clock time (for
 * the TTLs); since_us (0: none) is when Redis last started empty: a key
 * whose last event is older than that is not missing but lost before
 * since.  Fills *out.  Returns 0, or -1 with errstr when Redis fails (rc
 * is then unusable, hiredis' rule). */
int cf_oracle_check(struct cf_oracle *o, redisContext *rc, int64_t now_us, int64_t since_us,
                    struct cf_oracle_report *out, char *errstr, size_t errstr_size);

/* Messages of topic that group has not committed yet (a partition without
 * a committed offset counts from its log start): 0 once the fleet has
 * applied everything there is, which a check wants first.  Waits up to
 * timeout_ms for metadata, committed offsets and watermarks.  Returns the
 * count, or -1 with errstr. */
long cf_oracle_group_behind(const char *bootstrap, const char *group, const char *topic,
                            int timeout_ms, char *errstr, size_t errstr_size);

/* The model built by the last read (for tests and diagnostics). */
const struct cf_model *cf_oracle_model(const struct cf_oracle *o);

/* The one-line summary into buf, e.g. "oracle: 12345 events (3
 * dead-lettered), 4567 keys checked: 4567 right, 0 missing, 0 stale, 0
 * extra, 12 expired" (followed by ", N lost before since", ", N gone
 * from the broker's log" when not 0).  Returns buf. */
char *cf_oracle_report_summary(const struct cf_oracle_report *r, char *buf, size_t size);

/* Writes the summary line and then the samples, one per line, to out. */
void cf_oracle_report_print(const struct cf_oracle_report *r, FILE *out);

/* 1 when the report says the cache is right: nothing missing, nothing
 * stale (extra keys and explained absences are reported, not failed). */
int cf_oracle_report_ok(const struct cf_oracle_report *r);

#endif
