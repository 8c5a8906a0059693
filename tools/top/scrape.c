/* scrape.c - one HTTP/1.0 GET of a consumer's /metrics (see scrape.h).
 *
 * Thread: any.
 */
#include "scrape.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int top_addr_split(const char *addr, char *host, size_t host_size, char *port, size_t port_size)
{
    const char *host_start = addr, *host_end, *colon;
    if (addr[0] == '[') {
        host_start = addr + 1;
        host_end = strchr(host_start, ']');
        if (!host_end || host_end[1] != ':')
            return -1;
        colon = host_end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || strchr(addr, ':') != colon) /* a bare v6 address needs brackets */
            return -1;
        host_end = colon;
    }
    size_t hn = (size_t)(host_end - host_start), pn = strlen(colon + 1);
    if (hn == 0 || hn >= host_size || pn == 0 || pn >= port_size)
        return -1;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
    }
    memcpy(host, host_start, hn);
    host[hn] = '\0';
    memcpy(port, colon + 1, pn + 1);
    return 0;
}

/* Waits until fd is ready for events or the deadline passes.  Returns 1
 * ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue; /* a signal: the caller's deadline still holds */
        if (rc < 0)
            return -1;
        if (rc > 0)
            return 1;
    }
}

/* A connected socket to one of host:port's addresses, or -1. */
static int dial(const char *host, const char *port, int64_t deadline, char *errstr,
                size_t errstr_size)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(errstr, errstr_size, "%s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    snprintf(errstr, errstr_size, "no address");
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            snprintf(errstr, errstr_size, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int ready = wait_fd(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (ready > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            snprintf(errstr, errstr_size, "connect: %s",
                     ready == 0 ? "timed out" : strerror(soerr ? soerr : errno));
        } else {
            snprintf(errstr, errstr_size, "connect: %s", strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* The response's status code and where its body starts, from the head in
 * buf (NUL-terminated).  Returns the status, or -1. */
static int parse_head(const char *buf, const char **body, long long *content_length)
{
    int status = -1;
    *content_length = -1;
    if (strncmp(buf, "HTTP/1.", 7) != 0 || sscanf(buf + 7, "%*d %3d", &status) != 1)
        return -1;
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return -1;
    *body = end + 4;
    for (const char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            char *endp = NULL;
            long long v = strtoll(line + 15, &endp, 10);
            if (endp != line + 15 && v >= 0)
                *content_length = v;
        }
    }
    return status;
}

int top_http_get(const char *host, const char *port, const char *path, int timeout_ms, char **body,
                 size_t *len, char *errstr, size_t errstr_size)
{
    int64_t deadline = mono_ms() + timeout_ms;
    char req[512];
    char *buf = NULL;
    size_t cap = 0, n = 0;
    *body = NULL;
    *len = 0;
    int fd = dial(host, port, deadline, errstr, errstr_size);
    if (fd < 0)
        return -1;
    int reqlen = snprintf(req, sizeof(req),
                          "GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n"
                          "Accept: text/plain\r\n\r\n",
                          path, host, port);
    if (reqlen < 0 || (size_t)reqlen >= sizeof(req)) {
        snprintf(errstr, errstr_size, "request too long");
        goto fail;
    }
    for (size_t sent = 0; sent < (size_t)reqlen;) {
        int ready = wait_fd(fd, POLLOUT, deadline);
        if (ready <= 0) {
            snprintf(errstr, errstr_size, "send: %s", ready == 0 ? "timed out" : strerror(errno));
            goto fail;
        }
        ssize_t w = send(fd, req + sent, (size_t)reqlen - sent, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w < 0) {
            snprintf(errstr, errstr_size, "send: %s", strerror(errno));
            goto fail;
        }
        sent += (size_t)w;
    }
    for (;;) {
        if (cap - n < 4096) {
            size_t grown = cap ? cap * 2 : 65536;
            if (grown > TOP_SCRAPE_MAX_BODY + 65536) {
                snprintf(errstr, errstr_size, "response larger than %u bytes", TOP_SCRAPE_MAX_BODY);
                goto fail;
            }
            char *p = realloc(buf, grown);
            if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
            }
            buf = p;
            cap = grown;
        }
        int ready = wait_fd(fd, POLLIN, deadline);
        if (ready <= 0) {
            snprintf(errstr, errstr_size, "read: %s", ready == 0 ? "timed out" : strerror(errno));
            goto fail;
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0) {
            snprintf(errstr, errstr_size, "read: %s", strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    fd = -1;
    if (!buf) {
        snprintf(errstr, errstr_size, "empty response");
        goto fail;
    }
    buf[n] = '\0';
    const char *start = NULL;
    long long content_length;
    int status = parse_head(buf, &start, &content_length);
    if (status < 0) {
        snprintf(errstr, errstr_size, "not an HTTP response");
        goto fail;
    }
    size_t blen = n - (size_t)(start - buf);
    if (content_length >= 0 && (unsigned long long)content_length != blen) {
        snprintf(errstr, errstr_size, "body of %zu bytes, Content-Length %lld", blen,
                 content_length);
        goto fail;
    }
    memmove(buf, start, blen);
    buf[blen] = '\0';
    *body = buf; /* handed to the caller */
    *len = blen;
    return status;
fail:
    if (fd >= 0)
        close(fd);
    free(buf);
    return -1;
}
