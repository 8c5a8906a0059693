/* runner.c - running the real consumer program (see runner.h).
 *
 * DESIGN
 * The instances are children of the benchmark (proc.h), configured only
 * through the environment: brokers file, topic, a fresh group, Redis port,
 * schemas, the metrics endpoint on 127.0.0.1 and a free port, log level
 * info into a log file per instance.  /metrics is polled every 50 ms; when
 * the expected count is reached the benchmark waits one more poll period
 * and scrapes once more, so the last batch's timestamp (written just after
 * its events are counted) is in.  Then it waits until the group has
 * committed every offset (events read twice count twice).
 *
 * Thread: the main thread.
 */
#include "runner.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"
#include "proc.h"

#define POLL_MS        50
#define SCRAPE_MS      2000
#define READY_MS       60000
#define STALL_MS       60000
#define STOP_MS        30000
#define LOG_TAIL_BYTES 3000
#define MAX_ENV        24

/* Scrapes one instance's /metrics into its fields.  Returns 0, or -1 when
 * the endpoint did not answer. */
static int scrape(struct bench_instance *in)
{
    long hwm = bench_proc_hwm_kib(&in->proc);
    if (hwm > in->hwm_kib)
        in->hwm_kib = hwm;
    char *body = NULL;
    int status = bench_http_get(in->http_port, "/metrics", &body, SCRAPE_MS);
    if (status != 200 || !body) {
        free(body);
        return -1;
    }
    in->consumed = bench_prom_sum(body, "cachefleet_events_consumed_total");
    in->applied = bench_prom_sum(body, "cachefleet_events_applied_total");
    in->deadlettered = bench_prom_sum(body, "cachefleet_events_deadlettered_total");
    in->ops_planned = bench_prom_sum(body, "cachefleet_ops_planned_total");
    in->ops_sent = bench_prom_sum(body, "cachefleet_ops_sent_total");
    in->calls = bench_prom_sum(body, "cachefleet_redis_calls_total");
    in->round_trips = bench_prom_sum(body, "cachefleet_redis_round_trips_total");
    in->batches = bench_prom_sum(body, "cachefleet_batches_total");
    in->refused = bench_prom_sum(body, "cachefleet_ops_refused_total");
    in->rebalances = bench_prom_sum(body, "cachefleet_rebalances_total");
    in->first_ms = bench_prom_sum(body, "cachefleet_first_batch_timestamp_ms");
    in->last_ms = bench_prom_sum(body, "cachefleet_last_batch_timestamp_ms");
    in->age_max_s = bench_prom_sum(body, "cachefleet_event_age_max_seconds");
    in->have_age = bench_prom_histogram(body, "cachefleet_event_age_seconds", &in->age) == 0;
    double assigned = bench_prom_sum(body, "cachefleet_assigned_partitions");
    free(body);
    return assigned > 0 ? 1 : 0;
}

static double nonneg(double v)
{
    return v > 0 ? v : 0;
}

