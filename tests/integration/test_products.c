/* test_products.c - cachefleet-products end to end: Avro events into the
 * project's broker over TCP, the real consumer program, a real
 * redis-server; the assertions read Redis the way the web tier does.
 *
 * The servers and the consumer start once for the whole program (a new
 * group member waits about 3 s for its first assignment in the loopback
 * broker).  Every case uses its own ids.  The consumer is stopped with
 * SIGTERM at the end and must exit 0.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "encode.h"
#include "fleet.h"
#include "httpget.h"

#define TOPIC "shop.products"

struct fixture {
    struct cf_fleet fleet;
    struct cf_consumer_proc consumer;
    struct sim_encoder *framed, *plain;
    int seq;
};

/* ------------------------------------------------------------------------
 * Producing events
 * ------------------------------------------------------------------------ */

struct list {
    const char *const *items;
    size_t n;
};
#define LIST(...) ((struct list){(const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)})
#define NONE ((struct list){NULL, 0})

static void send_event(struct fixture *fx, struct sim_encoder *enc, const char *key)
{
    const void *data;
    size_t len;
    char err[256];
    if (sim_encoder_finish(enc, &data, &len, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    cf_fleet_produce(&fx->fleet, TOPIC, key, data, len);
}

static avro_value_t begin(struct fixture *fx, struct sim_encoder *enc, const char *type,
                          int64_t version, int64_t ts)
{
    char event_id[32], err[256];
    avro_value_t body;
    snprintf(event_id, sizeof(event_id), "test-%d", ++fx->seq);
    if (sim_encoder_begin(enc, event_id, version, ts, type, &body, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    return body;
}

static void set_list(avro_value_t *body, const char *field, struct list l)
{
    char err[256];
    if (sim_avro_set_string_array(body, field, l.items, l.n, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_str(avro_value_t *body, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_string(body, field, s, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void upsert(struct fixture *fx, const char *id, int64_t version, int64_t ts,
                   struct list cats_before, struct list cats_after, struct list terms_before,
                   struct list terms_after, const char *repr)
{
    struct sim_encoder *enc = (fx->seq % 2) ? fx->plain : fx->framed; /* both framings */
    avro_value_t body = begin(fx, enc, "ProductUpserted", version, ts);
    char err[256];
    set_str(&body, "product_id", id);
    set_list(&body, "categories_before", cats_before);
    set_list(&body, "categories_after", cats_after);
    set_list(&body, "search_terms_before", terms_before);
    set_list(&body, "search_terms_after", terms_after);
    if (sim_avro_set_optional_string(&body, "representation", repr, repr ? strlen(repr) : 0, err,
                                     sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    send_event(fx, enc, id);
}

static void deleted(struct fixture *fx, const char *id, int64_t version, int64_t ts,
                    struct list cats, struct list terms)
{
    avro_value_t body = begin(fx, fx->framed, "ProductDeleted", version, ts);
    set_str(&body, "product_id", id);
    set_list(&body, "categories_before", cats);
    set_list(&body, "search_terms_before", terms);
    send_event(fx, fx->framed, id);
}

static void category(struct fixture *fx, const char *id, int64_t version, const char *parent,
                     const char *name, int32_t position)
{
    avro_value_t body = begin(fx, fx->framed, "CategoryUpserted", version, cf_wall_us());
    avro_value_t f;
    char err[256];
    set_str(&body, "category_id", id);
    if (sim_avro_set_optional_string(&body, "parent_id", parent, parent ? strlen(parent) : 0, err,
                                     sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    set_str(&body, "name", name);
    set_str(&body, "slug", name);
    assert_int_equal(avro_value_get_by_name(&body, "position", &f, NULL), 0);
    avro_value_set_int(&f, position);
    assert_int_equal(avro_value_get_by_name(&body, "visible", &f, NULL), 0);
    avro_value_set_boolean(&f, 1);
    send_event(fx, fx->framed, id);
}

/* ------------------------------------------------------------------------
 * Reading back
 * ------------------------------------------------------------------------ */

static long long integer(struct fixture *fx, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(fx->fleet.rc, fmt, arg);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

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

/* The web tier's fill, as django code calls it. */
static long long fill(struct fixture *fx, const char *key, const char *value, const char *version,
                      int64_t read_us, const char *tag)
{
    char read[32];
    snprintf(read, sizeof(read), "%" PRId64, read_us);
    const char *a[9];
    size_t argc = 0, lens[9];
    a[argc++] = "FCALL";
    a[argc++] = "cachefleet_fill";
    a[argc++] = tag ? "2" : "1";
    a[argc++] = key;
    if (tag)
        a[argc++] = tag;
    a[argc++] = value;
    a[argc++] = "60000";
    a[argc++] = version;
    a[argc++] = read;
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

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    cf_fleet_start(&fx->fleet, "products", 1, 4);
    fx->framed = sim_encoder_new(cf_test_schemas_dir(), "products.avsc", SIM_FRAMING_CONFLUENT,
                                 err, sizeof(err));
    fx->plain = sim_encoder_new(cf_test_schemas_dir(), "products.avsc", SIM_FRAMING_PLAIN, err,
                                sizeof(err));
    assert_non_null(fx->framed);
    assert_non_null(fx->plain);
    cf_consumer_start(&fx->consumer, &fx->fleet, "products", NULL);
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

static void test_warm_with_ttl_and_tags(void **state)
{
    struct fixture *fx = *state;
    int64_t now = cf_wall_us();
    /* The web tier cached a listing of category 10 and a search for "boot". */
    assert_int_equal(fill(fx, ":1:listing:c10", "[\"old\"]", "0", now - 1000, ":1:tag:category:10"), 1);
    assert_int_equal(fill(fx, ":1:search:boot", "[\"old\"]", "0", now - 1000, ":1:tag:search:boot"), 1);
    upsert(fx, "100", 1, now, NONE, LIST("10"), NONE, LIST("boot", "leather"),
           "{\"id\":100,\"name\":\"Leather boot\"}");
    wait_all_handled(fx);
    expect_key(fx, ":1:product:100", "{\"id\":100,\"name\":\"Leather boot\"}");
    long long ttl = integer(fx, "TTL %s", ":1:product:100");
    assert_true(ttl > 3500 && ttl <= 3600);
    expect_key(fx, ":1:listing:c10", NULL);
    expect_key(fx, ":1:search:boot", NULL);
}

static void test_move_between_categories(void **state)
{
    struct fixture *fx = *state;
    int64_t now = cf_wall_us();
    upsert(fx, "200", 1, now, NONE, LIST("21"), NONE, LIST("lamp"), "{\"id\":200}");
    wait_all_handled(fx);
    now = cf_wall_us();
    assert_int_equal(fill(fx, ":1:listing:c21", "[200]", "0", now, ":1:tag:category:21"), 1);
    assert_int_equal(fill(fx, ":1:listing:c22", "[]", "0", now, ":1:tag:category:22"), 1);
    assert_int_equal(fill(fx, ":1:listing:c23", "[]", "0", now, ":1:tag:category:23"), 1);
    upsert(fx, "200", 2, cf_wall_us(), LIST("21"), LIST("22"), LIST("lamp"), LIST("lamp"),
           "{\"id\":200,\"moved\":true}");
    wait_all_handled(fx);
    expect_key(fx, ":1:listing:c21", NULL); /* before */
    expect_key(fx, ":1:listing:c22", NULL); /* after */
    expect_key(fx, ":1:listing:c23", "[]"); /* untouched */
    expect_key(fx, ":1:product:200", "{\"id\":200,\"moved\":true}");
}

static void test_delete_and_stale_fill(void **state)
{
    struct fixture *fx = *state;
    int64_t t1 = cf_wall_us();
    upsert(fx, "300", 4, t1, NONE, LIST("31"), NONE, NONE, "{\"id\":300}");
    deleted(fx, "300", 5, t1 + 10, LIST("31"), NONE);
    wait_all_handled(fx);
    expect_key(fx, ":1:product:300", NULL);
    /* A web-tier fill that read version 4 before the deletion is refused;
     * version 5 or later is stored. */
    assert_int_equal(fill(fx, ":1:product:300", "{\"id\":300}", "4", t1 + 5, NULL), 0);
    expect_key(fx, ":1:product:300", NULL);
    assert_int_equal(fill(fx, ":1:product:300", "{\"gone\":true}", "5", cf_wall_us(), NULL), 1);
}

static void test_older_version_after_newer(void **state)
{
    struct fixture *fx = *state;
    int64_t now = cf_wall_us();
    double refused = metric(fx, "cachefleet_ops_refused_total{");
    upsert(fx, "400", 9, now, NONE, NONE, NONE, NONE, "{\"v\":9}");
    wait_all_handled(fx);
    upsert(fx, "400", 7, now - 100, NONE, NONE, NONE, NONE, "{\"v\":7}");
    wait_all_handled(fx);
    expect_key(fx, ":1:product:400", "{\"v\":9}");
    assert_true(metric(fx, "cachefleet_ops_refused_total{") >= refused + 1);
    /* Without a representation: invalidated. */
    upsert(fx, "400", 10, cf_wall_us(), NONE, NONE, NONE, NONE, NULL);
    wait_all_handled(fx);
    expect_key(fx, ":1:product:400", NULL);
}

static void test_menu_rebuilt(void **state)
{
    struct fixture *fx = *state;
    category(fx, "900", 1, NULL, "Garden", 2);
    category(fx, "901", 1, NULL, "Kitchen", 1);
    category(fx, "902", 1, "900", "Tools", 0);
    wait_all_handled(fx);
    expect_key(fx, ":1:menu:main",
               "[{\"id\":\"901\",\"name\":\"Kitchen\",\"slug\":\"Kitchen\",\"children\":[]},"
               "{\"id\":\"900\",\"name\":\"Garden\",\"slug\":\"Garden\",\"children\":["
               "{\"id\":\"902\",\"name\":\"Tools\",\"slug\":\"Tools\",\"children\":[]}]}]");
    long long ttl = integer(fx, "TTL %s", ":1:menu:main");
    assert_true(ttl > 86000 && ttl <= 86400);
    category(fx, "902", 2, "901", "Tools", 0); /* moved */
    wait_all_handled(fx);
    expect_key(fx, ":1:menu:main",
               "[{\"id\":\"901\",\"name\":\"Kitchen\",\"slug\":\"Kitchen\",\"children\":["
               "{\"id\":\"902\",\"name\":\"Tools\",\"slug\":\"Tools\",\"children\":[]}]},"
               "{\"id\":\"900\",\"name\":\"Garden\",\"slug\":\"Garden\",\"children\":[]}]");
}

struct dlq_seen {
    int count;
    char reasons[8][256];
    char origin_topic[8][64];
    int64_t origin_offset[8];
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
    if (rd_kafka_header_get_last(msg->headers, "cachefleet.offset", &v, &len) == 0) {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)len, (const char *)v);
        seen->origin_offset[i] = strtoll(num, NULL, 10);
    }
}

static void test_poison_goes_to_dead_letter_and_stream_goes_on(void **state)
{
    struct fixture *fx = *state;
    const char garbage[] = "\x07not avro at all";
    cf_fleet_produce(&fx->fleet, TOPIC, "bad", garbage, sizeof(garbage) - 1);
    upsert(fx, "bad id", 1, cf_wall_us(), NONE, NONE, NONE, NONE, "{}");
    upsert(fx, "501", 1, cf_wall_us(), NONE, NONE, NONE, NONE, "{not json");
    upsert(fx, "500", 1, cf_wall_us(), NONE, NONE, NONE, NONE, "{\"after\":\"poison\"}");
    wait_all_handled(fx);
    expect_key(fx, ":1:product:500", "{\"after\":\"poison\"}");
    expect_key(fx, ":1:product:501", NULL);

    struct dlq_seen seen;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(cf_test_consume_all(fx->fleet.broker.bootstrap, TOPIC ".dlq", 3, 20000, on_dlq,
                                         &seen),
                     3);
    int undecodable = 0, unsafe = 0, json = 0;
    for (int i = 0; i < seen.count; i++) {
        undecodable += strncmp(seen.reasons[i], "undecodable: ", 13) == 0;
        unsafe += strncmp(seen.reasons[i], "unsafe-id: product_id has a space", 33) == 0;
        json += strncmp(seen.reasons[i], "invalid-json: representation", 28) == 0;
        assert_string_equal(seen.origin_topic[i], TOPIC);
        assert_true(seen.origin_offset[i] >= 0);
    }
    assert_int_equal(undecodable, 1);
    assert_int_equal(unsafe, 1);
    assert_int_equal(json, 1);
    assert_true(metric(fx, "cachefleet_deadletter_reasons_total{consumer=\"products\",reason=\"undecodable\"}") >= 1);
}

static void test_metrics_and_health(void **state)
{
    struct fixture *fx = *state;
    char body[1 << 16];
    int port = fx->consumer.http_port;
    assert_int_equal(cf_http_get(port, "/healthz", body, sizeof(body), 2000), 200);
    assert_int_equal(cf_http_get(port, "/readyz", body, sizeof(body), 2000), 200);
    assert_int_equal(cf_http_get(port, "/metrics", body, sizeof(body), 2000), 200);
    assert_non_null(strstr(body, "cachefleet_redis_up{consumer=\"products\"} 1"));
    assert_non_null(strstr(body, "cachefleet_event_age_seconds_bucket{"));
    assert_true(cf_metric_value(body, "cachefleet_redis_round_trips_total{") >= 1);
    /* The earlier tests warmed products, invalidated listings by tag and
     * rebuilt the menu: each slice is counted under its own name. */
    assert_true(cf_metric_value(body, "cachefleet_slice_ops_total{consumer=\"products\",slice=\"product\",kind=\"warm\"}") >= 1);
    assert_true(cf_metric_value(body, "cachefleet_slice_ops_total{consumer=\"products\",slice=\"product\",kind=\"invalidate\"}") >= 1);
    assert_true(cf_metric_value(body, "cachefleet_slice_ops_total{consumer=\"products\",slice=\"category\",kind=\"invalidate\"}") >= 1);
    assert_true(cf_metric_value(body, "cachefleet_slice_ops_total{consumer=\"products\",slice=\"menu\",kind=\"warm\"}") >= 1);
    assert_int_equal(cf_http_get(port, "/nope", body, sizeof(body), 2000), 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warm_with_ttl_and_tags),
        cmocka_unit_test(test_move_between_categories),
        cmocka_unit_test(test_delete_and_stale_fill),
        cmocka_unit_test(test_older_version_after_newer),
        cmocka_unit_test(test_menu_rebuilt),
        cmocka_unit_test(test_poison_goes_to_dead_letter_and_stream_goes_on),
        cmocka_unit_test(test_metrics_and_health),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
