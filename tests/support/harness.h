/* harness.h - the integration tests' harness: child processes, a real
 * redis-server, the project's broker, and small Kafka helpers.
 *
 * What it owns: starting and stopping the servers an integration test
 * needs, on free loopback ports in a directory the test provides, and the
 * producer and reader a test uses to talk to the broker.  What it does not:
 * temporary directories (testutil.h), the consumers under test (a test
 * starts them with cf_proc_spawn), or any assertion about the fleet.
 *
 * DESIGN
 * - Only processes the harness itself started are ever signalled: a
 *   struct cf_proc remembers its child's pid until it is reaped, and a
 *   reaped or never-started cf_proc is never signalled.  Every child gets
 *   PR_SET_PDEATHSIG(SIGKILL), so nothing outlives a crashed test program
 *   (note: the signal follows the *thread* that spawned it; spawn from the
 *   test's main thread).
 * - Everything is bounded in time: waits poll a condition with short
 *   sleeps until it holds or a timeout passes; nothing blocks forever.
 * - Loopback only: redis binds 127.0.0.1, the broker is librdkafka's mock
 *   cluster on 127.0.0.1 (tools/broker).
 * - Start a broker and the consumers once per test program (a group setup),
 *   not per case: a new Kafka group member waits about 3 s for its first
 *   assignment in the mock (DESIGN.md, "Known limits of the loopback
 *   broker").
 *
 * Errors: the start/stop functions return 0 or -1 and say why with
 * cmocka's print_error (for redis and the broker, with the tail of the
 * server's log), so they can be called from a group setup and from a test
 * (assert_int_equal(cf_redis_start(...), 0)).  The Kafka helpers fail the
 * running test (fail_msg) on anything but success, except where a contract
 * says otherwise.
 *
 * Threads: call everything from the test's main thread.  A cf_test_msg_cb
 * runs on that thread too, inside cf_test_consume_all().
 */
#ifndef CF_HARNESS_H
#define CF_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "testutil.h"

/* ------------------------------------------------------------------------
 * Child processes
 * ------------------------------------------------------------------------ */

struct cf_proc {
    pid_t pid;     /* > 0 once started; kept after reaping, for messages */
    int started;   /* 1 after a successful spawn */
    int reaped;    /* 1 once waitpid() collected it: never signalled again */
    int wstatus;   /* raw waitpid() status, valid when reaped */
    char name[64]; /* basename of argv[0], for messages */
};

/* Starts argv[0] (a path: no PATH search) with argv, in a new process.
 * envp_extra: "K=V" strings added to the inherited environment (replacing
 * a variable of the same name), NULL-terminated, may be NULL.
 * log_path: stdout and stderr are appended there (created 0644), NULL to
 * inherit the test's.  stdin is /dev/null.  The child gets
 * PR_SET_PDEATHSIG(SIGKILL), an empty signal mask and default dispositions,
 * and none of the test's file descriptors beyond 0-2.
 * Returns 0, or -1 (print_error says why; an exec failure is reported here,
 * not later).  p is reset first. */
int cf_proc_spawn(struct cf_proc *p, char *const argv[], char *const envp_extra[],
                  const char *log_path);

/* Like cf_proc_spawn(), but the child's stdin and stdout are both one end
 * of a Unix stream socketpair; the other end is returned in *chat_fd (owned
 * by the caller, close it; write with send(MSG_NOSIGNAL) so a dead child
 * cannot raise SIGPIPE in the test).  stderr goes to log_path (or is
 * inherited). */
int cf_proc_spawn_chat(struct cf_proc *p, char *const argv[], char *const envp_extra[],
                       const char *log_path, int *chat_fd);

/* Sends sig to the child.  Returns 0, or -1 when p was never started or is
 * already reaped (nothing is sent then). */
int cf_proc_signal(struct cf_proc *p, int sig);

/* Waits up to timeout_ms for the child to exit and reaps it.  On success
 * *exit_status (may be NULL) is its exit code, or 128 + the signal number
 * when a signal ended it (the shell's convention).  Returns 0, or -1 on
 * timeout (the child keeps running) or when p was never started.  An
 * already reaped child returns its recorded status at once. */
