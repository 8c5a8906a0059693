/* producer.h - the simulator's Kafka side: one librdkafka producer, its
 * topics, and delivery accounting.
 *
 * What it owns: the producer handle and its configuration (lz4,
 * linger.ms=5, acks=all, idempotence), choosing each message's partition,
 * retrying while librdkafka's queue is full, and counting what was
 * delivered and what failed.  What it does not: encoding, pacing, or
 * deciding when to stop (main does).
 *
 * DESIGN
 * Partitions are chosen here rather than inside librdkafka, with the same
 * function librdkafka's default partitioner uses
 * (rd_kafka_msg_partitioner_consistent_random: CRC32 of the key), so the
 * placement is what a default producer would do, one entity's events share
 * a partition, and the caller learns the partition at produce time (the
 * event log records it).  That needs the topic's partition count, looked up
 * once by sim_producer_topic(); when the lookup fails the topic falls back
 * to librdkafka's partitioner and the partition is reported as -1.
 *
 * Nothing is dropped: a full queue is drained by polling and the message
 * produced again.  Only when the caller is stopping and the queue has stayed
 * full for SIM_PRODUCER_STOP_GRACE_MS is a message given up, and then it is
 * counted as failed.  Messages still undelivered when sim_producer_flush()
 * times out are purged and counted as failed too.
 *
 * Threads: every function runs on the caller's (main) thread; librdkafka
 * calls the delivery-report and error callbacks from rd_kafka_poll() and
 * rd_kafka_flush() on that same thread, and the log callback from its own
 * threads (cf_log is thread-safe).
 */
#ifndef CF_SIM_PRODUCER_H
#define CF_SIM_PRODUCER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define SIM_PRODUCER_STOP_GRACE_MS 30000

struct sim_producer_stats {
    uint64_t produced;  /* accepted by librdkafka */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* delivery failed, purged at exit, or given up */
};

struct sim_producer;

/* Creates the producer for brokers (a bootstrap list).  lg is borrowed and
 * must outlive the producer.  Returns NULL with errstr. */
struct sim_producer *sim_producer_new(const char *brokers, struct cf_log *lg, char *errstr,
                                      size_t errstr_size);

/* Destroys the producer; call sim_producer_flush() first to deliver. */
void sim_producer_destroy(struct sim_producer *p);

/* Registers topic name and looks up its partition count, waiting up to
 * timeout_ms (the broker may create the topic on that request).  Returns a
 * topic handle (>= 0) for sim_producer_send(), or -1 with errstr.  A failed
 * lookup is not an error: the topic then uses librdkafka's partitioner. */
int sim_producer_topic(struct sim_producer *p, const char *name, int timeout_ms, char *errstr,
                       size_t errstr_size);

/* The partition count found for topic (0: unknown). */
int32_t sim_producer_partition_count(const struct sim_producer *p, int topic);

/* Produces one message; key and payload are copied.  *partition receives
 * the partition chosen (-1: left to librdkafka).  stop is read while the
 * queue is full (see DESIGN).  Returns 0, or -1 with errstr when the message
 * was not accepted (it is then counted as failed). */
int sim_producer_send(struct sim_producer *p, int topic, const char *key, size_t keylen,
                      const void *payload, size_t len, int32_t *partition,
                      const volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);

/* Serves delivery reports for up to timeout_ms (0: without waiting). */
void sim_producer_poll(struct sim_producer *p, int timeout_ms);

/* Waits up to timeout_ms for every produced message to be delivered; what
 * is left is purged and counted as failed.  Returns the number purged. */
uint64_t sim_producer_flush(struct sim_producer *p, int timeout_ms);

/* True once librdkafka reported a fatal error (idempotence broken): the
 * caller should stop. */
int sim_producer_fatal(const struct sim_producer *p);

void sim_producer_get_stats(const struct sim_producer *p, struct sim_producer_stats *stats);

/* The same counts for one topic handle.  Reports that never came back
 * (see sim_producer_flush()) count as failed in the totals only. */
void sim_producer_get_topic_stats(const struct sim_producer *p, int topic,
                                  struct sim_producer_stats *stats);

#endif
