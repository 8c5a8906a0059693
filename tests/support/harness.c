/* harness.c - the integration tests' harness (see harness.h for the
 * contracts).
 *
 * What it owns: child processes started for a test, the redis-server and
 * cachefleet-broker they usually are, and a test producer and reader.  What
 * it does not: temporary directories (testutil.c) or anything a test
 * asserts about the fleet.
 *
 * DESIGN
 * Processes: the environment is built and every descriptor opened before
 * fork(), because the test program has librdkafka threads and a forked
 * child may only call async-signal-safe functions until execve().  The
 * child reports an execve() failure through a close-on-exec pipe, so a
 * wrong path fails at spawn time with its errno.  A struct cf_proc keeps
 * its pid until waitpid() collects it and never signals afterwards: the
 * pid cannot have been recycled before it is reaped, so only the harness's
 * own children are ever signalled.
 *
 * Servers: a free port is found by binding 127.0.0.1:0 and closing; a
 * server that then finds its port taken is restarted on a new one.
 * Readiness is observed, not assumed: redis answers PING, the broker writes
 * its bootstrap file and says "bootstrap ..." on its control channel.
 * Every wait polls with short sleeps up to a deadline.
 *
 * The broker's control channel is one socketpair serving as its stdin and
 * stdout; commands are sent with MSG_NOSIGNAL, so a dead broker is a failed
 * command, not a SIGPIPE in the test.
 *
 * Threads: the test's main thread.  Delivery reports and messages are
 * served by rd_kafka_poll()/rd_kafka_consumer_poll() on that thread.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

extern char **environ;

#define REDIS_READY_MS   10000
#define REDIS_STOP_MS    10000
#define BROKER_READY_MS  10000
#define BROKER_STOP_MS   10000
#define BROKER_REPLY_MS  5000
#define KILL_REAP_MS     5000
#define LOG_TAIL_BYTES   3000
#define PORT_ATTEMPTS    3
#define MAX_EXTRA_TOPICS 32

/* ------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------ */

int64_t cf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------------
 * Child processes
 * ------------------------------------------------------------------------ */

/* Length of the "K" in "K=V" (the whole string when there is no '='). */
static size_t env_key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* The inherited environment without the variables extra replaces, then
 * extra.  The array is new (free it); the strings are borrowed. */
static char **env_build(char *const extra[])
{
    size_t n_env = 0, n_extra = 0;
    while (environ && environ[n_env])
        n_env++;
    while (extra && extra[n_extra])
        n_extra++;
    char **envp = calloc(n_env + n_extra + 1, sizeof(*envp));
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        size_t klen = env_key_len(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < n_extra && !replaced; j++)
            replaced = env_key_len(extra[j]) == klen && memcmp(extra[j], environ[i], klen) == 0;
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        envp[k++] = extra[j];
    envp[k] = NULL;
    return envp;
}

/* Closes every descriptor from `from` up to max_fd, except keep.
 * Async-signal-safe (max_fd is found before fork()). */
static void close_fds_from(int from, int keep, long max_fd)
{
#ifdef SYS_close_range
    bool done;
    if (keep < from)
        done = syscall(SYS_close_range, (unsigned)from, ~0u, 0u) == 0;
    else
        done = (keep == from ||
                syscall(SYS_close_range, (unsigned)from, (unsigned)keep - 1, 0u) == 0) &&
               syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0;
    if (done)
        return;
#endif
    for (int fd = from; fd < max_fd; fd++) {
        if (fd != keep)
            close(fd);
    }
}

/* Runs in the child between fork() and execve(): async-signal-safe calls
 * only.  Never returns. */
static void child_exec(pid_t parent, char *const argv[], char **envp, int in_fd, int out_fd,
                       int err_fd, int report_fd, long max_fd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127); /* the test died before we could tie ourselves to it */

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < 32; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    }

    if ((in_fd >= 0 && dup2(in_fd, STDIN_FILENO) < 0) ||
        (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0) ||
        (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0)) {
        int e = errno;
        (void)!write(report_fd, &e, sizeof(e));
        _exit(127);
    }
    close_fds_from(3, report_fd, max_fd);
    execve(argv[0], argv, envp);
    int e = errno;
    (void)!write(report_fd, &e, sizeof(e));
    _exit(127);
}