int cf_proc_wait(struct cf_proc *p, int timeout_ms, int *exit_status);

/* Stops the child: SIGTERM, waits up to timeout_ms, then SIGKILL and a
 * bounded wait; always reaps.  Returns the exit status as cf_proc_wait()
 * reports it (0: a clean exit on SIGTERM; 137: it needed SIGKILL), 0 for a
 * never started p, or -1 if the child could not be reaped. */
int cf_proc_stop(struct cf_proc *p, int timeout_ms);

/* 1 while the child runs; 0 once it has exited (it is reaped then) or when
 * it was never started. */
int cf_proc_alive(struct cf_proc *p);

/* Shell-style status of a reaped child (see cf_proc_wait), -1 otherwise. */
int cf_proc_exit_status(const struct cf_proc *p);

/* Prints (print_error) the last `bytes` bytes of a log file, for failure
 * messages. */
void cf_print_log_tail(const char *label, const char *path, size_t bytes);

/* ------------------------------------------------------------------------
 * redis-server
 * ------------------------------------------------------------------------ */

struct cf_redis {
    struct cf_proc proc;
    char host[16]; /* "127.0.0.1" */
    int port;
    char dir[PATH_MAX];
    char conf_path[PATH_MAX]; /* <dir>/redis.conf */
    char log_path[PATH_MAX];  /* <dir>/redis.log: redis's log, its stdout and stderr */
};

/* Starts /usr/bin/redis-server (or $CF_REDIS_SERVER) on a free port of
 * 127.0.0.1, with a config written to <dir>/redis.conf: that port, bind
 * 127.0.0.1, protected-mode yes, save "", appendonly no, daemonize no, dir
 * and logfile inside dir, then extra_conf (lines appended verbatim, may be
 * NULL).  dir must exist; it is the caller's.  Waits until PING answers
 * PONG (10 s).  A port taken meanwhile by someone else is retried with a
 * new one.  Returns 0, or -1 with the reason and the log's tail printed. */
int cf_redis_start(struct cf_redis *r, const char *dir, const char *extra_conf);

/* SIGKILL, and reaps.  Returns 0, or -1 if it was not running. */
int cf_redis_kill(struct cf_redis *r);

/* Starts the server again with the same config and port (after a kill or a
 * stop; a running one is stopped first) and waits for PING (10 s).
 * Returns 0 or -1 as cf_redis_start(). */
int cf_redis_restart(struct cf_redis *r);

/* SIGTERM (SIGKILL after 10 s) and reaps.  Returns the exit status (0 for a
 * clean shutdown) as cf_proc_stop(). */
int cf_redis_stop(struct cf_redis *r);

/* A new connection (2 s connect timeout).  Returns a context to free with
 * redisFree(), or NULL (print_error says why). */
redisContext *cf_redis_connect(const struct cf_redis *r);

/* 1 when the server at r answers PING with PONG within ~1 s, else 0. */
int cf_redis_ping(const struct cf_redis *r);

/* ------------------------------------------------------------------------
 * The broker (tools/broker, cachefleet-broker)
 * ------------------------------------------------------------------------ */

struct cf_broker {
    struct cf_proc proc;
    int chat_fd;                   /* the control channel; -1 when closed */
    char bootstrap[1024];          /* "127.0.0.1:port[,...]" */
    char bootstrap_file[PATH_MAX]; /* <dir>/bootstrap */
    char log_path[PATH_MAX];       /* <dir>/broker.log: its JSON log lines */
    char rbuf[1024];               /* control replies read but not consumed */
    size_t rlen;
};

/* Starts CF_BUILD_DIR/cachefleet-broker (or $CF_BROKER_PROGRAM) with
 * --brokers, --partitions, --control, --bootstrap-file <dir>/bootstrap and
 * one --topic per entry of extra_topics ("a:4,b:1", NULL for none; the
 * fleet's topics and their .dlq are always there).  Waits for the bootstrap
 * file (10 s), checks it against the broker's first stdout line, and fills
 * b->bootstrap.  Returns 0, or -1 with the reason and the log's tail
 * printed. */
int cf_broker_start(struct cf_broker *b, const char *dir, int brokers, int partitions,
                    const char *extra_topics);

