/* http.c - the metrics and health endpoint.
 *
 * DESIGN
 * libmicrohttpd with its internal polling thread: the consume loop never
 * waits for a scrape.  A /metrics response is rendered into a memory
 * stream and handed over (MHD frees it).
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"

struct cf_http {
    struct MHD_Daemon *daemon;
    struct cf_metrics *m;
    struct cf_log *lg;
    long long stuck_ms; /* the loop is stuck when it has not ticked for this long */
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *body)
{
    return reply(conn, status, "text/plain; charset=utf-8", (char *)(uintptr_t)body,
                 strlen(body), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    struct cf_http *h = cls;
    struct cf_metrics *m = h->m;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");

    if (strcmp(url, "/metrics") == 0) {
        char *body = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&body, &len);
        if (!out)
            return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        cf_metrics_render(m, out);
        fclose(out);
        return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        int64_t beat = atomic_load(&m->heartbeat_ms);
        if (beat && cf_mono_ms() - beat > h->stuck_ms)
            return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                        "stuck: the consume loop has not run for longer than http.stuck_ms\n");
        return text(conn, MHD_HTTP_OK, "ok\n");
    }
    if (strcmp(url, "/readyz") == 0) {
        if (!atomic_load(&m->redis_up))
            return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                        "not ready: redis unreachable or functions not loaded\n");
        if (atomic_load(&m->assigned_partitions) <= 0)
            return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: no partition assigned\n");
        return text(conn, MHD_HTTP_OK, "ready\n");
    }
    return text(conn, MHD_HTTP_NOT_FOUND, "not found: /metrics /healthz /readyz\n");
}

struct cf_http *cf_http_new(const struct cf_http_settings *s, struct cf_metrics *m,
                            struct cf_log *lg, char *errstr, size_t errstr_size)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, s->bind, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->port);
    } else if (inet_pton(AF_INET6, s->bind, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(errstr, errstr_size, "setting http.bind: '%s' is not an IPv4 or IPv6 address",
                 s->bind);
        return NULL;
    }
    struct cf_http *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    h->m = m;
    h->lg = lg;
    h->stuck_ms = s->stuck_ms > 0 ? s->stuck_ms : 60000;
    h->daemon = MHD_start_daemon(flags, (uint16_t)s->port, NULL, NULL, handle, h,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(errstr, errstr_size, "setting http.port: cannot listen on %s port %d", s->bind,
                 s->port);
        free(h);
        return NULL;
    }
    cf_log_emit(lg, CF_LOG_INFO, "http endpoint listening", CF_LS("bind", s->bind),
                CF_LI("port", s->port), CF_LEND);
    return h;
}

void cf_http_destroy(struct cf_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
