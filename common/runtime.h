/* runtime.h - what a consumer program hands to the runtime, and the loop.
 *
 * What it owns: the life of a consumer program, from its flags to exit:
 * settings, logging, the decoder, the Kafka source, the apply stage, the
 * dead-letter stage, metrics and the HTTP endpoint, and the consume loop
 * that runs the data flow of DESIGN.md for each batch:
 *   source -> decode -> plan (the consumer's handler) -> coalesce -> apply
 *   -> dead-letter -> store offsets -> commit
 * with the guarantees: offsets are stored only after Redis acknowledged the
 * batch and the dead-letter topic acknowledged its bad events; while Redis
 * or the dead-letter topic fail, fetching is paused and the batch in hand
 * is retried with backoff (each state change logged once); before
 * partitions are revoked the batch in hand is applied and committed;
 * SIGTERM finishes the batch in hand, commits, leaves the group, exits 0.
 *
 * What it does not own: the slices.  A consumer is a struct
 * cf_consumer_def: its name, topic, schema, settings, and a handler that
 * maps a decoded Avro value onto its event struct and calls its pure
 * planner.
 */
#ifndef CF_RUNTIME_H
#define CF_RUNTIME_H

#include <avro.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "plan.h"

/* What the runtime tells a handler about one event, and what the handler
 * tells back. */
struct cf_event {
    /* in */
    int64_t kafka_ts_ms;     /* the message's timestamp */
    size_t max_id_bytes;     /* cache.max_id_bytes */
    /* out */
    const char *type;        /* static name of the event type (metrics label); NULL: unknown */
    char reason[256];        /* why the event was rejected, when handle() returns -1 */
};

struct cf_consumer_def {
    const char *name;          /* "products": settings section, group id, logs, metrics */
    const char *topic;         /* default topic, e.g. "shop.products" */
    const char *schema_file;   /* reader schema in schemas.dir, e.g. "products.avsc" */
    const char *const *event_types; /* NULL-terminated names handle() may set */

    /* The consumer's own settings ("products.product_ttl_s", ...), filling
     * a struct of settings_size bytes that the runtime allocates. */
    const struct cf_setting *settings;
    size_t nsettings;
    size_t settings_size;
    /* Checks the consumer's settings together; 0, or -1 with errstr naming
     * them.  May be NULL. */
    int (*check_settings)(const void *settings, char *errstr, size_t errstr_size);
    /* The longest TTL, in ms, the consumer's operations use. */
    int64_t (*max_ttl_ms)(const void *settings);

    /* The handler: made once at start, after the schemas are loaded
     * (settings and reader are borrowed for its lifetime). */
    void *(*handler_new)(const void *settings, avro_schema_t reader, char *errstr,
                         size_t errstr_size);
    void (*handler_destroy)(void *handler);
    /* Maps one decoded event onto cache operations appended to plan.
     * Returns 0, or -1 with ev->reason set (the runtime rolls back what was
     * appended and dead-letters the message).  Pure: no I/O. */
    int (*handle)(void *handler, const avro_value_t *value, struct cf_event *ev,
                  struct cf_plan *plan);
};

/* The mmap threshold cf_malloc_tune() fixes: blocks from 1 MiB up get an
 * mmap of their own, given back when freed. */
#define CF_MMAP_THRESHOLD (1 << 20)

/* What cf_malloc_tune() did. */
enum cf_malloc_tuning {
    CF_MALLOC_FIXED,       /* glibc's mmap threshold fixed at CF_MMAP_THRESHOLD */
    CF_MALLOC_OPERATOR,    /* GLIBC_TUNABLES is set: the operator's choice, left alone */
    CF_MALLOC_UNAVAILABLE, /* not glibc's malloc (or it refused): its defaults */
};

/* Called first by cf_runtime_main (see runtime.c for why).  Idempotent. */
enum cf_malloc_tuning cf_malloc_tune(void);

/* The "malloc" field of the "started" log line. */
const char *cf_malloc_tuning_name(enum cf_malloc_tuning t);

/* Runs a consumer program: parses argv (getopt_long: --config, --check-config,
 * --print-config, --config-reference, --from-beginning, --help, --version),
 * loads settings, runs until *stop is set (by the program's signal
 * handler) or a fatal error.  Returns the process exit status: 0 after a
 * clean stop, 1 after a fatal error, 2 for bad flags or settings. */
int cf_runtime_main(const struct cf_consumer_def *def, int argc, char **argv,
                    volatile sig_atomic_t *stop);

#endif
