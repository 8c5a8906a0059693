/* servers.c - redis-server and the loopback broker for one benchmark run
 * (see servers.h for the contracts).
 *
 * DESIGN
 * Readiness is observed, not assumed: redis answers PING, the broker writes
 * its bootstrap file and says "bootstrap ..." on its control channel.  Each
 * wait polls with short sleeps until a deadline, and a timeout says what
 * it was waiting for.
 *
 * Thread: the main thread.
 */
#include "servers.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REDIS_READY_MS  10000
#define REDIS_STOP_MS   10000
#define BROKER_READY_MS 10000
#define BROKER_STOP_MS  10000
#define BROKER_REPLY_MS 10000
#define LOG_TAIL_BYTES  2000
#define PORT_ATTEMPTS   3
#define MAX_TOPIC_FLAGS 64

/* ------------------------------------------------------------------------
 * redis-server
 * ------------------------------------------------------------------------ */

static int redis_ping(int port)
{
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c)
        return 0;
    int ok = 0;
    if (!c->err && redisSetTimeout(c, tv) == REDIS_OK) {
        redisReply *reply = redisCommand(c, "PING");
        ok = reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
        if (reply)
            freeReplyObject(reply);
    }
    redisFree(c);
    return ok;
}

static int log_says_port_taken(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int taken = 0;
    while (fgets(line, sizeof(line), f))
        taken |= strstr(line, "Address already in use") != NULL;
    fclose(f);
    return taken;
}

