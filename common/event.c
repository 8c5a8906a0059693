/* event.c - reading a decoded event: the envelope and typed field views. */
#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

#define EVENT_ID_MAX 128

void cf_strs_free(struct cf_strs *strs)
{
    free(strs->items);
    strs->items = NULL;
    strs->n = strs->cap = 0;
}

bool cf_strs_contains(const struct cf_strs *strs, struct cf_str s)
{
    for (size_t i = 0; i < strs->n; i++) {
        if (strs->items[i].len == s.len && memcmp(strs->items[i].ptr, s.ptr, s.len) == 0)
            return true;
    }
    return false;
}

static int bad_type(const char *field, const char *expected, char *reason, size_t reason_size)
{
    return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD, "%s is not %s", field,
                     expected);
}

int cf_avro_field_index(avro_schema_t rec, const char *name, char *errstr, size_t errstr_size)
{
    int idx = is_avro_record(rec) ? avro_schema_record_field_get_index(rec, name) : -1;
    if (idx < 0)
        snprintf(errstr, errstr_size, "reader schema: record %s has no field %s",
                 is_avro_record(rec) ? avro_schema_name(rec) : "(not a record)", name);
    return idx;
}

/* The value of field idx; -1 if the record does not have it. */
static int field(const avro_value_t *rec, int idx, avro_value_t *out)
{
    return avro_value_get_by_index(rec, (size_t)idx, out, NULL) == 0 ? 0 : -1;
}

static int str_of(const avro_value_t *v, struct cf_str *out)
{
    const char *p;
    size_t size;
    if (avro_value_get_type(v) != AVRO_STRING || avro_value_get_string(v, &p, &size) != 0)
        return -1;
    /* avro-c counts the terminating NUL in size. */
    out->ptr = p;
    out->len = size ? size - 1 : 0;
    return 0;
}

int cf_avro_str(const avro_value_t *rec, int idx, const char *name, struct cf_str *out,
                char *reason, size_t reason_size)
{
    avro_value_t v;
    if (field(rec, idx, &v) < 0 || str_of(&v, out) < 0)
        return bad_type(name, "a string", reason, reason_size);
    return 0;
}

int cf_avro_opt_str(const avro_value_t *rec, int idx, const char *name, bool *present,
                    struct cf_str *out, char *reason, size_t reason_size)
{
    avro_value_t v, branch;
    if (field(rec, idx, &v) < 0)
        return bad_type(name, "null or a string", reason, reason_size);
    if (avro_value_get_type(&v) == AVRO_UNION) {
        if (avro_value_get_current_branch(&v, &branch) != 0)
            return bad_type(name, "null or a string", reason, reason_size);
        v = branch;
    }
    if (avro_value_get_type(&v) == AVRO_NULL) {
        *present = false;
        out->ptr = NULL;
        out->len = 0;
        return 0;
    }
    if (str_of(&v, out) < 0)
        return bad_type(name, "null or a string", reason, reason_size);
    *present = true;
    return 0;
}

/* The items of an array value into out. */
static int strs_of(const avro_value_t *arr, const char *name, size_t max, struct cf_strs *out,
                   char *reason, size_t reason_size)
{
    size_t n = 0;
    out->n = 0;
    if (avro_value_get_type(arr) != AVRO_ARRAY || avro_value_get_size(arr, &n) != 0)
        return bad_type(name, "an array of strings", reason, reason_size);
    if (n > max)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "%s has %zu items, more than %zu", name, n, max);
    if (n > out->cap) {
        struct cf_str *items = realloc(out->items, n * sizeof(*items));
        if (!items)
            abort();
        out->items = items;
        out->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        avro_value_t item;
        if (avro_value_get_by_index(arr, i, &item, NULL) != 0 || str_of(&item, &out->items[i]) < 0)
            return bad_type(name, "an array of strings", reason, reason_size);
    }
    out->n = n;
    return 0;
}

int cf_avro_strs(const avro_value_t *rec, int idx, const char *name, size_t max,
                 struct cf_strs *out, char *reason, size_t reason_size)
{
    avro_value_t arr;
    out->n = 0;
    if (field(rec, idx, &arr) < 0)
        return bad_type(name, "an array of strings", reason, reason_size);
    return strs_of(&arr, name, max, out, reason, reason_size);
}

int cf_avro_opt_strs(const avro_value_t *rec, int idx, const char *name, size_t max,
                     bool *present, struct cf_strs *out, char *reason, size_t reason_size)
{
    avro_value_t v, branch;
    out->n = 0;
    if (field(rec, idx, &v) < 0)
        return bad_type(name, "null or an array of strings", reason, reason_size);
    if (avro_value_get_type(&v) == AVRO_UNION) {
        if (avro_value_get_current_branch(&v, &branch) != 0)
            return bad_type(name, "null or an array of strings", reason, reason_size);
        v = branch;
    }
    if (avro_value_get_type(&v) == AVRO_NULL) {
        *present = false;
        return 0;
    }
    *present = true;
    return strs_of(&v, name, max, out, reason, reason_size);
}

