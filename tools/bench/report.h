/* report.h - the figures of one benchmark run (one record per consumer), and their two renderings:
 * a Markdown report (stdout) and the same figures as JSON (--json PATH).
 *
 * What it owns: the results model (filled by the phases in main.c), the
 * median / min / max of repeated runs, the machine description, and both
 * outputs.  What it does not own: measuring anything.
 *
 * DESIGN
 * Figures only: nothing is compared with a target, except the correctness
 * checks (sample checks, dead letters, exit statuses), which are listed
 * with their verdict.  A phase that was skipped or failed is absent from
 * both outputs (JSON null), and a failure is named at the top.
 *
 * Thread: the main thread.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kafka.h"
#include "limits.h"
#include "runner.h"
#include "targets.h"

#define BENCH_MAX_RUNS          9
#define BENCH_MAX_SCALE         24
#define BENCH_MAX_CHECKS        48
#define BENCH_TOP_CMDS          8
#define BENCH_MAX_AGE           1
#define BENCH_AGE_WARMUP_MS     1000
#define BENCH_AGE_MAX_EVENTS    150000 /* see the event-age section of the report */
#define BENCH_AGE_SECONDS       10
#define BENCH_AGE_SECONDS_QUICK 3
/* The bare reader of the event-age phase waits for data as the consumer
 * does by default (kafka.fetch_wait_max_ms). */
#define BENCH_AGE_READER_FETCH_WAIT_MS 10

struct bench_stat {
    double median, min, max;
    int n;
};

/* Median, min and max of v[0..n) (n >= 1). */
void bench_stat_of(const double *v, int n, struct bench_stat *s);

/* One run of the consumer program over the main topic. */
struct bench_run_row {
    double rate;
    int rate_observed;
    double seconds;
    double fcalls_pe, round_trips_pe, ops_planned_pe, ops_sent_pe, commands_pe;
    double cpu_s_per_m;
    double redis_cpu_s_per_m, redis_busy; /* Redis's CPU per M events; its CPU s per s of the run */
    double rss_mib;
    int exit_status;
};

struct bench_scale_row {
    char dimension[24]; /* "batch size", "payload", "tags" */
    char point[32];     /* "1000", "~1 KB", "10" */
    uint64_t events;
    double rate; /* 0: too short to time */
    int rate_observed;
    double ops_planned_pe, ops_sent_pe, fcalls_pe, round_trips_pe;
    double cpu_s_per_m;
    double rss_mib; /* the consumer's peak RSS (VmHWM) */
    double avg_payload;
    double read_rate; /* (a) on this point's topic, events/s; 0: not measured (shared topic) */
    double seconds;   /* the run's applying time (events / rate) */
    uint64_t members; /* role members: the role's members (0: another dimension) */
    uint64_t fanouts; /* role members: the fan-outs among the events */
};

struct bench_age_row {
    char setting[96]; /* the consumer's settings for this row */
    double target_rate, achieved_rate, seconds;
    uint64_t events;
    int partitions;
    uint64_t count;       /* observations in the histogram */
    double p50, p99, max; /* the whole phase; seconds, -1 unknown */
    int p50_overflow, p99_overflow;
    double steady_p50, steady_p99; /* after the warm-up; -1 unknown */
    uint64_t steady_count;
    /* The paced producer's own latency, produce call to the broker's
     * acknowledgement: a floor under the age that is the broker's. */
    struct bench_latency ack;
    /* Cores each process used from the first paced event to the last
     * applied one (cpu_wall_s; 0: not measured), -1 unknown: the consumer,
     * Redis, the broker, and this benchmark (the paced producer). */
    double cpu_wall_s;
    double cpu_consumer, cpu_redis, cpu_broker, cpu_bench;
    /* The same paced stream read by a bare reader: each message's age
     * when read. */
    struct bench_latency reader;
    /* The consumer's batches in the phase (0: unknown): a paced stream
     * makes smaller batches than a backlog, which coalesce less. */
    double events_per_batch, ops_sent_pe;
};

struct bench_check_row {
    char label[64];
    struct bench_check check;
    double deadlettered;
    int clean_exit;
    int ok; /* check ok, nothing dead-lettered, clean exit */
};

struct bench_cmd_share {
    char name[64];
    double per_event;
};

struct bench_results {
    /* the machine and the run */
    char date[64];
    char cpu[160];
    int cores;
    double mem_gib;
    char kernel[160];
    char rdkafka[32], redis[32], hiredis[32];
    int selected; /* measured in this run (--only) */
    int started;  /* its phases ran (some may have failed) */
    const char *consumer, *topic, *program;
    const char *value_note; /* what the plain SET baseline writes */
    uint64_t events;
    int runs;
    int quick;
    uint64_t seed;
    int partitions;
    double wall_seconds;

    /* the workload */
    double gen_seconds;
    double avg_payload;
    uint64_t valued_events;
    double avg_value;

    int have_produce;
    struct bench_produce_result produce;

    /* limits */
    int have_read;
    struct bench_read_result read;
    int have_plain;
    struct bench_plain_limit plain;
    int have_fleet;
    struct bench_fleet_limit fleet;
    int have_naive;
    struct bench_naive_limit naive;

    /* the consumer program over the main topic */
    int nruns;
    struct bench_run_row run[BENCH_MAX_RUNS];
    struct bench_stat rate, fcalls_pe, round_trips_pe, ops_planned_pe, ops_sent_pe, commands_pe,
        cpu_s_per_m, rss_mib, redis_cpu_s_per_m, redis_busy;
    int ncmds;
    struct bench_cmd_share cmds[BENCH_TOP_CMDS]; /* of the median run */

    /* event age at a fixed rate, one row per consumer setting */
    /* The consumer's rate on the event-age phase's own events, read as a
     * backlog (0: not measured, e.g. --age-rate given); the phase paces at
     * half of it. */
    double age_basis_rate;
    uint64_t age_basis_events;
    double age_basis_ops_sent_pe; /* operations sent per event in that run */
    int nage;
    struct bench_age_row age[BENCH_MAX_AGE];

    /* scaling */
    int nscale;
    struct bench_scale_row scale[BENCH_MAX_SCALE];

    /* two instances */
    int have_pair;
    uint64_t pair_events;
    int pair_partitions;
    double single_rate, pair_rate;
    int single_observed, pair_observed;
    double pair_share[2]; /* events applied by each instance */
    double pair_cpu_s[2];
    double single_cpu_s;

    /* correctness */
    int nchecks;
    struct bench_check_row checks[BENCH_MAX_CHECKS];

    /* what went wrong, if anything */
    char failure[1024];
};

/* Fills the machine fields (date, CPU, cores, memory, kernel, librdkafka
 * and hiredis versions; redis is filled by the caller). */
void bench_results_machine(struct bench_results *r);

/* The Markdown report of the selected consumers of all[0..n): a summary
 * table across them, then one section each.  wall_seconds: the whole run. */
void bench_report_markdown(const struct bench_results *all, size_t n, double wall_seconds,
                           FILE *out);

/* The same figures as JSON into path ({"consumers": [...]}).  Returns 0,
 * or -1 with errstr. */
int bench_report_json(const struct bench_results *all, size_t n, double wall_seconds,
                      const char *path, char *errstr, size_t errstr_size);

/* 1 when every correctness check passed and nothing failed. */
int bench_results_ok(const struct bench_results *r);

#endif