/* Sends one control command (tools/broker/control.h: "push-errors 1 7 7",
 * "broker-down 1", ...) and reads its one-line reply into reply (newline
 * removed; "timeout" or "io error ..." when none came within 5 s).
 * Returns 0 when the reply is "ok", -1 otherwise.  Commands and replies go
 * in lock step: after a timeout a late reply would be taken for the next
 * command's, so a test should treat a timeout as fatal. */
int cf_broker_control(struct cf_broker *b, const char *command, char *reply, size_t reply_size);

/* SIGTERM (SIGKILL after 10 s), reaps, closes the control channel.  Returns
 * the exit status (0: clean) as cf_proc_stop().  The broker removes its
 * bootstrap file itself on a clean stop. */
int cf_broker_stop(struct cf_broker *b);

/* ------------------------------------------------------------------------
 * Kafka helpers (librdkafka, against cf_broker.bootstrap)
 * ------------------------------------------------------------------------ */

struct cf_test_producer;

/* A producer with delivery reports counted, acks=all, short reconnect
 * backoff (a broker that comes back is found within ~0.5 s).  Fails the
 * test when it cannot be created. */
struct cf_test_producer *cf_test_producer_new(const char *bootstrap);

/* Queues one message (key and value copied; either may be NULL/0).
 * partition: a partition, or RD_KAFKA_PARTITION_UA for librdkafka's keyed
 * partitioner (the one the upstream services use).  A full queue is waited
 * out (up to 10 s).  Fails the test on an error. */
void cf_test_producer_produce(struct cf_test_producer *tp, const char *topic, int32_t partition,
                              const void *key, size_t keylen, const void *value, size_t len);

/* Same, with headers: hdrs is copied (the caller keeps and destroys it),
 * may be NULL. */
void cf_test_producer_produce_hdrs(struct cf_test_producer *tp, const char *topic,
                                   int32_t partition, const void *key, size_t keylen,
                                   const void *value, size_t len, const rd_kafka_headers_t *hdrs);

/* Serves delivery reports for up to timeout_ms, returning early once every
 * message produced so far has its report.  Never fails the test. */
void cf_test_producer_poll(struct cf_test_producer *tp, int timeout_ms);

/* Messages acknowledged by the broker so far. */
long cf_test_producer_delivered(const struct cf_test_producer *tp);

/* Messages whose delivery failed for good so far (a permanent error, or
 * message.timeout.ms of 60 s passed). */
long cf_test_producer_failed(const struct cf_test_producer *tp);

/* Waits up to timeout_ms until every message produced so far is
 * acknowledged.  Fails the test when one failed or the time ran out. */
void cf_test_producer_flush(struct cf_test_producer *tp, int timeout_ms);

/* Destroys the producer without waiting: messages still queued are purged
 * (flush first to deliver them).  NULL is a no-op. */
void cf_test_producer_destroy(struct cf_test_producer *tp);

/* One message, produced and acknowledged (10 s), with a producer of its
 * own.  Fails the test otherwise. */
void cf_test_produce(const char *bootstrap, const char *topic, int32_t partition, const void *key,
                     size_t keylen, const void *value, size_t len);

/* A message read by cf_test_consume_all(); valid only during the callback. */
struct cf_test_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL when none */
    size_t keylen;
    const void *value; /* NULL for a tombstone */
    size_t len;
    rd_kafka_headers_t *headers; /* NULL when none; owned by the message */
};

typedef void (*cf_test_msg_cb)(const struct cf_test_msg *msg, void *opaque);

/* Reads topic from the beginning of every partition (assign(), no group
 * join, nothing committed) until at least `expected` messages were read
 * and every partition has been read to its end, or timeout_ms passed.
 * Calls cb (may be NULL) for each message, in order within a partition.
 * Returns the number of messages read (more than expected when the topic
 * holds more; fewer on timeout, which is also print_error'ed).  Fails the
 * test only when the reader cannot be set up (no metadata for the topic
 * within timeout_ms, a failed assign). */
int cf_test_consume_all(const char *bootstrap, const char *topic, int expected, int timeout_ms,
                        cf_test_msg_cb cb, void *opaque);

/* Milliseconds on the monotonic clock. */
int64_t cf_now_ms(void);

#endif
