/* limits.h - the ceilings the consumer is compared with, measured on the
 * same events in the same run: Redis alone with plain commands, Redis
 * running the fleet's function library fed by the real apply stage, and a
 * naive consumer that makes one round trip per event.
 *
 * What it owns: those three measurements (the Kafka read-only ceiling is
 * bench_read_topic() in kafka.h).  What it does not own: the stages being
 * driven (pipeline.h) or the servers (servers.h).
 *
 * DESIGN
 * - Plain commands: one hiredis connection, SET <key> <representation>
 *   for every event that carries one, then DEL of the same keys, in
 *   pipelines of `depth` commands (the consumer's batch size): write them
 *   all, then read every reply.  Redis ops/s.
 * - Fleet functions: batches of `depth` events are decoded and planned by
 *   the consumer's own code (untimed), coalesced, then sent by the real
 *   apply stage (cf_apply_plan: pipelined FCALL cachefleet_apply, one
 *   round trip per batch).  Only the apply calls are timed, so the figure
 *   is the apply stage's ceiling: operations applied per second (and the
 *   events per second it amounts to).
 * - Naive: read the topic from Kafka, decode and plan each event alone and
 *   apply it with its own cf_apply_plan round trip.  Timed end to end on a
 *   prefix of the events.
 *
 * Thread: the main thread.
 */
#ifndef BENCH_LIMITS_H
#define BENCH_LIMITS_H

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "progress.h"
#include "targets.h"

struct bench_plain_limit {
    uint64_t set_ops;
    double set_seconds, set_rate; /* ops/s */
    uint64_t del_ops;
    double del_seconds, del_rate;
};

/* SET then DEL of the events' (key, value) pairs in [from, to), in
 * pipelines of depth.  Returns 0, or -1 with errstr. */
int bench_limit_plain(redisContext *c, const struct bench_target *t, const struct bench_events *es,
                      size_t from, size_t to, size_t depth, const volatile sig_atomic_t *stop,
                      struct bench_progress *pg, struct bench_plain_limit *out, char *errstr,
                      size_t errstr_size);

struct bench_fleet_limit {
    uint64_t events;
    uint64_t batches;
    uint64_t rejected;    /* events the planner refused (should be 0) */
    uint64_t ops_planned; /* before coalescing */
    uint64_t ops_sent;    /* after coalescing: what Redis ran */
    uint64_t calls;       /* FCALLs */
    double apply_seconds; /* time inside cf_apply_plan only */
    double ops_rate;      /* ops_sent / apply_seconds */
    double events_rate;   /* events / apply_seconds */
};

/* The apply stage's ceiling on events [from, to) in batches of depth.
 * Returns 0, or -1 with errstr. */
int bench_limit_fleet(const struct bench_target *t, const char *schemas_dir, int redis_port,
                      const struct bench_events *es, size_t from, size_t to, size_t depth,
                      const volatile sig_atomic_t *stop, struct bench_progress *pg,
                      struct bench_fleet_limit *out, char *errstr, size_t errstr_size);

struct bench_naive_limit {
    uint64_t events;
    uint64_t rejected;
    double seconds;
    double rate; /* events/s */
};

/* The naive consumer on the first `count` messages read from topic.
 * Returns 0, or -1 with errstr. */
int bench_limit_naive(const struct bench_target *t, const char *schemas_dir, int redis_port,
                      const char *bootstrap, const char *topic, uint64_t count,
                      const volatile sig_atomic_t *stop, struct bench_progress *pg,
                      struct bench_naive_limit *out, char *errstr, size_t errstr_size);

#endif
