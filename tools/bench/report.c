/* report.c - the benchmark's Markdown report and JSON figures (see
 * report.h).
 *
 * DESIGN
 * Both renderings read the same struct bench_results, section by section
 * in the order of the phases; a section whose have_* flag is 0 is left out
 * of the Markdown and is null in the JSON.  Rates are printed as whole
 * numbers with thousands separators; per-event figures with two or three
 * decimals.
 *
 * Thread: the main thread.
 */
#include "report.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Statistics and the machine
 * ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void bench_stat_of(const double *v, int n, struct bench_stat *s)
{
    double sorted[BENCH_MAX_RUNS];
    memset(s, 0, sizeof(*s));
    if (n < 1)
        return;
    if (n > BENCH_MAX_RUNS)
        n = BENCH_MAX_RUNS;
    memcpy(sorted, v, (size_t)n * sizeof(*v));
    qsort(sorted, (size_t)n, sizeof(*sorted), cmp_double);
    s->n = n;
    s->min = sorted[0];
    s->max = sorted[n - 1];
    s->median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/* The value of the first "key<spaces>: value" line of a /proc file. */
static void proc_field(const char *path, const char *key, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    size_t klen = strlen(key);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) != 0)
            continue;
        const char *colon = strchr(line, ':');
        if (!colon)
            continue;
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        snprintf(out, size, "%.*s", (int)strcspn(colon, "\n"), colon);
        break;
    }
    fclose(f);
}

void bench_results_machine(struct bench_results *r)
{
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(r->date, sizeof(r->date), "%Y-%m-%d %H:%M:%S UTC", &tm);
    proc_field("/proc/cpuinfo", "model name", r->cpu, sizeof(r->cpu));
    if (!r->cpu[0])
        snprintf(r->cpu, sizeof(r->cpu), "unknown");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    r->cores = cores > 0 ? (int)cores : 0;
    char mem[64];
    proc_field("/proc/meminfo", "MemTotal", mem, sizeof(mem));
    r->mem_gib = strtod(mem, NULL) / (1024.0 * 1024.0);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(r->kernel, sizeof(r->kernel), "%.40s %.70s %.40s", u.sysname, u.release,
                 u.machine);
    snprintf(r->rdkafka, sizeof(r->rdkafka), "%s", rd_kafka_version_str());
    snprintf(r->hiredis, sizeof(r->hiredis), "%d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR,
             HIREDIS_PATCH);
}

