/* test_stock.c - cachefleet-stock end to end: Avro events into the
 * project's broker over TCP, the real consumer program, a real
 * redis-server; the assertions read Redis the way the web tier does.
 *
 * The products consumer is NOT running: the product detail a stock flip
 * invalidates is written by the test itself with FCALL cachefleet_fill,
 * exactly as the web tier fills it, so the only writer of product:{id}
 * besides the web tier is the stock consumer's cross-entity invalidation.
 *
 * The servers and the consumer start once for the whole program (a new
 * group member waits about 3 s for its first assignment in the loopback
 * broker), so the TTL setting's range is tested with --check-config, which
 * loads the settings and exits without joining anything.  Every case uses
 * its own SKUs and products.  The consumer is stopped with SIGTERM at the
 * end and must exit 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "encode.h"
#include "fleet.h"
#include "httpget.h"

#define TOPIC "shop.stock"

/* The MovementKind symbols' positions in schemas/stock.avsc. */
enum { PURCHASE, RESTOCK, RETURN, ADJUSTMENT, OTHER };

struct fixture {
    struct cf_fleet fleet;
    struct cf_consumer_proc consumer;
    struct sim_encoder *framed, *plain;
    int seq;
    int check_runs; /* --check-config runs, to name their logs */
};

/* ------------------------------------------------------------------------
 * Producing events
 * ------------------------------------------------------------------------ */

