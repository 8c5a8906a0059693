/* event.h - reading a decoded event: the envelope and typed field views.
 *
 * What it owns: the envelope every fleet schema shares (event_id, version,
 * occurred_at, body: a union of the topic's event types) and helpers that
 * read fields of an avro-c value into views (pointer + length into the
 * decoder's value, no copy), checking each field's type and the envelope's
 * contract: a non-empty event_id of at most 128 bytes, a version and an
 * occurred_at that are not negative.
 *
 * What it does not own: what the fields mean (the consumers' handlers).
 *
 * Field positions are looked up by name once, when a handler is made from
 * the reader schema (cf_avro_field_index), so reading an event is a few
 * indexed accesses.  Views are valid until the decoder's next message.
 * A cf_strs keeps its array between events (it only grows).
 */
#ifndef CF_EVENT_H
#define CF_EVENT_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_str {
    const char *ptr; /* not NUL-terminated in general */
    size_t len;
};

struct cf_strs {
    struct cf_str *items;
    size_t n, cap;
};

void cf_strs_free(struct cf_strs *strs);

/* Does the list hold s? */
bool cf_strs_contains(const struct cf_strs *strs, struct cf_str s);

#define CF_MAX_BRANCHES 16

/* Positions of the envelope's fields, resolved from a reader schema. */
struct cf_envelope_schema {
    int event_id, version, occurred_at, body;
    size_t nbranches;
    const char *branch_names[CF_MAX_BRANCHES]; /* the body union's record names */
    avro_schema_t branches[CF_MAX_BRANCHES];
};

struct cf_envelope {
    struct cf_str event_id;
    uint64_t version;
    int64_t occurred_at_us;
    int branch;        /* index into the union */
    avro_value_t body; /* the branch's record */
};

/* Resolves the envelope of reader.  Returns 0, or -1 with errstr. */
int cf_envelope_schema_init(struct cf_envelope_schema *es, avro_schema_t reader, char *errstr,
                            size_t errstr_size);

/* The branch index of a record name in the body union, or -1. */
int cf_envelope_branch(const struct cf_envelope_schema *es, const char *name);

/* Reads and checks the envelope.  Returns 0, or -1 with an
 * "invalid-field: ..." reason. */
int cf_envelope_read(const struct cf_envelope_schema *es, const avro_value_t *value,
                     struct cf_envelope *env, char *reason, size_t reason_size);

/* Index of the field name in record schema rec; -1 with errstr if absent. */
int cf_avro_field_index(avro_schema_t rec, const char *name, char *errstr, size_t errstr_size);

/* Readers of field idx of record rec; field names the field in the reason.
 * Each returns 0, or -1 with an "invalid-field: ..." reason when the value
 * is not of the expected type. */
int cf_avro_str(const avro_value_t *rec, int idx, const char *field, struct cf_str *out,
                char *reason, size_t reason_size);
/* ["null", "string"]: *present says which. */
int cf_avro_opt_str(const avro_value_t *rec, int idx, const char *field, bool *present,
                    struct cf_str *out, char *reason, size_t reason_size);
/* An array of strings (at most max items). */
int cf_avro_strs(const avro_value_t *rec, int idx, const char *field, size_t max,
                 struct cf_strs *out, char *reason, size_t reason_size);
/* ["null", {"type": "array", "items": "string"}]: *present says which. */
int cf_avro_opt_strs(const avro_value_t *rec, int idx, const char *field, size_t max,
                     bool *present, struct cf_strs *out, char *reason, size_t reason_size);
/* An enum: its symbol's index (the schema's order) and name. */
int cf_avro_enum(const avro_value_t *rec, int idx, const char *field, int *out,
                 const char **symbol, char *reason, size_t reason_size);
int cf_avro_long(const avro_value_t *rec, int idx, const char *field, int64_t *out, char *reason,
                 size_t reason_size);
int cf_avro_int(const avro_value_t *rec, int idx, const char *field, int32_t *out, char *reason,
                size_t reason_size);
int cf_avro_bool(const avro_value_t *rec, int idx, const char *field, bool *out, char *reason,
                 size_t reason_size);

#endif