/* Starts instance i.  Returns 0, or -1 with errstr. */
static int start_instance(const struct bench_run_config *cfg, int i, struct bench_instance *in,
                          char *errstr, size_t errstr_size)
{
    char env_buf[MAX_ENV][PATH_MAX + 64];
    char *env[MAX_ENV + 1];
    int n = 0;
    in->http_port = bench_free_port();
    if (in->http_port < 0) {
        snprintf(errstr, errstr_size, "%s: no free port for the metrics endpoint", cfg->label);
        return -1;
    }
    snprintf(in->log_path, sizeof(in->log_path), "%s/%s-%d.log", cfg->dir, cfg->label, i + 1);
    for (char *p = in->log_path + strlen(cfg->dir) + 1; *p; p++) {
        if (*p == ' ' || *p == '/')
            *p = '_';
    }
#define ENV(...) snprintf(env_buf[n], sizeof(env_buf[n]), __VA_ARGS__), env[n] = env_buf[n], n++
    ENV("CACHEFLEET_CONFIG=");
    ENV("CACHEFLEET_KAFKA_BROKERS_FILE=%s", cfg->brokers_file);
    ENV("CACHEFLEET_KAFKA_TOPIC=%s", cfg->topic);
    ENV("CACHEFLEET_KAFKA_GROUP_ID=%s", cfg->group);
    ENV("CACHEFLEET_REDIS_HOST=127.0.0.1");
    ENV("CACHEFLEET_REDIS_PORT=%d", cfg->redis_port);
    ENV("CACHEFLEET_SCHEMAS_DIR=%s", cfg->schemas_dir);
    ENV("CACHEFLEET_HTTP_BIND=127.0.0.1");
    ENV("CACHEFLEET_HTTP_PORT=%d", in->http_port);
    ENV("CACHEFLEET_LOG_LEVEL=info");
    if (cfg->batch_max > 0)
        ENV("CACHEFLEET_KAFKA_BATCH_MAX=%ld", cfg->batch_max);
    for (size_t k = 0; cfg->extra_env && cfg->extra_env[k] && n < MAX_ENV; k++)
        ENV("%s", cfg->extra_env[k]);
#undef ENV
    env[n] = NULL;
    char prog[PATH_MAX];
    snprintf(prog, sizeof(prog), "%s", cfg->program);
    char *argv[] = {prog, NULL};
    return bench_proc_spawn(&in->proc, argv, env, in->log_path, NULL, errstr, errstr_size);
}

/* Reports a dead instance: its status and the tail of its log. */
static int report_dead(const struct bench_run_config *cfg, struct bench_instance *in,
                       const char *waiting_for, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "%s: %s (pid %d) exited with status %d while %s (log: %s)",
             cfg->label, in->proc.name, (int)in->proc.pid, bench_proc_status(&in->proc),
             waiting_for, in->log_path);
    bench_print_tail(in->proc.name, in->log_path, LOG_TAIL_BYTES);
    return -1;
}

/* Sums the instances' counters into out. */
static void totals(struct bench_run *out)
{
    out->applied = out->deadlettered = 0;
    out->ops_planned = out->ops_sent = out->calls = out->round_trips = 0;
    for (int i = 0; i < out->instances; i++) {
        const struct bench_instance *in = &out->inst[i];
        out->applied += nonneg(in->applied);
        out->deadlettered += nonneg(in->deadlettered);
        out->ops_planned += nonneg(in->ops_planned);
        out->ops_sent += nonneg(in->ops_sent);
        out->calls += nonneg(in->calls);
        out->round_trips += nonneg(in->round_trips);
    }
    out->events = (uint64_t)(out->applied + out->deadlettered);
}

/* Waits until cfg->group has committed every message of cfg->topic,
 * scraping the instances meanwhile.  Returns 0, or -1 with errstr. */