static void proc_reset(struct cf_proc *p, const char *path)
{
    memset(p, 0, sizeof(*p));
    const char *slash = strrchr(path, '/');
    snprintf(p->name, sizeof(p->name), "%s", slash ? slash + 1 : path);
}

static int spawn(struct cf_proc *p, char *const argv[], char *const envp_extra[],
                 const char *log_path, int *chat_fd)
{
    char **envp = NULL;
    int log_fd = -1, null_fd = -1, report[2] = {-1, -1}, sv[2] = {-1, -1};
    int rc = -1;

    if (!argv || !argv[0]) {
        print_error("cf_proc_spawn: no program\n");
        return -1;
    }
    proc_reset(p, argv[0]);
    if (chat_fd)
        *chat_fd = -1;

    envp = env_build(envp_extra);
    if (!envp) {
        print_error("cf_proc_spawn %s: out of memory\n", p->name);
        goto fail;
    }
    if (log_path) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            print_error("cf_proc_spawn %s: open %s: %s\n", p->name, log_path, strerror(errno));
            goto fail;
        }
    }
    if (chat_fd) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            print_error("cf_proc_spawn %s: socketpair: %s\n", p->name, strerror(errno));
            goto fail;
        }
    } else {
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0) {
            print_error("cf_proc_spawn %s: open /dev/null: %s\n", p->name, strerror(errno));
            goto fail;
        }
    }
    if (pipe(report) != 0 || fcntl(report[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(report[1], F_SETFD, FD_CLOEXEC) != 0) {
        print_error("cf_proc_spawn %s: pipe: %s\n", p->name, strerror(errno));
        goto fail;
    }

    long max_fd = sysconf(_SC_OPEN_MAX);
    if (max_fd < 0 || max_fd > 65536)
        max_fd = 65536;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        print_error("cf_proc_spawn %s: fork: %s\n", p->name, strerror(errno));
        goto fail;
    }
    if (pid == 0)
        child_exec(parent, argv, envp, chat_fd ? sv[1] : null_fd, chat_fd ? sv[1] : log_fd, log_fd,
                   report[1], max_fd);

    p->pid = pid;
    p->started = 1;
    close(report[1]);
    report[1] = -1;

    /* Either execve() succeeded (the pipe closes: 0 bytes) or the child
     * wrote its errno. */
    int child_errno = 0;
    ssize_t n;
    do {
        n = read(report[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        print_error("cf_proc_spawn %s: exec %s: %s\n", p->name, argv[0], strerror(child_errno));
        cf_proc_wait(p, KILL_REAP_MS, NULL);
        goto fail;
    }
    if (chat_fd) {
        *chat_fd = sv[0];
        sv[0] = -1; /* the caller's now */
    }
    rc = 0;

fail:
    for (int i = 0; i < 2; i++) {
        if (report[i] >= 0)
            close(report[i]);
        if (sv[i] >= 0)
            close(sv[i]);
    }
    if (log_fd >= 0)
        close(log_fd);
    if (null_fd >= 0)
        close(null_fd);
    free(envp);
    return rc;
}

int cf_proc_spawn(struct cf_proc *p, char *const argv[], char *const envp_extra[],
                  const char *log_path)
{
    return spawn(p, argv, envp_extra, log_path, NULL);
}

int cf_proc_spawn_chat(struct cf_proc *p, char *const argv[], char *const envp_extra[],
                       const char *log_path, int *chat_fd)
{
    return spawn(p, argv, envp_extra, log_path, chat_fd);
}

static int shell_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return -1;
}

int cf_proc_exit_status(const struct cf_proc *p)
{
    return p->reaped ? shell_status(p->wstatus) : -1;
}

/* One non-blocking reap attempt.  Returns 1 when reaped (now or before). */
static int proc_try_reap(struct cf_proc *p)
{
    if (p->reaped)
        return 1;
    int wstatus;
    pid_t r = waitpid(p->pid, &wstatus, WNOHANG);
    if (r == p->pid) {
        p->reaped = 1;
        p->wstatus = wstatus;
        return 1;
    }
    return 0;
}

int cf_proc_signal(struct cf_proc *p, int sig)
{
    /* pid > 1 is belt and braces: kill(0) or kill(-1) would hit far more
     * than our child. */
    if (!p->started || p->reaped || p->pid <= 1)
        return -1;
    return kill(p->pid, sig);
}

int cf_proc_wait(struct cf_proc *p, int timeout_ms, int *exit_status)
{
    if (!p->started)
        return -1;
    int64_t deadline = cf_now_ms() + timeout_ms;
    int nap = 1;
    while (!proc_try_reap(p)) {
        if (cf_now_ms() >= deadline)
            return -1;
        sleep_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
    if (exit_status)
        *exit_status = shell_status(p->wstatus);
    return 0;
}

int cf_proc_stop(struct cf_proc *p, int timeout_ms)
{
    int status;
    if (!p->started)
        return 0;
    if (p->reaped)
        return shell_status(p->wstatus);
    cf_proc_signal(p, SIGTERM);
    if (cf_proc_wait(p, timeout_ms, &status) == 0)
        return status;
    print_error("%s (pid %d) ignored SIGTERM for %d ms: SIGKILL\n", p->name, (int)p->pid,
                timeout_ms);
    cf_proc_signal(p, SIGKILL);
    if (cf_proc_wait(p, KILL_REAP_MS, &status) == 0)
        return status;
    print_error("%s (pid %d) could not be reaped\n", p->name, (int)p->pid);
    return -1;
}

int cf_proc_alive(struct cf_proc *p)
{
    return p->started && !proc_try_reap(p);
}

void cf_print_log_tail(const char *label, const char *path, size_t bytes)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        print_error("--- %s: no log at %s (%s) ---\n", label, path, strerror(errno));
        return;
    }
    char *buf = malloc(bytes + 1);
    if (!buf) {
        fclose(f);
        return;
    }
    size_t n = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        long from = size > (long)bytes ? size - (long)bytes : 0;
        if (fseek(f, from, SEEK_SET) == 0)
            n = fread(buf, 1, bytes, f);
    }
    buf[n] = '\0';
    print_error("--- %s: last %zu bytes of %s ---\n%s\n--- end of %s ---\n", label, n, path, buf,
                label);
    free(buf);
    fclose(f);
}