static int redis_write_conf(struct bench_redis *r, const char *dir, char *errstr,
                            size_t errstr_size)
{
    FILE *f = fopen(r->conf_path, "w");
    if (!f) {
        snprintf(errstr, errstr_size, "redis: cannot write %s: %s", r->conf_path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "# written by cachefleet-bench\n"
            "port %d\n"
            "bind 127.0.0.1\n"
            "protected-mode yes\n"
            "daemonize no\n"
            "save \"\"\n"
            "appendonly no\n"
            "dir \"%s\"\n"
            "logfile \"%s\"\n",
            r->port, dir, r->log_path);
    if (fclose(f) != 0) {
        snprintf(errstr, errstr_size, "redis: cannot write %s: %s", r->conf_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads redis_version from INFO server into r->version. */
static void redis_read_version(struct bench_redis *r)
{
    snprintf(r->version, sizeof(r->version), "unknown");
    char err[128];
    redisContext *c = bench_redis_connect(r, 2000, err, sizeof(err));
    if (!c)
        return;
    redisReply *reply = redisCommand(c, "INFO server");
    if (reply && (reply->type == REDIS_REPLY_STRING)) {
        const char *v = strstr(reply->str, "redis_version:");
        if (v) {
            v += strlen("redis_version:");
            size_t n = strcspn(v, "\r\n");
            snprintf(r->version, sizeof(r->version), "%.*s", (int)n, v);
        }
    }
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
}

int bench_redis_start(struct bench_redis *r, const char *program, const char *dir, char *errstr,
                      size_t errstr_size)
{
    memset(r, 0, sizeof(*r));
    int n1 = snprintf(r->conf_path, sizeof(r->conf_path), "%s/redis.conf", dir);
    int n2 = snprintf(r->log_path, sizeof(r->log_path), "%s/redis.log", dir);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(r->conf_path) ||
        (size_t)n2 >= sizeof(r->log_path) || strpbrk(dir, "\"\\\n\r")) {
        snprintf(errstr, errstr_size, "redis: unusable directory '%s'", dir);
        return -1;
    }
    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        r->port = bench_free_port();
        if (r->port < 0) {
            snprintf(errstr, errstr_size, "redis: no free loopback port: %s", strerror(errno));
            return -1;
        }
        if (redis_write_conf(r, dir, errstr, errstr_size) != 0)
            return -1;
        char prog[PATH_MAX];
        snprintf(prog, sizeof(prog), "%s", program);
        char *argv[] = {prog, r->conf_path, NULL};
        if (bench_proc_spawn(&r->proc, argv, NULL, r->log_path, NULL, errstr, errstr_size) != 0)
            return -1;
        int64_t deadline = bench_mono_ms() + REDIS_READY_MS;
        int ready = 0, taken = 0;
        while (bench_mono_ms() < deadline) {
            if (!bench_proc_alive(&r->proc)) {
                taken = log_says_port_taken(r->log_path);
                break;
            }
            if (redis_ping(r->port)) {
                ready = 1;
                break;
            }
            bench_sleep_ms(20);
        }
        if (ready) {
            redis_read_version(r);
            return 0;
        }
        if (taken)
            continue;
        if (bench_proc_alive(&r->proc)) {
            snprintf(errstr, errstr_size, "redis: %s on port %d did not answer PING within %d ms",
                     program, r->port, REDIS_READY_MS);
            bench_proc_stop(&r->proc, 1000);
        } else {
            snprintf(errstr, errstr_size, "redis: %s on port %d exited with status %d", program,
                     r->port, bench_proc_status(&r->proc));
        }
        bench_print_tail("redis", r->log_path, LOG_TAIL_BYTES);
        return -1;
    }
    snprintf(errstr, errstr_size, "redis: no port worked after %d attempts", PORT_ATTEMPTS);
    return -1;
}

int bench_redis_stop(struct bench_redis *r)
{
    return bench_proc_stop(&r->proc, REDIS_STOP_MS);
}

redisContext *bench_redis_connect(const struct bench_redis *r, int timeout_ms, char *errstr,
                                  size_t errstr_size)
{
    struct timeval ctv = {.tv_sec = 2, .tv_usec = 0};
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, ctv);
    if (!c) {
        snprintf(errstr, errstr_size, "redis connect: out of memory");
        return NULL;
    }
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(errstr, errstr_size, "redis connect 127.0.0.1:%d: %s", r->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

int bench_redis_simple(redisContext *c, char *errstr, size_t errstr_size, const char *arg0, ...)
{
    const char *argv[16];
    size_t lens[16];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < 16; a = va_arg(ap, const char *)) {
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    va_end(ap);
    redisReply *reply = redisCommandArgv(c, argc, argv, lens);
    if (!reply) {
        snprintf(errstr, errstr_size, "redis %s: %s", arg0, c->errstr);
        return -1;
    }
    int rc = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "redis %s: %.*s", arg0, (int)reply->len, reply->str);
        rc = -1;
    }
    freeReplyObject(reply);
    return rc;
}

int bench_redis_cmdstats(redisContext *c, struct bench_cmdstats *out, char *errstr,
                         size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    redisReply *reply = redisCommand(c, "INFO commandstats");
    if (!reply) {
        snprintf(errstr, errstr_size, "redis INFO commandstats: %s", c->errstr);
        return -1;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        snprintf(errstr, errstr_size, "redis INFO commandstats: unexpected reply type %d",
                 reply->type);
        freeReplyObject(reply);
        return -1;
    }
    /* Lines: cmdstat_<name>:calls=<n>,usec=...  (name may hold '|'). */
    for (const char *line = reply->str; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, "cmdstat_", 8) == 0 && out->n < BENCH_CMDSTATS_MAX) {
            const char *name = line + 8;
            const char *colon = strchr(name, ':');
            const char *calls = colon ? strstr(colon, "calls=") : NULL;
            if (colon && calls && (!nl || calls < nl)) {
                char *end = NULL;
                unsigned long long v = strtoull(calls + 6, &end, 10);
                size_t len = (size_t)(colon - name);
                snprintf(out->cmd[out->n].name, sizeof(out->cmd[out->n].name), "%.*s", (int)len,
                         name);
                out->cmd[out->n].calls = v;
                out->total += v;
                out->n++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    freeReplyObject(reply);

    reply = redisCommand(c, "INFO cpu");
    if (!reply || reply->type != REDIS_REPLY_STRING) {
        snprintf(errstr, errstr_size, "redis INFO cpu: %s", reply ? "unexpected reply" : c->errstr);
        if (reply)
            freeReplyObject(reply);
        return -1;
    }
    const char *names[] = {"used_cpu_sys:", "used_cpu_user:"};
    for (size_t k = 0; k < 2; k++) {
        const char *at = strstr(reply->str, names[k]);
        if (at)
            out->cpu_s += strtod(at + strlen(names[k]), NULL);
    }
    freeReplyObject(reply);
    return 0;
}

void bench_cmdstats_delta(const struct bench_cmdstats *before, const struct bench_cmdstats *after,
                          struct bench_cmdstats *delta)
{
    memset(delta, 0, sizeof(*delta));
    for (size_t i = 0; i < after->n; i++) {
        uint64_t was = 0;
        for (size_t j = 0; j < before->n; j++) {
            if (strcmp(before->cmd[j].name, after->cmd[i].name) == 0) {
                was = before->cmd[j].calls;
                break;
            }
        }
        uint64_t d = after->cmd[i].calls >= was ? after->cmd[i].calls - was : 0;
        if (d == 0)
            continue;
        snprintf(delta->cmd[delta->n].name, sizeof(delta->cmd[delta->n].name), "%s",
                 after->cmd[i].name);
        delta->cmd[delta->n].calls = d;
        delta->total += d;
        delta->n++;
    }
    delta->cpu_s = after->cpu_s > before->cpu_s ? after->cpu_s - before->cpu_s : 0;
}

/* ------------------------------------------------------------------------
 * The broker
 * ------------------------------------------------------------------------ */

/* One line from the control channel into line (newline removed), waiting
 * up to timeout_ms.  Returns 0, or -1 with the reason in line. */
static int broker_read_line(struct bench_broker *b, int timeout_ms, char *line, size_t size)
{
    int64_t deadline = bench_mono_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(b->rbuf, '\n', b->rlen);
        if (nl) {
            size_t len = (size_t)(nl - b->rbuf);
            snprintf(line, size, "%.*s", (int)len, b->rbuf);
            memmove(b->rbuf, nl + 1, b->rlen - len - 1);
            b->rlen -= len + 1;
            return 0;
        }
        if (b->rlen == sizeof(b->rbuf)) {
            snprintf(line, size, "reply line too long");
            b->rlen = 0;
            return -1;
        }
        int64_t left = deadline - bench_mono_ms();
        if (left <= 0) {
            snprintf(line, size, "no reply within %d ms", timeout_ms);
            return -1;
        }
        struct pollfd pfd = {.fd = b->chat_fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR) {
            snprintf(line, size, "poll: %s", strerror(errno));
            return -1;
        }
        if (n <= 0)
            continue;
        ssize_t got = recv(b->chat_fd, b->rbuf + b->rlen, sizeof(b->rbuf) - b->rlen, 0);
        if (got == 0) {
            snprintf(line, size, "the broker closed its control channel");
            return -1;
        }
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            snprintf(line, size, "recv: %s", strerror(errno));
            return -1;
        }
        b->rlen += (size_t)got;
    }
}

