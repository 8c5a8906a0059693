/* test_rewarm.c - the re-warm mode (--rewarm) against the real thing.
 *
 * The five consumers play the simulator's shop; the oracle finds the cache
 * right.  Then the consumers are stopped and Redis loses everything
 * (FLUSHALL: a failover to an empty replica).  Each program is started
 * again with --rewarm: it must read its whole topic without a consumer
 * group, exit 0 by itself once it reached the end offsets it saw at start,
 * and leave a cache the oracle finds right (0 missing, 0 stale).  Along
 * the way: nothing committed under any group (the live group's offsets
 * are unchanged, the re-warm's own group id has none), the poison message
 * the live consumer dead-lettered is not dead-lettered a second time, and
 * the epochs of the live group are left alone (the group's consumers
 * re-read their partitions themselves when they find none).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"

/* Messages in every partition of topic (high - low watermarks). */
static long topic_messages(const char *bootstrap, const char *topic)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err))) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    long n = -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err) {
            n = 0;
            for (int i = 0; i < md->topics[0].partition_cnt && n >= 0; i++) {
                int64_t lo = 0, hi = 0;
                if (rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[i].id,
                                                     &lo, &hi, 5000))
                    n = -1;
                else
                    n += (long)(hi - lo);
            }
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return n;
}

static long redis_count_keys(redisContext *rc, const char *pattern)
{
    long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        n += (long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

static void test_rewarm_after_redis_lost_everything(void **state)
{
    (void)state;
    struct cf_scenario sc;
    cf_scenario_start(&sc, "rewarm", 1, NULL, NULL);
    cf_scenario_sim_start(&sc, 3000, 0, 77);
    cf_scenario_sim_wait(&sc, 60000);
    /* One poison message: dead-lettered once by the live consumer. */
    static const char poison[] = "not avro at all";
    cf_fleet_produce(&sc.fleet, "shop.products", "poison", poison, sizeof(poison) - 1);
    cf_scenario_wait_caught_up(&sc, 60000);
    struct cf_oracle_report before;
    cf_scenario_judge(&sc, "none (baseline before the re-warm)", 0, &before);
    long dlq = topic_messages(sc.fleet.broker.bootstrap, "shop.products.dlq");
    assert_int_equal(dlq, 1);

    for (int i = 0; i < CF_NCONSUMERS; i++) {
        cf_consumer_stop(&sc.consumers[i]);
        sc.running[i] = 0;
    }
    long epochs = redis_count_keys(sc.fleet.rc, ":1:cf:epoch:*");
    assert_true(epochs > 0);
    redisReply *r = redisCommand(sc.fleet.rc, "FLUSHALL");
    assert_non_null(r);
    freeReplyObject(r);
    assert_int_equal(redis_count_keys(sc.fleet.rc, "*"), 0);

    /* Every program re-warms at the same time, each on its own topic. */
    for (int i = 0; i < CF_NCONSUMERS; i++)
        cf_consumer_spawn_flag(&sc.consumers[i], &sc.fleet, cf_consumer_names[i], NULL,
                               "--rewarm");
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        int status = -1;
        if (cf_proc_wait(&sc.consumers[i].proc, 60000, &status) < 0 || status != 0) {
            if (cf_proc_alive(&sc.consumers[i].proc))
                cf_proc_stop(&sc.consumers[i].proc, 5000);
            cf_print_log_tail(cf_consumer_names[i], sc.consumers[i].log, 3000);
            fail_msg("%s --rewarm did not exit 0 by itself (status %d)", cf_consumer_names[i],
                     status);
        }
        assert_int_equal(cf_scenario_log_count(&sc, (enum cf_consumer_id)i, "\"re-warm complete\""),
                         1);
        /* The re-warm's own group never committed: all of the topic is
         * still "behind" for it; the live group is still at the end. */
        char group[64], topic[64];
        snprintf(group, sizeof(group), "cachefleet-%s.rewarm", cf_consumer_names[i]);
        snprintf(topic, sizeof(topic), "shop.%s", cf_consumer_names[i]);
        long total = topic_messages(sc.fleet.broker.bootstrap, topic);
        assert_true(total > 0);
        assert_int_equal(cf_scenario_group_behind(sc.fleet.broker.bootstrap, group, topic), total);
        snprintf(group, sizeof(group), "cachefleet-%s", cf_consumer_names[i]);
        assert_int_equal(cf_scenario_group_behind(sc.fleet.broker.bootstrap, group, topic), 0);
    }
    /* The poison message was met again, logged, and not sent twice. */
    assert_true(cf_scenario_log_count(&sc, CF_PRODUCTS, "\"event rejected\"") >= 1);
    assert_int_equal(topic_messages(sc.fleet.broker.bootstrap, "shop.products.dlq"), 1);
    /* The live group's epochs are its own. */
    assert_int_equal(redis_count_keys(sc.fleet.rc, ":1:cf:epoch:*"), 0);

    struct cf_oracle_report after;
    cf_scenario_judge(&sc, "redis flushed, then every consumer run with --rewarm", 0, &after);
    assert_true(after.keys_checked > 0);
    cf_scenario_stop(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewarm_after_redis_lost_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
