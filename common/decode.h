/* decode.h - the decode stage: message bytes to an Avro value.
 *
 * What it owns: the schemas (read from a folder of .avsc files at start),
 * the framing of a message, a reader of its own for datums written with
 * the reader schema, schema resolution for the others, and a guard that
 * checks every datum against its writer schema.
 *
 * What it does not own: what the fields mean (each consumer's handler maps
 * the value onto its event struct) and the payload size limit (the runtime
 * checks it before calling here).
 *
 * Schemas: the consumer names its reader schema file (e.g. products.avsc).
 * Every .avsc file in the folder whose record has the same full name is a
 * writer schema this decoder accepts, under the id in its top-level
 * "cachefleet.schema_id" property (the id a schema registry gave it).  So
 * when a producer adds an optional field, the operator drops the producer's
 * new schema file (new id) beside the old ones and the consumer, still
 * reading with its own schema, skips the field it does not know.  The
 * other way round, when the consumer's schema adds a field with a
 * "default", the old producers' schema files stay: their messages read
 * with the reader's default for the field they lack (the Avro
 * specification), wherever the record is (in a union, an array, a map).
 * A field the reader has without a default, or with a default that is
 * not of its type, makes that writer unreadable (cf_decoder_writer), not
 * the decoder.  An enum of a writer is read by symbol name, as the Avro
 * specification says (a symbol the reader lacks: the reader enum's
 * "default"; without one the message is undecodable), never by position.
 *
 * Framing: CF_FRAMING_CONFLUENT expects byte 0, a 4-byte big-endian schema
 * id, then the datum; CF_FRAMING_PLAIN expects the datum alone, written
 * with the reader schema; CF_FRAMING_AUTO takes a message that starts with
 * byte 0 as framed and any other as plain.  AUTO is unambiguous for the
 * fleet's schemas: their first field is the event_id string, never empty,
 * whose length prefix is never the byte 0.
 *
 * The guard: avro-c trusts length prefixes and block counts (a string
 * claiming 2^60 bytes is allocated before it is read, a block of 2^60 nulls
 * is looped over).  So the decoder walks every datum with its writer
 * schema, checking every length against the bytes left, every count
 * against a limit, every union and enum index against the schema, and that
 * the datum ends exactly at the message's end.
 *
 * Reading: a datum written with the reader schema itself (every plain
 * datum, and a framed one whose schema id names a schema equal to the
 * reader's) is read by that same walk into the reused value, through
 * avro-c's value setters, with no heap allocation once the value has
 * grown to the messages' shape (decode.c, DESIGN).  A datum of another
 * writer schema is walked by the guard first, then read by avro-c
 * (avro_value_read) and resolved; one of a writer lacking defaulted
 * fields is read by the walk, which fills them in, and resolved.  Each
 * gives the value avro_value_read gives for the same bytes (with those
 * defaults), and the same reason for bytes refused.
 *
 * Thread: a decoder belongs to one thread; the value it returns, and the
 * strings in it, are valid until its next call (a failed call included).
 */
#ifndef CF_DECODE_H
#define CF_DECODE_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>

enum cf_framing {
    CF_FRAMING_AUTO,
    CF_FRAMING_CONFLUENT,
    CF_FRAMING_PLAIN,
};

/* "auto", "confluent", "plain".  Returns 0, or -1 if unknown. */
int cf_framing_parse(const char *text, enum cf_framing *framing);

struct cf_decoder;

/* Loads dir/reader_file as the reader schema and every writer schema of the
 * same record found in dir.  Returns NULL with the reason in errstr (the
 * file and what is wrong with it). */
struct cf_decoder *cf_decoder_new(const char *dir, const char *reader_file,
                                  enum cf_framing framing, char *errstr, size_t errstr_size);
void cf_decoder_destroy(struct cf_decoder *dec);

/* The reader schema (owned by the decoder). */
avro_schema_t cf_decoder_schema(const struct cf_decoder *dec);

/* Number of writer schemas known by id. */
size_t cf_decoder_writer_count(const struct cf_decoder *dec);

/* Writer schema i: its id, file, and why the reader cannot read it (NULL
 * when it can).  A writer that cannot be resolved (a field the reader has
 * without a valid default missing, a field of an incompatible type) does
 * not stop the consumer: its messages are dead-lettered as
 * "unknown-schema" with that reason. */
void cf_decoder_writer(const struct cf_decoder *dec, size_t i, int32_t *id, const char **file,
                       const char **problem);

/* Decodes buf[0..len).  Returns 0 and points *value at the decoded value
 * (reader schema's shape, owned by the decoder, valid until the next call),
 * or -1 with an "undecodable: ..." or "unknown-schema: ..." reason. */
int cf_decoder_decode(struct cf_decoder *dec, const void *buf, size_t len, avro_value_t **value,
                      char *reason, size_t reason_size);

/* For tests and measurements: with on, a datum written with the reader
 * schema is guarded, then read by avro_value_read, as before the decoder
 * had a reader of its own (the reference that reader is compared with).
 * Off by default. */
void cf_decoder_use_avro_read(struct cf_decoder *dec, bool on);

#endif
