/* main.c - cachefleet-top: a live view of running consumers.
 *
 * What it owns: flags, the list of endpoints, the refresh loop and its
 * clock, the stop flag, and whether the view redraws a terminal or prints
 * plain lines.  What it does not: fetching (scrape.h), parsing (prom.h),
 * the rows and their drawing (view.h).
 *
 * DESIGN
 * Every --interval seconds, each endpoint's /metrics is fetched in turn
 * (each fetch bounded by --timeout-ms), compared with that endpoint's
 * previous scrape, and the table is drawn.  Refreshes keep to a fixed
 * cadence (start + k x interval) so a slow endpoint does not drift the
 * view; an endpoint that does not answer shows "unreachable" and the view
 * goes on.  The interval between two scrapes of the same endpoint is
 * measured, not assumed, so rates stay right when a fetch was slow.
 *
 * On a terminal the screen is cleared and redrawn in place; with --plain,
 * or when stdout is not a terminal, each refresh is a block of plain lines
 * (a title, a header, one line per consumer, a blank line), for logs and
 * scripts.  --iterations N stops after N refreshes.
 *
 * Exit status: 0 after --iterations refreshes or on SIGINT/SIGTERM, 1 when
 * stdout cannot be written, 2 for bad flags.
 *
 * Thread: main only.  The signal handlers only set the stop flag; the
 * sleeps between refreshes are cut into 100 ms slices that look at it, and
 * a fetch in progress ends within its timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "prom.h"
#include "scrape.h"
#include "view.h"

#define PROGRAM     "cachefleet-top"
#define MAX_TARGETS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* One endpoint and what its previous scrape said. */
struct target {
    char name[64]; /* given as name=host:port; "" to take the consumer label */
    char addr[128];
    char host[128];
    char port[16];
    int has_prev;
    int64_t prev_us; /* when the previous scrape was taken */
    struct top_figures prev;
    struct top_figures cur;
};

struct options {
    double interval_s;
    long long iterations; /* 0: until stopped */
    long long timeout_ms;
    int plain;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: " PROGRAM " [--interval SECONDS] [--iterations N] [--plain]\n"
                 "                      [--timeout-ms MS] [NAME=]HOST:PORT...\n"
                 "\n"
                 "Shows, for each consumer whose metrics endpoint is given, one row every\n"
                 "--interval seconds (default 1): events applied or dead-lettered per second,\n"
                 "events applied in all, Kafka lag (messages, over its partitions),\n"
                 "dead-lettered events, the Redis round trip (mean/p99, ms) and the event age\n"
                 "at apply (p99, ms) over the interval, its state (ok, redis-down,\n"
                 "broker-down, paused, unreachable) and the cache slices it touched per\n"
                 "second.  NAME defaults to the consumer label of the endpoint's metrics.\n"
                 "\n"
                 "  --interval SECONDS  time between refreshes, 0.1 to 3600 (default 1)\n"
                 "  --iterations N      stop after N refreshes (default: until Ctrl-C)\n"
                 "  --plain             plain lines even on a terminal (the default when\n"
                 "                      stdout is not a terminal)\n"
                 "  --timeout-ms MS     bound of one endpoint's fetch, 10 to 60000\n"
                 "                      (default: the interval, at most 2000)\n"
                 "\n"
                 "example: " PROGRAM " products=127.0.0.1:9101 127.0.0.1:9105\n");
}

