/* proc.c - the benchmark's child processes (see proc.h for the contracts).
 *
 * DESIGN
 * fork() + execve() rather than posix_spawn(): the child must tie itself to
 * the benchmark with PR_SET_PDEATHSIG before it runs anything, which
 * posix_spawn() cannot do.  Between fork() and execve() only
 * async-signal-safe calls are made (the environment array, the log file and
 * the socketpair are all prepared before the fork).
 *
 * Thread: the main thread.
 */
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define KILL_REAP_MS 5000

/* ------------------------------------------------------------------------
 * Clocks
 * ------------------------------------------------------------------------ */

int64_t bench_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t bench_mono_ms(void)
{
    return bench_mono_us() / 1000;
}

int64_t bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bench_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------------
 * Spawning
 * ------------------------------------------------------------------------ */

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

/* Closes every descriptor from 3 up, except keep.  Async-signal-safe. */
static void close_fds(int keep, long max_fd)
{
#ifdef SYS_close_range
    bool done = (keep == 3 || syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0) &&
                syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0;
    if (done)
        return;
#endif
    for (int fd = 3; fd < max_fd; fd++) {
        if (fd != keep)
            close(fd);
    }
}

/* Runs in the child between fork() and execve(); never returns. */
static void child_exec(pid_t parent, char *const argv[], char **envp, int in_fd, int out_fd,
                       int err_fd, int report_fd, long max_fd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127); /* the benchmark died before we could tie ourselves to it */

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
    close_fds(report_fd, max_fd);
    execve(argv[0], argv, envp);
    int e = errno;
    (void)!write(report_fd, &e, sizeof(e));
    _exit(127);
}

int bench_proc_spawn(struct bench_proc *p, char *const argv[], char *const env_extra[],
                     const char *log_path, int *chat_fd, char *errstr, size_t errstr_size)
{
    char **envp = NULL;
    int log_fd = -1, null_fd = -1, report[2] = {-1, -1}, sv[2] = {-1, -1};
    int rc = -1;

    memset(p, 0, sizeof(*p));
    if (!argv || !argv[0]) {
        snprintf(errstr, errstr_size, "no program to start");
        return -1;
    }
    const char *slash = strrchr(argv[0], '/');
    snprintf(p->name, sizeof(p->name), "%s", slash ? slash + 1 : argv[0]);
    if (chat_fd)
        *chat_fd = -1;

    envp = env_build(env_extra);
    if (!envp) {
        snprintf(errstr, errstr_size, "%s: out of memory", p->name);
        goto fail;
    }
    if (log_path) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            snprintf(errstr, errstr_size, "%s: open %s: %s", p->name, log_path, strerror(errno));
            goto fail;
        }
    }
    if (chat_fd) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            snprintf(errstr, errstr_size, "%s: socketpair: %s", p->name, strerror(errno));
            goto fail;
        }
    } else {
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0) {
            snprintf(errstr, errstr_size, "%s: open /dev/null: %s", p->name, strerror(errno));
            goto fail;
        }
    }
    if (pipe(report) != 0 || fcntl(report[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(report[1], F_SETFD, FD_CLOEXEC) != 0) {
        snprintf(errstr, errstr_size, "%s: pipe: %s", p->name, strerror(errno));
        goto fail;
    }

    long max_fd = sysconf(_SC_OPEN_MAX);
    if (max_fd < 0 || max_fd > 65536)
        max_fd = 65536;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errstr, errstr_size, "%s: fork: %s", p->name, strerror(errno));
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
        snprintf(errstr, errstr_size, "%s: exec %s: %s", p->name, argv[0], strerror(child_errno));
        bench_proc_wait(p, KILL_REAP_MS);
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

/* ------------------------------------------------------------------------
 * Signals and reaping
 * ------------------------------------------------------------------------ */

static int shell_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return -1;
}

