/* scrape.h - one HTTP/1.0 GET of a consumer's /metrics.
 *
 * What it owns: an address ("host:port", "[v6]:port"), a TCP connection
 * made and closed per request, and the response's status and body.  What
 * it does not own: reading the body (prom.h).
 *
 * DESIGN
 * HTTP/1.0 with "Connection: close": the server ends the body by closing,
 * so no chunked encoding and no keep-alive to manage; a Content-Length,
 * when sent, is still checked so a cut-short body is an error.  The whole
 * request (name lookup aside: give numeric addresses for a bounded wait)
 * is bounded by one deadline: a non-blocking connect, then poll before
 * every write and read.  Writes use MSG_NOSIGNAL, so a peer that went away
 * cannot raise SIGPIPE.
 *
 * Thread: any; no shared state.
 */
#ifndef TOP_SCRAPE_H
#define TOP_SCRAPE_H

#include <stddef.h>

#define TOP_SCRAPE_MAX_BODY (16u << 20)

/* Splits "host:port" or "[v6addr]:port" into host and port.  Returns 0, or
 * -1 when there is no port or a part does not fit. */
int top_addr_split(const char *addr, char *host, size_t host_size, char *port, size_t port_size);

/* GET http://host:port/path, all of it within timeout_ms.  Returns the
 * status code with the body in *body (NUL-terminated, *len bytes before
 * the NUL; a new string, free() it), or -1 with the reason in errstr
 * (*body is NULL then). */
int top_http_get(const char *host, const char *port, const char *path, int timeout_ms, char **body,
                 size_t *len, char *errstr, size_t errstr_size);

#endif
