/* test_metrics.c - a running consumer's /metrics, /healthz and /readyz,
 * scraped and read sample by sample.
 *
 * cachefleet-stock against a real redis-server and the project's broker
 * (4 partitions), fed a known set of events: valid StockMoved events, one
 * StockMoved whose SKU is unsafe (dead-lettered after decoding: counted
 * under its type, stock_moved) and one message that is not Avro at all
 * (dead-lettered undecoded: counted under "unknown").  The page is parsed with
 * cachefleet-top's parser (tools/top/prom.h), so a sample is matched by
 * its labels, whatever their order, and every assertion is an exact
 * figure where the events make one exact:
 *   - consumed, applied and dead-lettered counters per event type, and the
 *     dead-letter reasons;
 *   - the Redis round trip and event age histograms: buckets cumulative,
 *     le="+Inf" equal to _count, a _sum, event age counted once per event
 *     applied;
 *   - consumer lag, one series per partition, 0 once caught up;
 *   - cachefleet_redis_up 1, then 0 once the test SIGKILLs the
 *     redis-server it started, with /readyz 503 and /healthz still 200,
 *     then 1 and 200 again after the server is restarted (empty: the
 *     consumer re-warms), and the stream flows again.
 * The consumer reports lag every 200 ms here (statistics interval).
 */
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "encode.h"
#include "fleet.h"
#include "httpget.h"
#include "prom.h"
#include "testutil.h"

#define TOPIC      "shop.stock"
#define PARTITIONS 4
#define VALID      12

enum { PURCHASE = 0 };

struct fixture {
    struct cf_fleet fleet;
    struct cf_consumer_proc consumer;
    struct sim_encoder *enc;
    int seq;
};

static char body[1 << 18];

/* ------------------------------------------------------------------------
 * Producing and scraping
 * ------------------------------------------------------------------------ */

