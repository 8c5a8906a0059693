/* test_faults_redis.c - Redis failing under a running fleet.
 *
 * Each case starts the five consumers, plays the simulator's shop into
 * every topic at a steady rate, fails Redis in the middle, and ends with
 * the oracle's figures: 0 missing, 0 stale.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"

#define EVENTS 4000
#define RATE 800

/* Redis is killed with SIGKILL and started again 3 s later with its data
 * (append-only file, fsync always: a crash, not a wipe). */
static void test_redis_killed_and_restarted(void **state)
{
    (void)state;
    struct cf_scenario sc;
    cf_scenario_start(&sc, "fault-redis-kill", 1, "appendonly yes\nappendfsync always\n", NULL);
    cf_scenario_sim_start(&sc, EVENTS, RATE, 11);
    sleep(3);
    assert_int_equal(cf_redis_kill(&sc.fleet.redis), 0);
    sleep(3);
    assert_int_equal(cf_redis_restart(&sc.fleet.redis), 0);
    redisFree(sc.fleet.rc);
    sc.fleet.rc = cf_redis_connect(&sc.fleet.redis);
    assert_non_null(sc.fleet.rc);
    cf_scenario_sim_wait(&sc, 60000);
    cf_scenario_wait_caught_up(&sc, 60000);

    struct cf_oracle_report rep;
    cf_scenario_judge(&sc, "redis SIGKILL for 3 s mid-stream", 0, &rep);

    /* Each consumer logged the outage once, not once per retry, and is
     * back; the busy ones retried. */
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        int down = cf_scenario_log_count(&sc, i, "dependency down") +
                   cf_scenario_log_count(&sc, i, "redis unreachable while idle");
        int up = cf_scenario_log_count(&sc, i, "dependency back") +
                 cf_scenario_log_count(&sc, i, "\"redis reachable\"");
        if (down < 1 || down > 2 || up != down)
            fail_msg("%s logged %d outages and %d recoveries", cf_consumer_names[i], down, up);
        assert_true(cf_consumer_metric(&sc.consumers[i], "cachefleet_redis_up{") == 1);
    }
    /* Several failed attempts, one line about them at info level. */
    assert_true(cf_consumer_metric(&sc.consumers[CF_STOCK], "cachefleet_redis_retries_total{") >= 2);
    assert_true(cf_scenario_log_count(&sc, CF_STOCK, "\"retry failed\"") >= 1);
    cf_scenario_stop(&sc);
}

/* Redis restarted without its data: each consumer reloads the function
 * library without being restarted, finds its partitions' epochs gone and
 * re-reads them, so even the state only history rebuilds (the menu, the
 * role and session indexes) is right again. */
static void test_redis_restarted_empty(void **state)
{
    (void)state;
    struct cf_scenario sc;
    cf_scenario_start(&sc, "fault-redis-empty", 1, NULL, NULL);
    pid_t pids[CF_NCONSUMERS];
    for (int i = 0; i < CF_NCONSUMERS; i++)
        pids[i] = sc.consumers[i].proc.pid;
    cf_scenario_sim_start(&sc, EVENTS, RATE, 12);
    sleep(3);
    assert_int_equal(cf_redis_kill(&sc.fleet.redis), 0);
    sleep(2);
    assert_int_equal(cf_redis_restart(&sc.fleet.redis), 0); /* no persistence: empty */
    redisFree(sc.fleet.rc);
    sc.fleet.rc = cf_redis_connect(&sc.fleet.redis);
    assert_non_null(sc.fleet.rc);
    cf_scenario_sim_wait(&sc, 60000);
    cf_scenario_wait_caught_up(&sc, 60000);

    struct cf_oracle_report rep;
    cf_scenario_judge(&sc, "redis restarted empty mid-stream", 0, &rep);
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        /* The same processes: the library was loaded again by reconnecting. */
        assert_int_equal(sc.consumers[i].proc.pid, pids[i]);
        assert_true(cf_proc_alive(&sc.consumers[i].proc));
        if (cf_scenario_log_count(&sc, i, "re-warming it from its first offset") < 1)
            fail_msg("%s did not re-warm after redis lost its data", cf_consumer_names[i]);
        assert_true(cf_consumer_metric(&sc.consumers[i], "cachefleet_rewarms_total{") >= 1);
    }
    redisReply *r = redisCommand(sc.fleet.rc, "FUNCTION LIST LIBRARYNAME cachefleet");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
    cf_scenario_stop(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_killed_and_restarted),
        cmocka_unit_test(test_redis_restarted_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
