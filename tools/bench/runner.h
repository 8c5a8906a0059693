/* runner.h - running the real consumer program over a topic and reading
 * what it did.
 *
 * What it owns: one run of one or more instances of a consumer program
 * (cachefleet-<name>, children configured through CACHEFLEET_* variables,
 * a fresh group per run so it starts from the beginning), watching their
 * /metrics until every expected event was applied or dead-lettered,
 * stopping them with SIGTERM and collecting their exit status, CPU time
 * (wait4) and peak RSS (VmHWM, polled while they run: see proc.h),
 * and the Redis command count of the run (INFO commandstats before and
 * after).  What it does not own: the topic's contents (the caller produced
 * them) or the correctness check (targets.h).
 *
 * DESIGN
 * Throughput is measured from the consumer's own clock: the first and the
 * last applied batch (cachefleet_first_batch_timestamp_ms and
 * cachefleet_last_batch_timestamp_ms), so the group join (about 3 s in the
 * mock) and the shutdown are not counted.  The first batch's own work is
 * not in that interval (its timestamp is taken when it finishes), which
 * overstates the rate by at most one batch in the run.  When the program
 * does not export those metrics, the benchmark's observation (the polls
 * that first saw an applied event and saw the last one, every 50 ms) is
 * used instead and the figure says so.
 *
 * Everything is bounded: an instance that dies is reported at once with
 * its status and the tail of its log; no progress for 60 s is an error
 * that says how far it got.
 *
 * Thread: the main thread.
 */
#ifndef BENCH_RUNNER_H
#define BENCH_RUNNER_H

#include <hiredis/hiredis.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "progress.h"
#include "scrape.h"
#include "servers.h"

#define BENCH_MAX_INSTANCES 4

struct bench_run;

struct bench_run_config {
    const char *label;   /* names the log files and the messages, e.g. "run 2" */
    const char *program; /* path of the consumer program */
    const char *schemas_dir;
    const char *brokers_file; /* the broker's bootstrap file */
    const char *topic;
    const char *group; /* a fresh consumer group */
    const char *dir;   /* where the instances' logs go */
    int redis_port;
    int instances;                /* 1..BENCH_MAX_INSTANCES */
    long batch_max;               /* kafka.batch_max; 0: the program's default */
    const char *const *extra_env; /* more "CACHEFLEET_...=value" settings, NULL-terminated;
                                   * may be NULL */
    int warmup_ms;                /* > 0: snapshot the event-age histogram this long after
                                   * on_ready, so figures can leave the start-up out */
    uint64_t expected;            /* events to be applied or dead-lettered, all instances */
    /* Called once every instance has partitions assigned (may be NULL):
     * the event-age phase starts its producer there.  run holds the
     * instances (their processes).  Returns 0, or -1 to abort the run
     * (with errstr). */
    int (*on_ready)(void *opaque, struct bench_run *run, char *errstr, size_t errstr_size);
    /* Called once the expected events are counted, before the wait for
     * the group's commits (may be NULL): the instances still run. */
    void (*on_done)(void *opaque, struct bench_run *run);
    void *opaque;
};

struct bench_instance {
    struct bench_proc proc;
    int http_port;
    char log_path[PATH_MAX];
    /* from the last /metrics scrape */
    double consumed, applied, deadlettered;
    double ops_planned, ops_sent, calls, round_trips, batches, refused, rebalances;
    double first_ms, last_ms; /* batch timestamps, 0 or -1 when unknown */
    struct bench_histogram age;
    int have_age;
    struct bench_histogram age_warm; /* the histogram at the end of the warm-up */
    int have_age_warm;
    double age_max_s;
    long hwm_kib; /* peak RSS: VmHWM, read at every poll (see proc.h) */
    /* from wait4() */
    int exit_status;
    double cpu_s;
};

struct bench_run {
    int instances;
    struct bench_instance inst[BENCH_MAX_INSTANCES];
    uint64_t events; /* applied + dead-lettered, all instances */
    double applied, deadlettered;
    double ops_planned, ops_sent, calls, round_trips;
    double seconds;                 /* first applied batch to the last (0: one batch only) */
    double rate;                    /* events / seconds (0: unknown) */
    int rate_observed;              /* 1: from the benchmark's polls, not the metrics */
    struct bench_cmdstats commands; /* the run's Redis commands (INFO excluded) */
    double cpu_s;                   /* all instances */
    long maxrss_kib;                /* the largest instance's peak RSS (VmHWM) */
    int clean_exit;                 /* every instance exited 0 after SIGTERM */
};

/* Runs the configured instances until cfg->expected events were handled,
 * then stops them.  redis is a connection for INFO commandstats.  Returns 0
 * with *out filled (out->clean_exit tells whether every instance exited
 * 0), or -1 with errstr (an instance died, no progress, interrupted). */
int bench_run_consumer(const struct bench_run_config *cfg, redisContext *redis,
                       const volatile sig_atomic_t *stop, struct bench_progress *pg,
                       struct bench_run *out, char *errstr, size_t errstr_size);

#endif