static void moved(struct fixture *fx, const char *sku, int64_t on_hand)
{
    char event_id[32], err[256];
    avro_value_t b, f;
    snprintf(event_id, sizeof(event_id), "metrics-%d", ++fx->seq);
    if (sim_encoder_begin(fx->enc, event_id, fx->seq, cf_wall_us(), "StockMoved", &b, err,
                          sizeof(err)) < 0 ||
        sim_avro_set_string(&b, "sku", sku, err, sizeof(err)) < 0 ||
        sim_avro_set_string(&b, "product_id", "77", err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    assert_int_equal(avro_value_get_by_name(&b, "kind", &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, PURCHASE), 0);
    assert_int_equal(avro_value_get_by_name(&b, "quantity_delta", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, -1), 0);
    assert_int_equal(avro_value_get_by_name(&b, "on_hand", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, on_hand), 0);
    const void *data;
    size_t len;
    if (sim_encoder_finish(fx->enc, &data, &len, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    cf_fleet_produce(&fx->fleet, TOPIC, sku, data, len);
}

/* The consumer's page, parsed: free with top_prom_destroy. */
static struct top_prom *scrape(struct fixture *fx)
{
    int status = cf_http_get(fx->consumer.http_port, "/metrics", body, sizeof(body), 2000);
    if (status != 200)
        fail_msg("/metrics answered %d", status);
    struct top_prom *p = top_prom_parse(body, strlen(body));
    assert_non_null(p);
    if (p->bad_lines)
        fail_msg("/metrics has %zu malformed lines:\n%s", p->bad_lines, body);
    return p;
}

/* The one sample named name with exactly the labels of match (consumer
 * "stock" is added); fails the test when there is not exactly one. */
static double sample(const struct top_prom *p, const char *name, const char *l1, const char *v1,
                     const char *l2, const char *v2)
{
    const char *const match[] = {"consumer", "stock", l1, v1, l2, v2, NULL};
    size_t found = 0;
    double v = top_prom_sum(p, name, match, &found);
    if (found != 1)
        fail_msg("%s{%s=%s,%s=%s}: %zu samples in:\n%s", name, l1 ? l1 : "", v1 ? v1 : "",
                 l2 ? l2 : "", v2 ? v2 : "", found, body);
    return v;
}

static void expect(const struct top_prom *p, const char *name, const char *l1, const char *v1,
                   const char *l2, const char *v2, double want)
{
    double got = sample(p, name, l1, v1, l2, v2);
    if (got != want)
        fail_msg("%s{%s=\"%s\"%s%s%s%s%s} is %g, expected %g", name, l1 ? l1 : "", v1 ? v1 : "",
                 l2 ? "," : "", l2 ? l2 : "", l2 ? "=\"" : "", v2 ? v2 : "", l2 ? "\"" : "", got,
                 want);
}

/* Polls the gauge until it reads want (timeout_ms at most). */
static void wait_gauge(struct fixture *fx, const char *name, double want, int timeout_ms)
{
    int64_t deadline = cf_mono_ms() + timeout_ms;
    double v = -1;
    for (;;) {
        struct top_prom *p = scrape(fx);
        v = sample(p, name, NULL, NULL, NULL, NULL);
        top_prom_destroy(p);
        if (v == want)
            return;
        if (cf_mono_ms() > deadline)
            fail_msg("%s is %g, expected %g within %d ms", name, v, want, timeout_ms);
        usleep(50000);
    }
}

static int endpoint(struct fixture *fx, const char *path)
{
    char small[512];
    return cf_http_get(fx->consumer.http_port, path, small, sizeof(small), 2000);
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    assert_non_null(fx);
    cf_fleet_start(&fx->fleet, "metrics", 1, PARTITIONS);
    fx->enc = sim_encoder_new(cf_test_schemas_dir(), "stock.avsc", SIM_FRAMING_CONFLUENT, err,
                              sizeof(err));
    assert_non_null(fx->enc);
    char *const env[] = {"CACHEFLEET_KAFKA_STATISTICS_INTERVAL_MS=200",
                         "CACHEFLEET_HTTP_STUCK_MS=2000", NULL};
    cf_consumer_start(&fx->consumer, &fx->fleet, "stock", env);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cf_consumer_stop(&fx->consumer);
    sim_encoder_destroy(fx->enc);
    cf_fleet_stop(&fx->fleet);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

static void test_counters_histograms_and_lag(void **state)
{
    struct fixture *fx = *state;
    char sku[32];
    for (int i = 0; i < VALID; i++) {
        snprintf(sku, sizeof(sku), "SKU-M-%d", i);
        moved(fx, sku, 100 + i);
    }
    moved(fx, "bad sku", 1); /* decodes; the unsafe id is refused */
    static const char poison[] = "\x07not avro at all";
    cf_fleet_produce(&fx->fleet, TOPIC, "poison", poison, sizeof(poison) - 1);
    struct cf_consumer_proc *const c[] = {&fx->consumer};
    cf_fleet_wait_handled(&fx->fleet, c, 1);

    struct top_prom *p = scrape(fx);
    /* Per event type: the unsafe one under stock_moved, the poison under unknown. */
    expect(p, "cachefleet_events_consumed_total", "type", "stock_moved", NULL, NULL, VALID + 1);
    expect(p, "cachefleet_events_applied_total", "type", "stock_moved", NULL, NULL, VALID);
    expect(p, "cachefleet_events_deadlettered_total", "type", "stock_moved", NULL, NULL, 1);
    expect(p, "cachefleet_events_consumed_total", "type", "unknown", NULL, NULL, 1);
    expect(p, "cachefleet_events_applied_total", "type", "unknown", NULL, NULL, 0);
    expect(p, "cachefleet_events_deadlettered_total", "type", "unknown", NULL, NULL, 1);
    assert_true(top_prom_sum(p, "cachefleet_events_deadlettered_total", NULL, NULL) == 2);
    expect(p, "cachefleet_deadletter_reasons_total", "reason", "undecodable", NULL, NULL, 1);
    expect(p, "cachefleet_deadletter_reasons_total", "reason", "unsafe-id", NULL, NULL, 1);
    assert_true(top_prom_sum(p, "cachefleet_deadletter_reasons_total", NULL, NULL) == 2);
    expect(p, "cachefleet_redis_up", NULL, NULL, NULL, NULL, 1);
    expect(p, "cachefleet_broker_up", NULL, NULL, NULL, NULL, 1);
    expect(p, "cachefleet_paused", NULL, NULL, NULL, NULL, 0);
    expect(p, "cachefleet_assigned_partitions", NULL, NULL, NULL, NULL, PARTITIONS);

    /* Histograms: every series there, buckets cumulative, +Inf = _count. */
    static const char *const hists[] = {"cachefleet_redis_round_trip_seconds",
                                        "cachefleet_event_age_seconds"};
    for (size_t i = 0; i < 2; i++) {
        char bucket[128], sum[128], count[128];
        snprintf(bucket, sizeof(bucket), "%s_bucket", hists[i]);
        snprintf(sum, sizeof(sum), "%s_sum", hists[i]);
        snprintf(count, sizeof(count), "%s_count", hists[i]);
        double inf = sample(p, bucket, "le", "+Inf", NULL, NULL);
        double n = sample(p, count, NULL, NULL, NULL, NULL);
        double s = sample(p, sum, NULL, NULL, NULL, NULL);
        if (inf != n || n < 1 || !(s >= 0) || isinf(s))
            fail_msg("%s: +Inf bucket %g, count %g, sum %g", hists[i], inf, n, s);
        struct top_hist h;
        assert_int_equal(top_prom_histogram(p, hists[i], &h), 0);
        assert_true(h.n >= 2 && isinf(h.le[h.n - 1]));
        for (size_t b = 1; b < h.n; b++) {
            if (h.cum[b] < h.cum[b - 1])
                fail_msg("%s: bucket le=%g holds %g, fewer than le=%g's %g", hists[i], h.le[b],
                         h.cum[b], h.le[b - 1], h.cum[b - 1]);
        }
    }
    /* Event age: one observation per event applied, none for dead letters. */
    expect(p, "cachefleet_event_age_seconds_count", NULL, NULL, NULL, NULL, VALID);
    /* One round trip per applied batch at least. */
    assert_true(sample(p, "cachefleet_redis_round_trip_seconds_count", NULL, NULL, NULL, NULL) ==
                sample(p, "cachefleet_redis_round_trips_total", NULL, NULL, NULL, NULL));
    top_prom_destroy(p);

    /* Lag: one series per partition, all 0 once the statistics caught up. */
    int64_t deadline = cf_mono_ms() + 10000;
    for (;;) {
        p = scrape(fx);
        int zero = 0;
        for (int part = 0; part < PARTITIONS; part++) {
            char num[8];
            snprintf(num, sizeof(num), "%d", part);
            const char *const match[] = {"consumer",  "stock", "topic", TOPIC,
                                         "partition", num,     NULL};
            size_t found = 0;
            double lag = top_prom_sum(p, "cachefleet_consumer_lag", match, &found);
            zero += found == 1 && lag == 0;
        }
        size_t series = 0;
        top_prom_sum(p, "cachefleet_consumer_lag", NULL, &series);
        top_prom_destroy(p);
        if (zero == PARTITIONS && series == PARTITIONS)
            break;
        if (cf_mono_ms() > deadline)
            fail_msg("consumer lag: %d of %d partitions at 0, %zu series:\n%s", zero, PARTITIONS,
                     series, body);
        usleep(100000);
    }
}

static void test_redis_down_and_back(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(endpoint(fx, "/readyz"), 200);
    assert_int_equal(endpoint(fx, "/healthz"), 200);
    wait_gauge(fx, "cachefleet_redis_up", 1, 2000);

    assert_int_equal(cf_redis_kill(&fx->fleet.redis), 0);
    /* Idle, the consumer looks at Redis once a second. */
    wait_gauge(fx, "cachefleet_redis_up", 0, 10000);
    assert_int_equal(endpoint(fx, "/readyz"), 503);
    assert_int_equal(endpoint(fx, "/healthz"), 200); /* alive: not a reason to restart it */
    assert_true(cf_proc_alive(&fx->consumer.proc));

    assert_int_equal(cf_redis_restart(&fx->fleet.redis), 0);
    redisFree(fx->fleet.rc);
    fx->fleet.rc = cf_redis_connect(&fx->fleet.redis);
    assert_non_null(fx->fleet.rc);
    wait_gauge(fx, "cachefleet_redis_up", 1, 15000);
    int64_t deadline = cf_mono_ms() + 5000;
    while (endpoint(fx, "/readyz") != 200) {
        if (cf_mono_ms() > deadline)
            fail_msg("/readyz not 200 within 5 s of redis_up 1");
        usleep(50000);
    }
    assert_int_equal(endpoint(fx, "/healthz"), 200);

    /* And the stream flows again.  Redis came back empty, so the consumer
     * also re-reads its partitions from their start (re-warm): the applied
     * count grows by at least the new event, and the new event's key is
     * written. */
    struct top_prom *p = scrape(fx);
    double before = sample(p, "cachefleet_events_applied_total", "type", "stock_moved", NULL, NULL);
    top_prom_destroy(p);
    moved(fx, "SKU-M-after", 5);
    cf_test_producer_flush(fx->fleet.tp, 10000);
    deadline = cf_mono_ms() + 20000;
    for (;;) {
        char *v = cf_fleet_get(&fx->fleet, ":1:stock:SKU-M-after");
        int done = v && strcmp(v, "5") == 0;
        free(v);
        if (done)
            break;
        if (cf_mono_ms() > deadline)
            fail_msg("the event produced after redis came back was not applied in 20 s");
        usleep(50000);
    }
    p = scrape(fx);
    assert_true(sample(p, "cachefleet_events_applied_total", "type", "stock_moved", NULL, NULL) >=
                before + 1);
    assert_true(sample(p, "cachefleet_rewarms_total", NULL, NULL, NULL, NULL) >= 1);
    expect(p, "cachefleet_redis_up", NULL, NULL, NULL, NULL, 1);
    top_prom_destroy(p);
}

/* /healthz is the liveness probe: a consume loop blocked longer than
 * http.stuck_ms (here 2 s) answers 503, and 200 again once it runs.  A
 * redis-server stopped with SIGSTOP holds the loop in its round trip (the
 * command timeout is 30 s), which a killed one never does. */
static void test_healthz_when_the_loop_is_stuck(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(endpoint(fx, "/healthz"), 200);
    assert_int_equal(cf_proc_signal(&fx->fleet.redis.proc, SIGSTOP), 0);
    moved(fx, "SKU-M-stuck", 3);
    cf_test_producer_flush(fx->fleet.tp, 10000);
    int64_t deadline = cf_mono_ms() + 15000;
    int code;
    while ((code = endpoint(fx, "/healthz")) == 200 && cf_mono_ms() < deadline)
        usleep(100000);
    cf_proc_signal(&fx->fleet.redis.proc, SIGCONT);
    assert_int_equal(code, 503);
    deadline = cf_mono_ms() + 15000;
    while (endpoint(fx, "/healthz") != 200) {
        if (cf_mono_ms() > deadline)
            fail_msg("/healthz not 200 again within 15 s of redis resuming");
        usleep(100000);
    }
    deadline = cf_mono_ms() + 15000;
    for (;;) {
        char *v = cf_fleet_get(&fx->fleet, ":1:stock:SKU-M-stuck");
        int done = v && strcmp(v, "3") == 0;
        free(v);
        if (done)
            break;
        if (cf_mono_ms() > deadline)
            fail_msg("the event held while redis was stopped was not applied");
        usleep(50000);
    }
}

/* kafka.batch_max_bytes: a batch closes once its events' bytes reach the
 * cap.  Thirty 600-byte messages (not Avro: dead-lettered, but batched as
 * any event) wait in the topic before a consumer capped at 1024 bytes
 * starts: its batches hold two of them at most (ten of the small events
 * earlier cases left, if it reads them again), never the thirty at once
 * that an uncapped consumer takes in one batch. */
/* The "started" line names what the process chose at start: the malloc
 * tuning, the librdkafka it runs with, and whether the prefetch refill
 * thread runs (only where librdkafka lacks fetch.queue.backoff.ms, which
 * came in 2.2). */
static void test_started_line(void **state)
{
    struct fixture *fx = *state;
    char line[4096] = "";
    int64_t deadline = cf_mono_ms() + 10000;
    while (!line[0]) {
        FILE *f = fopen(fx->consumer.log, "r");
        assert_non_null(f);
        char buf[4096];
        while (fgets(buf, sizeof(buf), f)) {
            if (strstr(buf, "\"msg\":\"started\""))
                snprintf(line, sizeof(line), "%s", buf);
        }
        fclose(f);
        if (!line[0] && cf_mono_ms() > deadline)
            fail_msg("no \"started\" line in %s within 10 s", fx->consumer.log);
        if (!line[0])
            usleep(50000);
    }
    const char *malloc_field = CF_TEST_SANITIZED ? "\"malloc\":\"allocator defaults\""
                                                 : "\"malloc\":\"mmap threshold 1 MiB\"";
    char version[64], refill[64];
    snprintf(version, sizeof(version), "\"librdkafka\":\"%s\"", rd_kafka_version_str());
    snprintf(refill, sizeof(refill), "\"prefetch_refill\":%s",
             rd_kafka_version() < 0x020200ff ? "true" : "false");
    const char *want[] = {malloc_field, version, refill};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(line, want[i]))
            fail_msg("the started line lacks %s: %s", want[i], line);
    }
}

static void test_batch_closes_at_max_bytes(void **state)
{
    struct fixture *fx = *state;
    cf_consumer_stop(&fx->consumer);
    char big[600];
    memset(big, 'x', sizeof(big));
    big[0] = 0x07; /* no Avro framing */
    char key[32];
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "big-%d", i);
        cf_fleet_produce(&fx->fleet, TOPIC, key, big, sizeof(big));
    }
    cf_test_producer_flush(fx->fleet.tp, 10000);
    char *const env[] = {"CACHEFLEET_KAFKA_STATISTICS_INTERVAL_MS=200",
                         "CACHEFLEET_HTTP_STUCK_MS=2000", "CACHEFLEET_KAFKA_BATCH_MAX_BYTES=1024",
                         NULL};
    cf_consumer_start(&fx->consumer, &fx->fleet, "stock", env);
    /* Until the thirty are dead-lettered and their batches finished (a
     * batch is counted once its offsets are stored, after its letters). */
    int64_t deadline = cf_mono_ms() + 20000;
    double lettered = 0, batched = 0;
    struct top_prom *p = NULL;
    for (;;) {
        p = scrape(fx);
        lettered = top_prom_sum(p, "cachefleet_deadletter_reasons_total", NULL, NULL);
        batched = sample(p, "cachefleet_batch_size_events_sum", NULL, NULL, NULL, NULL);
        if (lettered >= 30 && batched >= 30)
            break;
        top_prom_destroy(p);
        if (cf_mono_ms() > deadline)
            fail_msg("%g of the 30 messages dead-lettered, %g events in finished batches, "
                     "within 20 s",
                     lettered, batched);
        usleep(50000);
    }
    double batches = sample(p, "cachefleet_batch_size_events_count", NULL, NULL, NULL, NULL);
    double at_most_20 = sample(p, "cachefleet_batch_size_events_bucket", "le", "20", NULL, NULL);
    if (batches < 15 || at_most_20 != batches)
        fail_msg("%g batches, %g of them of 20 events or fewer; expected 15 or more, all", batches,
                 at_most_20);
    top_prom_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_started_line),
        cmocka_unit_test(test_counters_histograms_and_lag),
        cmocka_unit_test(test_redis_down_and_back),
        cmocka_unit_test(test_healthz_when_the_loop_is_stuck),
        cmocka_unit_test(test_batch_closes_at_max_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
