/* fleet.c - one consumer program under test, with the servers it needs. */
#include "fleet.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "httpget.h"

#define WAIT_MS 20000

void cf_fleet_start(struct cf_fleet *f, const char *tag, int brokers, int partitions)
{
    memset(f, 0, sizeof(*f));
    cf_test_tmpdir(tag, f->dir, sizeof(f->dir));
    if (cf_redis_start(&f->redis, f->dir, NULL) < 0)
        fail_msg("redis did not start");
    if (cf_broker_start(&f->broker, f->dir, brokers, partitions, NULL) < 0)
        fail_msg("the broker did not start");
    f->rc = cf_redis_connect(&f->redis);
    if (!f->rc)
        fail_msg("cannot connect to redis");
    f->tp = cf_test_producer_new(f->broker.bootstrap);
}

void cf_fleet_stop(struct cf_fleet *f)
{
    cf_test_producer_destroy(f->tp);
    redisFree(f->rc);
    assert_int_equal(cf_broker_stop(&f->broker), 0);
    assert_int_equal(cf_redis_stop(&f->redis), 0);
    cf_test_rmtree(f->dir);
}

void cf_consumer_spawn(struct cf_consumer_proc *c, struct cf_fleet *f, const char *name,
                       char *const extra_env[])
{
    cf_consumer_spawn_flag(c, f, name, extra_env, NULL);
}

void cf_consumer_spawn_flag(struct cf_consumer_proc *c, struct cf_fleet *f, const char *name,
                            char *const extra_env[], const char *flag)
{
    char path[PATH_MAX], brokers[PATH_MAX + 64], redis[64], http[64], schemas[PATH_MAX + 64];
    char *env[64];
    size_t n = 0;
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->log, sizeof(c->log), "%s/%s-%d.log", f->dir, name, cf_free_port());
    c->http_port = cf_free_port();
    snprintf(brokers, sizeof(brokers), "CACHEFLEET_KAFKA_BROKERS_FILE=%s", f->broker.bootstrap_file);
    snprintf(redis, sizeof(redis), "CACHEFLEET_REDIS_PORT=%d", f->redis.port);
    snprintf(http, sizeof(http), "CACHEFLEET_HTTP_PORT=%d", c->http_port);
    snprintf(schemas, sizeof(schemas), "CACHEFLEET_SCHEMAS_DIR=%s", cf_test_schemas_dir());
    /* The extra settings first: the first of two entries of one name wins. */
    for (size_t i = 0; extra_env && extra_env[i] && n < 56; i++)
        env[n++] = extra_env[i];
    env[n++] = brokers;
    env[n++] = redis;
    env[n++] = http;
    env[n++] = schemas;
    env[n++] = "CACHEFLEET_HTTP_BIND=127.0.0.1";
    env[n++] = "CACHEFLEET_KAFKA_COMMIT_INTERVAL_MS=100";
    env[n++] = "CACHEFLEET_LOG_LEVEL=debug";
    env[n] = NULL;
    char prog[64];
    snprintf(prog, sizeof(prog), "cachefleet-%s", name);
    char flagbuf[64] = "";
    if (flag)
        snprintf(flagbuf, sizeof(flagbuf), "%s", flag);
    char *const argv[] = {cf_test_program(prog, path, sizeof(path)), flag ? flagbuf : NULL, NULL};
    if (cf_proc_spawn(&c->proc, argv, env, c->log) < 0)
        fail_msg("cannot start %s", path);
}

void cf_consumer_wait_ready(struct cf_consumer_proc *c)
{
    int64_t deadline = cf_mono_ms() + WAIT_MS;
    char body[256] = "";
    while (cf_http_get(c->http_port, "/readyz", body, sizeof(body), 1000) != 200) {
        if (cf_mono_ms() > deadline || !cf_proc_alive(&c->proc)) {
            cf_print_log_tail(c->name, c->log, 4000);
            fail_msg("%s did not become ready: %s", c->name, body);
        }
        usleep(50000);
    }
}

