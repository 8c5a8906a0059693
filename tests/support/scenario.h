/* scenario.h - a whole fleet under a fault, judged by the oracle.
 *
 * What it owns: the steps the fault tests share.  Start the servers and
 * any of the five consumers (fleet.h), play the simulator's shop into
 * every topic (the real cachefleet-sim program, in the background, at a
 * given rate), inject a fault meanwhile, wait until every consumer group
 * has committed everything in its topic, then let the oracle
 * (tools/oracle) compute from the topics the state the cache must reach
 * and compare it with Redis, printing its figures:
 *   fault: <what>; events produced N; oracle: N events, K keys checked:
 *   K right, 0 missing, 0 stale, ...
 *
 * "Caught up" is read from Kafka itself (each group's committed offsets
 * against the partitions' high watermarks), so it holds across consumer
 * restarts, which reset the consumers' own counters.
 */
#ifndef CF_SCENARIO_H
#define CF_SCENARIO_H

#include <stdint.h>

#include "fleet.h"
#include "oracle.h"

enum cf_consumer_id { CF_PRODUCTS, CF_CARTS, CF_ORDERS, CF_ACCESS, CF_STOCK, CF_NCONSUMERS };

extern const char *const cf_consumer_names[CF_NCONSUMERS];

struct cf_scenario {
    struct cf_fleet fleet;
    struct cf_consumer_proc consumers[CF_NCONSUMERS];
    int running[CF_NCONSUMERS];   /* 1 while consumers[i] runs */
    struct cf_proc sim;
    char sim_log[PATH_MAX + 16];
    long sim_events;              /* delivered, from the simulator's summary */
};

/* Starts redis (extra_redis_conf lines, may be NULL), a broker of
 * `brokers` brokers with 8 partitions per topic, and every consumer, with
 * extra settings (may be NULL), and waits until they are ready. */
void cf_scenario_start(struct cf_scenario *sc, const char *tag, int brokers,
                       const char *extra_redis_conf, char *const extra_env[]);

/* Stops whatever runs (every consumer must exit 0) and the servers. */
void cf_scenario_stop(struct cf_scenario *sc);

/* Starts the simulator on every topic: events changes after the initial
 * sync, at rate per second (0: as fast as possible), seed. */
void cf_scenario_sim_start(struct cf_scenario *sc, long events, long rate, long seed);

/* Waits for the simulator to finish (exit 0 expected) and records how many
 * events it delivered. */
void cf_scenario_sim_wait(struct cf_scenario *sc, int timeout_ms);

/* Waits until every consumer group has committed up to the end of its
 * topic (timeout_ms at most); fails the test otherwise. */
void cf_scenario_wait_caught_up(struct cf_scenario *sc, int timeout_ms);

/* Runs the oracle over every topic against the fleet's Redis, prints its
 * figures prefixed with the fault's description, and asserts 0 missing and
 * 0 stale.  since_us as cf_oracle_check (0: none). */
void cf_scenario_judge(struct cf_scenario *sc, const char *fault, int64_t since_us,
                       struct cf_oracle_report *report);

/* cf_oracle_group_behind() with a 5 s timeout: events of topic that group
 * has not committed (a group that never committed: every event); -1 when
 * Kafka cannot tell. */
long cf_scenario_group_behind(const char *bootstrap, const char *group, const char *topic);

/* Counts the lines of a consumer's log that contain text. */
int cf_scenario_log_count(const struct cf_scenario *sc, enum cf_consumer_id id, const char *text);

#endif