static void set_str(avro_value_t *body, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_string(body, field, s, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_long(avro_value_t *rec, const char *field, int64_t v)
{
    avro_value_t f;
    assert_int_equal(avro_value_get_by_name(rec, field, &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, v), 0);
}

/* Produces a StockMoved of sku (keyed by the sku, as the inventory service
 * publishes), alternating the two framings. */
static void moved(struct fixture *fx, const char *sku, const char *product, int kind,
                  int64_t version, int64_t ts, int64_t delta, int64_t on_hand)
{
    struct sim_encoder *enc = (fx->seq % 2) ? fx->plain : fx->framed;
    char event_id[32], err[256];
    avro_value_t body, f;
    snprintf(event_id, sizeof(event_id), "stock-test-%d", ++fx->seq);
    if (sim_encoder_begin(enc, event_id, version, ts, "StockMoved", &body, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    set_str(&body, "sku", sku);
    set_str(&body, "product_id", product);
    assert_int_equal(avro_value_get_by_name(&body, "kind", &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, kind), 0);
    set_long(&body, "quantity_delta", delta);
    set_long(&body, "on_hand", on_hand);
    const void *data;
    size_t len;
    if (sim_encoder_finish(enc, &data, &len, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    cf_fleet_produce(&fx->fleet, TOPIC, sku, data, len);
}

/* ------------------------------------------------------------------------
 * Reading back
 * ------------------------------------------------------------------------ */

static double metric(struct fixture *fx, const char *prefix)
{
    return cf_consumer_metric(&fx->consumer, prefix);
}

static void wait_all_handled(struct fixture *fx)
{
    struct cf_consumer_proc *const consumers[] = {&fx->consumer};
    cf_fleet_wait_handled(&fx->fleet, consumers, 1);
}

static void expect_key(struct fixture *fx, const char *key, const char *want)
{
    cf_fleet_expect(&fx->fleet, key, want);
}

/* Asserts that key holds the count want as django-redis reads an int: its
 * bytes (all of them, a NUL included) are exactly the decimal digits of
 * want, '-' first when negative, nothing else; and Redis itself took them
 * for a canonical integer (it stores such a string with the "int"
 * encoding, which it only does for [-]digits without leading zeros that
 * fit in a long). */
static void expect_count(struct fixture *fx, const char *key, long long want)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", want);
    redisReply *r = redisCommand(fx->fleet.rc, "GET %s", key);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_STRING)
        fail_msg("%s is absent, expected %s", key, text);
    if (r->len != strlen(text) || memcmp(r->str, text, r->len) != 0)
        fail_msg("%s holds \"%.*s\" (%zu bytes), expected exactly \"%s\"", key, (int)r->len, r->str,
                 r->len, text);
    size_t d = r->str[0] == '-' ? 1 : 0;
    assert_true(r->len > d);
    for (size_t i = d; i < r->len; i++)
        assert_true(r->str[i] >= '0' && r->str[i] <= '9');
    freeReplyObject(r);
    r = redisCommand(fx->fleet.rc, "OBJECT ENCODING %s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "int");
    freeReplyObject(r);
}

/* The web tier's fill of a product detail, as django code calls it:
 * 1 when stored, 0 when refused. */
static long long fill(struct fixture *fx, const char *key, const char *value, const char *version,
                      int64_t read_us)
{
    char read[32];
    snprintf(read, sizeof(read), "%" PRId64, read_us);
    const char *a[] = {"FCALL", "cachefleet_fill", "1", key, value, "3600000", version, read};
    size_t argc = sizeof(a) / sizeof(a[0]), lens[sizeof(a) / sizeof(a[0])];
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(a[i]);
    redisReply *r = redisCommandArgv(fx->fleet.rc, (int)argc, a, lens);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("fill: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* A reading of the database by the web tier: strictly after every event
 * produced so far (whose times all came from cf_wall_us() before). */
static int64_t read_now(void)
{
    int64_t t = cf_wall_us();
    while (cf_wall_us() == t)
        ;
    return cf_wall_us();
}

/* Runs cachefleet-stock --check-config with one extra setting; returns
 * its exit status and its output (stdout and stderr) in out. */
static int check_config(struct fixture *fx, const char *setting, char *out, size_t out_size)
{
    char prog[PATH_MAX], schemas[PATH_MAX + 32], log[PATH_MAX + 64], extra[128];
    snprintf(schemas, sizeof(schemas), "CACHEFLEET_SCHEMAS_DIR=%s", cf_test_schemas_dir());
    snprintf(log, sizeof(log), "%s/check-config-%d.log", fx->fleet.dir, ++fx->check_runs);
    char *const argv[] = {cf_test_program("cachefleet-stock", prog, sizeof(prog)), "--check-config",
                          NULL};
    snprintf(extra, sizeof(extra), "%s", setting);
    char *const env[] = {schemas, extra, NULL};
    struct cf_proc p;
    if (cf_proc_spawn(&p, argv, env, log) < 0)
        fail_msg("cannot start %s", prog);
    int status = -1;
    if (cf_proc_wait(&p, 10000, &status) < 0) {
        cf_proc_stop(&p, 1000);
        fail_msg("%s --check-config did not exit", prog);
    }
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, out_size - 1, f);
    out[n] = '\0';
    fclose(f);
    return status;
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    assert_non_null(fx);
    cf_fleet_start(&fx->fleet, "stock", 1, 4);
    fx->framed = sim_encoder_new(cf_test_schemas_dir(), "stock.avsc", SIM_FRAMING_CONFLUENT, err,
                                 sizeof(err));
    if (!fx->framed)
        fail_msg("encoder: %s", err);
    fx->plain =
        sim_encoder_new(cf_test_schemas_dir(), "stock.avsc", SIM_FRAMING_PLAIN, err, sizeof(err));
    if (!fx->plain)
        fail_msg("encoder: %s", err);
    cf_consumer_start(&fx->consumer, &fx->fleet, "stock", NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cf_consumer_stop(&fx->consumer);
    sim_encoder_destroy(fx->framed);
    sim_encoder_destroy(fx->plain);
    cf_fleet_stop(&fx->fleet);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

/* Every movement warms stock:{sku} with on_hand as digits, for 60 s. */
static void test_count_value_and_ttl(void **state)
{
    struct fixture *fx = *state;
    int64_t now = cf_wall_us();
    moved(fx, "SKU-100", "p100", RESTOCK, 1, now, 10, 10);
    moved(fx, "SKU-101", "p101", PURCHASE, 1, now, -3, -3); /* a backorder */
    moved(fx, "SKU-102", "p102", ADJUSTMENT, 1, now, 0, 0);
    moved(fx, "SKU-103", "p103", RETURN, 1, now, 1, 1000000000000LL);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-100", 10);
    expect_count(fx, ":1:stock:SKU-101", -3);
    expect_count(fx, ":1:stock:SKU-102", 0);
    expect_count(fx, ":1:stock:SKU-103", 1000000000000LL);
    long long ttl = cf_fleet_ttl(&fx->fleet, ":1:stock:SKU-100");
    if (!(ttl > 50 && ttl <= 60))
        fail_msg("TTL of stock:SKU-100 is %lld s, expected about 60", ttl);
    ttl = cf_fleet_ttl(&fx->fleet, ":1:stock:SKU-101");
    assert_true(ttl > 50 && ttl <= 60);

    /* The next movement replaces the count and renews the TTL. */
    moved(fx, "SKU-100", "p100", OTHER, 2, cf_wall_us(), -4, 6);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-100", 6);
}

/* stock.ttl_s is held to 30..120 (seed section 7: 30 s to 2 min) and the
 * error names the setting; 30 is accepted. */
static void test_ttl_setting_range(void **state)
{
    struct fixture *fx = *state;
    char out[8192];
    int status = check_config(fx, "CACHEFLEET_STOCK_TTL_S=10", out, sizeof(out));
    if (status != 2 || !strstr(out, "stock.ttl_s") || !strstr(out, "out of range 30..120"))
        fail_msg("CACHEFLEET_STOCK_TTL_S=10: status %d, output:\n%s", status, out);
    status = check_config(fx, "CACHEFLEET_STOCK_TTL_S=121", out, sizeof(out));
    if (status != 2 || !strstr(out, "stock.ttl_s"))
        fail_msg("CACHEFLEET_STOCK_TTL_S=121: status %d, output:\n%s", status, out);
    status = check_config(fx, "CACHEFLEET_STOCK_TTL_S=30", out, sizeof(out));
    if (status != 0 || !strstr(out, "stock.ttl_s = 30;"))
        fail_msg("CACHEFLEET_STOCK_TTL_S=30: status %d, output:\n%s", status, out);
    status = check_config(fx, "CACHEFLEET_STOCK_MAX_QUANTITY=0", out, sizeof(out));
    if (status != 2 || !strstr(out, "stock.max_quantity"))
        fail_msg("CACHEFLEET_STOCK_MAX_QUANTITY=0: status %d, output:\n%s", status, out);
}

/* Out of stock and back in invalidate the product detail each time; a
 * movement that does not flip leaves it. */
static void test_flips_invalidate_the_product(void **state)
{
    struct fixture *fx = *state;
    const char *product = ":1:product:p200", *stock = ":1:stock:SKU-200";
    moved(fx, "SKU-200", "p200", RESTOCK, 1, cf_wall_us(), 5, 5);
    wait_all_handled(fx);
    expect_count(fx, stock, 5);

    /* The web tier caches the product, showing "in stock". */
    assert_int_equal(fill(fx, product, "{\"id\":\"p200\",\"in_stock\":true}", "1", read_now()), 1);
    expect_key(fx, product, "{\"id\":\"p200\",\"in_stock\":true}");

    /* A purchase of the last five: out of stock. */
    int64_t out_at = read_now();
    moved(fx, "SKU-200", "p200", PURCHASE, 2, out_at, -5, 0);
    wait_all_handled(fx);
    expect_count(fx, stock, 0);
    expect_key(fx, product, NULL);
    /* A fill that read the database before the movement cannot bring the
     * old availability back; one that read after it is stored. */
    assert_int_equal(fill(fx, product, "{\"id\":\"p200\",\"in_stock\":true}", "1", out_at - 1), 0);
    expect_key(fx, product, NULL);
    assert_int_equal(fill(fx, product, "{\"id\":\"p200\",\"in_stock\":false}", "1", read_now()), 1);

    /* A restock: back in stock, invalidated again. */
    moved(fx, "SKU-200", "p200", RESTOCK, 3, read_now(), 3, 3);
    wait_all_handled(fx);
    expect_count(fx, stock, 3);
    expect_key(fx, product, NULL);
    assert_int_equal(fill(fx, product, "{\"id\":\"p200\",\"in_stock\":true}", "1", read_now()), 1);

    /* 3 -> 1 and an adjustment confirming 1: no flip, the product stays. */
    moved(fx, "SKU-200", "p200", PURCHASE, 4, read_now(), -2, 1);
    moved(fx, "SKU-200", "p200", ADJUSTMENT, 5, read_now(), 0, 1);
    wait_all_handled(fx);
    expect_count(fx, stock, 1);
    expect_key(fx, product, "{\"id\":\"p200\",\"in_stock\":true}");
}

/* Backorders: below zero is out of stock, so -2 -> 0 flips nothing and
 * 0 -> -2 neither; -2 -> 1 does. */
static void test_backorders(void **state)
{
    struct fixture *fx = *state;
    const char *product = ":1:product:p250";
    assert_int_equal(fill(fx, product, "{\"id\":\"p250\"}", "1", read_now()), 1);
    moved(fx, "SKU-250", "p250", ADJUSTMENT, 1, read_now(), 0, 0);
    moved(fx, "SKU-250", "p250", PURCHASE, 2, read_now(), -2, -2);
    moved(fx, "SKU-250", "p250", RETURN, 3, read_now(), 2, 0);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-250", 0);
    expect_key(fx, product, "{\"id\":\"p250\"}");
    moved(fx, "SKU-250", "p250", PURCHASE, 4, read_now(), -2, -2);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-250", -2);
    expect_key(fx, product, "{\"id\":\"p250\"}");
    moved(fx, "SKU-250", "p250", RESTOCK, 5, read_now(), 3, 1);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-250", 1);
    expect_key(fx, product, NULL);
}

/* A movement with a lower ledger version, arriving after a newer one
 * (a replay, a redelivery), never replaces the count. */
static void test_older_movement_after_newer(void **state)
{
    struct fixture *fx = *state;
    int64_t now = cf_wall_us();
    double refused = metric(fx, "cachefleet_ops_refused_total{");
    moved(fx, "SKU-300", "p300", RESTOCK, 9, now, 2, 7);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-300", 7);
    moved(fx, "SKU-300", "p300", RESTOCK, 8, now - 100, 95, 100);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-300", 7);
    assert_true(metric(fx, "cachefleet_ops_refused_total{") >= refused + 1);
    /* A newer one does. */
    moved(fx, "SKU-300", "p300", PURCHASE, 10, cf_wall_us(), -1, 6);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-300", 6);
}

struct dlq_seen {
    int count;
    char reasons[8][256];
    char origin_topic[8][64];
};

static void on_dlq(const struct cf_test_msg *msg, void *opaque)
{
    struct dlq_seen *seen = opaque;
    if (seen->count >= 8)
        return;
    const void *v;
    size_t len;
    int i = seen->count++;
    if (rd_kafka_header_get_last(msg->headers, "cachefleet.reason", &v, &len) == 0)
        snprintf(seen->reasons[i], sizeof(seen->reasons[i]), "%.*s", (int)len, (const char *)v);
    if (rd_kafka_header_get_last(msg->headers, "cachefleet.topic", &v, &len) == 0)
        snprintf(seen->origin_topic[i], sizeof(seen->origin_topic[i]), "%.*s", (int)len,
                 (const char *)v);
}

static int count_prefix(const struct dlq_seen *seen, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < seen->count; i++)
        n += strncmp(seen->reasons[i], prefix, strlen(prefix)) == 0;
    return n;
}

/* Poison messages land in shop.stock.dlq with their reason, and the
 * stream goes on. */
static void test_poison_goes_to_dead_letter_and_stream_goes_on(void **state)
{
    struct fixture *fx = *state;
    const char garbage[] = "\x07not avro at all";
    int64_t now = cf_wall_us();
    cf_fleet_produce(&fx->fleet, TOPIC, "bad", garbage, sizeof(garbage) - 1);
    moved(fx, "bad sku", "p400", PURCHASE, 1, now, -1, 0);
    moved(fx, "SKU-401", "p4{01}", PURCHASE, 1, now, -1, 0);
    moved(fx, "SKU-402", "p402", RESTOCK, 1, now, 1, 4000000000000LL);
    moved(fx, "SKU-400", "p400", RESTOCK, 1, now, 1, 1);
    wait_all_handled(fx);
    expect_count(fx, ":1:stock:SKU-400", 1);
    expect_key(fx, ":1:stock:SKU-401", NULL);
    expect_key(fx, ":1:stock:SKU-402", NULL);

    struct dlq_seen seen;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(
        cf_test_consume_all(fx->fleet.broker.bootstrap, TOPIC ".dlq", 4, 20000, on_dlq, &seen), 4);
    for (int i = 0; i < seen.count; i++)
        assert_string_equal(seen.origin_topic[i], TOPIC);
    assert_int_equal(count_prefix(&seen, "undecodable: "), 1);
    assert_int_equal(count_prefix(&seen, "unsafe-id: sku has a space"), 1);
    assert_int_equal(count_prefix(&seen, "unsafe-id: product_id"), 1);
    assert_int_equal(count_prefix(&seen, "invalid-field: on_hand"), 1);
    assert_true(metric(fx, "cachefleet_deadletter_reasons_total{consumer=\"stock\",reason="
                           "\"unsafe-id\"}") >= 2);
    assert_true(metric(fx, "cachefleet_deadletter_reasons_total{consumer=\"stock\",reason="
                           "\"invalid-field\"}") >= 1);
}

/* One metrics type for every kind: "stock_moved". */
static void test_metrics_and_health(void **state)
{
    struct fixture *fx = *state;
    char body[1 << 16];
    int port = fx->consumer.http_port;
    assert_int_equal(cf_http_get(port, "/healthz", body, sizeof(body), 2000), 200);
    assert_int_equal(cf_http_get(port, "/readyz", body, sizeof(body), 2000), 200);
    assert_int_equal(cf_http_get(port, "/metrics", body, sizeof(body), 2000), 200);
    assert_non_null(strstr(body, "cachefleet_redis_up{consumer=\"stock\"} 1"));
    double applied = metric(fx, "cachefleet_events_applied_total{consumer=\"stock\","
                                "type=\"stock_moved\"}");
    double all = metric(fx, "cachefleet_events_applied_total{");
    assert_true(applied >= 19); /* every event the cases above applied */
    assert_true(applied == all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_value_and_ttl),
        cmocka_unit_test(test_ttl_setting_range),
        cmocka_unit_test(test_flips_invalidate_the_product),
        cmocka_unit_test(test_backorders),
        cmocka_unit_test(test_older_movement_after_newer),
        cmocka_unit_test(test_poison_goes_to_dead_letter_and_stream_goes_on),
        cmocka_unit_test(test_metrics_and_health),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
