/* kafka.h - the benchmark's Kafka clients: producing a range of events (as
 * fast as possible, or paced at a fixed rate on a thread of its own),
 * checking that the broker kept all of it, and reading a topic back.
 *
 * What it owns: librdkafka producers and a plain reader (assign(), no
 * group), with their settings.  What it does not own: the events
 * (events.h), the broker (servers.h), or the consumer under test.
 *
 * DESIGN
 * Producing is zero-copy: payloads point into the event store, which
 * outlives every delivery.  Messages are keyed by the entity id and placed
 * by librdkafka's default partitioner, as an upstream service would.  Bulk
 * production uses lz4 and large batches (linger.ms=20).  Paced production
 * uses librdkafka's default linger.ms=5, as the simulator and a typical
 * upstream service do: with linger.ms=1 the paced topic is made of
 * message sets of one or two messages, and the mock broker, which scans a
 * partition's list of message sets on every fetch and returns one set per
 * partition per fetch, then slows down as the log grows (measured: p99
 * event age of seconds), which would be the mock's figure, not the
 * fleet's.  The pacing follows an absolute schedule (event k
 * is due at start + k / rate) with clock_nanosleep(TIMER_ABSTIME), so a
 * late wake-up is caught up and the average rate stays exact.
 *
 * The loopback broker drops the oldest message sets of a partition above
 * ~5 MiB (DESIGN.md): bench_topic_verify() says whether that happened, by
 * watermarks (every low watermark 0, the high watermarks summing to what
 * was produced).
 *
 * Threads: the main thread, except the paced producer's own thread, which
 * only reads the event store and its struct.
 */
#ifndef BENCH_KAFKA_H
#define BENCH_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "progress.h"

/* Latencies measured one by one, in seconds (nearest rank); have 0: none
 * measured. */
struct bench_latency {
    int have;
    double p50_s, p99_s, max_s;
};

struct bench_produce_result {
    uint64_t produced;  /* accepted by librdkafka */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;
    double seconds; /* first produce to last acknowledgement */
    double rate;    /* delivered / seconds */
    char first_error[256];
    /* The paced producer only: produce call to the broker's
     * acknowledgement. */
    struct bench_latency ack;
};

/* Produces events [from, to) of es to topic as fast as librdkafka takes
 * them, then waits for every acknowledgement (bounded: 120 s without
 * progress).  Returns 0 when every event was delivered, or -1 with errstr
 * (also when *stop was set). */
int bench_produce_all(const char *bootstrap, const char *topic, const struct bench_events *es,
                      size_t from, size_t to, const volatile sig_atomic_t *stop,
                      struct bench_progress *pg, const char *label,
                      struct bench_produce_result *res, char *errstr, size_t errstr_size);

/* Quantiles of n latencies in microseconds (sorted in place; nearest
 * rank) into *q, which has them from then on.  n must be > 0. */
void bench_quantiles_us(uint32_t *us, size_t n, struct bench_latency *q);

struct bench_paced;

/* Starts a thread producing events [from, to) of es to topic at `rate`
 * events per second.  es must outlive the thread.  Returns NULL with
 * errstr. */
struct bench_paced *bench_paced_start(const char *bootstrap, const char *topic,
                                      const struct bench_events *es, size_t from, size_t to,
                                      double rate, const volatile sig_atomic_t *stop, char *errstr,
                                      size_t errstr_size);

/* Events produced so far (any thread). */
uint64_t bench_paced_produced(struct bench_paced *pp);

/* Waits for the thread (it stops by itself after the last event, or when
 * *stop is set), flushes, fills res (seconds: first to last produce call;
 * rate: produced / seconds) and frees pp.  Returns 0 when every event was
 * delivered, or -1 with errstr. */
int bench_paced_join(struct bench_paced *pp, struct bench_produce_result *res, char *errstr,
                     size_t errstr_size);

/* Checks that topic holds exactly `expected` messages from offset 0 of
 * every partition.  Returns 0, or -1 with errstr saying which partitions
 * lost what ("the broker dropped data: ..."). */
int bench_topic_verify(const char *bootstrap, const char *topic, uint64_t expected, int *partitions,
                       char *errstr, size_t errstr_size);

/* Called for each message read. */
typedef int (*bench_msg_cb)(const rd_kafka_message_t *msg, void *opaque);

struct bench_read_result {
    uint64_t messages;
    double seconds; /* first message to the last one counted */
    double rate;
};

/* What a read may add to the defaults (every field may be NULL). */
struct bench_read_opts {
    const char *const *kv; /* more librdkafka properties, name/value pairs, NULL-ended */
    /* Called once the partitions are assigned, before the first poll (the
     * event-age phase starts its producer there).  Returns 0, or -1 to
     * stop the read (with errstr). */
    int (*on_assigned)(void *opaque, char *errstr, size_t errstr_size);
    void *opaque;
};

/* Reads topic from the beginning of every partition (assign(), no group),
 * calling cb (may be NULL) for each message, until `count` messages were
 * read.  cb returning -1 stops the read with an error.  Gives up after 60 s
 * without a message.  opts may be NULL.  Returns 0, or -1 with errstr. */
int bench_read_topic(const char *bootstrap, const char *topic, uint64_t count, bench_msg_cb cb,
                     void *opaque, const struct bench_read_opts *opts,
                     const volatile sig_atomic_t *stop, struct bench_progress *pg,
                     const char *label, struct bench_read_result *res, char *errstr,
                     size_t errstr_size);

#endif
