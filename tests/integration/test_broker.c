/* test_broker.c - the project's broker (tools/broker) and the test harness
 * (tests/support/harness.h), proven against each other and a real
 * redis-server.
 *
 * What it owns: the evidence that cachefleet-broker speaks Kafka to a real
 * librdkafka client over loopback TCP (keyed produce, read back in order),
 * that its control channel drives the mock's faults (errors, broker down
 * and up), that it stops cleanly on SIGTERM, and that the harness starts,
 * kills, restarts and reaps what it started.  What it does not: anything
 * about the consumers.
 *
 * DESIGN
 * One redis-server and one broker (3 brokers, 4 partitions) are started in
 * the group setup and shared by the cases, as every integration program
 * should (DESIGN.md: a new group member waits ~3 s in the mock; this file
 * needs no group, but shows the shape).  Cases that change shared state
 * use their own topics; the SIGTERM case starts a broker of its own.
 *
 * Threads: cmocka's, the main thread.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

#define BROKERS    3
#define PARTITIONS 4

struct fixture {
    char dir[PATH_MAX];
    struct cf_redis redis;
    struct cf_broker broker;
};

/* Creates dir/name and writes its path into out. */
static int make_subdir(const char *dir, const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return mkdir(out, 0755);
}

/* 1 when pid is no longer a child of ours (reaped: waitpid says ECHILD). */
static int reaped(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ------------------------------------------------------------------------
 * Group fixture
 * ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char sub[PATH_MAX];
    if (!fx)
        return -1;
    *state = fx;
    cf_test_tmpdir("broker", fx->dir, sizeof(fx->dir));
    if (make_subdir(fx->dir, "redis", sub, sizeof(sub)) != 0 ||
        cf_redis_start(&fx->redis, sub, NULL) != 0)
        return -1;
    if (make_subdir(fx->dir, "broker", sub, sizeof(sub)) != 0 ||
        cf_broker_start(&fx->broker, sub, BROKERS, PARTITIONS, "test.extra:2") != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *fx = *state;
    int rc = 0;
    if (!fx)
        return -1;
    pid_t broker_pid = fx->broker.proc.pid, redis_pid = fx->redis.proc.pid;

    int status = cf_broker_stop(&fx->broker);
    if (status != 0) {
        print_error("broker exit status %d, expected 0\n", status);
        cf_print_log_tail("broker", fx->broker.log_path, 2000);
        rc = -1;
    }
    if (file_exists(fx->broker.bootstrap_file)) {
        print_error("broker left its bootstrap file behind\n");
        rc = -1;
    }
    status = cf_redis_stop(&fx->redis);
    if (status != 0) {
        print_error("redis exit status %d, expected 0\n", status);
        rc = -1;
    }
    if (broker_pid > 0 && !reaped(broker_pid)) {
        print_error("broker pid %d not reaped\n", (int)broker_pid);
        rc = -1;
    }
    if (redis_pid > 0 && !reaped(redis_pid)) {
        print_error("redis pid %d not reaped\n", (int)redis_pid);
        rc = -1;
    }
    if (rc == 0)
        cf_test_rmtree(fx->dir);
    else
        print_error("kept %s for inspection\n", fx->dir);
    free(fx);
    return rc;
}

/* ------------------------------------------------------------------------
 * The harness's own processes
 * ------------------------------------------------------------------------ */

static void test_proc_exit_env_stop(void **state)
{
    (void)state;
    struct cf_proc p;
    int status = -1;

    char *exit3[] = {"/bin/sh", "-c", "exit 3", NULL};
    assert_int_equal(cf_proc_spawn(&p, exit3, NULL, NULL), 0);
    assert_int_equal(cf_proc_wait(&p, 5000, &status), 0);
    assert_int_equal(status, 3);
    assert_false(cf_proc_alive(&p));
    assert_int_equal(cf_proc_signal(&p, SIGTERM), -1); /* reaped: never signalled */

    char *env[] = {"CF_HARNESS_PROBE=yes", "HOME=/nonexistent-probe", NULL};
    char *envcheck[] = {"/bin/sh", "-c",
                        "test \"$CF_HARNESS_PROBE\" = yes && test \"$HOME\" = "
                        "/nonexistent-probe",
                        NULL};
    assert_int_equal(cf_proc_spawn(&p, envcheck, env, NULL), 0);
    assert_int_equal(cf_proc_wait(&p, 5000, &status), 0);
    assert_int_equal(status, 0);

    char *sleeper[] = {"/bin/sleep", "30", NULL};
    assert_int_equal(cf_proc_spawn(&p, sleeper, NULL, NULL), 0);
    assert_true(cf_proc_alive(&p));
    assert_int_equal(cf_proc_wait(&p, 50, &status), -1); /* bounded: times out */
    pid_t pid = p.pid;
    assert_int_equal(cf_proc_stop(&p, 5000), 128 + SIGTERM);
    assert_true(reaped(pid));

    print_message("an exec error is expected next\n");
    char *missing[] = {"/nonexistent/cachefleet-nothing", NULL};
    assert_int_equal(cf_proc_spawn(&p, missing, NULL, NULL), -1);
}

/* ------------------------------------------------------------------------
 * Keyed produce, read back
 * ------------------------------------------------------------------------ */

#define ROUND_KEYS 150

struct roundtrip {
    int seen[ROUND_KEYS][2];       /* per key, per version: times read */
    int32_t partition[ROUND_KEYS]; /* where the key's messages went; -1 none */
    int64_t v1_offset[ROUND_KEYS];
    unsigned partitions_used;
    int bad;
};

static void roundtrip_cb(const struct cf_test_msg *m, void *opaque)
{
    struct roundtrip *rt = opaque;
    char key[32], value[64], want[64];
    int id, version;
    if (!m->key || m->keylen >= sizeof(key) || !m->value || m->len >= sizeof(value)) {
        rt->bad++;
        return;
    }
    memcpy(key, m->key, m->keylen);
    key[m->keylen] = '\0';
    memcpy(value, m->value, m->len);
    value[m->len] = '\0';
    if (sscanf(key, "product:%d", &id) != 1 || id < 0 || id >= ROUND_KEYS ||
        sscanf(value, "{\"id\":%*d,\"version\":%d}", &version) != 1 || version < 1 || version > 2) {
        rt->bad++;
        return;
    }
    snprintf(want, sizeof(want), "{\"id\":%d,\"version\":%d}", id, version);
    if (strcmp(value, want) != 0 || strcmp(m->topic, "shop.products") != 0) {
        rt->bad++;
        return;
    }
    rt->seen[id][version - 1]++;
    if (rt->partition[id] < 0)
        rt->partition[id] = m->partition;
    else if (rt->partition[id] != m->partition)
        rt->bad++; /* one key, one partition */
    if (version == 1)
        rt->v1_offset[id] = m->offset;
    else if (rt->seen[id][0] == 0 || rt->v1_offset[id] >= m->offset)
        rt->bad++; /* version 2 before version 1 */
    if (m->partition >= 0 && m->partition < 32)
        rt->partitions_used |= 1u << m->partition;
}

static void test_produce_keyed_read_back(void **state)
{
    struct fixture *fx = *state;
    struct cf_test_producer *tp = cf_test_producer_new(fx->broker.bootstrap);
    for (int version = 1; version <= 2; version++) {
        for (int id = 0; id < ROUND_KEYS; id++) {
            char key[32], value[64];
            int kl = snprintf(key, sizeof(key), "product:%d", id);
            int vl = snprintf(value, sizeof(value), "{\"id\":%d,\"version\":%d}", id, version);
            cf_test_producer_produce(tp, "shop.products", RD_KAFKA_PARTITION_UA, key, (size_t)kl,
                                     value, (size_t)vl);
        }
    }
    cf_test_producer_flush(tp, 20000);
    assert_int_equal(cf_test_producer_delivered(tp), 2 * ROUND_KEYS);
    cf_test_producer_destroy(tp);

    struct roundtrip *rt = calloc(1, sizeof(*rt));
    assert_non_null(rt);
    for (int i = 0; i < ROUND_KEYS; i++)
        rt->partition[i] = -1;
    int n = cf_test_consume_all(fx->broker.bootstrap, "shop.products", 2 * ROUND_KEYS, 20000,
                                roundtrip_cb, rt);
    assert_int_equal(n, 2 * ROUND_KEYS);
    assert_int_equal(rt->bad, 0);
    for (int i = 0; i < ROUND_KEYS; i++) {
        assert_int_equal(rt->seen[i][0], 1);
        assert_int_equal(rt->seen[i][1], 1);
    }
    /* 150 keys over 4 partitions: the keyed partitioner spread them. */
    int used = 0;
    for (unsigned bits = rt->partitions_used; bits; bits &= bits - 1)
        used++;
    assert_true(used > 1);
    free(rt);
}

/* ------------------------------------------------------------------------
 * Control channel
 * ------------------------------------------------------------------------ */

static void expect_ok(struct cf_broker *b, const char *command)
{
    char reply[256];
    if (cf_broker_control(b, command, reply, sizeof(reply)) != 0)
        fail_msg("'%s' answered '%s'", command, reply);
}

static void expect_error(struct cf_broker *b, const char *command, const char *reply_prefix)
{
    char reply[256];
    assert_int_equal(cf_broker_control(b, command, reply, sizeof(reply)), -1);
    if (strncmp(reply, reply_prefix, strlen(reply_prefix)) != 0)
        fail_msg("'%s' answered '%s', expected '%s...'", command, reply, reply_prefix);
}

struct count_partitions {
    int per_partition[8];
};

static void count_cb(const struct cf_test_msg *m, void *opaque)
{
    struct count_partitions *cp = opaque;
    if (m->partition >= 0 && m->partition < 8)
        cp->per_partition[m->partition]++;
}

static void test_control_commands(void **state)
{
    struct fixture *fx = *state;
    struct cf_broker *b = &fx->broker;

    expect_ok(b, "ping");
    expect_ok(b, "topic-create test.ctl 3");
    expect_error(b, "topic-create test.ctl 3", "error TOPIC_ALREADY_EXISTS");
    expect_error(b, "topic-create bad/name 3", "error invalid topic name");
    expect_ok(b, "push-errors 1 7 7");
    expect_ok(b, "clear-errors 1");
    expect_ok(b, "coordinator group cf-test-group 2");
    expect_ok(b, "partition-leader test.ctl 0 2");
    expect_ok(b, "rtt 1 0");
    expect_error(b, "frobnicate", "error unknown command");
    expect_error(b, "push-errors 1 abc", "error unknown error code");
    expect_error(b, "push-errors 1", "error usage");
    expect_error(b, "broker-down 99", "error bad broker id");
    expect_error(b, "rtt 1", "error usage");
    expect_ok(b, "ping"); /* still in lock step after the errors */

    /* The created topic really has 3 partitions: write one to each. */
    struct cf_test_producer *tp = cf_test_producer_new(b->bootstrap);
    for (int32_t p = 0; p < 3; p++)
        cf_test_producer_produce(tp, "test.ctl", p, "k", 1, "v", 1);
    cf_test_producer_flush(tp, 10000);

    /* A pushed error reaches a client: Produce (api key 0) fails once with
     * MSG_SIZE_TOO_LARGE (10), which is not retriable, then works again. */
    expect_ok(b, "push-errors 0 10");
    cf_test_producer_produce(tp, "test.ctl", 0, "k", 1, "rejected", 8);
    cf_test_producer_poll(tp, 10000);
    assert_int_equal(cf_test_producer_failed(tp), 1);
    assert_int_equal(cf_test_producer_delivered(tp), 3);
    cf_test_producer_destroy(tp);

    struct count_partitions cp;
    memset(&cp, 0, sizeof(cp));
    assert_int_equal(cf_test_consume_all(b->bootstrap, "test.ctl", 3, 10000, count_cb, &cp), 3);
    for (int p = 0; p < 3; p++)
        assert_int_equal(cp.per_partition[p], 1);

    /* The --topic given at start exists with its own partition count. */
    cf_test_produce(b->bootstrap, "test.extra", 1, "k", 1, "v", 1);
    memset(&cp, 0, sizeof(cp));
    assert_int_equal(cf_test_consume_all(b->bootstrap, "test.extra", 1, 10000, count_cb, &cp), 1);
    assert_int_equal(cp.per_partition[1], 1);
}

/* ------------------------------------------------------------------------
 * Broker down, then up
 * ------------------------------------------------------------------------ */

#define DOWN_MSGS 40

struct down_check {
    int seen[DOWN_MSGS];
    int bad;
};

static void down_cb(const struct cf_test_msg *m, void *opaque)
{
    struct down_check *dc = opaque;
    char value[32];
    int i;
    if (!m->value || m->len >= sizeof(value)) {
        dc->bad++;
        return;
    }
    memcpy(value, m->value, m->len);
    value[m->len] = '\0';
    if (sscanf(value, "cart-%d", &i) != 1 || i < 0 || i >= DOWN_MSGS) {
        dc->bad++;
        return;
    }
    dc->seen[i]++;
}

static void test_broker_down_then_up(void **state)
{
    struct fixture *fx = *state;
    struct cf_broker *b = &fx->broker;
    char cmd[128];

    /* Every partition of shop.carts led by broker 2, then broker 2 down:
     * nothing written to shop.carts can be acknowledged until it is up. */
    for (int p = 0; p < PARTITIONS; p++) {
        snprintf(cmd, sizeof(cmd), "partition-leader shop.carts %d 2", p);
        expect_ok(b, cmd);
    }
    expect_ok(b, "broker-down 2");

    struct cf_test_producer *tp = cf_test_producer_new(b->bootstrap);
    for (int i = 0; i < DOWN_MSGS; i++) {
        char key[32], value[32];
        int kl = snprintf(key, sizeof(key), "cart:%d", i);
        int vl = snprintf(value, sizeof(value), "cart-%d", i);
        cf_test_producer_produce(tp, "shop.carts", RD_KAFKA_PARTITION_UA, key, (size_t)kl, value,
                                 (size_t)vl);
    }
    cf_test_producer_poll(tp, 1500);
    assert_int_equal(cf_test_producer_delivered(tp), 0);
    assert_int_equal(cf_test_producer_failed(tp), 0);

    expect_ok(b, "broker-up 2");
    int64_t t0 = cf_now_ms();
    cf_test_producer_flush(tp, 30000);
    print_message("delivered %d messages %lld ms after broker-up\n", DOWN_MSGS,
                  (long long)(cf_now_ms() - t0));
    cf_test_producer_destroy(tp);

    struct down_check *dc = calloc(1, sizeof(*dc));
    assert_non_null(dc);
    assert_int_equal(cf_test_consume_all(b->bootstrap, "shop.carts", DOWN_MSGS, 20000, down_cb, dc),
                     DOWN_MSGS);
    assert_int_equal(dc->bad, 0);
    for (int i = 0; i < DOWN_MSGS; i++)
        assert_int_equal(dc->seen[i], 1);
    free(dc);
}

/* ------------------------------------------------------------------------
 * Redis kill and restart
 * ------------------------------------------------------------------------ */

static void test_redis_kill_restart(void **state)
{
    struct fixture *fx = *state;
    struct cf_redis *r = &fx->redis;

    redisContext *c = cf_redis_connect(r);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "SET %s %s", "cf:test:probe", "1");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    redisFree(c);

    int port = r->port;
    pid_t old_pid = r->proc.pid;
    assert_int_equal(cf_redis_kill(r), 0);
    assert_false(cf_proc_alive(&r->proc));
    assert_true(reaped(old_pid));
    assert_int_equal(cf_proc_exit_status(&r->proc), 128 + SIGKILL);
    assert_false(cf_redis_ping(r));

    assert_int_equal(cf_redis_restart(r), 0);
    assert_int_equal(r->port, port);
    assert_true(r->proc.pid != old_pid);
    assert_true(cf_redis_ping(r));

    c = cf_redis_connect(r);
    assert_non_null(c);
    reply = redisCommand(c, "GET %s", "cf:test:probe");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_NIL); /* save "": a fresh, empty server */
    freeReplyObject(reply);
    redisFree(c);
}