/* ------------------------------------------------------------------------
 * redis-server
 * ------------------------------------------------------------------------ */

/* A port of 127.0.0.1 nobody listens on right now, or -1. */
static int free_loopback_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;
    socklen_t len = sizeof(sin);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* Paths go into redis.conf inside double quotes; keep them simple. */
static int conf_path_ok(const char *s)
{
    return strpbrk(s, "\"\\\n\r") == NULL;
}

static int redis_write_conf(struct cf_redis *r, const char *extra_conf)
{
    FILE *f = fopen(r->conf_path, "w");
    if (!f) {
        print_error("cf_redis: cannot write %s: %s\n", r->conf_path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "# written by the cachefleet test harness\n"
            "port %d\n"
            "bind 127.0.0.1\n"
            "protected-mode yes\n"
            "daemonize no\n"
            "save \"\"\n"
            "appendonly no\n"
            "dir \"%s\"\n"
            "logfile \"%s\"\n",
            r->port, r->dir, r->log_path);
    if (extra_conf)
        fprintf(f, "%s\n", extra_conf);
    if (fclose(f) != 0) {
        print_error("cf_redis: cannot write %s: %s\n", r->conf_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 when the log says the port was taken (a race with another process). */
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

static const char *redis_program(void)
{
    const char *prog = getenv("CF_REDIS_SERVER");
    return prog && *prog ? prog : "/usr/bin/redis-server";
}

/* Spawns redis with r's config and waits for PING.  Returns 0, -1, or -2
 * when it exited because its port was taken. */
static int redis_launch(struct cf_redis *r)
{
    char prog[PATH_MAX];
    snprintf(prog, sizeof(prog), "%s", redis_program());
    char *argv[] = {prog, r->conf_path, NULL};
    if (cf_proc_spawn(&r->proc, argv, NULL, r->log_path) != 0)
        return -1;

    int64_t deadline = cf_now_ms() + REDIS_READY_MS;
    while (cf_now_ms() < deadline) {
        if (!cf_proc_alive(&r->proc)) {
            if (log_says_port_taken(r->log_path))
                return -2;
            print_error("cf_redis: redis-server on port %d exited with status %d before "
                        "answering PING\n",
                        r->port, cf_proc_exit_status(&r->proc));
            cf_print_log_tail("redis", r->log_path, LOG_TAIL_BYTES);
            return -1;
        }
        if (cf_redis_ping(r))
            return 0;
        sleep_ms(20);
    }
    print_error("cf_redis: redis-server on port %d did not answer PING within %d ms\n", r->port,
                REDIS_READY_MS);
    cf_print_log_tail("redis", r->log_path, LOG_TAIL_BYTES);
    cf_proc_stop(&r->proc, 1000);
    return -1;
}

int cf_redis_start(struct cf_redis *r, const char *dir, const char *extra_conf)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->host, sizeof(r->host), "127.0.0.1");
    int n1 = snprintf(r->dir, sizeof(r->dir), "%s", dir);
    int n2 = snprintf(r->conf_path, sizeof(r->conf_path), "%s/redis.conf", dir);
    int n3 = snprintf(r->log_path, sizeof(r->log_path), "%s/redis.log", dir);
    if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n2 >= sizeof(r->conf_path) ||
        (size_t)n3 >= sizeof(r->log_path) || !conf_path_ok(dir)) {
        print_error("cf_redis_start: unusable directory '%s'\n", dir);
        return -1;
    }
    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        r->port = free_loopback_port();
        if (r->port < 0) {
            print_error("cf_redis_start: no free loopback port: %s\n", strerror(errno));
            return -1;
        }
        if (redis_write_conf(r, extra_conf) != 0)
            return -1;
        int rc = redis_launch(r);
        if (rc != -2)
            return rc;
        print_error("cf_redis_start: port %d was taken meanwhile, trying another\n", r->port);
    }
    print_error("cf_redis_start: no port worked after %d attempts\n", PORT_ATTEMPTS);
    cf_print_log_tail("redis", r->log_path, LOG_TAIL_BYTES);
    return -1;
}

