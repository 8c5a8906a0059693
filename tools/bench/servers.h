/* servers.h - the servers one benchmark run starts for itself: a
 * redis-server and the project's loopback Kafka broker.
 *
 * What it owns: starting each on loopback in the run's directory, knowing
 * when it is ready, the few commands the benchmark sends them (FLUSHALL,
 * INFO commandstats, the broker's topic-create), and stopping them by
 * PID.  What it does not own: the processes themselves (proc.h) or any
 * figure.
 *
 * DESIGN
 * redis-server gets a config file (port, bind 127.0.0.1, save "", appendonly
 * no, daemonize no, its dir and log file in the run's directory); ready
 * means PING answers PONG.  A port that someone took between choosing it
 * and binding it is retried with another.
 *
 * The broker (tools/broker, cachefleet-broker) is started with --control:
 * its stdin and stdout are one end of a socketpair, so the benchmark can
 * create each phase's topic when it knows how big it must be (the mock
 * keeps at most ~5 MiB per partition; DESIGN.md, "Known limits of the
 * loopback broker").  Ready means the bootstrap file exists and the first
 * stdout line says the same list.
 *
 * Thread: the main thread.
 */
#ifndef BENCH_SERVERS_H
#define BENCH_SERVERS_H

#include <hiredis/hiredis.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "proc.h"

struct bench_redis {
    struct bench_proc proc;
    int port;
    char conf_path[PATH_MAX];
    char log_path[PATH_MAX];
    char version[32]; /* redis_version from INFO server */
};

/* Starts program (a redis-server) on a free port of 127.0.0.1 with its
 * files in dir (which must exist) and waits for PING (10 s).  Returns 0,
 * or -1 with the reason in errstr (the log's tail is printed). */
int bench_redis_start(struct bench_redis *r, const char *program, const char *dir, char *errstr,
                      size_t errstr_size);

/* SIGTERM (SIGKILL after 10 s) and reaps.  Returns the exit status. */
int bench_redis_stop(struct bench_redis *r);

/* A new connection with a command timeout of timeout_ms.  Returns a context
 * to redisFree(), or NULL with errstr. */
redisContext *bench_redis_connect(const struct bench_redis *r, int timeout_ms, char *errstr,
                                  size_t errstr_size);

/* Runs a command given as NULL-terminated arguments and expects a reply
 * that is not an error.  Returns 0, or -1 with errstr naming the command. */
int bench_redis_simple(redisContext *c, char *errstr, size_t errstr_size, const char *arg0, ...);

/* Per-command call counts from INFO commandstats. */
#define BENCH_CMDSTATS_MAX 256
struct bench_cmdstats {
    size_t n;
    uint64_t total; /* sum of calls over every command */
    double cpu_s;   /* Redis's CPU seconds (INFO cpu: used_cpu_sys + used_cpu_user) */
    struct {
        char name[64];
        uint64_t calls;
    } cmd[BENCH_CMDSTATS_MAX];
};

/* Reads INFO commandstats.  Returns 0, or -1 with errstr. */
int bench_redis_cmdstats(redisContext *c, struct bench_cmdstats *out, char *errstr,
                         size_t errstr_size);

/* after - before, command by command (commands absent before count from
 * 0), into delta. */
void bench_cmdstats_delta(const struct bench_cmdstats *before, const struct bench_cmdstats *after,
                          struct bench_cmdstats *delta);

struct bench_broker {
    struct bench_proc proc;
    int chat_fd;                   /* the control channel; -1 when closed */
    char bootstrap[1024];          /* "127.0.0.1:port[,...]" */
    char bootstrap_file[PATH_MAX]; /* <dir>/bootstrap */
    char log_path[PATH_MAX];       /* <dir>/broker.log */
    char rbuf[1024];               /* control replies read but not consumed */
    size_t rlen;
};

/* Starts program (cachefleet-broker) with --control, --log-level warn,
 * --bootstrap-file <dir>/bootstrap and one --topic per entry of topics
 * ("NAME:PARTITIONS", ntopics of them).  Waits for readiness (10 s).
 * Returns 0, or -1 with errstr (the log's tail is printed). */
int bench_broker_start(struct bench_broker *b, const char *program, const char *dir,
                       const char *const *topics, size_t ntopics, char *errstr, size_t errstr_size);

/* Creates a topic through the control channel.  Returns 0, or -1 with the
 * broker's reply in errstr. */
int bench_broker_topic_create(struct bench_broker *b, const char *name, int partitions,
                              char *errstr, size_t errstr_size);

/* SIGTERM (SIGKILL after 10 s), reaps, closes the control channel.
 * Returns the exit status. */
int bench_broker_stop(struct bench_broker *b);

#endif
