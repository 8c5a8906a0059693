/* test_carts.c - the shopping carts slice end to end: cachefleet-carts
 * (topic shop.carts) and cachefleet-orders (topic shop.orders), both real
 * consumer programs, against one real redis-server and the project's
 * broker over TCP.  The assertions read Redis the way the web tier does.
 *
 * The two consumers write the same keys, cart:{cart_id}: the carts
 * consumer warms and invalidates them by the cart's version, the orders
 * consumer invalidates them by time (an order completed empties its cart).
 * So the cases check the two together: an order removes a cached cart,
 * an order for a cart never cached still leaves its time, and a cart event
 * that happened before the order but arrives after it does not bring the
 * cart back.
 *
 * The servers and both consumers start once for the whole program (a new
 * group member waits about 3 s for its first assignment in the loopback
 * broker).  Every case uses its own ids.  The consumers are stopped with
 * SIGTERM at the end and must exit 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../consumers/carts/planner.h"
#include "clock.h"
#include "encode.h"
#include "fleet.h"
#include "httpget.h"

#define CARTS_TOPIC  "shop.carts"
#define ORDERS_TOPIC "shop.orders"
#define CART_TTL_S   2592000 /* carts.cart_ttl_s's default: 30 days */
#define TOMBSTONE_S  3600    /* cache.tombstone_ttl_s's default */

struct fixture {
    struct cf_fleet fleet;
    struct cf_consumer_proc carts, orders;
    struct sim_encoder *carts_framed, *carts_plain, *orders_enc;
    int seq;
};

/* ------------------------------------------------------------------------
 * Producing events
 * ------------------------------------------------------------------------ */