int cf_redis_kill(struct cf_redis *r)
{
    if (cf_proc_signal(&r->proc, SIGKILL) != 0)
        return -1;
    return cf_proc_wait(&r->proc, KILL_REAP_MS, NULL);
}

int cf_redis_restart(struct cf_redis *r)
{
    if (cf_proc_alive(&r->proc))
        cf_redis_stop(r);
    int rc = redis_launch(r);
    if (rc == -2) {
        print_error("cf_redis_restart: port %d is taken by someone else now\n", r->port);
        cf_print_log_tail("redis", r->log_path, LOG_TAIL_BYTES);
        return -1;
    }
    return rc;
}

int cf_redis_stop(struct cf_redis *r)
{
    return cf_proc_stop(&r->proc, REDIS_STOP_MS);
}

redisContext *cf_redis_connect(const struct cf_redis *r)
{
    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c) {
        print_error("cf_redis_connect: out of memory\n");
        return NULL;
    }
    if (c->err) {
        print_error("cf_redis_connect %s:%d: %s\n", r->host, r->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

int cf_redis_ping(const struct cf_redis *r)
{
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
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

/* ------------------------------------------------------------------------
 * The broker
 * ------------------------------------------------------------------------ */

/* Reads one line from the control channel into line (newline removed),
 * waiting up to timeout_ms.  Returns 0, or -1 with the reason in line. */
static int broker_read_line(struct cf_broker *b, int timeout_ms, char *line, size_t size)
{
    int64_t deadline = cf_now_ms() + timeout_ms;
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
            snprintf(line, size, "io error: reply line too long");
            b->rlen = 0;
            return -1;
        }
        int64_t left = deadline - cf_now_ms();
        if (left <= 0) {
            snprintf(line, size, "timeout");
            return -1;
        }
        struct pollfd pfd = {.fd = b->chat_fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR) {
            snprintf(line, size, "io error: poll: %s", strerror(errno));
            return -1;
        }
        if (n <= 0)
            continue;
        ssize_t got = recv(b->chat_fd, b->rbuf + b->rlen, sizeof(b->rbuf) - b->rlen, 0);
        if (got == 0) {
            snprintf(line, size, "io error: broker closed its control channel");
            return -1;
        }
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            snprintf(line, size, "io error: recv: %s", strerror(errno));
            return -1;
        }
        b->rlen += (size_t)got;
    }
}