static int group_caught_up(const struct bench_run_config *cfg, struct bench_run *out,
                           const volatile sig_atomic_t *stop, char *errstr, size_t errstr_size)
{
    char bootstrap[512] = "";
    FILE *f = fopen(cfg->brokers_file, "r");
    if (!f || !fgets(bootstrap, sizeof(bootstrap), f)) {
        snprintf(errstr, errstr_size, "%s: cannot read %s", cfg->label, cfg->brokers_file);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    bootstrap[strcspn(bootstrap, "\r\n")] = '\0';
    int64_t since = bench_mono_ms();
    for (;;) {
        char why[512] = "";
        long behind =
            cf_oracle_group_behind(bootstrap, cfg->group, cfg->topic, 5000, why, sizeof(why));
        if (behind == 0)
            return 0;
        if (*stop) {
            snprintf(errstr, errstr_size, "interrupted");
            return -1;
        }
        if (bench_mono_ms() - since > STALL_MS) {
            snprintf(errstr, errstr_size,
                     "%s: %llu events counted, but the group is still %ld behind after %d ms%s%s "
                     "(logs: %s)",
                     cfg->label, (unsigned long long)out->events, behind, STALL_MS,
                     why[0] ? ": " : "", why, out->inst[0].log_path);
            return -1;
        }
        for (int i = 0; i < cfg->instances; i++) {
            if (!bench_proc_alive(&out->inst[i].proc)) {
                report_dead(cfg, &out->inst[i], "committing", errstr, errstr_size);
                return -1;
            }
            scrape(&out->inst[i]);
        }
        totals(out);
        bench_sleep_ms(4 * POLL_MS);
    }
}

int bench_run_consumer(const struct bench_run_config *cfg, redisContext *redis,
                       const volatile sig_atomic_t *stop, struct bench_progress *pg,
                       struct bench_run *out, char *errstr, size_t errstr_size)
{
    struct bench_cmdstats before, after;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    out->instances = cfg->instances;
    if (cfg->instances < 1 || cfg->instances > BENCH_MAX_INSTANCES) {
        snprintf(errstr, errstr_size, "%s: %d instances", cfg->label, cfg->instances);
        return -1;
    }
    if (bench_redis_cmdstats(redis, &before, errstr, errstr_size) < 0)
        return -1;
    for (int i = 0; i < cfg->instances; i++) {
        if (start_instance(cfg, i, &out->inst[i], errstr, errstr_size) < 0)
            goto stop_all;
    }

    /* Ready: every instance has partitions (the mock's first rebalance
     * takes about 3 s). */
    int64_t deadline = bench_mono_ms() + READY_MS;
    for (int ready = 0; ready < cfg->instances;) {
        if (*stop) {
            snprintf(errstr, errstr_size, "interrupted");
            goto stop_all;
        }
        ready = 0;
        for (int i = 0; i < cfg->instances; i++) {
            struct bench_instance *in = &out->inst[i];
            if (!bench_proc_alive(&in->proc)) {
                report_dead(cfg, in, "waiting for its partitions", errstr, errstr_size);
                goto stop_all;
            }
            ready += scrape(in) == 1;
        }
        if (ready == cfg->instances)
            break;
        /* A second instance may get nothing if the first took every
         * partition before it joined: it is then ready with none, which
         * the mock's join delay makes unlikely; give up after READY_MS. */
        if (bench_mono_ms() > deadline) {
            snprintf(errstr, errstr_size,
                     "%s: waiting for partitions to be assigned: %d of %d instances have some "
                     "after %d ms",
                     cfg->label, ready, cfg->instances, READY_MS);
            goto stop_all;
        }
        bench_progress_update(pg, "%s: waiting for the group to assign partitions", cfg->label);
        bench_sleep_ms(POLL_MS);
    }
    if (cfg->on_ready && cfg->on_ready(cfg->opaque, out, errstr, errstr_size) < 0)
        goto stop_all;

    /* Until every expected event is applied or dead-lettered. */
    int64_t first_seen_ms = 0, done_ms = 0, last_change = bench_mono_ms();
    int64_t warm_at = cfg->warmup_ms > 0 ? bench_mono_ms() + cfg->warmup_ms : 0;
    uint64_t last_events = 0;
    for (;;) {
        if (*stop) {
            snprintf(errstr, errstr_size, "interrupted");
            goto stop_all;
        }
        for (int i = 0; i < cfg->instances; i++) {
            struct bench_instance *in = &out->inst[i];
            if (!bench_proc_alive(&in->proc)) {
                report_dead(cfg, in, "applying events", errstr, errstr_size);
                goto stop_all;
            }
            scrape(in);
        }
        totals(out);
        if (warm_at && bench_mono_ms() >= warm_at) {
            for (int i = 0; i < cfg->instances; i++) {
                struct bench_instance *in = &out->inst[i];
                in->age_warm = in->age;
                in->have_age_warm = in->have_age;
            }
            warm_at = 0;
        }
        int64_t now = bench_wall_ms();
        if (out->events > 0 && !first_seen_ms)
            first_seen_ms = now;
        if (out->events >= cfg->expected) {
            done_ms = now;
            if (cfg->on_done)
                cfg->on_done(cfg->opaque, out);
            break;
        }
        if (out->events != last_events) {
            last_events = out->events;
            last_change = bench_mono_ms();
        }
        if (bench_mono_ms() - last_change > STALL_MS) {
            snprintf(errstr, errstr_size,
                     "%s: waiting for %llu events to be applied: %llu applied, %.0f "
                     "dead-lettered, nothing new for %d ms (logs: %s)",
                     cfg->label, (unsigned long long)cfg->expected,
                     (unsigned long long)out->applied, out->deadlettered, STALL_MS,
                     out->inst[0].log_path);
            goto stop_all;
        }
        bench_progress_update(pg, "%s: %llu of %llu events applied", cfg->label,
                              (unsigned long long)out->events, (unsigned long long)cfg->expected);
        bench_sleep_ms(POLL_MS);
    }
    /* Events read twice (a partition moved before its offsets were
     * committed) count twice: the count can be reached with events still
     * unapplied.  Done when the group has committed every offset too
     * (offsets are committed only after Redis applied the events). */
    if (group_caught_up(cfg, out, stop, errstr, errstr_size) < 0)
        goto stop_all;
    bench_sleep_ms(2 * POLL_MS);
    for (int i = 0; i < cfg->instances; i++)
        scrape(&out->inst[i]);
    totals(out);
    if (bench_redis_cmdstats(redis, &after, errstr, errstr_size) < 0)
        goto stop_all;
    bench_cmdstats_delta(&before, &after, &out->commands);
    for (size_t k = 0; k < out->commands.n; k++) {
        if (strcmp(out->commands.cmd[k].name, "info") == 0) {
            out->commands.total -= out->commands.cmd[k].calls;
            out->commands.cmd[k].calls = 0;
        }
    }

    /* The rate, from the consumers' own clocks. */
    double first = 0, last = 0;
    int have = 1;
    for (int i = 0; i < cfg->instances; i++) {
        const struct bench_instance *in = &out->inst[i];
        if (in->first_ms <= 0 || in->last_ms <= 0) {
            if (in->applied > 0)
                have = 0;
            continue;
        }
        if (first == 0 || in->first_ms < first)
            first = in->first_ms;
        if (in->last_ms > last)
            last = in->last_ms;
    }
    if (!have) {
        first = (double)first_seen_ms;
        last = (double)done_ms;
        out->rate_observed = 1;
    }
    out->seconds = (last - first) / 1000.0;
    out->rate = out->seconds > 0 ? (double)out->events / out->seconds : 0;
    rc = 0;

stop_all:
    bench_progress_done(pg);
    out->clean_exit = 1;
    for (int i = 0; i < cfg->instances; i++) {
        struct bench_instance *in = &out->inst[i];
        if (!in->proc.started) {
            out->clean_exit = 0;
            continue;
        }
        long hwm = bench_proc_hwm_kib(&in->proc); /* the last look before SIGTERM */
        if (hwm > in->hwm_kib)
            in->hwm_kib = hwm;
        in->exit_status = bench_proc_stop(&in->proc, STOP_MS);
        in->cpu_s = bench_proc_cpu_s(&in->proc);
        out->cpu_s += in->cpu_s;
        if (in->hwm_kib > out->maxrss_kib)
            out->maxrss_kib = in->hwm_kib;
        if (in->exit_status != 0) {
            out->clean_exit = 0;
            if (rc == 0) {
                bench_progress_note(pg, "%s: %s (pid %d) exited with status %d after SIGTERM",
                                    cfg->label, in->proc.name, (int)in->proc.pid, in->exit_status);
                bench_print_tail(in->proc.name, in->log_path, LOG_TAIL_BYTES);
            }
        }
    }
    return rc;
}
