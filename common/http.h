/* http.h - the metrics and health endpoint.
 *
 * What it owns: an HTTP server (libmicrohttpd, its own thread) answering
 *   GET /metrics  the consumer's metrics, Prometheus text format 0.0.4;
 *   GET /healthz  200 while the consume loop is alive (it ticked within
 *                 the last 60 s), 503 when it is stuck;
 *   GET /readyz   200 when partitions are assigned, Redis is reachable
 *                 and the function library is loaded; 503 with the reason
 *                 otherwise.
 * What it does not own: the figures (metrics.c).
 *
 * Thread: libmicrohttpd's internal thread reads the metrics concurrently
 * with the runtime's thread (every figure is atomic, see metrics.h).
 */
#ifndef CF_HTTP_H
#define CF_HTTP_H

#include <stddef.h>

#include "log.h"
#include "metrics.h"

struct cf_http_settings {
    const char *bind; /* IPv4 or IPv6 address, e.g. "0.0.0.0", "127.0.0.1", "::" */
    int port;
    long long stuck_ms; /* /healthz answers 503 when the consume loop has not
                         * ticked for longer (http.stuck_ms) */
};

struct cf_http;

/* Starts serving.  m and lg are borrowed.  Returns NULL with the reason in
 * errstr (naming http.bind or http.port). */
struct cf_http *cf_http_new(const struct cf_http_settings *s, struct cf_metrics *m,
                            struct cf_log *lg, char *errstr, size_t errstr_size);

/* Stops serving and frees.  Safe on NULL. */
void cf_http_destroy(struct cf_http *h);

#endif