/* Reads the bootstrap file into buf (first line, newline removed).
 * Returns 0, or -1 when it is missing or incomplete. */
static int read_bootstrap_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int rc = -1;
    if (fgets(buf, (int)size, f)) {
        size_t len = strlen(buf);
        if (len > 0 && buf[len - 1] == '\n') {
            buf[len - 1] = '\0';
            rc = len > 1 ? 0 : -1;
        }
    }
    fclose(f);
    return rc;
}

static void broker_fail_report(struct cf_broker *b, const char *why)
{
    print_error("cf_broker_start: %s\n", why);
    cf_print_log_tail("broker", b->log_path, LOG_TAIL_BYTES);
}

int cf_broker_start(struct cf_broker *b, const char *dir, int brokers, int partitions,
                    const char *extra_topics)
{
    char prog[PATH_MAX], brokers_s[16], partitions_s[16];
    char topics_buf[1024];
    char *argv[16 + 2 * MAX_EXTRA_TOPICS];
    int argc = 0;

    memset(b, 0, sizeof(*b));
    b->chat_fd = -1;
    int n1 = snprintf(b->bootstrap_file, sizeof(b->bootstrap_file), "%s/bootstrap", dir);
    int n2 = snprintf(b->log_path, sizeof(b->log_path), "%s/broker.log", dir);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(b->bootstrap_file) ||
        (size_t)n2 >= sizeof(b->log_path)) {
        print_error("cf_broker_start: directory path too long\n");
        return -1;
    }
    const char *env_prog = getenv("CF_BROKER_PROGRAM");
    snprintf(prog, sizeof(prog), "%s",
             env_prog && *env_prog ? env_prog : CF_BUILD_DIR "/cachefleet-broker");
    snprintf(brokers_s, sizeof(brokers_s), "%d", brokers);
    snprintf(partitions_s, sizeof(partitions_s), "%d", partitions);
    unlink(b->bootstrap_file); /* a stale one would look like readiness */

    argv[argc++] = prog;
    argv[argc++] = "--brokers";
    argv[argc++] = brokers_s;
    argv[argc++] = "--partitions";
    argv[argc++] = partitions_s;
    argv[argc++] = "--control";
    argv[argc++] = "--bootstrap-file";
    argv[argc++] = b->bootstrap_file;
    if (extra_topics && *extra_topics) {
        int n = snprintf(topics_buf, sizeof(topics_buf), "%s", extra_topics);
        if (n < 0 || (size_t)n >= sizeof(topics_buf)) {
            print_error("cf_broker_start: extra_topics too long\n");
            return -1;
        }
        /* "a:4,b:1" -> --topic a:4 --topic b:1, split in place. */
        char *p = topics_buf;
        for (int t = 0; p && *p; t++) {
            if (t == MAX_EXTRA_TOPICS) {
                print_error("cf_broker_start: more than %d extra topics\n", MAX_EXTRA_TOPICS);
                return -1;
            }
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            argv[argc++] = "--topic";
            argv[argc++] = p;
            p = comma ? comma + 1 : NULL;
        }
    }
    argv[argc] = NULL;

    if (cf_proc_spawn_chat(&b->proc, argv, NULL, b->log_path, &b->chat_fd) != 0)
        return -1;

    /* Ready when the bootstrap file exists (it is renamed into place whole). */
    int64_t deadline = cf_now_ms() + BROKER_READY_MS;
    char from_file[sizeof(b->bootstrap)];
    for (;;) {
        if (read_bootstrap_file(b->bootstrap_file, from_file, sizeof(from_file)) == 0)
            break;
        if (!cf_proc_alive(&b->proc)) {
            char why[128];
            snprintf(why, sizeof(why), "the broker exited with status %d before it was ready",
                     cf_proc_exit_status(&b->proc));
            broker_fail_report(b, why);
            goto fail;
        }
        if (cf_now_ms() >= deadline) {
            broker_fail_report(b, "no bootstrap file within 10 s");
            goto fail;
        }
        sleep_ms(10);
    }

    /* Its first stdout line must say the same. */
    char line[sizeof(b->bootstrap) + 16];
    int64_t left = deadline - cf_now_ms();
    if (broker_read_line(b, left > 1000 ? (int)left : 1000, line, sizeof(line)) != 0) {
        broker_fail_report(b, line);
        goto fail;
    }
    if (strncmp(line, "bootstrap ", 10) != 0 || strcmp(line + 10, from_file) != 0) {
        print_error("cf_broker_start: stdout says '%s', the bootstrap file '%s'\n", line,
                    from_file);
        broker_fail_report(b, "bootstrap mismatch");
        goto fail;
    }
    snprintf(b->bootstrap, sizeof(b->bootstrap), "%s", from_file);
    return 0;