int cf_avro_enum(const avro_value_t *rec, int idx, const char *name, int *out,
                 const char **symbol, char *reason, size_t reason_size)
{
    avro_value_t v;
    int e = 0;
    if (field(rec, idx, &v) < 0 || avro_value_get_type(&v) != AVRO_ENUM ||
        avro_value_get_enum(&v, &e) != 0)
        return bad_type(name, "an enum", reason, reason_size);
    const char *sym = avro_schema_enum_get(avro_value_get_schema(&v), e);
    if (!sym)
        return bad_type(name, "a known enum symbol", reason, reason_size);
    *out = e;
    if (symbol)
        *symbol = sym;
    return 0;
}

int cf_avro_long(const avro_value_t *rec, int idx, const char *name, int64_t *out, char *reason,
                 size_t reason_size)
{
    avro_value_t v;
    if (field(rec, idx, &v) < 0 || avro_value_get_type(&v) != AVRO_INT64 ||
        avro_value_get_long(&v, out) != 0)
        return bad_type(name, "a long", reason, reason_size);
    return 0;
}

int cf_avro_int(const avro_value_t *rec, int idx, const char *name, int32_t *out, char *reason,
                size_t reason_size)
{
    avro_value_t v;
    if (field(rec, idx, &v) < 0 || avro_value_get_type(&v) != AVRO_INT32 ||
        avro_value_get_int(&v, out) != 0)
        return bad_type(name, "an int", reason, reason_size);
    return 0;
}

int cf_avro_bool(const avro_value_t *rec, int idx, const char *name, bool *out, char *reason,
                 size_t reason_size)
{
    avro_value_t v;
    int b;
    if (field(rec, idx, &v) < 0 || avro_value_get_type(&v) != AVRO_BOOLEAN ||
        avro_value_get_boolean(&v, &b) != 0)
        return bad_type(name, "a boolean", reason, reason_size);
    *out = b != 0;
    return 0;
}

/* ------------------------------------------------------------------------
 * The envelope
 * ------------------------------------------------------------------------ */

int cf_envelope_schema_init(struct cf_envelope_schema *es, avro_schema_t reader, char *errstr,
                            size_t errstr_size)
{
    memset(es, 0, sizeof(*es));
    if ((es->event_id = cf_avro_field_index(reader, "event_id", errstr, errstr_size)) < 0 ||
        (es->version = cf_avro_field_index(reader, "version", errstr, errstr_size)) < 0 ||
        (es->occurred_at = cf_avro_field_index(reader, "occurred_at", errstr, errstr_size)) < 0 ||
        (es->body = cf_avro_field_index(reader, "body", errstr, errstr_size)) < 0)
        return -1;
    avro_schema_t body = avro_schema_record_field_get_by_index(reader, es->body);
    if (!is_avro_union(body) || avro_schema_union_size(body) > CF_MAX_BRANCHES) {
        snprintf(errstr, errstr_size, "reader schema: body must be a union of at most %d records",
                 CF_MAX_BRANCHES);
        return -1;
    }
    es->nbranches = avro_schema_union_size(body);
    for (size_t i = 0; i < es->nbranches; i++) {
        avro_schema_t b = avro_schema_union_branch(body, (int)i);
        if (!is_avro_record(b)) {
            snprintf(errstr, errstr_size, "reader schema: body branch %zu is not a record", i);
            return -1;
        }
        es->branches[i] = b;
        es->branch_names[i] = avro_schema_name(b);
    }
    return 0;
}

int cf_envelope_branch(const struct cf_envelope_schema *es, const char *name)
{
    for (size_t i = 0; i < es->nbranches; i++) {
        if (strcmp(es->branch_names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

int cf_envelope_read(const struct cf_envelope_schema *es, const avro_value_t *value,
                     struct cf_envelope *env, char *reason, size_t reason_size)
{
    int64_t version;
    avro_value_t body;
    int disc;
    if (cf_avro_str(value, es->event_id, "event_id", &env->event_id, reason, reason_size) < 0 ||
        cf_avro_long(value, es->version, "version", &version, reason, reason_size) < 0 ||
        cf_avro_long(value, es->occurred_at, "occurred_at", &env->occurred_at_us, reason,
                     reason_size) < 0)
        return -1;
    if (env->event_id.len == 0 || env->event_id.len > EVENT_ID_MAX)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "event_id must be 1 to %d bytes, not %zu", EVENT_ID_MAX,
                         env->event_id.len);
    if (version < 0)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD, "version is negative");
    if (env->occurred_at_us < 0)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD, "occurred_at is negative");
    env->version = (uint64_t)version;
    if (avro_value_get_by_index(value, (size_t)es->body, &body, NULL) != 0 ||
        avro_value_get_type(&body) != AVRO_UNION || avro_value_get_discriminant(&body, &disc) != 0 ||
        disc < 0 || (size_t)disc >= es->nbranches ||
        avro_value_get_current_branch(&body, &env->body) != 0)
        return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_TYPE,
                         "body is not one of the %zu known event types", es->nbranches);
    env->branch = disc;
    return 0;
}