static int read_bootstrap_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int rc = -1;
    if (fgets(buf, (int)size, f)) {
        size_t len = strlen(buf);
        if (len > 1 && buf[len - 1] == '\n') {
            buf[len - 1] = '\0';
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

int bench_broker_start(struct bench_broker *b, const char *program, const char *dir,
                       const char *const *topics, size_t ntopics, char *errstr, size_t errstr_size)
{
    char prog[PATH_MAX];
    char *argv[16 + 2 * MAX_TOPIC_FLAGS];
    int argc = 0;

    memset(b, 0, sizeof(*b));
    b->chat_fd = -1;
    int n1 = snprintf(b->bootstrap_file, sizeof(b->bootstrap_file), "%s/bootstrap", dir);
    int n2 = snprintf(b->log_path, sizeof(b->log_path), "%s/broker.log", dir);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(b->bootstrap_file) ||
        (size_t)n2 >= sizeof(b->log_path) || ntopics > MAX_TOPIC_FLAGS) {
        snprintf(errstr, errstr_size, "broker: directory path too long or too many topics");
        return -1;
    }
    snprintf(prog, sizeof(prog), "%s", program);
    unlink(b->bootstrap_file); /* a stale one would look like readiness */
    argv[argc++] = prog;
    argv[argc++] = "--control";
    argv[argc++] = "--log-level";
    argv[argc++] = "warn";
    argv[argc++] = "--bootstrap-file";
    argv[argc++] = b->bootstrap_file;
    for (size_t i = 0; i < ntopics; i++) {
        argv[argc++] = "--topic";
        argv[argc++] = (char *)(uintptr_t)topics[i]; /* execve does not write argv */
    }
    argv[argc] = NULL;

    if (bench_proc_spawn(&b->proc, argv, NULL, b->log_path, &b->chat_fd, errstr, errstr_size) != 0)
        return -1;

    int64_t deadline = bench_mono_ms() + BROKER_READY_MS;
    char from_file[sizeof(b->bootstrap)];
    for (;;) {
        if (read_bootstrap_file(b->bootstrap_file, from_file, sizeof(from_file)) == 0)
            break;
        if (!bench_proc_alive(&b->proc)) {
            snprintf(errstr, errstr_size, "broker: %s exited with status %d before it was ready",
                     program, bench_proc_status(&b->proc));
            goto fail;
        }
        if (bench_mono_ms() >= deadline) {
            snprintf(errstr, errstr_size, "broker: no bootstrap file %s within %d ms",
                     b->bootstrap_file, BROKER_READY_MS);
            goto fail;
        }
        bench_sleep_ms(10);
    }
    char line[sizeof(b->bootstrap) + 16];
    int64_t left = deadline - bench_mono_ms();
    if (broker_read_line(b, left > 1000 ? (int)left : 1000, line, sizeof(line)) != 0) {
        snprintf(errstr, errstr_size, "broker: waiting for its 'bootstrap' line: %s", line);
        goto fail;
    }
    if (strncmp(line, "bootstrap ", 10) != 0 || strcmp(line + 10, from_file) != 0) {
        snprintf(errstr, errstr_size, "broker: stdout says '%s', the bootstrap file '%s'", line,
                 from_file);
        goto fail;
    }
    snprintf(b->bootstrap, sizeof(b->bootstrap), "%s", from_file);
    return 0;

fail:
    bench_print_tail("broker", b->log_path, LOG_TAIL_BYTES);
    bench_broker_stop(b);
    return -1;
}

int bench_broker_topic_create(struct bench_broker *b, const char *name, int partitions,
                              char *errstr, size_t errstr_size)
{
    char cmd[512], reply[512];
    int n = snprintf(cmd, sizeof(cmd), "topic-create %s %d\n", name, partitions);
    if (b->chat_fd < 0 || n < 0 || (size_t)n >= sizeof(cmd)) {
        snprintf(errstr, errstr_size, "broker: cannot send topic-create %s", name);
        return -1;
    }
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(b->chat_fd, cmd + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            snprintf(errstr, errstr_size, "broker: send topic-create %s: %s", name,
                     strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    if (broker_read_line(b, BROKER_REPLY_MS, reply, sizeof(reply)) != 0) {
        snprintf(errstr, errstr_size, "broker: topic-create %s %d: %s", name, partitions, reply);
        return -1;
    }
    if (strcmp(reply, "ok") != 0) {
        snprintf(errstr, errstr_size, "broker: topic-create %s %d: %s", name, partitions, reply);
        return -1;
    }
    return 0;
}

int bench_broker_stop(struct bench_broker *b)
{
    int status = bench_proc_stop(&b->proc, BROKER_STOP_MS);
    if (b->chat_fd >= 0) {
        close(b->chat_fd);
        b->chat_fd = -1;
    }
    b->rlen = 0;
    return status;
}
