/* proc.h - the benchmark's child processes: spawn, signal, reap with the
 * child's resource usage, and the small clock and port helpers around them.
 *
 * What it owns: starting a program (redis-server, the broker, a consumer)
 * as a child of the benchmark, and ending it; nothing about what the child
 * is.  What it does not own: readiness (servers.c knows what "ready" means
 * for each server) or the figures read from a child (runner.c).
 *
 * DESIGN
 * The same rules as the test harness (tests/support/harness.c), written
 * again here because the benchmark must not link the cmocka-based test
 * support library:
 * - Only our own children are ever signalled: a struct bench_proc keeps its
 *   pid until wait4() collects it, and a reaped or never-started one is
 *   never signalled (a pid cannot be recycled before it is reaped).
 * - Every child gets PR_SET_PDEATHSIG(SIGKILL), so nothing outlives a
 *   crashed benchmark (the signal follows the *thread* that spawned it:
 *   spawn from the main thread only).
 * - The environment and every descriptor are prepared before fork(): the
 *   benchmark has librdkafka threads, so the child only calls
 *   async-signal-safe functions until execve().  An execve() failure is
 *   reported through a close-on-exec pipe, so a wrong path fails at spawn.
 * - Reaping uses wait4(), which hands back the child's rusage: CPU time and
 *   peak RSS of a consumer come from there.
 * - Every wait has a timeout.
 *
 * Thread: the main thread.
 */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct bench_proc {
    pid_t pid;           /* > 0 once started; kept after reaping, for messages */
    int started;         /* 1 after a successful spawn */
    int reaped;          /* 1 once wait4() collected it: never signalled again */
    int wstatus;         /* raw wait status, valid when reaped */
    struct rusage usage; /* the child's rusage, valid when reaped */
    char name[64];       /* basename of argv[0], for messages */
};

/* Starts argv[0] (a path, no PATH search) with argv.  env_extra: "K=V"
 * strings added to the inherited environment (replacing a variable of the
 * same name), NULL-terminated, may be NULL.  log_path: stdout and stderr
 * are appended there (NULL: inherited).  stdin is /dev/null, unless
 * chat_fd is not NULL: then stdin and stdout are one end of a Unix stream
 * socketpair whose other end is returned in *chat_fd (the caller owns and
 * closes it; stderr still goes to log_path).  Returns 0, or -1 with the
 * reason in errstr.  p is reset first. */
int bench_proc_spawn(struct bench_proc *p, char *const argv[], char *const env_extra[],
                     const char *log_path, int *chat_fd, char *errstr, size_t errstr_size);

/* Sends sig.  Returns 0, or -1 when p was never started or is reaped
 * (nothing is sent then). */
int bench_proc_signal(struct bench_proc *p, int sig);

/* 1 while the child runs; 0 once it has exited (it is reaped then) or was
 * never started. */
int bench_proc_alive(struct bench_proc *p);

/* Waits up to timeout_ms for the child to exit and reaps it.  Returns its
 * shell-style status (exit code, or 128 + signal), or -1 on timeout (the
 * child keeps running) or when it was never started. */
int bench_proc_wait(struct bench_proc *p, int timeout_ms);

/* SIGTERM, waits up to timeout_ms, then SIGKILL and a bounded wait; always
 * reaps.  Returns the status as bench_proc_wait() (137: it needed SIGKILL),
 * 0 for a never-started p, -1 if it could not be reaped. */
int bench_proc_stop(struct bench_proc *p, int timeout_ms);

/* Shell-style status of a reaped child, -1 otherwise. */
int bench_proc_status(const struct bench_proc *p);

/* CPU seconds (user + system) of a reaped child, from wait4(). */
double bench_proc_cpu_s(const struct bench_proc *p);

/* The running child's peak RSS in KiB (VmHWM of /proc/<pid>/status), or -1
 * when it cannot be read (not running).  Not wait4()'s ru_maxrss: Linux
 * folds the high-water mark of the memory a child had before execve() -
 * a copy of the benchmark's, which holds the events, hundreds of MB - into
 * it, so ru_maxrss would measure the benchmark, not the program. */
long bench_proc_hwm_kib(struct bench_proc *p);

/* The running child's CPU seconds so far (user + system, every thread,
 * from /proc/<pid>/stat: clock ticks, 10 ms here), or -1 when it cannot
 * be read (not running). */
double bench_proc_cpu_now_s(struct bench_proc *p);

/* The benchmark's own CPU seconds so far (getrusage: every thread, the
 * paced producer's and librdkafka's included). */
double bench_self_cpu_s(void);

/* A TCP port of 127.0.0.1 nobody listens on right now (bound and
 * released: a small race, which the callers retry), or -1. */
int bench_free_port(void);

/* Monotonic and wall clocks, and a sleep that resumes after a signal
 * until its full length has passed. */
int64_t bench_mono_us(void);
int64_t bench_mono_ms(void);
int64_t bench_wall_ms(void);
void bench_sleep_ms(int ms);

/* Writes the last `bytes` bytes of a file to stderr, framed by a label
 * (for a failure message). */
void bench_print_tail(const char *label, const char *path, size_t bytes);

#endif