fail:
    cf_broker_stop(b);
    return -1;
}

int cf_broker_control(struct cf_broker *b, const char *command, char *reply, size_t reply_size)
{
    if (b->chat_fd < 0) {
        snprintf(reply, reply_size, "io error: no control channel");
        return -1;
    }
    if (strchr(command, '\n')) {
        snprintf(reply, reply_size, "io error: command has a newline");
        return -1;
    }
    char buf[1100];
    int n = snprintf(buf, sizeof(buf), "%s\n", command);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        snprintf(reply, reply_size, "io error: command too long");
        return -1;
    }
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(b->chat_fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            snprintf(reply, reply_size, "io error: send: %s", strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    if (broker_read_line(b, BROKER_REPLY_MS, reply, reply_size) != 0)
        return -1;
    return strcmp(reply, "ok") == 0 ? 0 : -1;
}

int cf_broker_stop(struct cf_broker *b)
{
    int status = cf_proc_stop(&b->proc, BROKER_STOP_MS);
    if (b->chat_fd >= 0) {
        close(b->chat_fd);
        b->chat_fd = -1;
    }
    b->rlen = 0;
    return status;
}

/* ------------------------------------------------------------------------
 * Kafka: the test producer
 * ------------------------------------------------------------------------ */

struct cf_test_producer {
    rd_kafka_t *rk;
    long produced;
    long delivered;
    long failed;
    char first_error[256];
};

/* Runs on the test's thread, inside rd_kafka_poll()/rd_kafka_flush(). */
static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    struct cf_test_producer *tp = opaque;
    if (rkm->err) {
        if (tp->failed++ == 0)
            snprintf(tp->first_error, sizeof(tp->first_error), "%s [%d]: %s",
                     rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
                     rd_kafka_err2str(rkm->err));
    } else {
        tp->delivered++;
    }
}