int bench_results_ok(const struct bench_results *r)
{
    if (r->failure[0])
        return 0;
    for (int i = 0; i < r->nchecks; i++) {
        if (!r->checks[i].ok)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * Markdown
 * ------------------------------------------------------------------------ */

/* A whole number with thousands separators: "1,234,567". */
static const char *num(double v, char *buf, size_t size)
{
    char digits[32];
    long long n = (long long)(v + (v >= 0 ? 0.5 : -0.5));
    int len = snprintf(digits, sizeof(digits), "%lld", n < 0 ? -n : n);
    size_t o = 0;
    if (n < 0 && o + 1 < size)
        buf[o++] = '-';
    for (int i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* A rate, or "n/a" when it could not be timed. */
static const char *rate_text(double v, int observed, char *buf, size_t size)
{
    if (v <= 0) {
        snprintf(buf, size, "n/a (one batch)");
        return buf;
    }
    char n[32];
    snprintf(buf, size, "%s%s", num(v, n, sizeof(n)), observed ? " (polled)" : "");
    return buf;
}

/* decimals < 0: a whole number with separators. */
static void stat_row(FILE *out, const char *label, const struct bench_stat *s, int decimals)
{
    char a[32], b[32], c[32];
    if (decimals < 0)
        fprintf(out, "| %s | %s | %s | %s |\n", label, num(s->median, a, sizeof(a)),
                num(s->min, b, sizeof(b)), num(s->max, c, sizeof(c)));
    else
        fprintf(out, "| %s | %.*f | %.*f | %.*f |\n", label, decimals, s->median, decimals, s->min,
                decimals, s->max);
}

static void ratio_row(FILE *out, const char *label, double consumer, double limit, const char *unit)
{
    char a[32];
    if (limit > 0 && consumer > 0)
        fprintf(out, "| consumer / %s | %s %s | %.3f |\n", label, num(limit, a, sizeof(a)), unit,
                consumer / limit);
}

static void seconds_text(double s, int overflow, char *buf, size_t size)
{
    if (s < 0)
        snprintf(buf, size, "n/a");
    else if (s < 1)
        snprintf(buf, size, "%s%.1f ms", overflow ? "> " : "", s * 1000);
    else
        snprintf(buf, size, "%s%.2f s", overflow ? "> " : "", s);
}

static void md_limits(const struct bench_results *r, FILE *out)
{
    char a[48], b[48];
    if (!r->have_read && !r->have_plain && !r->have_fleet && !r->have_naive)
        return;
    fprintf(out, "### Limits, on the same events in the same run\n\n");
    fprintf(out, "| limit | how | figure |\n|---|---|---|\n");
    if (r->have_read)
        fprintf(out,
                "| (a) Kafka, read only | librdkafka consumer, assign() every partition from "
                "the start, no group | %s events/s |\n",
                num(r->read.rate, a, sizeof(a)));
    if (r->have_plain) {
        fprintf(out,
                "| (b) Redis, plain SET | one hiredis connection, pipelines of 2000: %s, %s SETs "
                "| %s ops/s |\n",
                r->value_note ? r->value_note : "the events' (key, value)",
                num((double)r->plain.set_ops, b, sizeof(b)), num(r->plain.set_rate, a, sizeof(a)));
        fprintf(out, "| (b) Redis, plain DEL | the same keys, pipelines of 2000 | %s ops/s |\n",
                num(r->plain.del_rate, a, sizeof(a)));
    }
    if (r->have_fleet) {
        double ope = r->fleet.events ? (double)r->fleet.ops_sent / (double)r->fleet.events : 0;
        fprintf(out,
                "| (b) Redis, the fleet's functions | the %s planner, coalesced batches of "
                "2000, sent by cf_apply_plan (FCALL cachefleet_apply, 1 round trip per batch); "
                "only the apply calls timed | %s ops/s (= %s events/s; %.2f ops/event, %llu "
                "FCALLs) |\n",
                r->consumer, num(r->fleet.ops_rate, a, sizeof(a)),
                num(r->fleet.events_rate, b, sizeof(b)), ope, (unsigned long long)r->fleet.calls);
    }
    if (r->have_naive)
        fprintf(out,
                "| (c) naive consumer | read from Kafka, decode, plan, one cf_apply_plan round "
                "trip per event; the first %s events read | %s events/s |\n",
                num((double)r->naive.events, b, sizeof(b)), num(r->naive.rate, a, sizeof(a)));
    fprintf(out, "\n");
}

static void md_consumer(const struct bench_results *r, FILE *out)
{
    char a[48];
    if (r->nruns == 0)
        return;
    fprintf(out, "### The consumer program (%s), %s events, %d run%s\n\n", r->program,
            num((double)r->events, a, sizeof(a)), r->nruns, r->nruns > 1 ? "s" : "");
    fprintf(out,
            "Each run: FLUSHALL, a fresh consumer group from the beginning of %s, default "
            "settings (kafka.batch_max 2000); events/s from the first applied batch to the last "
            "(the consumer's cachefleet_first/last_batch_timestamp_ms).\n\n",
            r->topic);
    fprintf(out, "| figure | median | min | max |\n|---|---|---|---|\n");
    stat_row(out, "events/s", &r->rate, -1);
    stat_row(out, "FCALLs per event", &r->fcalls_pe, 4);
    stat_row(out, "round trips per event", &r->round_trips_pe, 4);
    stat_row(out, "operations planned per event", &r->ops_planned_pe, 2);
    stat_row(out, "operations sent per event (after coalescing)", &r->ops_sent_pe, 2);
    stat_row(out, "Redis commands per event (INFO commandstats)", &r->commands_pe, 2);
    stat_row(out, "consumer CPU seconds per million events", &r->cpu_s_per_m, 1);
    stat_row(out, "consumer peak RSS, MiB (VmHWM)", &r->rss_mib, 1);
    stat_row(out, "Redis CPU seconds per million events (INFO cpu)", &r->redis_cpu_s_per_m, 1);
    stat_row(out, "Redis busy: its CPU seconds per second of the run (1.00: one core)",
             &r->redis_busy, 2);
    fprintf(out, "\nPer run: ");
    for (int i = 0; i < r->nruns; i++) {
        char rt[48];
        fprintf(out, "%s%s events/s in %.2f s, exit %d", i ? "; " : "",
                rate_text(r->run[i].rate, r->run[i].rate_observed, rt, sizeof(rt)),
                r->run[i].seconds, r->run[i].exit_status);
    }
    fprintf(out, ".\n");
    if (r->rate.median > 0 && r->ops_planned_pe.median > 0)
        fprintf(out, "\nCoalescing: %.1f%% of the planned operations were sent.\n",
                100.0 * r->ops_sent_pe.median / r->ops_planned_pe.median);
    if (r->ncmds > 0) {
        fprintf(out, "\nRedis commands per event in the median run (the top %d): ", r->ncmds);
        for (int i = 0; i < r->ncmds; i++)
            fprintf(out, "%s%s %.3f", i ? ", " : "", r->cmds[i].name, r->cmds[i].per_event);
        fprintf(out, ".\n");
    }
    fprintf(out, "\n");

    if (r->rate.median > 0) {
        fprintf(out, "#### Ratios: the consumer's median events/s over each limit\n\n");
        fprintf(out, "| ratio | limit | consumer / limit |\n|---|---|---|\n");
        if (r->have_read)
            ratio_row(out, "(a) Kafka read only", r->rate.median, r->read.rate, "events/s");
        if (r->have_plain)
            ratio_row(out, "(b) pipelined plain SET", r->rate.median, r->plain.set_rate, "ops/s");
        if (r->have_fleet) {
            ratio_row(out, "(b) fleet functions, ops/s", r->rate.median, r->fleet.ops_rate,
                      "ops/s");
            ratio_row(out, "(b) fleet functions, as events/s", r->rate.median, r->fleet.events_rate,
                      "events/s");
        }
        if (r->have_naive)
            ratio_row(out, "(c) naive consumer", r->rate.median, r->naive.rate, "events/s");
        fprintf(out,
                "\n(The SET and function ceilings count Redis operations, the consumer counts "
                "events: an event may plan several operations, see above.  The functions' "
                "ceiling takes batches in produced order; the consumer's batches follow Kafka's "
                "delivery, partition by partition, where one batch holds fewer distinct "
                "products and tags, so it sends fewer operations per event (compare the "
                "operations sent per event) and its events/s can exceed that ceiling.)\n\n");
    }
}

/* "9.5 ms / 17.6 ms / 21.4 ms" (p50 / p99 / max), or "n/a". */
static void latency_text(const struct bench_latency *q, char *buf, size_t size)
{
    if (!q->have) {
        snprintf(buf, size, "n/a");
        return;
    }
    char x[24], y[24], z[24];
    seconds_text(q->p50_s, 0, x, sizeof(x));
    seconds_text(q->p99_s, 0, y, sizeof(y));
    seconds_text(q->max_s, 0, z, sizeof(z));
    snprintf(buf, size, "%s / %s / %s", x, y, z);
}

/* "0.31 / 0.60 / 0.47 / 0.68 = 2.06 (over 0.9 s)"; "n/a" for an unknown
 * share (it counts as 0 in the sum, which then says so). */
static void cpu_text(const struct bench_age_row *g, char *buf, size_t size)
{
    if (g->cpu_wall_s <= 0) {
        snprintf(buf, size, "n/a");
        return;
    }
    const double v[] = {g->cpu_consumer, g->cpu_redis, g->cpu_broker, g->cpu_bench};
    char part[4][16];
    double sum = 0;
    int known = 1;
    for (size_t k = 0; k < 4; k++) {
        if (v[k] < 0) {
            snprintf(part[k], sizeof(part[k]), "n/a");
            known = 0;
        } else {
            snprintf(part[k], sizeof(part[k]), "%.2f", v[k]);
            sum += v[k];
        }
    }
    snprintf(buf, size, "%s / %s / %s / %s = %s%.2f (over %.1f s)", part[0], part[1], part[2],
             part[3], known ? "" : "at least ", sum, g->cpu_wall_s);
}

static void md_age(const struct bench_results *r, FILE *out)
{
    char a[48], b[48], c[48], d[48], e[48];
    if (r->nage == 0)
        return;
    const struct bench_age_row *first = &r->age[0];
    fprintf(out, "### Event age at a fixed rate\n\n");
    if (r->age_basis_rate > 0)
        fprintf(out,
                "The rate: the consumer read these same events (the %s the phase may take) as a "
                "backlog at %s events/s, sending %.2f operations per event (one run; the main "
                "runs sent %.2f); the phase paces at half of that rate.  Not half of the main "
                "runs' median: a slice of the workload coalesces differently from the whole.\n\n",
                num((double)r->age_basis_events, c, sizeof(c)),
                num(r->age_basis_rate, d, sizeof(d)), r->age_basis_ops_sent_pe,
                r->ops_sent_pe.median);
    fprintf(out,
            "A producer thread paced with clock_nanosleep (absolute schedule) at half the "
            "consumer's rate, target %s events/s, producing to a fresh topic while the "
            "consumer runs (librdkafka's default linger.ms=5, lz4).  Age = Redis "
            "acknowledgement time minus the Kafka message timestamp, from the consumer's "
            "cachefleet_event_age_seconds histogram: p50 and p99 are bucket-interpolated "
            "(linearly within the bucket that holds them, capped at the max); max is "
            "cachefleet_event_age_max_seconds.  The phase lasts %d s at that rate or %s "
            "events, whichever is fewer: the mock broker scans a partition's whole list of "
            "message sets on every fetch, so its fetches slow down as a paced log grows (at "
            "20 s and ~21k events/s the p99 reached seconds here), which is the mock's figure, "
            "not the fleet's.\n\n",
            num(first->target_rate, a, sizeof(a)),
            r->quick ? BENCH_AGE_SECONDS_QUICK : BENCH_AGE_SECONDS,
            num(BENCH_AGE_MAX_EVENTS, b, sizeof(b)));
    fprintf(out,
            "The broker ack column is the producer's own latency, from its produce call to the "
            "broker's acknowledgement (nearest rank over every event): an event cannot be "
            "applied before the broker has appended it, so that part of the age is the "
            "broker's (here the mock's single thread, shared with the consumer's fetches) and "
            "not the fleet's.\n\n");
    fprintf(out,
            "The bare reader: the same events, paced the same way, produced to a topic of their "
            "own and read by a librdkafka reader that does nothing else (no decoding, no Redis) "
            "with the consumer's fetch.wait.max.ms of %d ms; its age is when it read each "
            "event (nearest rank over every event).  It is the age this broker and this machine "
            "allow before the fleet does any work, as (a) is for throughput.\n\n",
            BENCH_AGE_READER_FETCH_WAIT_MS);
    fprintf(out,
            "The CPU column: the cores each process used from the first paced event to the last "
            "applied one (its CPU seconds over that wall time; the consumer, Redis and the broker "
            "from /proc/<pid>/stat in 10 ms ticks, the benchmark from getrusage: the paced "
            "producer and its librdkafka threads, and the benchmark's polling; n/a for a phase "
            "under 0.5 s).  They share the machine's %ld cores: a sum near that means the machine, "
            "not one process, set the "
            "pace.\n\n",
            sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(out,
            "| consumer setting | events | achieved events/s | seconds | p50 | p99 | max | "
            "p50 / p99 after the first %d ms | broker ack p50 / p99 / max | bare reader p50 / "
            "p99 / max | events per batch | ops sent per event | CPU, cores: consumer / Redis / "
            "broker / producer = sum (over s) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
            BENCH_AGE_WARMUP_MS);
    for (int i = 0; i < r->nage; i++) {
        const struct bench_age_row *g = &r->age[i];
        char steady[64], s50[24], s99[24];
        seconds_text(g->p50, g->p50_overflow, a, sizeof(a));
        seconds_text(g->p99, g->p99_overflow, b, sizeof(b));
        seconds_text(g->max, 0, c, sizeof(c));
        if (g->steady_p50 >= 0) {
            seconds_text(g->steady_p50, 0, s50, sizeof(s50));
            seconds_text(g->steady_p99, 0, s99, sizeof(s99));
            snprintf(steady, sizeof(steady), "%s / %s", s50, s99);
        } else {
            snprintf(steady, sizeof(steady), "n/a");
        }
        char ack[96], reader[96];
        latency_text(&g->ack, ack, sizeof(ack));
        latency_text(&g->reader, reader, sizeof(reader));
        char cpu[128];
        cpu_text(g, cpu, sizeof(cpu));
        char per_batch[32], ops[32];
        if (g->events_per_batch > 0) {
            snprintf(per_batch, sizeof(per_batch), "%.0f", g->events_per_batch);
            snprintf(ops, sizeof(ops), "%.2f", g->ops_sent_pe);
        } else {
            snprintf(per_batch, sizeof(per_batch), "n/a");
            snprintf(ops, sizeof(ops), "n/a");
        }
        fprintf(out, "| %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                g->setting, num((double)g->events, d, sizeof(d)),
                num(g->achieved_rate, e, sizeof(e)), g->seconds, a, b, c, steady, ack, reader,
                per_batch, ops, cpu);
    }
    fprintf(out, "\nThe mock answers a fetch that finds no new data only after the consumer's full "
                 "fetch.wait.max.ms and does not wake up when data arrives, unlike a real broker's "
                 "long poll; the consumer's default kafka.fetch_wait_max_ms of 10 ms bounds what "
                 "that adds.\n\n");
}

static void md_scaling(const struct bench_results *r, FILE *out)
{
    if (r->nscale == 0)
        return;
    fprintf(out, "### Scaling (one run per point)\n\n");
    fprintf(out, "Batch size and prefetch: the tail of the main workload (the shop's change mix); "
                 "kafka.queued_max_kbytes is the consumer's prefetch (librdkafka's "
                 "queued.max.messages.kbytes, set through CACHEFLEET_KAFKA_QUEUED_MAX_KBYTES).  "
                 "Payload and tags (products): synthetic ProductUpserted events (about five per "
                 "product, 2 search terms, random padding in the representation).  Role members "
                 "(access): N users join role \"bench\" (UserRolesChanged with permissions) among "
                 "at least 100 joins per fan-out, then RolePermissionsChanged of \"bench\" (one "
                 "fan-out operation each, Redis walks the N members); ms per fan-out is the run's "
                 "time less the joins' time at the 1-member point's rate, over the fan-outs.  "
                 "Default settings.\n");
    const char *dim = "";
    for (int i = 0; i < r->nscale; i++) {
        const struct bench_scale_row *s = &r->scale[i];
        char a[48], b[48];
        if (strcmp(dim, s->dimension) != 0) {
            dim = s->dimension;
            fprintf(out,
                    "\n| %s | events | avg payload (B) | events/s | (a) read only, events/s | "
                    "ops planned/event | ops sent/event | FCALLs/event | round trips/event | CPU s "
                    "per M events | peak RSS MiB |\n"
                    "|---|---|---|---|---|---|---|---|---|---|---|\n",
                    dim);
        }
        char rd[48];
        if (s->read_rate > 0)
            num(s->read_rate, rd, sizeof(rd));
        else
            snprintf(rd, sizeof(rd), "(the topic above)");
        fprintf(out, "| %s | %s | %.0f | %s | %s | %.2f | %.2f | %.4f | %.4f | %.1f | %.1f |\n",
                s->point, num((double)s->events, a, sizeof(a)), s->avg_payload,
                rate_text(s->rate, s->rate_observed, b, sizeof(b)), rd, s->ops_planned_pe,
                s->ops_sent_pe, s->fcalls_pe, s->round_trips_pe, s->cpu_s_per_m, s->rss_mib);
    }
    fprintf(out, "\n");
    /* Role members: the time of one fan-out, from the 1-member point's
     * per-event time for the joins. */
    double per_join = 0;
    for (int i = 0; i < r->nscale; i++) {
        const struct bench_scale_row *s = &r->scale[i];
        if (s->fanouts && s->members == 1 && s->rate > 0)
            per_join = 1.0 / s->rate;
    }
    int header = 0;
    for (int i = 0; per_join > 0 && i < r->nscale; i++) {
        const struct bench_scale_row *s = &r->scale[i];
        if (!s->fanouts || s->rate <= 0)
            continue;
        if (!header)
            fprintf(out, "| role members | seconds | fan-outs | ms per fan-out (est.) | members "
                         "walked per second |\n|---|---|---|---|---|\n");
        header = 1;
        double joins_s = (double)(s->events - s->fanouts) * per_join;
        double fan_s = s->seconds - joins_s;
        if (fan_s < 0)
            fan_s = 0;
        char a[48];
        fprintf(out, "| %s | %.2f | %llu | %.2f | %s |\n", s->point, s->seconds,
                (unsigned long long)s->fanouts, 1000.0 * fan_s / (double)s->fanouts,
                fan_s > 0 ? num((double)s->members * (double)s->fanouts / fan_s, a, sizeof(a))
                          : "n/a");
    }
    if (header)
        fprintf(out, "\n");
}

static void md_pair(const struct bench_results *r, FILE *out)
{
    char a[48], b[48], c[48], d[48];
    if (!r->have_pair)
        return;
    fprintf(out, "### Two instances in one group\n\n");
    fprintf(out,
            "A topic of %d partitions holding %s events, FLUSHALL before each setup, each with "
            "a fresh group; the two instances start together and share the partitions.\n\n",
            r->pair_partitions, num((double)r->pair_events, a, sizeof(a)));
    fprintf(out,
            "| setup | events/s | events per instance | consumer CPU s |\n|---|---|---|---|\n");
    fprintf(out, "| one instance | %s | %s | %.2f |\n",
            rate_text(r->single_rate, r->single_observed, a, sizeof(a)),
            num((double)r->pair_events, b, sizeof(b)), r->single_cpu_s);
    fprintf(out, "| two instances (aggregate) | %s | %s + %s | %.2f + %.2f |\n\n",
            rate_text(r->pair_rate, r->pair_observed, a, sizeof(a)),
            num(r->pair_share[0], c, sizeof(c)), num(r->pair_share[1], d, sizeof(d)),
            r->pair_cpu_s[0], r->pair_cpu_s[1]);
}

static void md_checks(const struct bench_results *r, FILE *out)
{
    if (r->nchecks == 0)
        return;
    fprintf(out, "### Correctness\n\n");
    if (r->checks[0].check.extra_name[0])
        fprintf(out,
                "After each consumer run: a sample of product ids seen in the events, each key "
                "compared with the state the events imply (the representation of the product's "
                "highest-version event when it is an upsert with one and no later "
                "ProductRelatedChanged; absent otherwise), the menu key when the events hold "
                "category events, nothing dead-lettered, exit status 0 after SIGTERM.\n\n");
    else
        fprintf(out,
                "After each consumer run: a sample of the keys the events touch, compared with "
                "the oracle's model of the same events planned by the consumer's own code "
                "(tools/oracle/model.h): each value's bytes or its absence (tombstones), its "
                "marker {key}:v (version and times), each index set's members; a value whose "
                "TTL is shorter than the run counts as expired, not missing; nothing "
                "dead-lettered, exit status 0 after SIGTERM.\n\n");
    fprintf(out, "| run | sample check | expected absent | menu | dead-lettered | exit | verdict "
                 "|\n|---|---|---|---|---|---|---|\n");
    size_t right = 0, missing = 0, stale = 0;
    int bad = 0;
    for (int i = 0; i < r->nchecks; i++) {
        const struct bench_check_row *c = &r->checks[i];
        right += c->check.right;
        missing += c->check.missing;
        stale += c->check.stale;
        bad += !c->ok;
        fprintf(out,
                "| %s | %zu right, %zu expired, %zu missing, %zu stale (%zu markers wrong) | %zu "
                "| %s | %.0f | %s | %s |\n",
                c->label, c->check.right, c->check.expired, c->check.missing, c->check.stale,
                c->check.markers_wrong, c->check.expect_absent,
                c->check.extra_expected ? (c->check.extra_present ? "present" : "MISSING") : "n/a",
                c->deadlettered, c->clean_exit ? "0" : "NOT 0", c->ok ? "ok" : "WRONG");
    }
    fprintf(out, "\nsample check: %zu keys right, %zu missing, %zu stale%s\n\n", right, missing,
            stale, bad ? " - SOME CHECKS FAILED" : "");
}

/* One consumer's section. */
static void md_one(const struct bench_results *r, FILE *out)
{
    char a[48], b[48];
    fprintf(out, "## %s consumer\n\n", r->consumer);
    if (r->failure[0])
        fprintf(out, "**The run did not complete:** %s\n\n", r->failure);
    fprintf(out, "- Wall time of this consumer's phases: %.1f s\n", r->wall_seconds);
    fprintf(out,
            "- Run: %s events (seed %llu)%s, consumer figures are the median, min and max of %d "
            "run%s; every server on loopback, started by the benchmark (redis-server without "
            "persistence, the project's mock-cluster broker)\n",
            num((double)r->events, a, sizeof(a)), (unsigned long long)r->seed,
            r->quick ? ", --quick" : "", r->runs, r->runs > 1 ? "s" : "");
    if (r->events > 0)
        fprintf(out,
                "- Workload: the simulator's shop (tools/sim) on topic %s (%d partitions, lz4); "
                "average event %.0f B; %s events carry a value to cache (average %.0f B); "
                "generated in %.1f s\n",
                r->topic, r->partitions, r->avg_payload,
                num((double)r->valued_events, b, sizeof(b)), r->avg_value, r->gen_seconds);
    fprintf(out, "\n");
    if (r->have_produce)
        fprintf(out,
                "Producing (information, not a target): %s events to %s in %.2f s, %s "
                "events/s (lz4, linger.ms=20, acks=all), all acknowledged; the broker kept all "
                "of them (low watermarks 0, high watermarks summing to the count).\n\n",
                num((double)r->produce.delivered, a, sizeof(a)), r->topic, r->produce.seconds,
                num(r->produce.rate, b, sizeof(b)));
    md_limits(r, out);
    md_consumer(r, out);
    md_age(r, out);
    md_scaling(r, out);
    md_pair(r, out);
    md_checks(r, out);
}

static double ratio_of(double x, double limit)
{
    return limit > 0 && x > 0 ? x / limit : 0;
}

/* The summary across consumers: one row each. */
static void md_summary(const struct bench_results *all, size_t n, FILE *out)
{
    char a[48], b[48], c[48], d[48], e[48], f[48];
    fprintf(out, "## Summary\n\n");
    fprintf(out, "Consumer events/s: median (min - max) of the runs over the main workload.  (a) "
                 "Kafka read only, events/s; (b) pipelined plain SET and the fleet's functions, "
                 "ops/s; (c) naive, one round trip per event, events/s.  Ratios: the consumer's "
                 "median over min((a), SET) and over (c); the operations it sent per second over "
                 "what Redis runs of the same operations alone ((b) functions).  Redis busy: "
                 "Redis's CPU seconds per second of the consumer's run (1.00: one core, its "
                 "ceiling).  Age: p50 / p99 / max at half the consumer's rate.\n\n");
    fprintf(out, "| consumer | events/s | (a) read | (b) SET | (b) functions | (c) naive | "
                 "/ min((a), SET) | / naive | ops sent / (b) functions | Redis busy | round "
                 "trips/event | commands/event | ops planned / sent per event | CPU s per M "
                 "events | peak RSS MiB | age p50 / p99 / max | checks |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const struct bench_results *r = &all[i];
        if (!r->selected)
            continue;
        char rate[96], age[96];
        if (r->nruns > 0)
            snprintf(rate, sizeof(rate), "%s (%s - %s)", num(r->rate.median, a, sizeof(a)),
                     num(r->rate.min, b, sizeof(b)), num(r->rate.max, c, sizeof(c)));
        else
            snprintf(rate, sizeof(rate), "n/a");
        if (r->nage > 0) {
            char x[24], y[24], z[24];
            seconds_text(r->age[0].p50, r->age[0].p50_overflow, x, sizeof(x));
            seconds_text(r->age[0].p99, r->age[0].p99_overflow, y, sizeof(y));
            seconds_text(r->age[0].max, 0, z, sizeof(z));
            snprintf(age, sizeof(age), "%s / %s / %s", x, y, z);
        } else {
            snprintf(age, sizeof(age), "not measured");
        }
        double lim = r->have_read ? r->read.rate : 0;
        if (r->have_plain && r->plain.set_rate > 0 && (lim <= 0 || r->plain.set_rate < lim))
            lim = r->plain.set_rate;
        int bad = 0;
        for (int k = 0; k < r->nchecks; k++)
            bad += !r->checks[k].ok;
        char checks[64];
        if (r->failure[0])
            snprintf(checks, sizeof(checks), "FAILED: see below");
        else
            snprintf(checks, sizeof(checks), "%d of %d ok", r->nchecks - bad, r->nchecks);
        fprintf(
            out,
            "| %s | %s | %s | %s | %s | %s | %.2f | %.1f | %.2f | %.2f | %.4f | %.2f | %.2f / "
            "%.2f | %.1f | %.1f | %s | %s |\n",
            r->consumer, rate, r->have_read ? num(r->read.rate, d, sizeof(d)) : "n/a",
            r->have_plain ? num(r->plain.set_rate, e, sizeof(e)) : "n/a",
            r->have_fleet ? num(r->fleet.ops_rate, f, sizeof(f)) : "n/a",
            r->have_naive ? num(r->naive.rate, a, sizeof(a)) : "n/a", ratio_of(r->rate.median, lim),
            ratio_of(r->rate.median, r->have_naive ? r->naive.rate : 0),
            ratio_of(r->rate.median * r->ops_sent_pe.median, r->have_fleet ? r->fleet.ops_rate : 0),
            r->redis_busy.median, r->round_trips_pe.median, r->commands_pe.median,
            r->ops_planned_pe.median, r->ops_sent_pe.median, r->cpu_s_per_m.median,
            r->rss_mib.median, age, checks);
    }
    fprintf(out, "\n");
}

void bench_report_markdown(const struct bench_results *all, size_t n, double wall_seconds,
                           FILE *out)
{
    const struct bench_results *r = NULL;
    for (size_t i = 0; i < n && !r; i++)
        r = all[i].selected ? &all[i] : NULL;
    if (!r)
        return;
    fprintf(out, "# cachefleet benchmark\n\n");
    fprintf(out, "- Date: %s; wall time %.1f s\n", r->date, wall_seconds);
    fprintf(out, "- Machine: %s, %d cores, %.1f GiB, %s\n", r->cpu, r->cores, r->mem_gib,
            r->kernel);
    fprintf(out, "- Versions: librdkafka %s, redis-server %s, hiredis %s\n\n", r->rdkafka, r->redis,
            r->hiredis);
    for (size_t i = 0; i < n; i++) {
        if (all[i].selected && all[i].failure[0])
            fprintf(out, "**The %s consumer's run did not complete:** %s\n\n", all[i].consumer,
                    all[i].failure);
    }
    md_summary(all, n, out);
    for (size_t i = 0; i < n; i++) {
        if (all[i].selected)
            md_one(&all[i], out);
    }
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

/* {"p50_s", "p99_s", "max_s"}, or null. */
static json_t *latency_json(const struct bench_latency *q)
{
    return q->have
               ? json_pack("{s:f,s:f,s:f}", "p50_s", q->p50_s, "p99_s", q->p99_s, "max_s", q->max_s)
               : json_null();
}

/* {"wall_s", "consumer", "redis", "broker", "producer"}: cores; null
 * where unknown, or the whole object when not measured. */
static json_t *cpu_json(const struct bench_age_row *g)
{
    if (g->cpu_wall_s <= 0)
        return json_null();
    const double v[] = {g->cpu_consumer, g->cpu_redis, g->cpu_broker, g->cpu_bench};
    const char *names[] = {"consumer", "redis", "broker", "producer"};
    json_t *o = json_pack("{s:f}", "wall_s", g->cpu_wall_s);
    for (size_t k = 0; k < 4; k++)
        json_object_set_new(o, names[k], v[k] >= 0 ? json_real(v[k]) : json_null());
    return o;
}

static json_t *stat_json(const struct bench_stat *s)
{
    return json_pack("{s:f,s:f,s:f,s:i}", "median", s->median, "min", s->min, "max", s->max, "n",
                     s->n);
}

static json_t *check_json(const struct bench_check *c)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:s,s:b}", "expired",
                     (json_int_t)c->expired, "markers_wrong", (json_int_t)c->markers_wrong,
                     "sampled", (json_int_t)c->sampled, "right", (json_int_t)c->right, "missing",
                     (json_int_t)c->missing, "stale", (json_int_t)c->stale, "expect_absent",
                     (json_int_t)c->expect_absent, "extra_expected", c->extra_expected,
                     "extra_present", c->extra_present, "extra_key", c->extra_name, "ok", c->ok);
}

static json_t *opt_rate(double v)
{
    return v > 0 ? json_real(v) : json_null();
}

static json_t *one_json(const struct bench_results *r)
{
    json_t *root = json_object();
    json_object_set_new(root, "date", json_string(r->date));
    json_object_set_new(root, "wall_seconds", json_real(r->wall_seconds));
    json_object_set_new(root, "ok", json_boolean(bench_results_ok(r)));
    json_object_set_new(root, "failure", r->failure[0] ? json_string(r->failure) : json_null());
    json_object_set_new(root, "machine",
                        json_pack("{s:s,s:i,s:f,s:s,s:s,s:s,s:s}", "cpu", r->cpu, "cores", r->cores,
                                  "memory_gib", r->mem_gib, "kernel", r->kernel, "librdkafka",
                                  r->rdkafka, "redis", r->redis, "hiredis", r->hiredis));
    json_object_set_new(
        root, "run",
        json_pack("{s:s,s:s,s:s,s:I,s:i,s:b,s:I,s:i,s:f,s:f,s:I,s:f}", "consumer", r->consumer,
                  "topic", r->topic, "program", r->program, "events", (json_int_t)r->events, "runs",
                  r->runs, "quick", r->quick, "seed", (json_int_t)r->seed, "partitions",
                  r->partitions, "avg_payload_bytes", r->avg_payload, "generate_seconds",
                  r->gen_seconds, "events_with_representation", (json_int_t)r->valued_events,
                  "avg_representation_bytes", r->avg_value));
    json_object_set_new(
        root, "produce",
        r->have_produce ? json_pack("{s:I,s:f,s:f}", "events", (json_int_t)r->produce.delivered,
                                    "seconds", r->produce.seconds, "events_per_s", r->produce.rate)
                        : json_null());

    json_t *limits = json_object();
    json_object_set_new(limits, "kafka_read_only",
                        r->have_read
                            ? json_pack("{s:I,s:f,s:f}", "events", (json_int_t)r->read.messages,
                                        "seconds", r->read.seconds, "events_per_s", r->read.rate)
                            : json_null());
    json_object_set_new(limits, "redis_plain",
                        r->have_plain
                            ? json_pack("{s:I,s:f,s:I,s:f,s:i}", "set_ops",
                                        (json_int_t)r->plain.set_ops, "set_ops_per_s",
                                        r->plain.set_rate, "del_ops", (json_int_t)r->plain.del_ops,
                                        "del_ops_per_s", r->plain.del_rate, "pipeline_depth", 2000)
                            : json_null());
    json_object_set_new(
        limits, "redis_fleet_functions",
        r->have_fleet
            ? json_pack("{s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f}", "events", (json_int_t)r->fleet.events,
                        "batches", (json_int_t)r->fleet.batches, "ops_planned",
                        (json_int_t)r->fleet.ops_planned, "ops_sent", (json_int_t)r->fleet.ops_sent,
                        "fcalls", (json_int_t)r->fleet.calls, "apply_seconds",
                        r->fleet.apply_seconds, "ops_per_s", r->fleet.ops_rate, "events_per_s",
                        r->fleet.events_rate)
            : json_null());
    json_object_set_new(limits, "naive",
                        r->have_naive
                            ? json_pack("{s:I,s:f,s:f}", "events", (json_int_t)r->naive.events,
                                        "seconds", r->naive.seconds, "events_per_s", r->naive.rate)
                            : json_null());
    json_object_set_new(root, "limits", limits);

    if (r->nruns > 0) {
        json_t *runs = json_array();
        for (int i = 0; i < r->nruns; i++) {
            const struct bench_run_row *x = &r->run[i];
            json_t *o = json_pack(
                "{s:o,s:b,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i}", "events_per_s",
                opt_rate(x->rate), "rate_polled", x->rate_observed, "seconds", x->seconds,
                "fcalls_per_event", x->fcalls_pe, "round_trips_per_event", x->round_trips_pe,
                "ops_planned_per_event", x->ops_planned_pe, "ops_sent_per_event", x->ops_sent_pe,
                "redis_commands_per_event", x->commands_pe, "cpu_s_per_million_events",
                x->cpu_s_per_m, "peak_rss_mib", x->rss_mib, "redis_cpu_s_per_million_events",
                x->redis_cpu_s_per_m, "redis_busy", x->redis_busy, "exit_status", x->exit_status);
            json_array_append_new(runs, o);
        }
        json_t *cmds = json_object();
        for (int i = 0; i < r->ncmds; i++)
            json_object_set_new(cmds, r->cmds[i].name, json_real(r->cmds[i].per_event));
        json_object_set_new(
            root, "consumer",
            json_pack(
                "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "runs", runs, "events_per_s",
                stat_json(&r->rate), "fcalls_per_event", stat_json(&r->fcalls_pe),
                "round_trips_per_event", stat_json(&r->round_trips_pe), "ops_planned_per_event",
                stat_json(&r->ops_planned_pe), "ops_sent_per_event", stat_json(&r->ops_sent_pe),
                "redis_commands_per_event", stat_json(&r->commands_pe), "cpu_s_per_million_events",
                stat_json(&r->cpu_s_per_m), "peak_rss_mib", stat_json(&r->rss_mib),
                "redis_cpu_s_per_million_events", stat_json(&r->redis_cpu_s_per_m), "redis_busy",
                stat_json(&r->redis_busy), "redis_commands_per_event_median_run", cmds));
        json_t *ratios = json_object();
        if (r->rate.median > 0) {
            if (r->have_read && r->read.rate > 0)
                json_object_set_new(ratios, "kafka_read_only",
                                    json_real(r->rate.median / r->read.rate));
            if (r->have_plain && r->plain.set_rate > 0)
                json_object_set_new(ratios, "redis_plain_set",
                                    json_real(r->rate.median / r->plain.set_rate));
            if (r->have_fleet && r->fleet.ops_rate > 0) {
                json_object_set_new(ratios, "redis_fleet_functions_ops",
                                    json_real(r->rate.median / r->fleet.ops_rate));
                json_object_set_new(ratios, "redis_fleet_functions_events",
                                    json_real(r->rate.median / r->fleet.events_rate));
            }
            if (r->have_naive && r->naive.rate > 0)
                json_object_set_new(ratios, "naive", json_real(r->rate.median / r->naive.rate));
        }
        json_object_set_new(root, "ratios", ratios);
    } else {
        json_object_set_new(root, "consumer", json_null());
        json_object_set_new(root, "ratios", json_null());
    }

    json_t *ages = json_array();
    for (int i = 0; i < r->nage; i++) {
        const struct bench_age_row *g = &r->age[i];
        json_array_append_new(
            ages,
            json_pack(
                "{s:s,s:f,s:f,s:f,s:I,s:i,s:I,s:f,s:f,s:f,s:b,s:b,s:o,s:o,s:i,s:s,s:o,s:o,s:f,s:f,"
                "s:o}",
                "consumer_setting", g->setting, "target_events_per_s", g->target_rate,
                "achieved_events_per_s", g->achieved_rate, "seconds", g->seconds, "events",
                (json_int_t)g->events, "partitions", g->partitions, "observations",
                (json_int_t)g->count, "p50_s", g->p50, "p99_s", g->p99, "max_s", g->max,
                "p50_in_overflow_bucket", g->p50_overflow, "p99_in_overflow_bucket",
                g->p99_overflow, "steady_p50_s",
                g->steady_p50 >= 0 ? json_real(g->steady_p50) : json_null(), "steady_p99_s",
                g->steady_p99 >= 0 ? json_real(g->steady_p99) : json_null(), "warmup_ms",
                BENCH_AGE_WARMUP_MS, "quantiles", "bucket-interpolated", "broker_ack",
                latency_json(&g->ack), "cpu_cores", cpu_json(g), "events_per_batch",
                g->events_per_batch, "ops_sent_per_event", g->ops_sent_pe, "bare_reader",
                latency_json(&g->reader)));
    }
    json_object_set_new(root, "event_age", ages);
    json_object_set_new(root, "event_age_basis",
                        r->age_basis_rate > 0
                            ? json_pack("{s:f,s:I,s:f}", "events_per_s", r->age_basis_rate,
                                        "events", (json_int_t)r->age_basis_events,
                                        "ops_sent_per_event", r->age_basis_ops_sent_pe)
                            : json_null());

    json_t *scale = json_array();
    for (int i = 0; i < r->nscale; i++) {
        const struct bench_scale_row *s = &r->scale[i];
        json_array_append_new(
            scale,
            json_pack("{s:f,s:I,s:I,s:s,s:s,s:I,s:f,s:f,s:o,s:b,s:f,s:f,s:f,s:f,s:f,s:f}",
                      "seconds", s->seconds, "role_members", (json_int_t)s->members, "fanouts",
                      (json_int_t)s->fanouts, "dimension", s->dimension, "point", s->point,
                      "events", (json_int_t)s->events, "avg_payload_bytes", s->avg_payload,
                      "read_only_events_per_s", s->read_rate, "events_per_s", opt_rate(s->rate),
                      "rate_polled", s->rate_observed, "ops_planned_per_event", s->ops_planned_pe,
                      "ops_sent_per_event", s->ops_sent_pe, "fcalls_per_event", s->fcalls_pe,
                      "round_trips_per_event", s->round_trips_pe, "cpu_s_per_million_events",
                      s->cpu_s_per_m, "peak_rss_mib", s->rss_mib));
    }
    json_object_set_new(root, "scaling", scale);

    json_object_set_new(
        root, "two_instances",
        r->have_pair
            ? json_pack("{s:I,s:i,s:o,s:o,s:[f,f],s:[f,f],s:f}", "events",
                        (json_int_t)r->pair_events, "partitions", r->pair_partitions,
                        "one_instance_events_per_s", opt_rate(r->single_rate),
                        "two_instances_events_per_s", opt_rate(r->pair_rate), "events_per_instance",
                        r->pair_share[0], r->pair_share[1], "cpu_s_per_instance", r->pair_cpu_s[0],
                        r->pair_cpu_s[1], "one_instance_cpu_s", r->single_cpu_s)
            : json_null());

    json_t *checks = json_array();
    for (int i = 0; i < r->nchecks; i++) {
        const struct bench_check_row *c = &r->checks[i];
        json_array_append_new(checks,
                              json_pack("{s:s,s:o,s:f,s:b,s:b}", "run", c->label, "sample_check",
                                        check_json(&c->check), "deadlettered", c->deadlettered,
                                        "clean_exit", c->clean_exit, "ok", c->ok));
    }
    json_object_set_new(root, "checks", checks);
    return root;
}

int bench_report_json(const struct bench_results *all, size_t n, double wall_seconds,
                      const char *path, char *errstr, size_t errstr_size)
{
    json_t *root = json_object();
    json_t *list = json_array();
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        if (!all[i].selected)
            continue;
        ok &= bench_results_ok(&all[i]);
        json_array_append_new(list, one_json(&all[i]));
    }
    json_object_set_new(root, "wall_seconds", json_real(wall_seconds));
    json_object_set_new(root, "ok", json_boolean(ok));
    json_object_set_new(root, "consumers", list);
    int rc = 0;
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
        snprintf(errstr, errstr_size, "--json %s: cannot write the file", path);
        rc = -1;
    }
    json_decref(root);
    return rc;
}
