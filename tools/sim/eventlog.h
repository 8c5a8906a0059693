/* eventlog.h - the simulator's record of what it produced: one JSON line
 * per event, read by the cache oracle.
 *
 * What it owns: the line format and the file.  What it does not: deciding
 * which events are logged (all of them, in the order they were handed to
 * the producer) or knowing any schema: the fields are read back from the
 * Avro value that was just encoded, so the log holds exactly what went on
 * the wire, for any topic whose schema has the cachefleet envelope.
 *
 * A line:
 *   {"topic":"shop.products","key":"42","partition":3,
 *    "event_id":"...","version":7,"occurred_at":1764100000123456,
 *    "type":"ProductUpserted","fields":{"product_id":"42",
 *    "categories_before":["7"],...,"representation":"{\"id\":42,...}"}}
 * partition is the partition the event was produced to, or -1 when the
 * producer left it to librdkafka.  "fields" holds every field of the body
 * record, decoded: records become objects, arrays arrays, a union its
 * current branch's value (null, or the value itself: not Avro's JSON
 * encoding with the branch name), longs and ints numbers, booleans
 * booleans, enums their symbol, bytes and fixed a lower-case hex string.
 * A representation stays a JSON string, as in the event.
 *
 * Thread: one thread per log.
 */
#ifndef CF_SIM_EVENTLOG_H
#define CF_SIM_EVENTLOG_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct sim_eventlog;

/* Opens (truncates) path for writing; "-" is stdout.  Returns NULL with
 * errstr. */
struct sim_eventlog *sim_eventlog_open(const char *path, char *errstr, size_t errstr_size);

/* Writes one line for the event in value (an envelope record).
 * Returns 0, or -1 with errstr. */
int sim_eventlog_write(struct sim_eventlog *log, const char *topic, const char *key,
                       int32_t partition, avro_value_t *value, char *errstr, size_t errstr_size);

/* Flushes and closes; NULL is a no-op.  Returns 0, or -1 with errstr when
 * the data could not be written. */
int sim_eventlog_close(struct sim_eventlog *log, char *errstr, size_t errstr_size);

/* Builds the line's object (without writing it): a new reference, or NULL
 * with errstr.  Exposed for tests. */
json_t *sim_eventlog_line(const char *topic, const char *key, int32_t partition,
                          avro_value_t *value, char *errstr, size_t errstr_size);

/* Decodes any Avro value to JSON as described above: a new reference, or
 * NULL with errstr. */
json_t *sim_avro_to_json(avro_value_t *value, char *errstr, size_t errstr_size);

#endif