/* One non-blocking reap attempt.  Returns 1 when reaped (now or before). */
static int try_reap(struct bench_proc *p)
{
    if (p->reaped)
        return 1;
    int wstatus;
    struct rusage ru;
    pid_t r = wait4(p->pid, &wstatus, WNOHANG, &ru);
    if (r == p->pid) {
        p->reaped = 1;
        p->wstatus = wstatus;
        p->usage = ru;
        return 1;
    }
    return 0;
}

int bench_proc_signal(struct bench_proc *p, int sig)
{
    /* pid > 1: kill(0) or kill(-1) would reach far more than our child. */
    if (!p->started || p->reaped || p->pid <= 1)
        return -1;
    return kill(p->pid, sig);
}

int bench_proc_alive(struct bench_proc *p)
{
    return p->started && !try_reap(p);
}

int bench_proc_wait(struct bench_proc *p, int timeout_ms)
{
    if (!p->started)
        return -1;
    int64_t deadline = bench_mono_ms() + timeout_ms;
    int nap = 1;
    while (!try_reap(p)) {
        if (bench_mono_ms() >= deadline)
            return -1;
        bench_sleep_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
    return shell_status(p->wstatus);
}

int bench_proc_stop(struct bench_proc *p, int timeout_ms)
{
    if (!p->started)
        return 0;
    if (p->reaped)
        return shell_status(p->wstatus);
    bench_proc_signal(p, SIGTERM);
    int status = bench_proc_wait(p, timeout_ms);
    if (status >= 0)
        return status;
    fprintf(stderr, "cachefleet-bench: %s (pid %d) ignored SIGTERM for %d ms: SIGKILL\n", p->name,
            (int)p->pid, timeout_ms);
    bench_proc_signal(p, SIGKILL);
    status = bench_proc_wait(p, KILL_REAP_MS);
    if (status < 0)
        fprintf(stderr, "cachefleet-bench: %s (pid %d) could not be reaped\n", p->name,
                (int)p->pid);
    return status;
}

int bench_proc_status(const struct bench_proc *p)
{
    return p->reaped ? shell_status(p->wstatus) : -1;
}

/* User + system CPU seconds of a resource usage. */
static double rusage_cpu_s(const struct rusage *u)
{
    return (double)u->ru_utime.tv_sec + (double)u->ru_utime.tv_usec / 1e6 +
           (double)u->ru_stime.tv_sec + (double)u->ru_stime.tv_usec / 1e6;
}

double bench_proc_cpu_s(const struct bench_proc *p)
{
    return rusage_cpu_s(&p->usage);
}

long bench_proc_hwm_kib(struct bench_proc *p)
{
    if (!bench_proc_alive(p))
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

double bench_proc_cpu_now_s(struct bench_proc *p)
{
    if (!bench_proc_alive(p))
        return -1;
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *got = fgets(line, sizeof(line), f);
    fclose(f);
    if (!got)
        return -1;
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses,
     * so the fields are counted from its last ')'. utime and stime are
     * fields 14 and 15, the 12th and 13th after it. */
    const char *at = strrchr(line, ')');
    if (!at)
        return -1;
    at++;
    unsigned long long ticks[2];
    for (int field = 3, k = 0; field <= 15; field++) {
        while (*at == ' ')
            at++;
        if (!*at)
            return -1;
        if (field >= 14) {
            char *end;
            ticks[k++] = strtoull(at, &end, 10);
            at = end;
        } else {
            at += strcspn(at, " ");
        }
    }
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)(ticks[0] + ticks[1]) / (double)hz : -1;
}

double bench_self_cpu_s(void)
{
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) < 0 ? -1 : rusage_cpu_s(&u);
}

/* ------------------------------------------------------------------------
 * Ports and logs
 * ------------------------------------------------------------------------ */

int bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

void bench_print_tail(const char *label, const char *path, size_t bytes)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "--- %s: no log at %s (%s) ---\n", label, path, strerror(errno));
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
    fprintf(stderr, "--- %s: last %zu bytes of %s ---\n%s\n--- end of %s ---\n", label, n, path,
            buf, label);
    free(buf);
    fclose(f);
}
