/* deadletter.h - the dead-letter stage: bad events to <topic>.dlq.
 *
 * What it owns: a Kafka producer, and the copies of the batch's bad
 * messages until the dead-letter topic has acknowledged them.  Each one is
 * written with its original key and value, and headers saying why and from
 * where:
 *   cachefleet.reason     "<code>: <detail>" (keys.h)
 *   cachefleet.consumer   the consumer's name
 *   cachefleet.topic, cachefleet.partition, cachefleet.offset   the origin
 *   cachefleet.timestamp  the original message's timestamp (ms)
 * A message the broker refuses as too large for the dead-letter topic is
 * written again without its value, with cachefleet.value_omitted holding
 * the original size: the value is still at its origin offset.
 *
 * What it does not own: deciding what is bad (decode, planners) or the
 * offsets (the runtime commits past a bad message only after
 * cf_deadletter_flush() returned 0).
 *
 * Thread: the runtime's thread; delivery reports are served inside
 * cf_deadletter_flush().
 */
#ifndef CF_DEADLETTER_H
#define CF_DEADLETTER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "log.h"
#include "metrics.h"
#include "settings.h"

struct cf_deadletter;

struct cf_deadletter *cf_deadletter_new(const struct cf_settings *s, const char *consumer,
                                        struct cf_log *lg, struct cf_metrics *m, char *errstr,
                                        size_t errstr_size);

/* Waits up to timeout_ms for what is in flight, then frees everything. */
void cf_deadletter_destroy(struct cf_deadletter *dl, int timeout_ms);

/* Keeps a copy of msg (key, value, origin) with its reason, to be written
 * by the next flush.  The message itself is not kept. */
void cf_deadletter_add(struct cf_deadletter *dl, const rd_kafka_message_t *msg,
                       const char *reason);

/* Writes everything kept and waits up to timeout_ms for the topic's
 * acknowledgements.  Returns 0 when every kept message is acknowledged
 * (they are then forgotten); -1 when some failed or are still in flight
 * (they stay, and the next flush writes again what failed). */
int cf_deadletter_flush(struct cf_deadletter *dl, int timeout_ms);

/* Messages kept and not yet acknowledged. */
size_t cf_deadletter_pending(const struct cf_deadletter *dl);

/* The last delivery error, "" when none. */
const char *cf_deadletter_error(const struct cf_deadletter *dl);

#endif