void cf_consumer_start(struct cf_consumer_proc *c, struct cf_fleet *f, const char *name,
                       char *const extra_env[])
{
    cf_consumer_spawn(c, f, name, extra_env);
    cf_consumer_wait_ready(c);
}

void cf_consumer_stop(struct cf_consumer_proc *c)
{
    int status = -1;
    if (cf_proc_signal(&c->proc, SIGTERM) < 0)
        fail_msg("cannot signal %s", c->name);
    int waited = cf_proc_wait(&c->proc, 15000, &status);
    if (waited < 0 || status != 0) {
        cf_print_log_tail(c->name, c->log, 4000);
        cf_proc_stop(&c->proc, 1000);
        fail_msg("%s: %s (status %d)", c->name, waited < 0 ? "did not stop" : "exit status",
                 status);
    }
}

void cf_fleet_produce(struct cf_fleet *f, const char *topic, const char *key, const void *value,
                      size_t len)
{
    cf_test_producer_produce(f->tp, topic, RD_KAFKA_PARTITION_UA, key, key ? strlen(key) : 0, value,
                             len);
    f->produced++;
}

double cf_consumer_metric(const struct cf_consumer_proc *c, const char *prefix)
{
    static char body[1 << 17];
    if (cf_http_get(c->http_port, "/metrics", body, sizeof(body), 2000) != 200)
        return -1;
    double total = 0;
    size_t n = strlen(prefix);
    for (const char *line = body; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, prefix, n) == 0) {
            const char *sp = NULL; /* the last space of the line: the value follows */
            for (const char *p = line; *p && p != nl; p++)
                if (*p == ' ')
                    sp = p;
            if (sp)
                total += strtod(sp + 1, NULL);
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return total;
}

void cf_fleet_wait_handled(struct cf_fleet *f, struct cf_consumer_proc *const *consumers, size_t n)
{
    cf_test_producer_flush(f->tp, 10000);
    int64_t deadline = cf_mono_ms() + WAIT_MS;
    double done = 0;
    while (cf_mono_ms() < deadline) {
        done = 0;
        for (size_t i = 0; i < n; i++)
            done += cf_consumer_metric(consumers[i], "cachefleet_events_applied_total{") +
                    cf_consumer_metric(consumers[i], "cachefleet_events_deadlettered_total{");
        if (done >= (double)f->produced)
            return;
        usleep(20000);
    }
    for (size_t i = 0; i < n; i++)
        cf_print_log_tail(consumers[i]->name, consumers[i]->log, 4000);
    fail_msg("the consumers handled %.0f of %ld events within %d ms", done, f->produced, WAIT_MS);
}

char *cf_fleet_get(struct cf_fleet *f, const char *key)
{
    redisReply *r = redisCommand(f->rc, "GET %s", key);
    if (!r)
        fail_msg("GET %s: %s", key, f->rc->errstr);
    char *v = r->type == REDIS_REPLY_STRING ? strndup(r->str, r->len) : NULL;
    freeReplyObject(r);
    return v;
}

void cf_fleet_expect(struct cf_fleet *f, const char *key, const char *want)
{
    char *v = cf_fleet_get(f, key);
    if (!want && v)
        fail_msg("%s holds \"%s\", expected absent", key, v);
    if (want && !v)
        fail_msg("%s is absent, expected \"%s\"", key, want);
    if (want && strcmp(v, want) != 0)
        fail_msg("%s holds \"%s\", expected \"%s\"", key, v, want);
    free(v);
}

long long cf_fleet_ttl(struct cf_fleet *f, const char *key)
{
    redisReply *r = redisCommand(f->rc, "TTL %s", key);
    if (!r || r->type != REDIS_REPLY_INTEGER)
        fail_msg("TTL %s failed", key);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}
