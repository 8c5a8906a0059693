/* encode.h - Avro encoding of the simulator's events: schema files, the
 * reused value, Confluent or plain framing, and one mapping per topic.
 *
 * What it owns: reading a schema file of the schemas directory (the Avro
 * schema and its "cachefleet.schema_id" property), one reusable Avro value
 * per schema, serialising it into one reusable buffer with its framing, and
 * filling it from a shop event (one mapping function per topic).  What it
 * does not: Kafka, or deciding what the events say.
 *
 * DESIGN
 * Every cachefleet schema has the same envelope: a record with event_id
 * (string), version (long), occurred_at (long, timestamp-micros) and body,
 * a union of one record per event type.  The encoder checks that envelope
 * when it loads a schema and remembers the body's branches by record name,
 * so a mapping only says "ProductUpserted" and fills the branch's fields.
 * The class, the value, the writer and the buffer are made once; per event
 * the value is reset and refilled (avro-c keeps the allocations of strings
 * and arrays across resets), and avro_value_sizeof sizes the buffer before
 * each write so an oversized event grows it instead of failing.
 *
 * Framing: confluent = 0x00, the schema id as 4 bytes big-endian, then the
 * Avro binary datum (the Confluent wire format); plain = the datum alone.
 *
 * Thread: one thread per encoder.
 */
#ifndef CF_SIM_ENCODE_H
#define CF_SIM_ENCODE_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shop.h"

enum sim_framing {
    SIM_FRAMING_CONFLUENT,
    SIM_FRAMING_PLAIN,
};

#define SIM_CONFLUENT_HEADER 5 /* magic byte and schema id */

/* Parses "confluent" or "plain".  Returns 0, or -1 if unknown. */
int sim_framing_parse(const char *text, enum sim_framing *framing);

/* Reads <dir>/<file>: parses the Avro schema and its integer property
 * "cachefleet.schema_id" (0..2147483647; *schema_id = -1 when absent).
 * On success *schema is a new reference (avro_schema_decref it).
 * Returns 0, or -1 with a sentence naming the file in errstr. */
int sim_schema_load(const char *dir, const char *file, avro_schema_t *schema, int32_t *schema_id,
                    char *errstr, size_t errstr_size);

struct sim_encoder;

/* Loads <dir>/<file> and prepares its value and buffer.  Confluent framing
 * needs the schema id.  Returns NULL with a reason in errstr. */
struct sim_encoder *sim_encoder_new(const char *dir, const char *file, enum sim_framing framing,
                                    char *errstr, size_t errstr_size);
void sim_encoder_destroy(struct sim_encoder *enc);

/* The encoder's schema (borrowed) and schema id (-1: none). */
avro_schema_t sim_encoder_schema(const struct sim_encoder *enc);
int32_t sim_encoder_schema_id(const struct sim_encoder *enc);

/* The value last filled (borrowed; valid until the next begin).  The event
 * log reads the fields from it. */
avro_value_t *sim_encoder_value(struct sim_encoder *enc);

/* Starts an event: resets the value, fills the envelope and selects the
 * body branch named type; *body is the branch record to fill.
 * Returns 0, or -1 with errstr (unknown type, avro error). */
int sim_encoder_begin(struct sim_encoder *enc, const char *event_id, int64_t version,
                      int64_t occurred_at, const char *type, avro_value_t *body, char *errstr,
                      size_t errstr_size);

/* Serialises the value with the framing into the encoder's buffer:
 * *data / *len stay valid until the next call on enc.
 * Returns 0, or -1 with errstr. */
int sim_encoder_finish(struct sim_encoder *enc, const void **data, size_t *len, char *errstr,
                       size_t errstr_size);

/* Field helpers for a record value: set field `name` of rec.  Return 0, or
 * -1 with errstr naming the field. */
int sim_avro_set_string(avro_value_t *rec, const char *name, const char *s, char *errstr,
                        size_t errstr_size);
/* A ["null", "string"] union: s NULL selects null. */
int sim_avro_set_optional_string(avro_value_t *rec, const char *name, const char *s, size_t len,
                                 char *errstr, size_t errstr_size);
int sim_avro_set_string_array(avro_value_t *rec, const char *name, const char *const *items,
                              size_t count, char *errstr, size_t errstr_size);
/* A ["null", {"type":"array","items":"string"}] union: present false
 * selects null (items and count are then ignored). */
int sim_avro_set_optional_string_array(avro_value_t *rec, const char *name, bool present,
                                       const char *const *items, size_t count, char *errstr,
                                       size_t errstr_size);
int sim_avro_set_long(avro_value_t *rec, const char *name, int64_t v, char *errstr,
                      size_t errstr_size);
/* An enum field: symbol must be one of its symbols. */
int sim_avro_set_enum(avro_value_t *rec, const char *name, const char *symbol, char *errstr,
                      size_t errstr_size);

/* ------------------------------------------------------------------------
 * Topic mappings
 * ------------------------------------------------------------------------ */

/* Each fills and serialises one event of its topic with an encoder made
 * from that topic's schema: *data / *len as with sim_encoder_finish().
 * Returns 0, or -1 with errstr (an event of another topic included). */

/* shop.products (schemas/products.avsc). */
int sim_encode_product_event(struct sim_encoder *enc, const struct shop_event *ev,
                             const void **data, size_t *len, char *errstr, size_t errstr_size);
/* shop.carts (schemas/carts.avsc). */
int sim_encode_cart_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                          size_t *len, char *errstr, size_t errstr_size);
/* shop.orders (schemas/orders.avsc). */
int sim_encode_order_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                           size_t *len, char *errstr, size_t errstr_size);
/* shop.access (schemas/access.avsc). */
int sim_encode_access_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                            size_t *len, char *errstr, size_t errstr_size);
/* shop.stock (schemas/stock.avsc). */
int sim_encode_stock_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                           size_t *len, char *errstr, size_t errstr_size);

/* Any topic: the mapping of ev->topic (enc must be made from that topic's
 * schema). */
int sim_encode_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                     size_t *len, char *errstr, size_t errstr_size);

/* The schema file of a topic in the schemas directory ("carts.avsc"). */
const char *sim_topic_schema_file(enum shop_topic topic);

#endif
