/* httpget.h - a minimal HTTP/1.0 GET for tests that scrape a consumer's
 * /metrics, /healthz and /readyz on 127.0.0.1. */
#ifndef CF_HTTPGET_H
#define CF_HTTPGET_H

#include <stddef.h>

/* GET http://127.0.0.1:<port><path>.  Returns the status code (body, NUL
 * terminated and cut to size, in body), or -1 if nothing answered within
 * timeout_ms. */
int cf_http_get(int port, const char *path, char *body, size_t size, int timeout_ms);

/* A free TCP port on 127.0.0.1 (bound and released: a small race). */
int cf_free_port(void);

/* The value of the first sample of a Prometheus metric whose name and
 * labels start with prefix (e.g. "cachefleet_batches_total{"), or -1. */
double cf_metric_value(const char *metrics, const char *prefix);

#endif