static int parse_double(const char *text, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || isnan(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_ll(const char *text, long long lo, long long hi, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* "[name=]host:port" into t.  Returns 0, or -1 with a message printed. */
static int target_parse(struct target *t, const char *arg)
{
    memset(t, 0, sizeof(*t));
    const char *addr = arg;
    const char *eq = strchr(arg, '=');
    if (eq) {
        size_t n = (size_t)(eq - arg);
        if (n == 0 || n >= sizeof(t->name)) {
            fprintf(stderr, PROGRAM ": %s: the name must be 1 to %zu characters\n", arg,
                    sizeof(t->name) - 1);
            return -1;
        }
        memcpy(t->name, arg, n);
        t->name[n] = '\0';
        addr = eq + 1;
    }
    if (snprintf(t->addr, sizeof(t->addr), "%s", addr) >= (int)sizeof(t->addr) ||
        top_addr_split(addr, t->host, sizeof(t->host), t->port, sizeof(t->port)) < 0) {
        fprintf(stderr, PROGRAM ": %s: expected [NAME=]HOST:PORT\n", arg);
        return -1;
    }
    return 0;
}

/* Scrapes t once and fills row. */
static void target_refresh(struct target *t, int timeout_ms, struct top_row *row)
{
    char err[256];
    char *body = NULL;
    size_t len = 0;
    int64_t now = mono_us();
    int status =
        top_http_get(t->host, t->port, "/metrics", timeout_ms, &body, &len, err, sizeof(err));
    struct top_prom *p = NULL;
    if (status == 200)
        p = top_prom_parse(body, len);
    free(body);
    if (!p) {
        if (status > 0 && status != 200)
            snprintf(err, sizeof(err), "HTTP %d", status);
        else if (status == 200)
            snprintf(err, sizeof(err), "out of memory");
        top_row_unreachable(row, t->name, t->addr, err);
        t->has_prev = 0; /* rates start again when it is back */
        return;
    }
    top_figures_read(p, &t->cur);
    top_prom_destroy(p);
    double dt_s = t->has_prev ? (double)(now - t->prev_us) / 1e6 : 0;
    top_row_compute(row, t->name, t->addr, &t->cur, t->has_prev ? &t->prev : NULL, dt_s);
    t->prev = t->cur;
    t->prev_us = now;
    t->has_prev = 1;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 0;
}

/* Sleeps until the monotonic time `until` (us) or a stop, in 100 ms
 * slices. */
static void sleep_until(int64_t until)
{
    while (!stop) {
        int64_t left = until - mono_us();
        if (left <= 0)
            return;
        if (left > 100000)
            left = 100000;
        struct timespec ts = {0, (long)left * 1000};
        nanosleep(&ts, NULL); /* EINTR: the loop looks at the flag */
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"interval", required_argument, NULL, 'i'}, {"iterations", required_argument, NULL, 'n'},
        {"plain", no_argument, NULL, 'p'},          {"timeout-ms", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct options opt = {1.0, 0, -1, 0};
    int c;
    while ((c = getopt_long(argc, argv, "i:n:pt:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (parse_double(optarg, 0.1, 3600, &opt.interval_s) < 0) {
                fprintf(stderr, PROGRAM ": --interval: 0.1 to 3600 seconds, not %s\n", optarg);
                return 2;
            }
            break;
        case 'n':
            if (parse_ll(optarg, 1, 1000000000, &opt.iterations) < 0) {
                fprintf(stderr, PROGRAM ": --iterations: a positive count, not %s\n", optarg);
                return 2;
            }
            break;
        case 'p':
            opt.plain = 1;
            break;
        case 't':
            if (parse_ll(optarg, 10, 60000, &opt.timeout_ms) < 0) {
                fprintf(stderr, PROGRAM ": --timeout-ms: 10 to 60000, not %s\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int ntargets = argc - optind;
    if (ntargets < 1 || ntargets > MAX_TARGETS) {
        fprintf(stderr, PROGRAM ": give 1 to %d endpoints (see --help)\n", MAX_TARGETS);
        return 2;
    }
    if (opt.timeout_ms < 0) {
        opt.timeout_ms = (long long)(opt.interval_s * 1000);
        if (opt.timeout_ms > 2000)
            opt.timeout_ms = 2000;
    }
    struct target *targets = calloc((size_t)ntargets, sizeof(*targets));
    struct top_row *rows = calloc((size_t)ntargets, sizeof(*rows));
    int status = 0;
    if (!targets || !rows) {
        fprintf(stderr, PROGRAM ": out of memory\n");
        status = 1;
        goto done;
    }
    for (int i = 0; i < ntargets; i++) {
        if (target_parse(&targets[i], argv[optind + i]) < 0) {
            status = 2;
            goto done;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: a sleep ends at once */
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout shows as a write error */

    struct top_view_opts view = {0};
    view.ansi = !opt.plain && isatty(STDOUT_FILENO);
    view.interval_s = opt.interval_s;
    int64_t start = mono_us(), interval_us = (int64_t)(opt.interval_s * 1e6);
    for (long long refresh = 1; !stop; refresh++) {
        for (int i = 0; i < ntargets && !stop; i++)
            target_refresh(&targets[i], (int)opt.timeout_ms, &rows[i]);
        if (stop)
            break;
        view.refresh = refresh;
        view.width = view.ansi ? terminal_width() : 0;
        top_view_render(stdout, rows, (size_t)ntargets, &view);
        if (ferror(stdout)) {
            if (errno != EPIPE)
                fprintf(stderr, PROGRAM ": writing the view: %s\n", strerror(errno));
            status = errno == EPIPE ? 0 : 1;
            break;
        }
        if (opt.iterations && refresh >= opt.iterations)
            break;
        int64_t next = start + refresh * interval_us;
        if (next < mono_us()) /* fetching took longer than an interval: no burst */
            start = mono_us() - refresh * interval_us;
        sleep_until(start + refresh * interval_us);
    }
done:
    free(targets);
    free(rows);
    return status;
}
