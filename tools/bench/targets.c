/* targets.c - the benchmark's table of consumers (targets.h).
 *
 * What it owns: which consumers a run measures and in which order (a run
 * may select some with --only).  Each entry lives in its target_*.c.
 *
 * Thread: read by the main thread.
 */
#include "targets.h"

const struct bench_target *const bench_targets[] = {
    &bench_target_products, &bench_target_carts, &bench_target_orders,
    &bench_target_access,   &bench_target_stock,
};

const size_t bench_ntargets = sizeof(bench_targets) / sizeof(bench_targets[0]);