/* Sets every key/value pair of a NULL-terminated list; fails the test. */
static void conf_set_all(rd_kafka_conf_t *conf, const char *const *kv)
{
    char errstr[256];
    for (; kv[0]; kv += 2) {
        if (rd_kafka_conf_set(conf, kv[0], kv[1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            fail_msg("rd_kafka_conf_set %s=%s: %s", kv[0], kv[1], errstr);
    }
}

struct cf_test_producer *cf_test_producer_new(const char *bootstrap)
{
    struct cf_test_producer *tp = calloc(1, sizeof(*tp));
    if (!tp)
        fail_msg("cf_test_producer_new: out of memory");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* clang-format off */
    const char *const kv[] = {
        "bootstrap.servers", bootstrap,
        "client.id", "cachefleet-test-producer",
        "acks", "all",
        "linger.ms", "5",
        "message.timeout.ms", "60000",
        "reconnect.backoff.ms", "50",
        "reconnect.backoff.max.ms", "500",
        "log.connection.close", "false",
        NULL,
    };
    /* clang-format on */
    conf_set_all(conf, kv);
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    rd_kafka_conf_set_opaque(conf, tp);
    char errstr[256];
    tp->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!tp->rk) {
        rd_kafka_conf_destroy(conf);
        free(tp);
        fail_msg("rd_kafka_new (producer): %s", errstr);
    }
    /* conf is owned by tp->rk now */
    return tp;
}

void cf_test_producer_produce_hdrs(struct cf_test_producer *tp, const char *topic,
                                   int32_t partition, const void *key, size_t keylen,
                                   const void *value, size_t len, const rd_kafka_headers_t *hdrs)
{
    int64_t deadline = cf_now_ms() + 10000;
    for (;;) {
        rd_kafka_vu_t vus[6];
        size_t cnt = 0;
        rd_kafka_headers_t *copy = hdrs ? rd_kafka_headers_copy(hdrs) : NULL;
        vus[cnt].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[cnt++].u.cstr = topic;
        vus[cnt].vtype = RD_KAFKA_VTYPE_PARTITION;
        vus[cnt++].u.i32 = partition;
        vus[cnt].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vus[cnt++].u.i = RD_KAFKA_MSG_F_COPY;
        /* librdkafka copies key and value (MSG_F_COPY) and never writes
         * through these pointers; its struct just is not const. */
        vus[cnt].vtype = RD_KAFKA_VTYPE_KEY;
        vus[cnt].u.mem.ptr = (void *)(uintptr_t)key;
        vus[cnt++].u.mem.size = keylen;
        vus[cnt].vtype = RD_KAFKA_VTYPE_VALUE;
        vus[cnt].u.mem.ptr = (void *)(uintptr_t)value;
        vus[cnt++].u.mem.size = len;
        if (copy) {
            vus[cnt].vtype = RD_KAFKA_VTYPE_HEADERS;
            vus[cnt++].u.headers = copy; /* owned by the message on success */
        }
        rd_kafka_error_t *error = rd_kafka_produceva(tp->rk, vus, cnt);
        if (!error) {
            tp->produced++;
            rd_kafka_poll(tp->rk, 0);
            return;
        }
        if (copy)
            rd_kafka_headers_destroy(copy);
        rd_kafka_resp_err_t err = rd_kafka_error_code(error);
        char what[256];
        snprintf(what, sizeof(what), "%s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            fail_msg("produce to %s [%d]: %s", topic, (int)partition, what);
        if (cf_now_ms() >= deadline)
            fail_msg("produce to %s: the queue stayed full for 10 s", topic);
        rd_kafka_poll(tp->rk, 100);
    }
}

void cf_test_producer_produce(struct cf_test_producer *tp, const char *topic, int32_t partition,
                              const void *key, size_t keylen, const void *value, size_t len)
{
    cf_test_producer_produce_hdrs(tp, topic, partition, key, keylen, value, len, NULL);
}

void cf_test_producer_poll(struct cf_test_producer *tp, int timeout_ms)
{
    int64_t deadline = cf_now_ms() + timeout_ms;
    do {
        rd_kafka_poll(tp->rk, 10);
    } while (cf_now_ms() < deadline && tp->delivered + tp->failed < tp->produced);
}

long cf_test_producer_delivered(const struct cf_test_producer *tp)
{
    return tp->delivered;
}

long cf_test_producer_failed(const struct cf_test_producer *tp)
{
    return tp->failed;
}

void cf_test_producer_flush(struct cf_test_producer *tp, int timeout_ms)
{
    int64_t deadline = cf_now_ms() + timeout_ms;
    while (tp->delivered + tp->failed < tp->produced && cf_now_ms() < deadline)
        rd_kafka_flush(tp->rk, 50);
    if (tp->failed > 0)
        fail_msg("%ld of %ld messages failed; the first: %s", tp->failed, tp->produced,
                 tp->first_error);
    if (tp->delivered < tp->produced)
        fail_msg("only %ld of %ld messages acknowledged within %d ms", tp->delivered, tp->produced,
                 timeout_ms);
}

void cf_test_producer_destroy(struct cf_test_producer *tp)
{
    if (!tp)
        return;
    rd_kafka_purge(tp->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(tp->rk, 0);
    rd_kafka_destroy(tp->rk);
    free(tp);
}

void cf_test_produce(const char *bootstrap, const char *topic, int32_t partition, const void *key,
                     size_t keylen, const void *value, size_t len)
{
    struct cf_test_producer *tp = cf_test_producer_new(bootstrap);
    cf_test_producer_produce(tp, topic, partition, key, keylen, value, len);
    cf_test_producer_flush(tp, 10000);
    cf_test_producer_destroy(tp);
}

/* ------------------------------------------------------------------------
 * Kafka: reading a topic
 * ------------------------------------------------------------------------ */

/* The topic's partition count, waiting up to the deadline for metadata.
 * Returns -1 on timeout, with the last error in errbuf. */
static int topic_partition_count(rd_kafka_t *rk, const char *topic, int64_t deadline, char *errbuf,
                                 size_t errsize)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(errbuf, errsize, "rd_kafka_topic_new: %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int cnt = -1;
    snprintf(errbuf, errsize, "timeout");
    while (cnt < 0) {
        const struct rd_kafka_metadata *md = NULL;
        int64_t left = deadline - cf_now_ms();
        if (left <= 0)
            break;
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(rk, 0, rkt, &md, left < 1000 ? (int)left : 1000);
        if (err) {
            snprintf(errbuf, errsize, "%s", rd_kafka_err2str(err));
        } else if (md->topic_cnt == 1 && md->topics[0].err) {
            snprintf(errbuf, errsize, "%s", rd_kafka_err2str(md->topics[0].err));
        } else if (md->topic_cnt == 1 && md->topics[0].partition_cnt > 0) {
            cnt = md->topics[0].partition_cnt;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (cnt < 0)
            sleep_ms(50);
    }
    rd_kafka_topic_destroy(rkt);
    return cnt;
}

int cf_test_consume_all(const char *bootstrap, const char *topic, int expected, int timeout_ms,
                        cf_test_msg_cb cb, void *opaque)
{
    static unsigned group_seq;
    int64_t deadline = cf_now_ms() + timeout_ms;
    char group[96], errstr[256];
    snprintf(group, sizeof(group), "cf-test-reader-%d-%lld-%u", (int)getpid(),
             (long long)cf_now_ms(), group_seq++);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* clang-format off */
    const char *const kv[] = {
        "bootstrap.servers", bootstrap,
        "client.id", "cachefleet-test-reader",
        "group.id", group, /* never joined: assign() below; needed for the consumer API */
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "enable.partition.eof", "true",
        "auto.offset.reset", "earliest",
        "fetch.wait.max.ms", "50",
        "reconnect.backoff.ms", "50",
        "reconnect.backoff.max.ms", "500",
        "log.connection.close", "false",
        NULL,
    };
    /* clang-format on */
    conf_set_all(conf, kv);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fail_msg("rd_kafka_new (consumer): %s", errstr);
    }
    /* conf is owned by rk now */
    rd_kafka_poll_set_consumer(rk);

    int partitions = topic_partition_count(rk, topic, deadline, errstr, sizeof(errstr));
    if (partitions < 0) {
        rd_kafka_destroy(rk);
        fail_msg("cf_test_consume_all: no metadata for %s at %s: %s", topic, bootstrap, errstr);
    }

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int32_t i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    char *at_end = calloc((size_t)partitions, 1);
    if (err || !at_end) {
        free(at_end);
        rd_kafka_destroy(rk);
        fail_msg("cf_test_consume_all: assign %s: %s", topic,
                 err ? rd_kafka_err2str(err) : "out of memory");
    }

    int count = 0, ends = 0;
    while (!(count >= expected && ends == partitions)) {
        int64_t left = deadline - cf_now_ms();
        if (left <= 0)
            break;
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, left < 100 ? (int)left : 100);
        if (!rkm)
            continue;
        int32_t p = rkm->partition;
        bool ours = rkm->rkt && p >= 0 && p < partitions;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (ours && !at_end[p]) {
                at_end[p] = 1;
                ends++;
            }
        } else if (rkm->err) {
            /* Mostly transient (a broker down, a reconnect): the reader
             * keeps going until the deadline. */
            print_message("cf_test_consume_all %s: %s\n", topic, rd_kafka_message_errstr(rkm));
        } else if (ours) {
            if (at_end[p]) {
                at_end[p] = 0;
                ends--;
            }
            count++;
            if (cb) {
                rd_kafka_headers_t *hdrs = NULL;
                if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
                    hdrs = NULL;
                struct cf_test_msg m = {
                    .topic = topic,
                    .partition = p,
                    .offset = rkm->offset,
                    .key = rkm->key,
                    .keylen = rkm->key_len,
                    .value = rkm->payload,
                    .len = rkm->len,
                    .headers = hdrs,
                };
                cb(&m, opaque);
            }
        }
        rd_kafka_message_destroy(rkm);
    }
    if (count < expected || ends < partitions)
        print_error("cf_test_consume_all %s: read %d of %d expected messages, %d of %d "
                    "partitions to their end, within %d ms\n",
                    topic, count, expected, ends, partitions, timeout_ms);

    free(at_end);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count;
}
