/* fleet.h - one consumer program under test, with the servers it needs.
 *
 * What it owns: the steps every integration test of a consumer repeats:
 * start a redis-server and the project's broker on free loopback ports,
 * start the consumer program (cachefleet-<name> of this build) configured
 * through CACHEFLEET_* variables, wait until its /readyz answers 200,
 * produce events, wait until it has applied or dead-lettered every event
 * produced, read its metrics, and stop it with SIGTERM expecting exit 0.
 *
 * Built on harness.h (processes, redis, broker) and httpget.h (metrics).
 */
#ifndef CF_FLEET_H
#define CF_FLEET_H

#include <limits.h>

#include "harness.h"

struct cf_fleet {
    char dir[PATH_MAX];
    struct cf_redis redis;
    struct cf_broker broker;
    redisContext *rc;               /* a connection for the test's reads */
    struct cf_test_producer *tp;    /* producer for the test's events */
    long produced;                  /* events produced through cf_fleet_produce() */
};

struct cf_consumer_proc {
    char name[32];                  /* "products" */
    char log[PATH_MAX + 64];        /* its stdout and stderr */
    int http_port;
    struct cf_proc proc;
};

/* Starts redis and the broker (brokers, partitions as cf_broker_start) in
 * a fresh temporary folder tagged tag.  Fails the test on error. */
void cf_fleet_start(struct cf_fleet *f, const char *tag, int brokers, int partitions);

/* Stops the servers (both must exit 0) and removes the folder. */
void cf_fleet_stop(struct cf_fleet *f);

/* Starts cachefleet-<name> against the fleet's servers, with extra
 * "NAME=value" settings (NULL-terminated, may be NULL), and waits until it
 * is ready (20 s at most).  Fails the test, printing its log, otherwise. */
void cf_consumer_start(struct cf_consumer_proc *c, struct cf_fleet *f, const char *name,
                       char *const extra_env[]);

/* The two halves of cf_consumer_start(), so that several consumers join
 * their groups at the same time. */
void cf_consumer_spawn(struct cf_consumer_proc *c, struct cf_fleet *f, const char *name,
                       char *const extra_env[]);
void cf_consumer_wait_ready(struct cf_consumer_proc *c);
/* cf_consumer_spawn() with one command-line flag (NULL: none). */
void cf_consumer_spawn_flag(struct cf_consumer_proc *c, struct cf_fleet *f, const char *name,
                            char *const extra_env[], const char *flag);

/* SIGTERM, then expects exit 0 within 15 s (prints the log otherwise). */
void cf_consumer_stop(struct cf_consumer_proc *c);

/* Produces one message to topic, keyed, and counts it. */
void cf_fleet_produce(struct cf_fleet *f, const char *topic, const char *key, const void *value,
                      size_t len);

/* Flushes the producer and waits (20 s at most) until the consumers
 * together have applied or dead-lettered as many events as were produced. */
void cf_fleet_wait_handled(struct cf_fleet *f, struct cf_consumer_proc *const *consumers,
                           size_t n);

/* The sum of every sample of the metrics whose line starts with prefix
 * (e.g. "cachefleet_events_applied_total{"), or -1 when the endpoint does
 * not answer. */
double cf_consumer_metric(const struct cf_consumer_proc *c, const char *prefix);

/* GET key on the fleet's redis: a new string, or NULL when absent. */
char *cf_fleet_get(struct cf_fleet *f, const char *key);

/* Asserts key holds want (NULL: absent). */
void cf_fleet_expect(struct cf_fleet *f, const char *key, const char *want);

/* TTL of key in seconds (-2 absent, -1 no expiry). */
long long cf_fleet_ttl(struct cf_fleet *f, const char *key);

#endif
