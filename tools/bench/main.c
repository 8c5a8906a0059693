/* main.c - cachefleet-bench: how fast the fleet's consumers are, measured
 * on this machine, with every comparison made side by side in one run.
 *
 * What it owns: the flags, the stop flag (the program's only global), the
 * run's directory and servers, and the order of the phases; for each
 * consumer of the table (targets.h; --only selects some), with its own
 * redis-server and broker, and the phases its entry asks for
 * (BENCH_TARGET_*: every consumer gets 1-3 and 7):
 *   1. generate its events once (fixed seed) and produce them to its topic
 *      as fast as possible (the rate is information, not a target), then
 *      check that the broker kept every one;
 *   2. the limits on the same events: (a) Kafka read only, (b) Redis alone
 *      (pipelined plain SET and DEL; the fleet's functions fed by the real
 *      apply stage), (c) a naive consumer with one round trip per event;
 *   3. the consumer program itself, --runs times (median, min, max);
 *   4. event age while a paced producer runs at half the consumer's rate;
 *   5. scaling: batch size, prefetch, and the target's synthetic
 *      dimensions (payload size and tags per event for products, the
 *      members of a role whose permissions change for access);
 *   6. two instances in one group beside one, on an 8-partition topic;
 *   7. a sample check of the keys after every consumer run (products:
 *      its own; the others: against the oracle's model, check.h), and no
 *      dead letters: the only verdicts the benchmark gives.
 * A consumer whose phases fail is reported as failed and the run goes on
 * with the next one.
 * Then the Markdown report on stdout and, with --json, the same figures as
 * JSON.  What it does not own: measuring (limits.c, runner.c, kafka.c) or
 * rendering (report.c).
 *
 * DESIGN
 * Everything runs on loopback, started and stopped by PID by this program
 * (redis-server on a free port without persistence, the project's broker
 * with a control channel so each phase creates a topic sized for its
 * events: the mock keeps at most ~5 MiB per partition).  The machine is
 * small and shared, so no figure is compared with another run's: each
 * ratio is computed from figures taken minutes apart in the same process.
 * Every wait is bounded and says what it waited for.  SIGINT and SIGTERM
 * set the stop flag; every loop looks at it, the phase in hand fails with
 * "interrupted", the children are stopped, and a partial report is
 * printed.
 *
 * Exit status: 0 when every correctness check passed, 1 when a check
 * failed or the run could not complete, 2 for bad flags.
 *
 * Thread: main, plus the paced producer's thread during the event-age
 * phase (kafka.c) and librdkafka's own threads.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "events.h"
#include "kafka.h"
#include "limits.h"
#include "proc.h"
#include "progress.h"
#include "report.h"
#include "runner.h"
#include "servers.h"
#include "targets.h"

extern char **environ;

#ifndef CF_BUILD_DIR
#define CF_BUILD_DIR "."
#endif
#ifndef CF_SOURCE_DIR
#define CF_SOURCE_DIR "."
#endif

#define PROGRAM           "cachefleet-bench"
#define SEED              1
#define DEPTH             2000 /* the consumer's default kafka.batch_max */
#define SAMPLE_KEYS       2000
#define NAIVE_PREFIX      20000
#define AGE_FALLBACK_RATE 5000.0
#define AGE_SETTLE_MS     1000 /* from the consumer's assignment to the first paced event */
#define AGE_CPU_MIN_S     0.5  /* shorter phases get no CPU column (10 ms ticks) */
#define SCALE_EVENTS      50000
#define PAIR_PARTITIONS   8
#define PAIR_MAX_EVENTS   200000
#define QUICK_EVENTS      5000
/* Partition sizing: the mock drops a partition's oldest message sets above
 * 5 MiB.  Aim well below, from the uncompressed size and the compression
 * lz4 is assumed to reach on each kind of topic. */
#define PARTITION_TARGET_BYTES (3.0 * 1024 * 1024)

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

enum {
    SKIP_LIMITS = 1 << 0,
    SKIP_NAIVE = 1 << 1,
    SKIP_CONSUMER = 1 << 2,
    SKIP_AGE = 1 << 3,
    SKIP_SCALING = 1 << 4,
    SKIP_PAIR = 1 << 5,
};

static const struct {
    const char *name;
    unsigned bit;
} skip_names[] = {
    {"limits", SKIP_LIMITS}, {"naive", SKIP_NAIVE},     {"consumer", SKIP_CONSUMER},
    {"age", SKIP_AGE},       {"scaling", SKIP_SCALING}, {"pair", SKIP_PAIR},
};

struct options {
    uint64_t events;
    int runs;
    int quick;
    unsigned skip;
    unsigned only; /* bit i: bench_targets[i] is measured */
    const char *json;
    int keep;
    const char *redis_server;
    uint64_t age_rate; /* events/s of the event-age phase; 0: half the consumer's median */
};

/* Everything one run holds. */
struct bench {
    struct options o;
    const volatile sig_atomic_t *stop;
    struct bench_progress pg;
    char dir[PATH_MAX];
    char schemas_dir[PATH_MAX];
    char broker_prog[PATH_MAX];
    struct bench_redis redis;
    struct bench_broker broker;
    redisContext *rc; /* the benchmark's own connection */
    struct bench_checker *checker;
    unsigned seq; /* consumer groups */
    struct bench_results *res;
};

