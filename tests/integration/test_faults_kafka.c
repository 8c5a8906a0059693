/* test_faults_kafka.c - the broker failing under a running fleet, through
 * the mock cluster's own fault API (the broker's control channel:
 * rd_kafka_mock_push_request_errors, coordinator moves, broker down/up).
 * Ends with the oracle's figures: 0 missing, 0 stale (an event of one
 * entity applied out of order would leave an older version: stale).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"

/* Kafka API keys and error codes used below. */
#define API_FETCH "1"
#define API_OFFSET_COMMIT "8"
#define API_HEARTBEAT "12"
#define ERR_NOT_LEADER "6"
#define ERR_TIMED_OUT "7"
#define ERR_COORDINATOR_UNAVAILABLE "15"
#define ERR_NOT_COORDINATOR "16"

static void control(struct cf_scenario *sc, const char *cmd)
{
    char reply[256];
    if (cf_broker_control(&sc->fleet.broker, cmd, reply, sizeof(reply)) != 0)
        fail_msg("broker control \"%s\": %s", cmd, reply);
}

static void test_broker_errors(void **state)
{
    (void)state;
    struct cf_scenario sc;
    cf_scenario_start(&sc, "fault-kafka", 3, NULL, NULL);
    cf_scenario_sim_start(&sc, 5000, 800, 21);
    sleep(2);

    /* Failed fetches: retriable errors on Fetch requests. */
    control(&sc, "push-errors " API_FETCH " " ERR_NOT_LEADER " " ERR_TIMED_OUT " " ERR_NOT_LEADER
                 " " ERR_TIMED_OUT " " ERR_NOT_LEADER " " ERR_TIMED_OUT);
    sleep(1);
    /* Failed offset commits. */
    control(&sc, "push-errors " API_OFFSET_COMMIT " " ERR_COORDINATOR_UNAVAILABLE
                 " " ERR_NOT_COORDINATOR " " ERR_TIMED_OUT " " ERR_COORDINATOR_UNAVAILABLE);
    sleep(1);
    /* The groups' coordinator moves, twice, with a heartbeat error on the
     * way. */
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "coordinator group cachefleet-%s 2", cf_consumer_names[i]);
        control(&sc, cmd);
    }
    control(&sc, "push-errors " API_HEARTBEAT " " ERR_NOT_COORDINATOR);
    sleep(2);
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "coordinator group cachefleet-%s 3", cf_consumer_names[i]);
        control(&sc, cmd);
    }
    sleep(1);
    /* A broker down for 3 s, then up again. */
    control(&sc, "broker-down 2");
    sleep(3);
    control(&sc, "broker-up 2");

    cf_scenario_sim_wait(&sc, 90000);
    cf_scenario_wait_caught_up(&sc, 90000);
    struct cf_oracle_report rep;
    cf_scenario_judge(&sc,
                      "6 fetch errors, 4 commit errors, 2 coordinator moves, 1 heartbeat error, "
                      "broker 2 down for 3 s",
                      0, &rep);
    for (int i = 0; i < CF_NCONSUMERS; i++)
        assert_true(cf_proc_alive(&sc.consumers[i].proc));
    cf_scenario_stop(&sc);
}

/* Messages collected from a topic. */
struct collected {
    size_t n, cap;
    int32_t *partition;
    char **key, **value;
    size_t *keylen, *len;
};

static void collect(const struct cf_test_msg *msg, void *opaque)
{
    struct collected *c = opaque;
    if (msg->partition > 1)
        return; /* the first two partitions are enough */
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->partition = realloc(c->partition, c->cap * sizeof(*c->partition));
        c->key = realloc(c->key, c->cap * sizeof(*c->key));
        c->value = realloc(c->value, c->cap * sizeof(*c->value));
        c->keylen = realloc(c->keylen, c->cap * sizeof(*c->keylen));
        c->len = realloc(c->len, c->cap * sizeof(*c->len));
        assert_true(c->partition && c->key && c->value && c->keylen && c->len);
    }
    c->partition[c->n] = msg->partition;
    c->key[c->n] = malloc(msg->keylen + 1);
    c->value[c->n] = malloc(msg->len + 1);
    assert_true(c->key[c->n] && c->value[c->n]);
    memcpy(c->key[c->n], msg->key, msg->keylen);
    memcpy(c->value[c->n], msg->value, msg->len);
    c->keylen[c->n] = msg->keylen;
    c->len[c->n] = msg->len;
    c->n++;
}

static void collected_free(struct collected *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->key[i]);
        free(c->value[i]);
    }
    free(c->partition);
    free(c->key);
    free(c->value);
    free(c->keylen);
    free(c->len);
}

/* The same entities' events duplicated and reordered on the wire (a
 * replay, a producer's retry): every message of the first two partitions
 * of every topic is produced again, newest first, into the same partition,
 * after the newer ones were applied.  The newest version must win. */
static void test_duplicates_and_reordering(void **state)
{
    (void)state;
    struct cf_scenario sc;
    cf_scenario_start(&sc, "fault-dup", 1, NULL, NULL);
    cf_scenario_sim_start(&sc, 1500, 0, 22);
    cf_scenario_sim_wait(&sc, 60000);
    cf_scenario_wait_caught_up(&sc, 60000);

    long again = 0;
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        char topic[64];
        snprintf(topic, sizeof(topic), "shop.%s", cf_consumer_names[i]);
        struct collected c;
        memset(&c, 0, sizeof(c));
        int read = cf_test_consume_all(sc.fleet.broker.bootstrap, topic, 1, 30000, collect, &c);
        assert_true(read > 0);
        for (size_t j = c.n; j-- > 0;) {
            cf_test_producer_produce(sc.fleet.tp, topic, c.partition[j], c.key[j], c.keylen[j],
                                     c.value[j], c.len[j]);
            again++;
        }
        collected_free(&c);
    }
    assert_true(again > 100);
    cf_scenario_wait_caught_up(&sc, 60000);

    char fault[128];
    snprintf(fault, sizeof(fault), "%ld events produced again, newest first", again);
    struct cf_oracle_report rep;
    cf_scenario_judge(&sc, fault, 0, &rep);
    /* The replays did arrive and lose to the newer state. */
    double refused = 0;
    for (int i = 0; i < CF_NCONSUMERS; i++)
        refused += cf_consumer_metric(&sc.consumers[i], "cachefleet_ops_refused_total{");
    assert_true(refused > 0);
    cf_scenario_stop(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_errors),
        cmocka_unit_test(test_duplicates_and_reordering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
