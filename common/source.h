/* source.h - the source stage: the Kafka consumer.
 *
 * What it owns: the librdkafka high-level consumer (a consumer group on one
 * topic), its configuration from the settings (security, pass-through
 * properties, logs routed to log.h), the assignment, offsets (stored and
 * committed only when the runtime says a batch is applied), pausing, and
 * the statistics that give the metrics their lag.
 *
 * What it does not own: what a batch is, or when it is applied (runtime.c).
 *
 * Rebalancing: librdkafka calls the rebalance callback inside
 * cf_source_poll(), on the runtime's thread.  Before partitions are taken
 * away the runtime's before_revoke hook runs, so that the batch in hand is
 * applied and its offsets committed first; then the source updates the
 * assignment (incremental calls under the cooperative protocol, assign()
 * under the eager one).
 *
 * Thread: the runtime's thread, except cf_kafka_conf_new()'s callbacks,
 * which librdkafka runs on its own threads (they only log and count).
 */
#ifndef CF_SOURCE_H
#define CF_SOURCE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "log.h"
#include "metrics.h"
#include "settings.h"

struct cf_source_hooks {
    void *opaque;
    /* Partitions are about to be revoked (lost == 0) or were lost (lost ==
     * 1: committing for them is no longer possible). */
    void (*before_revoke)(void *opaque, const rd_kafka_topic_partition_list_t *parts, int lost);
};

/* What librdkafka's log callback reaches through the handle's opaque: the
 * opaque of a handle made from cf_kafka_conf_new() must be NULL or point to
 * a struct whose first member is this. */
struct cf_kafka_owner {
    struct cf_log *lg;
    struct cf_metrics *m;
};

/* A librdkafka configuration with the settings' brokers, client id,
 * security and pass-through properties, and librdkafka's own log lines
 * going to the owner's log.  Returns NULL with a reason naming the setting
 * in errstr. */
rd_kafka_conf_t *cf_kafka_conf_new(const struct cf_settings *s, char *errstr, size_t errstr_size);

struct cf_source;

/* Creates the consumer and subscribes to s->kafka_topic.  lg, m and hooks
 * are borrowed for the source's lifetime. */
struct cf_source *cf_source_new(const struct cf_settings *s, struct cf_log *lg,
                                struct cf_metrics *m, const struct cf_source_hooks *hooks,
                                char *errstr, size_t errstr_size);

/* Re-warm: the same consumer without a group.  Every partition of
 * s->kafka_topic is assigned from its first offset still in the log and
 * read up to the end offset it had when this returns (later messages are
 * left to the group's consumers); nothing is ever committed, so the
 * group's offsets and members are untouched.  Waits up to
 * s->kafka_session_timeout_ms for the metadata and the watermarks.
 * Returns NULL with errstr naming what failed. */
struct cf_source *cf_source_new_replay(const struct cf_settings *s, struct cf_log *lg,
                                       struct cf_metrics *m, char *errstr, size_t errstr_size);

/* Replay: 1 when every partition was read up to its end offset.  Sets
 * *read to the messages returned so far and *total to the messages the
 * replay covers (NULL: not wanted).  0 for a group consumer. */
int cf_source_replay_done(const struct cf_source *src, int64_t *read, int64_t *total);

/* Leaves the group (the revocation hook runs a last time).  Safe on NULL
 * and twice. */
void cf_source_close(struct cf_source *src);

/* Closes the consumer if not closed and frees it.  Every message it
 * returned must have been destroyed before: librdkafka waits for them.
 * Safe on NULL. */
void cf_source_destroy(struct cf_source *src);

/* One message, or NULL after timeout_ms.  Error events are logged and
 * counted here, never returned.  The caller owns the message:
 * rd_kafka_message_destroy() it. */
rd_kafka_message_t *cf_source_poll(struct cf_source *src, int timeout_ms);

/* Non-zero after a fatal consumer error: the program must stop. */
int cf_source_fatal(const struct cf_source *src);

/* Stores, for every partition still assigned, the offset after the highest
 * message of msgs, to be committed by cf_source_commit(). */
void cf_source_store(struct cf_source *src, rd_kafka_message_t *const *msgs, size_t n);

/* Commits the stored offsets (async: returns at once, the result is logged
 * and counted).  Returns 0, or -1 on an error known at once. */
int cf_source_commit(struct cf_source *src, int async);

/* Is this partition in the current assignment? */
int cf_source_assigned(const struct cf_source *src, const char *topic, int32_t partition);

/* Pausing while a dependency is down.  cf_source_pause_all() pauses every
 * assigned partition whose position is already known (pausing one whose
 * first offset lookup is pending made librdkafka rewind it later); the
 * runtime pauses the others as their messages arrive, with
 * cf_source_pause_one().  cf_source_resume() resumes everything paused. */
void cf_source_pause_all(struct cf_source *src);
void cf_source_pause_one(struct cf_source *src, const char *topic, int32_t partition);
void cf_source_resume(struct cf_source *src);

/* Keeps the prefetch queue filling while the runtime drains a backlog:
 * with a librdkafka that has no fetch.queue.backoff.ms (before 2.2), a
 * partition whose queue went over kafka.queued_max_kbytes is fetched again
 * only when its broker thread next wakes, up to a second later.  This has
 * the source's refill thread wake it (a ListOffsets query for the
 * partitions that are fetching), at most every 10 ms while events arrive;
 * it never blocks.  Call it after taking each batch that holds events.
 * Does nothing where librdkafka has the setting (set to 10 ms instead). */
void cf_source_refill(struct cf_source *src);

/* 1 when the refill thread runs (librdkafka without
 * fetch.queue.backoff.ms), 0 otherwise: the "prefetch_refill" field of
 * the consumer's "started" log line. */
int cf_source_refilling(const struct cf_source *src);

/* The current assignment (owned by the source; valid until the next poll). */
const rd_kafka_topic_partition_list_t *cf_source_assignment(const struct cf_source *src);

/* Starts a partition over from its first offset still in the log: seeks
 * there, and stores and commits that offset synchronously, so a crash
 * right after cannot skip what is about to be replayed.  Returns 0 with
 * the offset in *low, or -1 with errstr. */
int cf_source_rewind(struct cf_source *src, const char *topic, int32_t partition, int64_t *low,
                     char *errstr, size_t errstr_size);

/* The underlying handle (for the benchmark and the tests). */
rd_kafka_t *cf_source_handle(struct cf_source *src);

#endif
