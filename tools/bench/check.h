/* check.h - the sample check of any consumer: the cache state its events
 * imply, computed by the oracle's model, compared key by key with Redis.
 *
 * What it owns: building the model (tools/oracle/model.h) of a range of
 * the benchmark's events with the consumer's own decoder and planner
 * (pipeline.h, no Redis), choosing a sample of the keys the model knows,
 * and reading them back: a value key's bytes (or its absence: a
 * tombstone), its marker {<key>}:v ("V W T": the version and times the
 * rules left), an index set's members and its marker.  What it does not
 * own: the rules (the model mirrors functions.lua) or the phases that
 * decide when a check runs (main.c).
 *
 * DESIGN
 * The model applies the events one at a time, in their order in the store
 * (the generators give them strictly increasing occurred_at), at their
 * occurred_at, as the oracle does; the fleet's rules make the result
 * independent of the consumer's batches and coalescing, so any difference
 * is a fault of the consumer (or of the rules).  The model is kept for
 * the next check of the same range (the three runs of the main workload
 * share one model).
 *
 * Markers: T, the time of the newest invalidation from another entity
 * (an xinval, a role's fan-out), depends on the order in which Redis met
 * events of different partitions (a fan-out walks the members the set has
 * when it runs), and so does a marker of another entity's time alone
 * ("0 0 T"), and so do the version and write time a marker keeps when
 * such an invalidation refused some of the owner's warms; the value does
 * not.  So a marker is compared on its version and write time, V and W,
 * when neither the model nor Redis holds a T; with a T only the value
 * counts; a set's marker is compared whole.
 *
 * Time: Redis counts a TTL from when the consumer applied the operation,
 * which lies after since_us (the start of the consumer run).  A value or
 * a marker the model holds and Redis lacks is "expired", not missing,
 * when its TTL (for a marker: the value's TTL plus the tombstone TTL) is
 * shorter than the time since since_us; otherwise it is missing.  Bytes
 * that differ are always stale.
 *
 * Thread: the main thread.
 */
#ifndef BENCH_CHECK_H
#define BENCH_CHECK_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "targets.h"

struct bench_checker;

/* A checker for the schemas in schemas_dir.  Never returns NULL (aborts
 * when out of memory). */
struct bench_checker *bench_checker_new(const char *schemas_dir);
void bench_checker_destroy(struct bench_checker *ck);

/* Checks `sample` keys (picked with seed) of those events [from, to) of es
 * touch, as t's consumer planned them, in Redis through c.  since_us is
 * when the consumer run started (wall clock).  Returns 0 with *out filled
 * (out->ok: nothing missing or stale), or -1 with errstr when the model
 * could not be built or Redis could not be read. */
int bench_check_model(struct bench_checker *ck, redisContext *c, const struct bench_target *t,
                      const struct bench_events *es, size_t from, size_t to, size_t sample,
                      uint64_t seed, int64_t since_us, struct bench_check *out, char *errstr,
                      size_t errstr_size);

#endif