static void send_event(struct fixture *fx, struct sim_encoder *enc, const char *topic,
                       const char *key)
{
    const void *data;
    size_t len;
    char err[256];
    if (sim_encoder_finish(enc, &data, &len, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    cf_fleet_produce(&fx->fleet, topic, key, data, len);
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

static void set_str(avro_value_t *body, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_string(body, field, s, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_opt_str(avro_value_t *body, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_optional_string(body, field, s, s ? strlen(s) : 0, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

/* Alternates the two framings, so both go through the decoder. */
static struct sim_encoder *carts_encoder(struct fixture *fx)
{
    return (fx->seq % 2) ? fx->carts_plain : fx->carts_framed;
}

static void cart_updated(struct fixture *fx, const char *id, int64_t version, int64_t ts,
                         const char *user, enum carts_change change, const char *cart)
{
    struct sim_encoder *enc = carts_encoder(fx);
    avro_value_t body = begin(fx, enc, "CartUpdated", version, ts);
    avro_value_t f;
    set_str(&body, "cart_id", id);
    set_opt_str(&body, "user_id", user);
    assert_int_equal(avro_value_get_by_name(&body, "change", &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, (int)change), 0);
    set_str(&body, "cart", cart);
    send_event(fx, enc, CARTS_TOPIC, id);
}

static void cart_deleted(struct fixture *fx, const char *id, int64_t version, int64_t ts)
{
    struct sim_encoder *enc = carts_encoder(fx);
    avro_value_t body = begin(fx, enc, "CartDeleted", version, ts);
    set_str(&body, "cart_id", id);
    send_event(fx, enc, CARTS_TOPIC, id);
}

/* Keyed by the target, as the cart service publishes it. */
static void cart_merged(struct fixture *fx, const char *source, const char *target, int64_t version,
                        int64_t ts, const char *user, const char *cart)
{
    struct sim_encoder *enc = carts_encoder(fx);
    avro_value_t body = begin(fx, enc, "CartMerged", version, ts);
    set_str(&body, "source_cart_id", source);
    set_str(&body, "target_cart_id", target);
    set_opt_str(&body, "user_id", user);
    set_str(&body, "cart", cart);
    send_event(fx, enc, CARTS_TOPIC, target);
}

static void order_completed(struct fixture *fx, const char *order, const char *cart,
                            int64_t version, int64_t ts, const char *user)
{
    avro_value_t body = begin(fx, fx->orders_enc, "OrderCompleted", version, ts);
    set_str(&body, "order_id", order);
    set_str(&body, "cart_id", cart);
    set_opt_str(&body, "user_id", user);
    set_str(&body, "total", "129.90");
    set_str(&body, "currency", "EUR");
    send_event(fx, fx->orders_enc, ORDERS_TOPIC, order);
}

/* ------------------------------------------------------------------------
 * Reading back
 * ------------------------------------------------------------------------ */

static void wait_all_handled(struct fixture *fx)
{
    struct cf_consumer_proc *const consumers[] = {&fx->carts, &fx->orders};
    cf_fleet_wait_handled(&fx->fleet, consumers, 2);
}

static void expect_key(struct fixture *fx, const char *key, const char *want)
{
    cf_fleet_expect(&fx->fleet, key, want);
}

/* The cart's marker {<key>}:v ("V W T", functions.lua): a new string or
 * NULL. */
static char *marker(struct fixture *fx, const char *key)
{
    char vkey[256];
    snprintf(vkey, sizeof(vkey), "{%s}:v", key);
    return cf_fleet_get(&fx->fleet, vkey);
}

static long long pttl(struct fixture *fx, const char *key)
{
    redisReply *r = redisCommand(fx->fleet.rc, "PTTL %s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static double metric(const struct cf_consumer_proc *c, const char *prefix)
{
    return cf_consumer_metric(c, prefix);
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    assert_non_null(fx);
    cf_fleet_start(&fx->fleet, "carts", 1, 4);
    fx->carts_framed = sim_encoder_new(cf_test_schemas_dir(), "carts.avsc", SIM_FRAMING_CONFLUENT,
                                       err, sizeof(err));
    if (!fx->carts_framed)
        fail_msg("encoder: %s", err);
    fx->carts_plain =
        sim_encoder_new(cf_test_schemas_dir(), "carts.avsc", SIM_FRAMING_PLAIN, err, sizeof(err));
    if (!fx->carts_plain)
        fail_msg("encoder: %s", err);
    fx->orders_enc = sim_encoder_new(cf_test_schemas_dir(), "orders.avsc", SIM_FRAMING_CONFLUENT,
                                     err, sizeof(err));
    if (!fx->orders_enc)
        fail_msg("encoder: %s", err);
    cf_consumer_start(&fx->carts, &fx->fleet, "carts", NULL);
    cf_consumer_start(&fx->orders, &fx->fleet, "orders", NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cf_consumer_stop(&fx->carts);
    cf_consumer_stop(&fx->orders);
    sim_encoder_destroy(fx->carts_framed);
    sim_encoder_destroy(fx->carts_plain);
    sim_encoder_destroy(fx->orders_enc);
    cf_fleet_stop(&fx->fleet);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

/* Created, changed, deleted: the key follows, for 30 days; a replay of an
 * update after the deletion is refused by the tombstone. */
static void test_cart_warmed_changed_deleted(void **state)
{
    struct fixture *fx = *state;
    int64_t t = cf_wall_us();
    cart_updated(fx, "c-100", 1, t, "u-1", CARTS_CHANGE_CREATED, "{\"items\":[]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-100", "{\"items\":[]}");
    long long ttl = cf_fleet_ttl(&fx->fleet, ":1:cart:c-100");
    if (!(ttl > CART_TTL_S - 60 && ttl <= CART_TTL_S))
        fail_msg("TTL of a warmed cart: %lld s, expected about %d s (30 days)", ttl, CART_TTL_S);

    cart_updated(fx, "c-100", 2, t + 10, "u-1", CARTS_CHANGE_ITEM_ADDED,
                 "{\"items\":[{\"sku\":\"SKU-1\",\"qty\":1}]}");
    cart_updated(fx, "c-100", 3, t + 20, "u-1", CARTS_CHANGE_QUANTITY_CHANGED,
                 "{\"items\":[{\"sku\":\"SKU-1\",\"qty\":3}]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-100", "{\"items\":[{\"sku\":\"SKU-1\",\"qty\":3}]}");

    cart_updated(fx, "c-100", 4, t + 30, "u-1", CARTS_CHANGE_ITEM_REMOVED, "{\"items\":[]}");
    cart_deleted(fx, "c-100", 5, t + 40);
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-100", NULL);

    /* A redelivered update from before the deletion stays out. */
    cart_updated(fx, "c-100", 4, t + 30, "u-1", CARTS_CHANGE_ITEM_REMOVED, "{\"items\":[]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-100", NULL);
}

/* An older version after a newer one does not overwrite it, whatever its
 * time. */
static void test_older_version_after_newer(void **state)
{
    struct fixture *fx = *state;
    int64_t t = cf_wall_us();
    double refused = metric(&fx->carts, "cachefleet_ops_refused_total{");
    cart_updated(fx, "c-200", 9, t, NULL, CARTS_CHANGE_ITEM_ADDED, "{\"v\":9}");
    wait_all_handled(fx);
    cart_updated(fx, "c-200", 7, t - 100, NULL, CARTS_CHANGE_ITEM_ADDED, "{\"v\":7}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-200", "{\"v\":9}");
    cart_updated(fx, "c-200", 8, t + 100, NULL, CARTS_CHANGE_ITEM_ADDED, "{\"v\":8}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-200", "{\"v\":9}");
    assert_true(metric(&fx->carts, "cachefleet_ops_refused_total{") >= refused + 2);
    cart_updated(fx, "c-200", 10, t + 200, NULL, CARTS_CHANGE_ITEM_ADDED, "{\"v\":10}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-200", "{\"v\":10}");
}

/* At login the anonymous cart is merged into the user's: the source is
 * gone, the target holds the merged cart; a late update of the anonymous
 * cart from before the merge does not bring it back. */
static void test_merge_invalidates_source_and_warms_target(void **state)
{
    struct fixture *fx = *state;
    int64_t t = cf_wall_us();
    double merged = metric(&fx->carts, "cachefleet_events_applied_total{consumer=\"carts\","
                                       "type=\"cart_merged\"}");
    cart_updated(fx, "anon-300", 1, t, NULL, CARTS_CHANGE_CREATED, "{\"items\":[\"a\"]}");
    cart_updated(fx, "user-300", 5, t, "u-300", CARTS_CHANGE_ITEM_ADDED, "{\"items\":[\"b\"]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:anon-300", "{\"items\":[\"a\"]}");
    expect_key(fx, ":1:cart:user-300", "{\"items\":[\"b\"]}");

    cart_merged(fx, "anon-300", "user-300", 6, t + 1000, "u-300", "{\"items\":[\"a\",\"b\"]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:anon-300", NULL);
    expect_key(fx, ":1:cart:user-300", "{\"items\":[\"a\",\"b\"]}");
    long long ttl = cf_fleet_ttl(&fx->fleet, ":1:cart:user-300");
    assert_true(ttl > CART_TTL_S - 60 && ttl <= CART_TTL_S);
    assert_true(metric(&fx->carts, "cachefleet_events_applied_total{consumer=\"carts\","
                                   "type=\"cart_merged\"}") >= merged + 1);

    /* The anonymous cart's own version sequence: v2 happened before the
     * merge (t + 500) but arrives after it. */
    cart_updated(fx, "anon-300", 2, t + 500, NULL, CARTS_CHANGE_ITEM_ADDED,
                 "{\"items\":[\"a\",\"late\"]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:anon-300", NULL);
    expect_key(fx, ":1:cart:user-300", "{\"items\":[\"a\",\"b\"]}");
}

/* An order completed removes the cart it was placed from; a cart event
 * that happened before the order, arriving after it, does not bring the
 * cart back; one that happened after it (the cart used again) does. */
static void test_order_completed_removes_cart(void **state)
{
    struct fixture *fx = *state;
    int64_t t = cf_wall_us();
    cart_updated(fx, "c-400", 3, t, "u-400", CARTS_CHANGE_ITEM_ADDED, "{\"items\":[1]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-400", "{\"items\":[1]}");

    order_completed(fx, "o-400", "c-400", 1, t + 1000, "u-400");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-400", NULL);

    /* A newer cart version, but it happened before the order. */
    cart_updated(fx, "c-400", 4, t + 500, "u-400", CARTS_CHANGE_ITEM_ADDED, "{\"items\":[1,2]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-400", NULL);

    cart_updated(fx, "c-400", 5, t + 2000, "u-400", CARTS_CHANGE_ITEM_ADDED, "{\"items\":[9]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-400", "{\"items\":[9]}");
}

/* An order for a cart that was never cached: nothing to delete, but the
 * order's time is left in the cart's marker (for the tombstone TTL), so a
 * cart event from before the order, arriving after it, stays out. */
static void test_order_for_cart_never_cached(void **state)
{
    struct fixture *fx = *state;
    int64_t t = cf_wall_us();
    double orders = metric(&fx->orders, "cachefleet_events_applied_total{consumer=\"orders\","
                                        "type=\"order_completed\"}");
    order_completed(fx, "o-500", "c-500", 1, t, NULL);
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-500", NULL);
    assert_true(metric(&fx->orders, "cachefleet_events_applied_total{consumer=\"orders\","
                                    "type=\"order_completed\"}") >= orders + 1);

    char want[64];
    snprintf(want, sizeof(want), "0 0 %" PRId64, t);
    char *m = marker(fx, ":1:cart:c-500");
    if (!m || strcmp(m, want) != 0)
        fail_msg("marker of a never cached cart after an order: \"%s\", expected \"%s\"",
                 m ? m : "(absent)", want);
    free(m);
    long long ms = pttl(fx, "{:1:cart:c-500}:v");
    assert_true(ms > 0 && ms <= TOMBSTONE_S * 1000LL);

    cart_updated(fx, "c-500", 1, t - 100, NULL, CARTS_CHANGE_CREATED, "{\"items\":[\"old\"]}");
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-500", NULL);
}

/* The cart warmed by an event newer than the order survives a late order:
 * the order arrives after an update that happened after it. */
static void test_late_order_keeps_newer_cart(void **state)
{
    struct fixture *fx = *state;
    int64_t t = cf_wall_us();
    cart_updated(fx, "c-450", 2, t + 1000, NULL, CARTS_CHANGE_ITEM_ADDED, "{\"after\":true}");
    wait_all_handled(fx);
    order_completed(fx, "o-450", "c-450", 1, t, NULL);
    wait_all_handled(fx);
    expect_key(fx, ":1:cart:c-450", "{\"after\":true}");
}

struct dlq_seen {
    int count;
    char reasons[16][256];
    char origin_topic[16][64];
    char consumer[16][32];
};

static void on_dlq(const struct cf_test_msg *msg, void *opaque)
{
    struct dlq_seen *seen = opaque;
    if (seen->count >= 16)
        return;
    const void *v;
    size_t len;
    int i = seen->count++;
    if (msg->headers && rd_kafka_header_get_last(msg->headers, "cachefleet.reason", &v, &len) == 0)
        snprintf(seen->reasons[i], sizeof(seen->reasons[i]), "%.*s", (int)len, (const char *)v);
    if (msg->headers && rd_kafka_header_get_last(msg->headers, "cachefleet.topic", &v, &len) == 0)
        snprintf(seen->origin_topic[i], sizeof(seen->origin_topic[i]), "%.*s", (int)len,
                 (const char *)v);
    if (msg->headers &&
        rd_kafka_header_get_last(msg->headers, "cachefleet.consumer", &v, &len) == 0)
        snprintf(seen->consumer[i], sizeof(seen->consumer[i]), "%.*s", (int)len, (const char *)v);
}

static int count_prefix(const struct dlq_seen *seen, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < seen->count; i++)
        n += strncmp(seen->reasons[i], prefix, strlen(prefix)) == 0;
    return n;
}

/* Poison and broken events land in <topic>.dlq with their reason, and the
 * stream goes on behind them. */
static void test_bad_events_go_to_dead_letter_and_stream_goes_on(void **state)
{
    struct fixture *fx = *state;
    int64_t t = cf_wall_us();
    const char garbage[] = "\x07not avro at all";
    cf_fleet_produce(&fx->fleet, CARTS_TOPIC, "bad", garbage, sizeof(garbage) - 1);
    cart_updated(fx, "c 601", 1, t, NULL, CARTS_CHANGE_CREATED, "{}");
    cart_updated(fx, "c-602", 1, t, NULL, CARTS_CHANGE_CREATED, "{\"card\":\"SECRET-DATA\",");
    cart_merged(fx, "c-603", "c-603", 2, t, "u-603", "{}");
    /* Larger than carts.max_cart_bytes (256 KiB), smaller than
     * cache.max_payload_bytes (1 MiB): the planner's limit. */
    size_t big_len = 300 * 1024;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'x', big_len);
    big[0] = '"';
    big[big_len - 1] = '"';
    big[big_len] = '\0';
    cart_updated(fx, "c-604", 1, t, NULL, CARTS_CHANGE_ITEM_ADDED, big);
    free(big);
    cart_updated(fx, "c-600", 1, t, NULL, CARTS_CHANGE_CREATED, "{\"after\":\"poison\"}");
    order_completed(fx, "o-605", "c:605", 1, t, NULL);
    cart_updated(fx, "c-606", 1, t - 10, NULL, CARTS_CHANGE_CREATED, "{\"c\":606}");
    wait_all_handled(fx);
    order_completed(fx, "o-606", "c-606", 1, t, NULL); /* after the bad order */
    wait_all_handled(fx);

    expect_key(fx, ":1:cart:c-600", "{\"after\":\"poison\"}");
    expect_key(fx, ":1:cart:c-602", NULL);
    expect_key(fx, ":1:cart:c-603", NULL);
    expect_key(fx, ":1:cart:c-604", NULL);
    expect_key(fx, ":1:cart:c-606", NULL);

    struct dlq_seen seen;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(cf_test_consume_all(fx->fleet.broker.bootstrap, CARTS_TOPIC ".dlq", 5, 20000,
                                         on_dlq, &seen),
                     5);
    assert_int_equal(count_prefix(&seen, "undecodable: "), 1);
    assert_int_equal(count_prefix(&seen, "unsafe-id: cart_id"), 1);
    assert_int_equal(count_prefix(&seen, "invalid-json: cart"), 1);
    assert_int_equal(count_prefix(&seen, "invalid-field: source_cart_id is target_cart_id"), 1);
    assert_int_equal(count_prefix(&seen, "invalid-field: cart is 307200 bytes"), 1);
    for (int i = 0; i < seen.count; i++) {
        assert_string_equal(seen.origin_topic[i], CARTS_TOPIC);
        assert_string_equal(seen.consumer[i], "carts");
        assert_null(strstr(seen.reasons[i], "SECRET-DATA"));
    }

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(cf_test_consume_all(fx->fleet.broker.bootstrap, ORDERS_TOPIC ".dlq", 1, 20000,
                                         on_dlq, &seen),
                     1);
    assert_int_equal(count_prefix(&seen, "unsafe-id: cart_id"), 1);
    assert_string_equal(seen.origin_topic[0], ORDERS_TOPIC);
    assert_string_equal(seen.consumer[0], "orders");

    assert_true(metric(&fx->carts, "cachefleet_deadletter_reasons_total{consumer=\"carts\","
                                   "reason=\"invalid-field\"}") >= 2);
    assert_true(metric(&fx->orders, "cachefleet_deadletter_reasons_total{consumer=\"orders\","
                                    "reason=\"unsafe-id\"}") >= 1);
}

static void test_metrics_and_health(void **state)
{
    struct fixture *fx = *state;
    static char body[1 << 17];
    const struct cf_consumer_proc *const procs[] = {&fx->carts, &fx->orders};
    for (size_t i = 0; i < 2; i++) {
        int port = procs[i]->http_port;
        assert_int_equal(cf_http_get(port, "/healthz", body, sizeof(body), 2000), 200);
        assert_int_equal(cf_http_get(port, "/readyz", body, sizeof(body), 2000), 200);
        assert_int_equal(cf_http_get(port, "/metrics", body, sizeof(body), 2000), 200);
        char up[96];
        snprintf(up, sizeof(up), "cachefleet_redis_up{consumer=\"%s\"} 1", procs[i]->name);
        assert_non_null(strstr(body, up));
    }
    const char *const carts_types[] = {"cart_updated", "cart_deleted", "cart_merged"};
    for (size_t i = 0; i < 3; i++) {
        char prefix[128];
        snprintf(prefix, sizeof(prefix),
                 "cachefleet_events_applied_total{consumer=\"carts\",type=\"%s\"}", carts_types[i]);
        assert_true(metric(&fx->carts, prefix) >= 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cart_warmed_changed_deleted),
        cmocka_unit_test(test_older_version_after_newer),
        cmocka_unit_test(test_merge_invalidates_source_and_warms_target),
        cmocka_unit_test(test_order_completed_removes_cart),
        cmocka_unit_test(test_order_for_cart_never_cached),
        cmocka_unit_test(test_late_order_keeps_newer_cart),
        cmocka_unit_test(test_bad_events_go_to_dead_letter_and_stream_goes_on),
        cmocka_unit_test(test_metrics_and_health),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
