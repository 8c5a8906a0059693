/* pipeline.h - a consumer's own stages, in the benchmark's process: the
 * real decoder, the consumer's handler and planner, coalescing and the
 * apply stage, without Kafka in front.
 *
 * What it owns: setting those stages up exactly as the runtime does for
 * the consumer program (the runtime's and the consumer's settings at their
 * defaults, the schemas, the handler, a plan, a cf_apply on the
 * benchmark's redis-server) and feeding them one message at a time.  What
 * it does not own: timing or batching policy (limits.c decides what is
 * measured) or the stages themselves (common/, consumers/).
 *
 * DESIGN
 * pipeline_plan() mirrors the runtime's plan_batch() for one message:
 * size limit, decode, mark, handle, roll back on rejection.  So the
 * "fleet functions" ceiling and the naive baseline run the very code the
 * consumer runs, and only the surroundings differ.
 *
 * Thread: one pipeline per thread (the main thread here).
 */
#ifndef BENCH_PIPELINE_H
#define BENCH_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "runtime.h"

struct bench_pipeline;

/* Builds the stages of def with default settings, schemas from
 * schemas_dir and Redis at 127.0.0.1:redis_port (connects and loads the
 * function library now; redis_port <= 0: no apply stage, the pipeline
 * only plans, and bench_pipeline_apply() must not be called).  Returns
 * NULL with errstr. */
struct bench_pipeline *bench_pipeline_new(const struct cf_consumer_def *def,
                                          const char *schemas_dir, int redis_port, char *errstr,
                                          size_t errstr_size);
void bench_pipeline_destroy(struct bench_pipeline *p);

/* Empties the plan. */
void bench_pipeline_clear(struct bench_pipeline *p);

/* Decodes and plans one message, appending its operations to the plan.
 * Returns 0, or -1 when the event would be dead-lettered (reason set). */
int bench_pipeline_plan(struct bench_pipeline *p, const void *payload, size_t len,
                        int64_t kafka_ts_ms, char *reason, size_t reason_size);

/* Coalesces the plan; returns the operations appended before coalescing
 * (planned) and sets *live to those left. */
size_t bench_pipeline_coalesce(struct bench_pipeline *p, size_t *live);

/* The plan the messages were planned into (borrowed; valid until the
 * pipeline is destroyed). */
const struct cf_plan *bench_pipeline_plan_of(const struct bench_pipeline *p);

/* Applies the plan in one pipelined round trip.  Returns 0, or -1 with the
 * apply stage's error in errstr. */
int bench_pipeline_apply(struct bench_pipeline *p, struct cf_apply_result *res, char *errstr,
                         size_t errstr_size);

#endif