/* ------------------------------------------------------------------------
 * SIGTERM: exit 0, bootstrap file removed
 * ------------------------------------------------------------------------ */

static void test_broker_sigterm(void **state)
{
    struct fixture *fx = *state;
    struct cf_broker b2;
    char dir[PATH_MAX], reply[64];

    assert_int_equal(make_subdir(fx->dir, "broker-sigterm", dir, sizeof(dir)), 0);
    assert_int_equal(cf_broker_start(&b2, dir, 1, 1, NULL), 0);
    assert_true(file_exists(b2.bootstrap_file));
    assert_int_equal(strncmp(b2.bootstrap, "127.0.0.1:", 10), 0);
    assert_int_equal(cf_broker_control(&b2, "ping", reply, sizeof(reply)), 0);

    pid_t pid = b2.proc.pid;
    int status = -1;
    assert_int_equal(cf_proc_signal(&b2.proc, SIGTERM), 0);
    assert_int_equal(cf_proc_wait(&b2.proc, 10000, &status), 0);
    assert_int_equal(status, 0);
    assert_true(reaped(pid));
    assert_false(file_exists(b2.bootstrap_file));

    /* Its log says so, in JSON lines. */
    FILE *f = fopen(b2.log_path, "r");
    assert_non_null(f);
    char line[4096];
    int started = 0, stopped = 0;
    while (fgets(line, sizeof(line), f)) {
        started |= strstr(line, "\"msg\":\"started\"") != NULL;
        stopped |= strstr(line, "\"msg\":\"stopped\"") != NULL;
    }
    fclose(f);
    assert_true(started);
    assert_true(stopped);

    assert_int_equal(cf_broker_stop(&b2), 0); /* already reaped: its status */
    assert_int_equal(b2.chat_fd, -1);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_exit_env_stop),
        cmocka_unit_test(test_produce_keyed_read_back),
        cmocka_unit_test(test_control_commands),
        cmocka_unit_test(test_broker_down_then_up),
        cmocka_unit_test(test_redis_kill_restart),
        cmocka_unit_test(test_broker_sigterm),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("integration/test_broker", tests, group_setup,
                                       group_teardown);
}
