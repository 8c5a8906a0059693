/* scrape.c - reading a consumer's /metrics (see scrape.h).
 *
 * DESIGN
 * HTTP/1.0 with "Connection: close" semantics: read until the server
 * closes, within one deadline.  The Prometheus text is parsed line by line
 * with no allocation: a sample line is "<name>[{labels}] <value>", and
 * comment lines start with '#'.
 *
 * Thread: any; no shared state.
 */
#include "scrape.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc.h"

int bench_http_get(int port, const char *path, char **body, int timeout_ms)
{
    *body = NULL;
    int64_t deadline = bench_mono_ms() + timeout_ms;
    char *buf = NULL;
    int status = -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
        goto fail;
    struct pollfd pw = {fd, POLLOUT, 0};
    if (poll(&pw, 1, timeout_ms) <= 0)
        goto fail;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0)
        goto fail;

    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto fail;

    size_t cap = 65536, len = 0;
    buf = malloc(cap);
    if (!buf)
        goto fail;
    for (;;) {
        int64_t left = deadline - bench_mono_ms();
        if (left <= 0)
            goto fail;
        struct pollfd pr = {fd, POLLIN, 0};
        int pn = poll(&pr, 1, (int)left);
        if (pn < 0 && errno == EINTR)
            continue;
        if (pn <= 0)
            goto fail;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                goto fail;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        goto fail;
    const char *start = strstr(buf, "\r\n\r\n");
    start = start ? start + 4 : buf + len;
    memmove(buf, start, strlen(start) + 1);
    *body = buf;
    close(fd);
    return status;

fail:
    free(buf);
    close(fd);
    return -1;
}

/* If line is a sample of exactly `name` (followed by '{' or ' '), returns a
 * pointer just after the name; else NULL. */
static const char *sample_of(const char *line, const char *name, size_t name_len)
{
    if (strncmp(line, name, name_len) != 0)
        return NULL;
    char c = line[name_len];
    return c == '{' || c == ' ' ? line + name_len : NULL;
}

/* The value of a sample line (after its labels), or NAN. */
static double sample_value(const char *after_name)
{
    const char *p = after_name;
    if (*p == '{') {
        p = strchr(p, '}');
        if (!p)
            return NAN;
        p++;
    }
    char *end = NULL;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

double bench_prom_sum(const char *text, const char *name)
{
    size_t name_len = strlen(name);
    double sum = 0;
    int found = 0;
    for (const char *line = text; line && *line;) {
        const char *after = line[0] != '#' ? sample_of(line, name, name_len) : NULL;
        if (after) {
            double v = sample_value(after);
            if (!isnan(v)) {
                sum += v;
                found = 1;
            }
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return found ? sum : -1;
}

int bench_prom_histogram(const char *text, const char *name, struct bench_histogram *h)
{
    char bucket[256], sum_name[256], count_name[256];
    memset(h, 0, sizeof(*h));
    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    snprintf(sum_name, sizeof(sum_name), "%s_sum", name);
    snprintf(count_name, sizeof(count_name), "%s_count", name);
    size_t blen = strlen(bucket);
    for (const char *line = text; line && *line;) {
        const char *after = line[0] != '#' ? sample_of(line, bucket, blen) : NULL;
        if (after && *after == '{' && h->n < BENCH_HIST_MAX) {
            const char *le = strstr(after, "le=\"");
            const char *close = strchr(after, '}');
            if (le && close && le < close) {
                le += 4;
                double bound;
                if (strncmp(le, "+Inf", 4) == 0) {
                    bound = HUGE_VAL;
                } else {
                    char *end = NULL;
                    bound = strtod(le, &end);
                    if (end == le)
                        return -1;
                }
                double v = sample_value(after);
                if (isnan(v))
                    return -1;
                h->le[h->n] = bound;
                h->cum[h->n] = v;
                h->n++;
            }
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    h->sum = bench_prom_sum(text, sum_name);
    h->count = bench_prom_sum(text, count_name);
    if (h->n == 0 || h->count < 0 || h->le[h->n - 1] != HUGE_VAL)
        return -1;
    return 0;
}

double bench_histogram_quantile(const struct bench_histogram *h, double q, int *overflow)
{
    *overflow = 0;
    if (h->n == 0 || h->cum[h->n - 1] <= 0)
        return -1;
    double total = h->cum[h->n - 1];
    double rank = q * total;
    double prev_cum = 0, prev_le = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->cum[i] >= rank) {
            if (h->le[i] == HUGE_VAL) {
                *overflow = 1;
                return prev_le;
            }
            double in_bucket = h->cum[i] - prev_cum;
            double frac = in_bucket > 0 ? (rank - prev_cum) / in_bucket : 1.0;
            return prev_le + (h->le[i] - prev_le) * frac;
        }
        prev_cum = h->cum[i];
        prev_le = h->le[i];
    }
    return prev_le;
}