/* ------------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: " PROGRAM " [options]\n"
            "Measures the fleet's consumers on this machine: starts its own redis-server and\n"
            "broker on loopback, produces the simulator's events, measures the limits (Kafka\n"
            "read only, Redis alone, a naive consumer), runs the consumer program, and prints a\n"
            "Markdown report on stdout (figures; the only verdicts are correctness checks).\n"
            "\n"
            "  --events N          events of the main workload (default 1000000)\n"
            "  --runs N            runs of the consumer program, median/min/max (default 3)\n"
            "  --quick             a smoke run: 5000 events per consumer, 1 run, one small\n"
            "                      synthetic point per dimension; event age and two\n"
            "                      instances for products only (under a minute)\n"
            "  --skip PHASES       comma list of phases to leave out: limits, naive,\n"
            "                      consumer, age, scaling, pair\n"
            "  --only CONSUMERS    comma list of the consumers to measure (default all:\n"
            "                      products, carts, orders, access, stock)\n"
            "  --json PATH         also write the figures as JSON\n"
            "  --age-rate N        events/s of the event-age phase (default: half the\n"
            "                      consumer's median rate)\n"
            "  --keep              keep the run's directory (logs, redis and broker files)\n"
            "  --redis-server PATH redis-server to start (default /usr/bin/redis-server)\n"
            "  --help              this text\n"
            "\n"
            "Exit status: 0 every correctness check passed; 1 a check failed or the run could\n"
            "not complete; 2 bad flags.\n");
}

static int parse_u64(const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *text == '-' || *text == '+' || *text == ' ' || errno != 0 || *end != '\0' ||
        v < min || v > max) {
        fprintf(stderr, PROGRAM ": %s: \"%s\" is not an integer in %" PRIu64 "..%" PRIu64 "\n",
                flag, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_skip(const char *text, unsigned *skip)
{
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        for (; i < sizeof(skip_names) / sizeof(skip_names[0]); i++) {
            if (strlen(skip_names[i].name) == len && strncmp(skip_names[i].name, p, len) == 0)
                break;
        }
        if (i == sizeof(skip_names) / sizeof(skip_names[0])) {
            fprintf(stderr,
                    PROGRAM ": --skip: unknown phase \"%.*s\" (expected a comma list of limits, "
                            "naive, consumer, age, scaling, pair)\n",
                    (int)len, p);
            return -1;
        }
        *skip |= skip_names[i].bit;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int parse_only(const char *text, unsigned *only)
{
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        for (; i < bench_ntargets; i++) {
            if (strlen(bench_targets[i]->name) == len &&
                strncmp(bench_targets[i]->name, p, len) == 0)
                break;
        }
        if (i == bench_ntargets || len == 0) {
            fprintf(stderr,
                    PROGRAM ": --only: unknown consumer \"%.*s\" (expected a comma list of "
                            "products, carts, orders, access, stock)\n",
                    (int)len, p);
            return -1;
        }
        *only |= 1u << i;
        p += len;
        if (*p == ',')
            p++;
    }
    if (!*only) {
        fprintf(stderr, PROGRAM ": --only: expected at least one consumer\n");
        return -1;
    }
    return 0;
}

/* Returns 0 to run, 1 after --help, -1 on a bad flag. */
static int parse_flags(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"events", required_argument, NULL, 'e'},
        {"runs", required_argument, NULL, 'r'},
        {"quick", no_argument, NULL, 'q'},
        {"skip", required_argument, NULL, 's'},
        {"only", required_argument, NULL, 'o'},
        {"json", required_argument, NULL, 'j'},
        {"keep", no_argument, NULL, 'k'},
        {"redis-server", required_argument, NULL, 'R'},
        {"age-rate", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t events = 0, runs = 0, v;
    memset(o, 0, sizeof(*o));
    o->redis_server = "/usr/bin/redis-server";
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (parse_u64("--events", optarg, 1000, 100000000, &v) < 0)
                return -1;
            events = v;
            break;
        case 'r':
            if (parse_u64("--runs", optarg, 1, BENCH_MAX_RUNS, &v) < 0)
                return -1;
            runs = v;
            break;
        case 'q':
            o->quick = 1;
            break;
        case 'a':
            if (parse_u64("--age-rate", optarg, 1, 10000000, &v) < 0)
                return -1;
            o->age_rate = v;
            break;
        case 's':
            if (parse_skip(optarg, &o->skip) < 0)
                return -1;
            break;
        case 'o':
            if (parse_only(optarg, &o->only) < 0)
                return -1;
            break;
        case 'j':
            if (!*optarg) {
                fprintf(stderr, PROGRAM ": --json: expected a path\n");
                return -1;
            }
            o->json = optarg;
            break;
        case 'k':
            o->keep = 1;
            break;
        case 'R':
            if (access(optarg, X_OK) != 0) {
                fprintf(stderr, PROGRAM ": --redis-server: %s is not an executable (%s)\n", optarg,
                        strerror(errno));
                return -1;
            }
            o->redis_server = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return -1;
    }
    if (!o->only)
        o->only = (1u << bench_ntargets) - 1;
    o->events = events ? events : o->quick ? QUICK_EVENTS : 1000000;
    o->runs = runs ? (int)runs : o->quick ? 1 : 3;
    if (access(o->redis_server, X_OK) != 0) {
        fprintf(stderr, PROGRAM ": --redis-server: %s is not an executable (%s)\n", o->redis_server,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers shared by the phases
 * ------------------------------------------------------------------------ */

static void fail_with(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_with(struct bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->res->failure, sizeof(b->res->failure), fmt, ap);
    va_end(ap);
    bench_progress_note(&b->pg, "error: %s", b->res->failure);
}

/* Partitions for events [from, to) of es: enough that no partition nears
 * the mock's limit, a multiple of 8, at least 8. */
static int partitions_for(const struct bench_events *es, size_t from, size_t to,
                          double assumed_compression)
{
    double bytes = (double)bench_events_bytes(es, from, to) / assumed_compression;
    long n = (long)(bytes / PARTITION_TARGET_BYTES) + 1;
    n = (n + 7) / 8 * 8;
    if (n < 8)
        n = 8;
    if (n > 1024)
        n = 1024;
    return (int)n;
}

/* Creates name with the given partitions and its dead-letter topic. */
static int make_topic(struct bench *b, const char *name, int partitions, char *errstr,
                      size_t errstr_size)
{
    char dlq[256];
    snprintf(dlq, sizeof(dlq), "%s.dlq", name);
    if (bench_broker_topic_create(&b->broker, name, partitions, errstr, errstr_size) < 0 ||
        bench_broker_topic_create(&b->broker, dlq, 1, errstr, errstr_size) < 0)
        return -1;
    return 0;
}

/* Produces [from, to) to topic and checks the broker kept all of it. */
static int produce_checked(struct bench *b, const char *topic, const struct bench_events *es,
                           size_t from, size_t to, struct bench_produce_result *pr, char *errstr,
                           size_t errstr_size)
{
    char label[300];
    snprintf(label, sizeof(label), "producing to %s", topic);
    if (bench_produce_all(b->broker.bootstrap, topic, es, from, to, b->stop, &b->pg, label, pr,
                          errstr, errstr_size) < 0)
        return -1;
    int parts = 0;
    return bench_topic_verify(b->broker.bootstrap, topic, to - from, &parts, errstr, errstr_size);
}

static int flushall(struct bench *b, char *errstr, size_t errstr_size)
{
    return bench_redis_simple(b->rc, errstr, errstr_size, "FLUSHALL", NULL);
}

static double avg_payload(const struct bench_events *es, size_t from, size_t to)
{
    return to > from ? (double)bench_events_bytes(es, from, to) / (double)(to - from) : 0;
}

/* One consumer run over [from, to) of es (already in topic): FLUSHALL,
 * run, sample check, and a row in the correctness table.  Returns 0 (the
 * check's verdict is in the row), or -1 with errstr. */
struct pass_opts {
    int instances;
    long batch_max;               /* 0: the program's default */
    const char *const *extra_env; /* NULL-terminated, may be NULL */
    int warmup_ms;
    int (*on_ready)(void *, struct bench_run *, char *, size_t);
    void (*on_done)(void *, struct bench_run *);
    void *opaque;
};

static int consumer_pass(struct bench *b, const struct bench_target *t, const char *label,
                         const char *topic, const struct bench_events *es, size_t from, size_t to,
                         const struct pass_opts *po, struct bench_run *run, char *errstr,
                         size_t errstr_size)
{
    char group[128], program[PATH_MAX];
    snprintf(group, sizeof(group), "cachefleet-bench-%d-%u", (int)getpid(), b->seq++);
    snprintf(program, sizeof(program), "%s/%s", CF_BUILD_DIR, t->program);
    if (flushall(b, errstr, errstr_size) < 0)
        return -1;
    struct bench_run_config cfg = {
        .label = label,
        .program = program,
        .schemas_dir = b->schemas_dir,
        .brokers_file = b->broker.bootstrap_file,
        .topic = topic,
        .group = group,
        .dir = b->dir,
        .redis_port = b->redis.port,
        .instances = po->instances,
        .batch_max = po->batch_max,
        .extra_env = po->extra_env,
        .warmup_ms = po->warmup_ms,
        .expected = to - from,
        .on_ready = po->on_ready,
        .on_done = po->on_done,
        .opaque = po->opaque,
    };
    int64_t since_us = cf_wall_us();
    if (bench_run_consumer(&cfg, b->rc, b->stop, &b->pg, run, errstr, errstr_size) < 0)
        return -1;

    struct bench_results *r = b->res;
    if (r->nchecks >= BENCH_MAX_CHECKS) {
        snprintf(errstr, errstr_size, "too many checks");
        return -1;
    }
    struct bench_check_row *row = &r->checks[r->nchecks];
    memset(row, 0, sizeof(*row));
    snprintf(row->label, sizeof(row->label), "%s", label);
    int crc = t->check
                  ? t->check(b->rc, es, from, to, SAMPLE_KEYS, SEED + b->seq, &row->check, errstr,
                             errstr_size)
                  : bench_check_model(b->checker, b->rc, t, es, from, to, SAMPLE_KEYS,
                                      SEED + b->seq, since_us, &row->check, errstr, errstr_size);
    if (crc < 0)
        return -1;
    r->nchecks++;
    row->deadlettered = run->deadlettered;
    row->clean_exit = run->clean_exit;
    row->ok = row->check.ok && run->deadlettered == 0 && run->clean_exit;
    bench_progress_note(
        &b->pg,
        "%s: %.0f events/s; sample check: %zu keys right, %zu expired, %zu missing, %zu "
        "stale%s; %.0f dead-lettered; exit %s%s",
        label, run->rate, row->check.right, row->check.expired, row->check.missing,
        row->check.stale,
        row->check.extra_expected ? (row->check.extra_present ? "; menu present" : "; MENU MISSING")
                                  : "",
        run->deadlettered, run->clean_exit ? "0" : "NOT 0", row->ok ? "" : "  <-- WRONG");
    if (row->check.example[0])
        bench_progress_note(&b->pg, "%s: first wrong key: %s", label, row->check.example);
    return 0;
}

/* ------------------------------------------------------------------------
 * Phases
 * ------------------------------------------------------------------------ */

static int phase_limits(struct bench *b, const struct bench_target *t,
                        const struct bench_events *es, char *errstr, size_t errstr_size)
{
    struct bench_results *r = b->res;
    size_t n = es->n;
    bench_progress_note(&b->pg, "limits (a): reading %s with a plain librdkafka consumer",
                        t->topic);
    if (bench_read_topic(b->broker.bootstrap, t->topic, n, NULL, NULL, NULL, b->stop, &b->pg,
                         "Kafka read only", &r->read, errstr, errstr_size) < 0)
        return -1;
    r->have_read = 1;

    bench_progress_note(&b->pg, "limits (b): Redis plain SET and DEL, pipelines of %d", DEPTH);
    if (flushall(b, errstr, errstr_size) < 0 ||
        bench_limit_plain(b->rc, t, es, 0, n, DEPTH, b->stop, &b->pg, &r->plain, errstr,
                          errstr_size) < 0)
        return -1;
    r->have_plain = 1;

    bench_progress_note(&b->pg, "limits (b): the fleet's functions through the apply stage");
    if (flushall(b, errstr, errstr_size) < 0 ||
        bench_limit_fleet(t, b->schemas_dir, b->redis.port, es, 0, n, DEPTH, b->stop, &b->pg,
                          &r->fleet, errstr, errstr_size) < 0)
        return -1;
    r->have_fleet = 1;
    if (r->fleet.rejected)
        bench_progress_note(&b->pg, "warning: the planner rejected %llu events",
                            (unsigned long long)r->fleet.rejected);

    if (!(b->o.skip & SKIP_NAIVE)) {
        uint64_t count = n < NAIVE_PREFIX ? n : NAIVE_PREFIX;
        bench_progress_note(&b->pg,
                            "limits (c): naive consumer, one round trip per event, %llu "
                            "events",
                            (unsigned long long)count);
        if (flushall(b, errstr, errstr_size) < 0 ||
            bench_limit_naive(t, b->schemas_dir, b->redis.port, b->broker.bootstrap, t->topic,
                              count, b->stop, &b->pg, &r->naive, errstr, errstr_size) < 0)
            return -1;
        r->have_naive = 1;
    }
    return flushall(b, errstr, errstr_size);
}

static int cmp_share(const void *a, const void *b)
{
    double x = ((const struct bench_cmd_share *)a)->per_event;
    double y = ((const struct bench_cmd_share *)b)->per_event;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int phase_consumer(struct bench *b, const struct bench_target *t,
                          const struct bench_events *es, char *errstr, size_t errstr_size)
{
    struct bench_results *r = b->res;
    struct bench_run run;
    struct bench_cmdstats *cmds = calloc((size_t)b->o.runs, sizeof(*cmds));
    double v[10][BENCH_MAX_RUNS];
    int rc = -1;
    if (!cmds) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (int i = 0; i < b->o.runs; i++) {
        char label[32];
        snprintf(label, sizeof(label), "run %d", i + 1);
        bench_progress_note(&b->pg, "consumer %s of %d: %s over %zu events", label, b->o.runs,
                            t->program, es->n);
        struct pass_opts po = {.instances = 1};
        if (consumer_pass(b, t, label, t->topic, es, 0, es->n, &po, &run, errstr, errstr_size) < 0)
            goto out;
        double n = (double)run.events;
        struct bench_run_row *row = &r->run[r->nruns++];
        row->rate = run.rate;
        row->rate_observed = run.rate_observed;
        row->seconds = run.seconds;
        row->fcalls_pe = run.calls / n;
        row->round_trips_pe = run.round_trips / n;
        row->ops_planned_pe = run.ops_planned / n;
        row->ops_sent_pe = run.ops_sent / n;
        row->commands_pe = (double)run.commands.total / n;
        row->cpu_s_per_m = run.cpu_s / n * 1e6;
        row->rss_mib = (double)run.maxrss_kib / 1024.0;
        row->redis_cpu_s_per_m = run.commands.cpu_s / n * 1e6;
        row->redis_busy = run.seconds > 0 ? run.commands.cpu_s / run.seconds : 0;
        row->exit_status = run.inst[0].exit_status;
        cmds[i] = run.commands;
        v[0][i] = row->rate;
        v[1][i] = row->fcalls_pe;
        v[2][i] = row->round_trips_pe;
        v[3][i] = row->ops_planned_pe;
        v[4][i] = row->ops_sent_pe;
        v[5][i] = row->commands_pe;
        v[6][i] = row->cpu_s_per_m;
        v[7][i] = row->rss_mib;
        v[8][i] = row->redis_cpu_s_per_m;
        v[9][i] = row->redis_busy;
    }
    bench_stat_of(v[0], r->nruns, &r->rate);
    bench_stat_of(v[1], r->nruns, &r->fcalls_pe);
    bench_stat_of(v[2], r->nruns, &r->round_trips_pe);
    bench_stat_of(v[3], r->nruns, &r->ops_planned_pe);
    bench_stat_of(v[4], r->nruns, &r->ops_sent_pe);
    bench_stat_of(v[5], r->nruns, &r->commands_pe);
    bench_stat_of(v[6], r->nruns, &r->cpu_s_per_m);
    bench_stat_of(v[7], r->nruns, &r->rss_mib);
    bench_stat_of(v[8], r->nruns, &r->redis_cpu_s_per_m);
    bench_stat_of(v[9], r->nruns, &r->redis_busy);

    /* The median run's commands, the most frequent first. */
    int median = 0;
    for (int i = 1; i < r->nruns; i++) {
        double d = r->run[i].rate - r->rate.median, dm = r->run[median].rate - r->rate.median;
        if ((d < 0 ? -d : d) < (dm < 0 ? -dm : dm))
            median = i;
    }
    struct bench_cmd_share all[BENCH_CMDSTATS_MAX];
    size_t nall = 0;
    for (size_t k = 0; k < cmds[median].n; k++) {
        if (cmds[median].cmd[k].calls == 0)
            continue;
        snprintf(all[nall].name, sizeof(all[nall].name), "%s", cmds[median].cmd[k].name);
        all[nall].per_event = (double)cmds[median].cmd[k].calls / (double)es->n;
        nall++;
    }
    qsort(all, nall, sizeof(all[0]), cmp_share);
    r->ncmds = nall < BENCH_TOP_CMDS ? (int)nall : BENCH_TOP_CMDS;
    memcpy(r->cmds, all, (size_t)r->ncmds * sizeof(all[0]));
    rc = 0;

out:
    free(cmds);
    return rc;
}

/* CPU seconds so far of every process of the event-age phase; -1 where
 * one could not be read. */
struct cpu_snap {
    int64_t mono_us;
    double consumer, redis, broker, bench;
};

static void cpu_snap_take(struct bench *b, struct bench_run *run, struct cpu_snap *c)
{
    c->mono_us = bench_mono_us();
    c->consumer = bench_proc_cpu_now_s(&run->inst[0].proc);
    c->redis = bench_proc_cpu_now_s(&b->redis.proc);
    c->broker = bench_proc_cpu_now_s(&b->broker.proc);
    c->bench = bench_self_cpu_s();
}

/* The event-age phase starts its producer once the consumer is ready, and
 * reads every process's CPU time at the start and once the events are
 * applied. */
struct age_ctx {
    struct bench *b;
    const char *topic;
    const struct bench_events *es;
    size_t from, to;
    double rate;
    struct bench_paced *pp;
    struct cpu_snap start, end;
    int have_end;
};

/* Starts the paced producer AGE_SETTLE_MS after the reader (the consumer,
 * or the bare reader) has its partitions: a site's events meet a reader
 * that is already fetching, while after its assignment it still looks up
 * its offsets and starts its fetchers, and events produced meanwhile would
 * wait for that start-up (about 150 ms on the mock) instead of for the
 * reader.  With run (the consumer's), the CPU times are read just before. */
static int age_start(struct age_ctx *a, struct bench_run *run, char *errstr, size_t errstr_size)
{
    bench_sleep_ms(AGE_SETTLE_MS);
    if (run)
        cpu_snap_take(a->b, run, &a->start);
    a->pp = bench_paced_start(a->b->broker.bootstrap, a->topic, a->es, a->from, a->to, a->rate,
                              a->b->stop, errstr, errstr_size);
    return a->pp ? 0 : -1;
}

/* Waits for the paced producer, if started, into *pr.  Returns rc, or -1
 * with errstr when rc was 0 and the producer failed. */
static int age_join(struct age_ctx *a, struct bench_produce_result *pr, int rc, char *errstr,
                    size_t errstr_size)
{
    memset(pr, 0, sizeof(*pr));
    if (!a->pp)
        return rc;
    char why[512];
    if (bench_paced_join(a->pp, pr, why, sizeof(why)) < 0 && rc == 0) {
        snprintf(errstr, errstr_size, "%s", why);
        rc = -1;
    }
    a->pp = NULL;
    return rc;
}

static int age_on_ready(void *opaque, struct bench_run *run, char *errstr, size_t errstr_size)
{
    return age_start(opaque, run, errstr, errstr_size);
}

static void age_on_done(void *opaque, struct bench_run *run)
{
    struct age_ctx *a = opaque;
    cpu_snap_take(a->b, run, &a->end);
    a->have_end = 1;
}

/* Cores used over the phase: (CPU seconds at the end - at the start) /
 * wall seconds; -1 when either reading is missing. */
static double cores_used(double start, double end, double wall_s)
{
    if (start < 0 || end < 0 || wall_s <= 0)
        return -1;
    return (end - start) / wall_s;
}

/* The bare reader's side of an event-age row: every message's age when
 * read, in microseconds. */
struct reader_age {
    struct age_ctx *a;
    uint32_t *us;
    size_t n, cap;
};

static int reader_on_assigned(void *opaque, char *errstr, size_t errstr_size)
{
    struct reader_age *ra = opaque;
    return age_start(ra->a, NULL, errstr, errstr_size);
}

static int reader_age_one(const rd_kafka_message_t *msg, void *opaque)
{
    struct reader_age *ra = opaque;
    int64_t ts = rd_kafka_message_timestamp(msg, NULL);
    if (ts <= 0 || ra->n >= ra->cap)
        return 0;
    int64_t age = cf_wall_us() - ts * 1000;
    ra->us[ra->n++] = age < 0 ? 0 : age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
    return 0;
}

/* The same paced stream read by a bare librdkafka reader (no decoding, no
 * Redis) with the consumer's fetch wait: the age the broker and this
 * machine allow, beside the consumer's.  Fills g's reader fields. */
static int reader_age_row(struct bench *b, const struct bench_target *t,
                          const struct bench_events *es, size_t from, size_t to, int parts,
                          double rate, const char *suffix, struct bench_age_row *g, char *errstr,
                          size_t errstr_size)
{
    char topic[128];
    snprintf(topic, sizeof(topic), "bench.%s.age.%s.reader", t->name, suffix);
    if (make_topic(b, topic, parts, errstr, errstr_size) < 0)
        return -1;
    struct age_ctx a = {.b = b, .topic = topic, .es = es, .from = from, .to = to, .rate = rate};
    struct reader_age ra = {.a = &a, .cap = to - from};
    ra.us = malloc(ra.cap * sizeof(*ra.us));
    if (!ra.us) {
        snprintf(errstr, errstr_size, "reader age: out of memory");
        return -1;
    }
    char wait[16];
    snprintf(wait, sizeof(wait), "%d", BENCH_AGE_READER_FETCH_WAIT_MS);
    const char *const kv[] = {"fetch.wait.max.ms", wait, NULL};
    struct bench_read_opts opts = {.kv = kv, .on_assigned = reader_on_assigned, .opaque = &ra};
    struct bench_read_result rr;
    int rc = bench_read_topic(b->broker.bootstrap, topic, to - from, reader_age_one, &ra, &opts,
                              b->stop, &b->pg, "event age, bare reader", &rr, errstr, errstr_size);
    struct bench_produce_result pr;
    rc = age_join(&a, &pr, rc, errstr, errstr_size);
    if (rc == 0 && ra.n > 0)
        bench_quantiles_us(ra.us, ra.n, &g->reader);
    free(ra.us);
    return rc;
}

/* The events of the event-age phase: the tail of the workload (steady
 * changes), or its head for a target whose cache state depends on history
 * a tail lacks (targets.h). */
static void age_slice(const struct bench_target *t, const struct bench_events *es, size_t count,
                      size_t *from, size_t *to)
{
    *from = t->age_from_start ? 0 : es->n - count;
    *to = *from + count;
}

/* One row of the event-age table: a fresh topic, the paced producer, the
 * consumer with the given settings; then the bare reader on a topic of
 * its own. */
static int age_row(struct bench *b, const struct bench_target *t, const struct bench_events *es,
                   double rate, const char *suffix, const char *setting,
                   const char *const *extra_env, char *errstr, size_t errstr_size)
{
    struct bench_results *r = b->res;
    struct bench_run run;
    char topic[128], label[160];
    snprintf(topic, sizeof(topic), "bench.%s.age.%s", t->name, suffix);
    snprintf(label, sizeof(label), "event age (%s)", setting);
    double seconds = b->o.quick ? BENCH_AGE_SECONDS_QUICK : BENCH_AGE_SECONDS;
    size_t count = (size_t)(rate * seconds);
    if (count > es->n)
        count = es->n;
    if (count > BENCH_AGE_MAX_EVENTS)
        count = BENCH_AGE_MAX_EVENTS;
    if (count < 1)
        count = 1;
    size_t from, to;
    age_slice(t, es, count, &from, &to);
    /* Paced production makes small message sets that lz4 barely
     * compresses: size the topic from the uncompressed bytes. */
    int parts = partitions_for(es, from, to, 1.0);
    if (make_topic(b, topic, parts, errstr, errstr_size) < 0)
        return -1;
    bench_progress_note(&b->pg,
                        "event age (%s): %zu events at %.0f events/s (%.1f s) to %s (%d "
                        "partitions) while the consumer runs",
                        setting, count, rate, (double)count / rate, topic, parts);
    struct age_ctx a = {.b = b, .topic = topic, .es = es, .from = from, .to = to, .rate = rate};
    struct pass_opts po = {
        .instances = 1,
        .extra_env = extra_env,
        .warmup_ms = BENCH_AGE_WARMUP_MS,
        .on_ready = age_on_ready,
        .on_done = age_on_done,
        .opaque = &a,
    };
    struct bench_produce_result pr;
    int rc = consumer_pass(b, t, label, topic, es, from, to, &po, &run, errstr, errstr_size);
    if (age_join(&a, &pr, rc, errstr, errstr_size) < 0)
        return -1;
    int parts_seen = 0;
    if (bench_topic_verify(b->broker.bootstrap, topic, count, &parts_seen, errstr, errstr_size) < 0)
        return -1;

    struct bench_age_row *g = &r->age[r->nage++];
    const struct bench_instance *in = &run.inst[0];
    memset(g, 0, sizeof(*g));
    bench_progress_note(&b->pg,
                        "event age (%s): the same %zu events at %.0f events/s read by a bare "
                        "reader",
                        setting, count, rate);
    if (reader_age_row(b, t, es, from, to, parts, rate, suffix, g, errstr, errstr_size) < 0)
        return -1;
    snprintf(g->setting, sizeof(g->setting), "%s", setting);
    g->target_rate = rate;
    g->achieved_rate = pr.rate;
    g->seconds = pr.seconds;
    g->events = count;
    g->partitions = parts;
    g->p50 = g->p99 = g->steady_p50 = g->steady_p99 = -1;
    g->max = in->age_max_s;
    if (in->batches > 0 && run.events > 0) {
        g->events_per_batch = (double)run.events / in->batches;
        g->ops_sent_pe = run.ops_sent / (double)run.events;
    }
    g->ack = pr.ack;
    g->cpu_wall_s = a.have_end ? (double)(a.end.mono_us - a.start.mono_us) / 1e6 : 0;
    if (g->cpu_wall_s < AGE_CPU_MIN_S)
        g->cpu_wall_s = 0; /* too short for /proc's 10 ms ticks: not measured */
    g->cpu_consumer = cores_used(a.start.consumer, a.end.consumer, g->cpu_wall_s);
    g->cpu_redis = cores_used(a.start.redis, a.end.redis, g->cpu_wall_s);
    g->cpu_broker = cores_used(a.start.broker, a.end.broker, g->cpu_wall_s);
    g->cpu_bench = cores_used(a.start.bench, a.end.bench, g->cpu_wall_s);
    if (in->have_age) {
        g->p50 = bench_histogram_quantile(&in->age, 0.50, &g->p50_overflow);
        g->p99 = bench_histogram_quantile(&in->age, 0.99, &g->p99_overflow);
        g->count = (uint64_t)in->age.count;
    }
    if (in->have_age && in->have_age_warm && in->age_warm.n == in->age.n) {
        /* The histogram of the events applied after the warm-up. */
        struct bench_histogram steady = in->age;
        for (size_t k = 0; k < steady.n; k++)
            steady.cum[k] -= in->age_warm.cum[k];
        int of;
        g->steady_count = (uint64_t)steady.cum[steady.n - 1];
        g->steady_p50 = bench_histogram_quantile(&steady, 0.50, &of);
        g->steady_p99 = bench_histogram_quantile(&steady, 0.99, &of);
    }
    /* Interpolation cannot know where in its bucket the largest value is:
     * a quantile never exceeds the observed max. */
    double *qs[] = {&g->p50, &g->p99, &g->steady_p50, &g->steady_p99};
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        if (g->max > 0 && *qs[k] > g->max)
            *qs[k] = g->max;
    }
    return 0;
}

/* The consumer's rate on the events the event-age phase paces (the most
 * it may take: the slice of BENCH_AGE_MAX_EVENTS), produced beforehand and
 * read as a backlog, one run: "half the maximum rate" must be half of what
 * the consumer does with these events.  The whole workload's median is not:
 * its mix coalesces differently (the report gives the operations sent per
 * event of both runs).  Sets r->age_basis_*. */
static int age_basis(struct bench *b, const struct bench_target *t, const struct bench_events *es,
                     char *errstr, size_t errstr_size)
{
    struct bench_results *r = b->res;
    size_t count = es->n < BENCH_AGE_MAX_EVENTS ? es->n : BENCH_AGE_MAX_EVENTS;
    size_t from, to;
    age_slice(t, es, count, &from, &to);
    char topic[128];
    snprintf(topic, sizeof(topic), "bench.%s.age.basis", t->name);
    struct bench_produce_result pr;
    if (make_topic(b, topic, partitions_for(es, from, to, t->compression), errstr, errstr_size) <
            0 ||
        produce_checked(b, topic, es, from, to, &pr, errstr, errstr_size) < 0)
        return -1;
    struct bench_run run;
    struct pass_opts po = {.instances = 1};
    if (consumer_pass(b, t, "event age: the rate on these events", topic, es, from, to, &po, &run,
                      errstr, errstr_size) < 0)
        return -1;
    r->age_basis_rate = run.rate;
    r->age_basis_events = run.events;
    r->age_basis_ops_sent_pe = run.events > 0 ? run.ops_sent / (double)run.events : 0;
    return 0;
}

static int phase_age(struct bench *b, const struct bench_target *t, const struct bench_events *es,
                     char *errstr, size_t errstr_size)
{
    struct bench_results *r = b->res;
    double rate = AGE_FALLBACK_RATE;
    if (b->o.age_rate > 0) {
        rate = (double)b->o.age_rate;
    } else if (age_basis(b, t, es, errstr, errstr_size) < 0) {
        return -1;
    } else if (r->age_basis_rate > 0) {
        rate = r->age_basis_rate / 2;
    } else {
        bench_progress_note(&b->pg,
                            "event age: no consumer rate measured; pacing at %.0f "
                            "events/s",
                            rate);
    }
    /* The defaults (kafka.fetch_wait_max_ms 10) approximate a real broker
     * since the fetch defaults changed: one row. */
    return age_row(b, t, es, rate, "default", "defaults (fetch.wait.max.ms=10)", NULL, errstr,
                   errstr_size);
}

/* One scaling point: its topic, its events, one consumer run. */
static int scale_point(struct bench *b, const struct bench_target *t, const char *dimension,
                       const char *point, const char *topic, const struct bench_events *es,
                       size_t from, size_t to, long batch_max, const char *const *extra_env,
                       double compression, int produce, char *errstr, size_t errstr_size)
{
    struct bench_results *r = b->res;
    struct bench_run run;
    if (r->nscale >= BENCH_MAX_SCALE) {
        snprintf(errstr, errstr_size, "too many scaling points");
        return -1;
    }
    double read_rate = 0;
    if (produce) {
        struct bench_produce_result pr;
        if (make_topic(b, topic, partitions_for(es, from, to, compression), errstr, errstr_size) <
                0 ||
            produce_checked(b, topic, es, from, to, &pr, errstr, errstr_size) < 0)
            return -1;
        /* (a) on this topic: what reading alone reaches on these events. */
        struct bench_read_result rr;
        if (bench_read_topic(b->broker.bootstrap, topic, to - from, NULL, NULL, NULL, b->stop,
                             &b->pg, "read only", &rr, errstr, errstr_size) < 0)
            return -1;
        read_rate = rr.rate;
    }
    char label[96];
    snprintf(label, sizeof(label), "%s %s", dimension, point);
    struct pass_opts po = {.instances = 1, .batch_max = batch_max, .extra_env = extra_env};
    if (consumer_pass(b, t, label, topic, es, from, to, &po, &run, errstr, errstr_size) < 0)
        return -1;
    struct bench_scale_row *s = &r->scale[r->nscale++];
    double n = (double)run.events;
    snprintf(s->dimension, sizeof(s->dimension), "%s", dimension);
    snprintf(s->point, sizeof(s->point), "%s", point);
    s->events = run.events;
    s->rate = run.rate;
    s->rate_observed = run.rate_observed;
    s->ops_planned_pe = run.ops_planned / n;
    s->ops_sent_pe = run.ops_sent / n;
    s->fcalls_pe = run.calls / n;
    s->round_trips_pe = run.round_trips / n;
    s->cpu_s_per_m = run.cpu_s / n * 1e6;
    s->rss_mib = (double)run.maxrss_kib / 1024.0;
    s->avg_payload = avg_payload(es, from, to);
    s->read_rate = read_rate;
    s->seconds = run.seconds;
    return 0;
}

static int phase_scaling(struct bench *b, const struct bench_target *t, unsigned phases,
                         const struct bench_events *es, char *errstr, size_t errstr_size)
{
    int quick = b->o.quick;
    char topic[128];

    /* Batch size, on the tail of the main workload (the change mix). */
    size_t count = quick ? 2000 : SCALE_EVENTS;
    if (count > es->n)
        count = es->n;
    size_t from = es->n - count;
    snprintf(topic, sizeof(topic), "bench.%s.batch", t->name);
    static const long batch_sizes[] = {1, 100, 1000, 5000};
    if ((phases & BENCH_TARGET_BATCH) && !quick)
        bench_progress_note(&b->pg, "scaling: batch size, %zu events", count);
    for (size_t i = 0;
         (phases & BENCH_TARGET_BATCH) && i < sizeof(batch_sizes) / sizeof(batch_sizes[0]); i++) {
        /* Every point costs a group join (~3 s in the mock): the quick run
         * keeps none (the synthetic points cover scale_point()). */
        if (quick)
            continue;
        char point[32];
        snprintf(point, sizeof(point), "%ld", batch_sizes[i]);
        if (scale_point(b, t, "kafka.batch_max", point, topic, es, from, es->n, batch_sizes[i],
                        NULL, t->compression, i == 0, errstr, errstr_size) < 0)
            return -1;
    }

    /* The consumer's prefetch (librdkafka's queued.max.messages.kbytes), on
     * the same events: what it buys in events/s and costs in memory. */
    static const struct {
        const char *point;
        const char *env[2];
    } prefetch[] = {
        {"1024", {"CACHEFLEET_KAFKA_QUEUED_MAX_KBYTES=1024", NULL}},
        {"4096 (default)", {NULL, NULL}},
        {"16384", {"CACHEFLEET_KAFKA_QUEUED_MAX_KBYTES=16384", NULL}},
    };
    int have_topic = (phases & BENCH_TARGET_BATCH) != 0;
    for (size_t i = 0;
         !quick && (phases & BENCH_TARGET_PREFETCH) && i < sizeof(prefetch) / sizeof(prefetch[0]);
         i++) {
        if (scale_point(b, t, "kafka.queued_max_kbytes", prefetch[i].point, topic, es, from, es->n,
                        0, prefetch[i].env, t->compression, !have_topic && i == 0, errstr,
                        errstr_size) < 0)
            return -1;
    }

    /* The target's synthetic dimensions (payload size and tags per event
     * for products, role members for access). */
    for (size_t i = 0; i < t->nsynth_points; i++) {
        const struct bench_synth_point *sp = &t->synth_points[i];
        if (quick && sp->events_quick == 0)
            continue; /* the quick run keeps one point per dimension */
        struct bench_synth cfg = sp->cfg;
        if (quick)
            cfg.events = sp->events_quick;
        struct bench_events ses;
        bench_events_init(&ses);
        bench_progress_note(&b->pg, "scaling: %s %s, synthetic events", sp->dimension, sp->point);
        if (t->synthesize(b->schemas_dir, SEED, &cfg, &ses, errstr, errstr_size) < 0) {
            bench_events_free(&ses);
            return -1;
        }
        snprintf(topic, sizeof(topic), "bench.%s.%s", t->name, sp->name);
        /* Random padding: assume lz4 gains nothing. */
        int rc = scale_point(b, t, sp->dimension, sp->point, topic, &ses, 0, ses.n, 0, NULL, 1.0, 1,
                             errstr, errstr_size);
        bench_events_free(&ses);
        if (rc < 0)
            return -1;
        if (cfg.members) {
            b->res->scale[b->res->nscale - 1].members = cfg.members;
            b->res->scale[b->res->nscale - 1].fanouts = cfg.events;
        }
    }
    return 0;
}

static int phase_pair(struct bench *b, const struct bench_target *t, const struct bench_events *es,
                      char *errstr, size_t errstr_size)
{
    struct bench_results *r = b->res;
    struct bench_run run;
    char topic[128];
    snprintf(topic, sizeof(topic), "bench.%s.pair", t->name);
    /* As many events of the tail as 8 partitions hold safely (with the
     * target's assumed lz4 gain; verified below), at most PAIR_MAX_EVENTS
     * (time). */
    size_t count = 0;
    uint64_t bytes = 0;
    double cap = PAIR_PARTITIONS * PARTITION_TARGET_BYTES * t->compression;
    while (count < es->n && count < PAIR_MAX_EVENTS &&
           (double)(bytes + es->ev[es->n - 1 - count].len) <= cap) {
        bytes += es->ev[es->n - 1 - count].len;
        count++;
    }
    size_t from = es->n - count;
    struct bench_produce_result pr;
    bench_progress_note(&b->pg, "two instances: %zu events on %s (%d partitions)", count, topic,
                        PAIR_PARTITIONS);
    if (make_topic(b, topic, PAIR_PARTITIONS, errstr, errstr_size) < 0 ||
        produce_checked(b, topic, es, from, es->n, &pr, errstr, errstr_size) < 0)
        return -1;
    r->pair_events = count;
    r->pair_partitions = PAIR_PARTITIONS;
    struct pass_opts one = {.instances = 1}, two = {.instances = 2};
    if (consumer_pass(b, t, "one instance", topic, es, from, es->n, &one, &run, errstr,
                      errstr_size) < 0)
        return -1;
    r->single_rate = run.rate;
    r->single_observed = run.rate_observed;
    r->single_cpu_s = run.cpu_s;
    if (consumer_pass(b, t, "two instances", topic, es, from, es->n, &two, &run, errstr,
                      errstr_size) < 0)
        return -1;
    r->pair_rate = run.rate;
    r->pair_observed = run.rate_observed;
    for (int i = 0; i < 2; i++) {
        r->pair_share[i] = run.inst[i].applied + run.inst[i].deadlettered;
        r->pair_cpu_s[i] = run.inst[i].cpu_s;
    }
    r->have_pair = 1;
    return 0;
}

/* ------------------------------------------------------------------------
 * The run's directory and servers
 * ------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int servers_start(struct bench *b, const struct bench_target *t, char *errstr,
                         size_t errstr_size)
{
    if (bench_redis_start(&b->redis, b->o.redis_server, b->dir, errstr, errstr_size) < 0)
        return -1;
    snprintf(b->res->redis, sizeof(b->res->redis), "%s", b->redis.version);
    b->rc = bench_redis_connect(&b->redis, 60000, errstr, errstr_size);
    if (!b->rc)
        return -1;
    char main_topic[300], main_dlq[300];
    snprintf(main_topic, sizeof(main_topic), "%s:%d", t->topic, b->res->partitions);
    snprintf(main_dlq, sizeof(main_dlq), "%s.dlq:1", t->topic);
    const char *topics[] = {main_topic, main_dlq};
    return bench_broker_start(&b->broker, b->broker_prog, b->dir, topics, 2, errstr, errstr_size);
}

static void servers_stop(struct bench *b)
{
    if (b->rc) {
        redisFree(b->rc);
        b->rc = NULL;
    }
    if (b->broker.proc.started) {
        int st = bench_broker_stop(&b->broker);
        if (st != 0)
            bench_progress_note(&b->pg, "the broker exited with status %d (log: %s)", st,
                                b->broker.log_path);
    }
    if (b->redis.proc.started) {
        int st = bench_redis_stop(&b->redis);
        if (st != 0)
            bench_progress_note(&b->pg, "redis-server exited with status %d (log: %s)", st,
                                b->redis.log_path);
    }
}

/* ------------------------------------------------------------------------
 * One consumer of the table
 * ------------------------------------------------------------------------ */

static int bench_target_run(struct bench *b, const struct bench_target *t)
{
    /* --quick keeps every consumer's limits, run and synthetic points, and
     * the other phases for the targets that ask for them: each consumer
     * pass costs a group join (~3 s in the mock). */
    unsigned phases = b->o.quick && !(t->phases & BENCH_TARGET_QUICK) ? 0 : t->phases;
    struct bench_results *r = b->res;
    struct bench_events es;
    char errstr[2048];
    int rc = -1;
    bench_events_init(&es);
    r->consumer = t->name;
    r->topic = t->topic;
    r->program = t->program;
    r->value_note = t->value_note;

    bench_progress_note(&b->pg, "generating %llu %s events (seed %d)",
                        (unsigned long long)b->o.events, t->name, SEED);
    int64_t g0 = bench_mono_us();
    if (t->generate(b->schemas_dir, SEED, (size_t)b->o.events, &es, errstr, sizeof(errstr)) < 0) {
        fail_with(b, "%s", errstr);
        goto out;
    }
    r->gen_seconds = (double)(bench_mono_us() - g0) / 1e6;
    r->avg_payload = avg_payload(&es, 0, es.n);
    uint64_t value_bytes = 0;
    for (size_t i = 0; i < es.n; i++) {
        if (es.ev[i].has_value) {
            r->valued_events++;
            value_bytes += es.ev[i].value_len;
        }
    }
    r->avg_value = r->valued_events ? (double)value_bytes / (double)r->valued_events : 0;

    /* The servers, with the main topic sized from the events: lz4 on bulk
     * batches of the shop's events gains at least 1.5x. */
    r->partitions = partitions_for(&es, 0, es.n, t->compression);
    if (servers_start(b, t, errstr, sizeof(errstr)) < 0) {
        fail_with(b, "%s", errstr);
        goto out;
    }
    bench_progress_note(&b->pg, "producing %zu events to %s (%d partitions, lz4)", es.n, t->topic,
                        r->partitions);
    if (produce_checked(b, t->topic, &es, 0, es.n, &r->produce, errstr, sizeof(errstr)) < 0) {
        fail_with(b, "%s", errstr);
        goto out;
    }
    r->have_produce = 1;
    bench_progress_note(&b->pg,
                        "produced %zu events in %.2f s (%.0f events/s); the broker kept "
                        "all of them",
                        es.n, r->produce.seconds, r->produce.rate);

    if (!(b->o.skip & SKIP_LIMITS) && phase_limits(b, t, &es, errstr, sizeof(errstr)) < 0) {
        fail_with(b, "limits: %s", errstr);
        goto out;
    }
    if (!(b->o.skip & SKIP_CONSUMER) && phase_consumer(b, t, &es, errstr, sizeof(errstr)) < 0) {
        fail_with(b, "consumer: %s", errstr);
        goto out;
    }
    if (!(b->o.skip & SKIP_AGE) && (phases & BENCH_TARGET_AGE) &&
        phase_age(b, t, &es, errstr, sizeof(errstr)) < 0) {
        fail_with(b, "event age: %s", errstr);
        goto out;
    }
    if (!(b->o.skip & SKIP_SCALING) &&
        phase_scaling(b, t, phases, &es, errstr, sizeof(errstr)) < 0) {
        fail_with(b, "scaling: %s", errstr);
        goto out;
    }
    if (!(b->o.skip & SKIP_PAIR) && (phases & BENCH_TARGET_PAIR) &&
        phase_pair(b, t, &es, errstr, sizeof(errstr)) < 0) {
        fail_with(b, "two instances: %s", errstr);
        goto out;
    }
    rc = 0;

out:
    servers_stop(b);
    bench_events_free(&es);
    return rc;
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    struct bench b;
    memset(&b, 0, sizeof(b));
    int prc = parse_flags(argc, argv, &b.o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The consumer programs inherit the environment: a CACHEFLEET_ setting
     * left there would change what "default settings" means in the report. */
    char scrubbed[1024] = "";
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "CACHEFLEET_", 11) != 0)
                continue;
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
            size_t used = strlen(scrubbed);
            snprintf(scrubbed + used, sizeof(scrubbed) - used, "%s%s", used ? ", " : "", name);
            unsetenv(name);
            again = 1; /* environ changed under us: start over */
            break;
        }
    }

    /* One results record per consumer of the table (those not selected
     * stay empty and are not reported). */
    struct bench_results *all = calloc(bench_ntargets, sizeof(*all));
    if (!all) {
        fprintf(stderr, PROGRAM ": out of memory\n");
        return 1;
    }
    b.stop = &stop_requested;
    bench_progress_init(&b.pg);
    int64_t t0 = bench_mono_us();
    for (size_t i = 0; i < bench_ntargets; i++) {
        struct bench_results *results = &all[i];
        bench_results_machine(results);
        results->selected = (b.o.only >> i) & 1u;
        results->consumer = bench_targets[i]->name;
        results->events = b.o.events;
        results->runs = b.o.runs;
        results->quick = b.o.quick;
        results->seed = SEED;
    }
    snprintf(b.schemas_dir, sizeof(b.schemas_dir), "%s/schemas", CF_SOURCE_DIR);
    snprintf(b.broker_prog, sizeof(b.broker_prog), "%s/cachefleet-broker", CF_BUILD_DIR);

    b.checker = bench_checker_new(b.schemas_dir);
    const char *tmp = getenv("TMPDIR");
    snprintf(b.dir, sizeof(b.dir), "%s/cachefleet-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(b.dir)) {
        fprintf(stderr, PROGRAM ": cannot create a directory %s: %s\n", b.dir, strerror(errno));
        return 1;
    }
    bench_progress_note(&b.pg, "run directory %s", b.dir);
    if (scrubbed[0])
        bench_progress_note(&b.pg,
                            "ignoring %s from the environment: the consumers run with "
                            "their defaults unless a phase says otherwise",
                            scrubbed);

    char errstr[2048];
    /* A consumer that fails does not stop the others: its report names
     * the failure and the run exits 1.  An interruption stops the run. */
    for (size_t i = 0; i < bench_ntargets && !stop_requested; i++) {
        if (!all[i].selected)
            continue;
        b.res = &all[i];
        int64_t c0 = bench_mono_us();
        bench_target_run(&b, bench_targets[i]);
        all[i].wall_seconds = (double)(bench_mono_us() - c0) / 1e6;
        all[i].started = 1;
        if (stop_requested && !all[i].failure[0])
            snprintf(all[i].failure, sizeof(all[i].failure), "interrupted");
    }
    for (size_t i = 0; i < bench_ntargets; i++) {
        if (all[i].selected && !all[i].started && !all[i].failure[0])
            snprintf(all[i].failure, sizeof(all[i].failure), "not run: interrupted before");
    }
    double wall = (double)(bench_mono_us() - t0) / 1e6;

    bench_report_markdown(all, bench_ntargets, wall, stdout);
    fflush(stdout);
    if (b.o.json &&
        bench_report_json(all, bench_ntargets, wall, b.o.json, errstr, sizeof(errstr)) < 0) {
        bench_progress_note(&b.pg, "%s", errstr);
        for (size_t i = 0; i < bench_ntargets; i++) {
            if (all[i].selected && !all[i].failure[0])
                snprintf(all[i].failure, sizeof(all[i].failure), "%.1000s", errstr);
        }
    }
    if (b.o.keep) {
        bench_progress_note(&b.pg, "kept %s", b.dir);
    } else if (nftw(b.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        bench_progress_note(&b.pg, "could not remove %s: %s", b.dir, strerror(errno));
    }
    int ok = 1;
    for (size_t i = 0; i < bench_ntargets; i++)
        ok &= !all[i].selected || bench_results_ok(&all[i]);
    bench_progress_note(&b.pg, "%s in %.1f s", ok ? "done" : "FAILED", wall);
    bench_checker_destroy(b.checker);
    free(all);
    return ok ? 0 : 1;
}
