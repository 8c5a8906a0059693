/* decode.c - the decode stage: message bytes to an Avro value.
 *
 * DESIGN
 * avro-c's value interface, with everything made once at start and reused
 * for every message: one generic value per schema the bytes are written
 * with, and one memory reader whose source is swapped per message.  avro-c's
 * datum API was measured about ten times slower for the same work and
 * allocates per message.
 *
 * Per message: framing, the guard walk (see decode.h), avro_value_reset of
 * the generic value (arrays would otherwise keep the previous message's
 * items), then avro_value_read into it.  When the writer schema is the
 * reader schema (the usual case, and every plain datum) that value is the
 * result.  When it differs (a producer added a field), the result is a
 * resolved-reader view (avro_resolved_reader) of the writer's value, shaped
 * like the reader schema.  The other direction, avro-c's resolved writer
 * writing into a reader value, was used first and is wrong: for a union
 * whose new branch is an empty array it never sets the branch, so the
 * previous message's branch (null) leaks into the next one.
 */
#include "decode.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* Bounds of the guard walk. */
#define WALK_MAX_DEPTH 64
#define WALK_MAX_ITEMS (1 << 20) /* array items and map entries in one datum */
#define MAX_SCHEMA_FILE (1 << 20)

struct writer {
    int32_t id;
    avro_schema_t schema;
    bool same;                      /* the reader schema itself: read into the reader value */
    avro_value_iface_t *generic;    /* the writer schema's generic class */
    avro_value_t value;             /* the bytes are read into this */
    avro_value_iface_t *resolver;   /* resolved reader: writer value seen as the reader's */
    avro_value_t view;              /* the result when !same */
    bool usable;                    /* false: the reader cannot read this writer schema */
    char file[4096];
    char error[256];                /* why it is not usable */
};

struct cf_decoder {
    enum cf_framing framing;
    avro_schema_t reader_schema;
    avro_value_iface_t *reader_iface;
    avro_value_t reader_value;
    avro_reader_t mem;
    struct writer *writers;
    size_t nwriters;
};

int cf_framing_parse(const char *text, enum cf_framing *framing)
{
    if (strcmp(text, "auto") == 0)
        *framing = CF_FRAMING_AUTO;
    else if (strcmp(text, "confluent") == 0)
        *framing = CF_FRAMING_CONFLUENT;
    else if (strcmp(text, "plain") == 0)
        *framing = CF_FRAMING_PLAIN;
    else
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------
 * The guard walk
 * ------------------------------------------------------------------------ */

struct walk {
    const uint8_t *p, *end;
    size_t items;
    char *reason;
    size_t reason_size;
    const uint8_t *start;
};

static int walk_fail(struct walk *w, const char *what)
{
    return cf_reason(w->reason, w->reason_size, CF_REASON_UNDECODABLE, "%s at byte %zu", what,
                     (size_t)(w->p - w->start));
}

/* A zigzag varint of at most max_bytes bytes. */
static int walk_varint(struct walk *w, int max_bytes, int64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (w->p >= w->end)
            return walk_fail(w, "truncated number");
        uint8_t b = *w->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return walk_fail(w, "number too long");
}

static int walk_skip(struct walk *w, int64_t n, const char *what)
{
    if (n < 0 || n > w->end - w->p)
        return walk_fail(w, what);
    w->p += n;
    return 0;
}

static int walk_value(struct walk *w, avro_schema_t s, int depth);

static int walk_blocks(struct walk *w, avro_schema_t items, bool map, int depth)
{
    for (;;) {
        int64_t count;
        if (walk_varint(w, 10, &count) < 0)
            return -1;
        if (count == 0)
            return 0;
        if (count < 0) {
            int64_t size;
            if (count == INT64_MIN || walk_varint(w, 10, &size) < 0)
                return -1;
            if (size < 0 || size > w->end - w->p)
                return walk_fail(w, "block size beyond the end");
            count = -count;
        }
        if (count > WALK_MAX_ITEMS || w->items + (size_t)count > WALK_MAX_ITEMS)
            return walk_fail(w, "too many items");
        w->items += (size_t)count;
        for (int64_t i = 0; i < count; i++) {
            if (map) {
                int64_t len = 0;
                if (walk_varint(w, 10, &len) < 0 || walk_skip(w, len, "map key beyond the end"))
                    return -1;
            }
            if (walk_value(w, items, depth + 1) < 0)
                return -1;
        }
    }
}

static int walk_value(struct walk *w, avro_schema_t s, int depth)
{
    if (depth > WALK_MAX_DEPTH)
        return walk_fail(w, "nested too deep");
    int64_t n;
    switch (avro_typeof(s)) {
    case AVRO_STRING:
    case AVRO_BYTES:
        if (walk_varint(w, 10, &n) < 0)
            return -1;
        return walk_skip(w, n, "length beyond the end");
    case AVRO_INT32:
        if (walk_varint(w, 5, &n) < 0)
            return -1;
        if (n < INT32_MIN || n > INT32_MAX)
            return walk_fail(w, "int out of range");
        return 0;
    case AVRO_INT64:
        return walk_varint(w, 10, &n);
    case AVRO_FLOAT:
        return walk_skip(w, 4, "truncated float");
    case AVRO_DOUBLE:
        return walk_skip(w, 8, "truncated double");
    case AVRO_BOOLEAN:
        if (w->p >= w->end)
            return walk_fail(w, "truncated boolean");
        if (*w->p > 1)
            return walk_fail(w, "boolean not 0 or 1");
        w->p++;
        return 0;
    case AVRO_NULL:
        return 0;
    case AVRO_RECORD: {
        size_t fields = avro_schema_record_size(s);
        for (size_t i = 0; i < fields; i++) {
            if (walk_value(w, avro_schema_record_field_get_by_index(s, (int)i), depth + 1) < 0)
                return -1;
        }
        return 0;
    }
    case AVRO_ENUM:
        if (walk_varint(w, 10, &n) < 0)
            return -1;
        if (n < 0 || n >= avro_schema_enum_number_of_symbols(s))
            return walk_fail(w, "enum index out of range");
        return 0;
    case AVRO_FIXED:
        return walk_skip(w, avro_schema_fixed_size(s), "truncated fixed");
    case AVRO_MAP:
        return walk_blocks(w, avro_schema_map_values(s), true, depth);
    case AVRO_ARRAY:
        return walk_blocks(w, avro_schema_array_items(s), false, depth);
    case AVRO_UNION:
        if (walk_varint(w, 10, &n) < 0)
            return -1;
        if (n < 0 || (size_t)n >= avro_schema_union_size(s))
            return walk_fail(w, "union branch out of range");
        return walk_value(w, avro_schema_union_branch(s, (int)n), depth + 1);
    case AVRO_LINK:
        return walk_value(w, avro_schema_link_target(s), depth + 1);
    }
    return walk_fail(w, "unknown schema type");
}

/* ------------------------------------------------------------------------
 * Schemas
 * ------------------------------------------------------------------------ */

/* Reads a whole schema file into a new NUL-terminated buffer. */
static char *read_file(const char *path, size_t *len, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "schema %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_SCHEMA_FILE + 1);
    if (!buf)
        abort();
    size_t n = fread(buf, 1, MAX_SCHEMA_FILE + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || n > MAX_SCHEMA_FILE) {
        snprintf(errstr, errstr_size, "schema %s: %s", path,
                 err ? "read error" : "larger than 1 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Parses a schema file: the schema, its full name and its id (-1: none). */
static int load_schema(const char *path, avro_schema_t *schema, char *fullname, size_t fullname_size,
                       int64_t *id, char *errstr, size_t errstr_size)
{
    size_t len;
    char *text = read_file(path, &len, errstr, errstr_size);
    if (!text)
        return -1;
    int rc = -1;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(errstr, errstr_size, "schema %s:%d: not a JSON object: %s", path, jerr.line,
                 root ? "top level is not an object" : jerr.text);
        goto out;
    }
    json_t *jid = json_object_get(root, "cachefleet.schema_id");
    *id = -1;
    if (jid) {
        if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
            json_integer_value(jid) > INT32_MAX) {
            snprintf(errstr, errstr_size, "schema %s: cachefleet.schema_id must be an integer "
                     "from 0 to 2147483647", path);
            goto out;
        }
        *id = json_integer_value(jid);
    }
    if (avro_schema_from_json_length(text, len, schema) != 0) {
        snprintf(errstr, errstr_size, "schema %s: %s", path, avro_strerror());
        goto out;
    }
    if (!is_avro_record(*schema)) {
        snprintf(errstr, errstr_size, "schema %s: the top level must be a record", path);
        avro_schema_decref(*schema);
        goto out;
    }
    const char *ns = avro_schema_namespace(*schema);
    snprintf(fullname, fullname_size, "%s%s%s", ns ? ns : "", ns && *ns ? "." : "",
             avro_schema_name(*schema));
    rc = 0;
out:
    json_decref(root);
    free(text);
    return rc;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int add_writer(struct cf_decoder *dec, const char *path, avro_schema_t schema, int32_t id,
                      char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < dec->nwriters; i++) {
        if (dec->writers[i].id == id) {
            snprintf(errstr, errstr_size, "schema %s: cachefleet.schema_id %d is also used by %s",
                     path, (int)id, dec->writers[i].file);
            return -1;
        }
    }
    struct writer *ws = realloc(dec->writers, (dec->nwriters + 1) * sizeof(*ws));
    if (!ws)
        abort();
    dec->writers = ws;
    struct writer *w = &ws[dec->nwriters];
    memset(w, 0, sizeof(*w));
    /* A writer schema the reader cannot resolve (a required field missing,
     * a field of another type) does not stop the consumer: its messages go
     * to the dead-letter topic with the reason. */
    w->same = avro_schema_equal(schema, dec->reader_schema) != 0;
    w->usable = true;
    if (!w->same) {
        w->resolver = avro_resolved_reader_new(schema, dec->reader_schema);
        w->generic = w->resolver ? avro_generic_class_from_schema(schema) : NULL;
        if (!w->resolver || !w->generic || avro_generic_value_new(w->generic, &w->value) != 0 ||
            avro_resolved_reader_new_value(w->resolver, &w->view) != 0) {
            w->usable = false;
            snprintf(w->error, sizeof(w->error), "%s", avro_strerror());
            for (char *c = w->error; *c; c++)
                *c = *c == '\n' ? ' ' : *c;
        } else {
            avro_resolved_reader_set_source(&w->view, &w->value);
        }
    }
    w->id = id;
    w->schema = avro_schema_incref(schema);
    snprintf(w->file, sizeof(w->file), "%s", path);
    dec->nwriters++;
    return 0;
}

struct cf_decoder *cf_decoder_new(const char *dir, const char *reader_file,
                                  enum cf_framing framing, char *errstr, size_t errstr_size)
{
    struct cf_decoder *dec = calloc(1, sizeof(*dec));
    if (!dec)
        abort();
    dec->framing = framing;
    DIR *d = NULL;
    char path[4096], fullname[512];
    int64_t id;

    snprintf(path, sizeof(path), "%s/%s", dir, reader_file);
    if (load_schema(path, &dec->reader_schema, fullname, sizeof(fullname), &id, errstr,
                    errstr_size) < 0)
        goto fail;
    dec->reader_iface = avro_generic_class_from_schema(dec->reader_schema);
    if (!dec->reader_iface || avro_generic_value_new(dec->reader_iface, &dec->reader_value) != 0) {
        snprintf(errstr, errstr_size, "schema %s: %s", path, avro_strerror());
        goto fail;
    }
    dec->mem = avro_reader_memory("", 0);
    if (!dec->mem)
        abort();

    d = opendir(dir);
    if (!d) {
        snprintf(errstr, errstr_size, "schemas folder %s: %s", dir, strerror(errno));
        goto fail;
    }
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".avsc"))
            continue;
        char wpath[4096], wname[512];
        avro_schema_t ws;
        snprintf(wpath, sizeof(wpath), "%s/%s", dir, e->d_name);
        if (load_schema(wpath, &ws, wname, sizeof(wname), &id, errstr, errstr_size) < 0)
            goto fail;
        int rc = 0;
        if (strcmp(wname, fullname) == 0 && id >= 0)
            rc = add_writer(dec, wpath, ws, (int32_t)id, errstr, errstr_size);
        avro_schema_decref(ws);
        if (rc < 0)
            goto fail;
    }
    closedir(d);
    d = NULL;
    if (framing != CF_FRAMING_PLAIN && dec->nwriters == 0) {
        snprintf(errstr, errstr_size, "schemas folder %s: no schema of %s has a "
                 "cachefleet.schema_id, so framed messages cannot be read", dir, fullname);
        goto fail;
    }
    return dec;

fail:
    if (d)
        closedir(d);
    cf_decoder_destroy(dec);
    return NULL;
}

void cf_decoder_destroy(struct cf_decoder *dec)
{
    if (!dec)
        return;
    for (size_t i = 0; i < dec->nwriters; i++) {
        struct writer *w = &dec->writers[i];
        if (w->view.self)
            avro_value_decref(&w->view);
        if (w->value.self)
            avro_value_decref(&w->value);
        if (w->resolver)
            avro_value_iface_decref(w->resolver);
        if (w->generic)
            avro_value_iface_decref(w->generic);
        avro_schema_decref(w->schema);
    }
    free(dec->writers);
    if (dec->reader_iface) {
        if (dec->reader_value.self)
            avro_value_decref(&dec->reader_value);
        avro_value_iface_decref(dec->reader_iface);
    }
    if (dec->mem)
        avro_reader_free(dec->mem);
    if (dec->reader_schema)
        avro_schema_decref(dec->reader_schema);
    free(dec);
}

avro_schema_t cf_decoder_schema(const struct cf_decoder *dec)
{
    return dec->reader_schema;
}

size_t cf_decoder_writer_count(const struct cf_decoder *dec)
{
    return dec->nwriters;
}

void cf_decoder_writer(const struct cf_decoder *dec, size_t i, int32_t *id, const char **file,
                       const char **problem)
{
    const struct writer *w = &dec->writers[i];
    *id = w->id;
    *file = w->file;
    *problem = w->usable ? NULL : w->error;
}

/* ------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------ */

int cf_decoder_decode(struct cf_decoder *dec, const void *buf, size_t len, avro_value_t **value,
                      char *reason, size_t reason_size)
{
    const uint8_t *p = buf;
    struct writer *w = NULL;
    bool framed = dec->framing == CF_FRAMING_CONFLUENT ||
                  (dec->framing == CF_FRAMING_AUTO && len > 0 && p[0] == 0);

    if (len == 0)
        return cf_reason(reason, reason_size, CF_REASON_UNDECODABLE, "empty message");
    if (framed) {
        if (len < 5 || p[0] != 0)
            return cf_reason(reason, reason_size, CF_REASON_UNDECODABLE,
                             "not framed: expected byte 0 and a 4-byte schema id");
        int32_t id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
                               ((uint32_t)p[3] << 8) | (uint32_t)p[4]);
        for (size_t i = 0; i < dec->nwriters; i++) {
            if (dec->writers[i].id == id) {
                w = &dec->writers[i];
                break;
            }
        }
        if (!w)
            return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_SCHEMA,
                             "schema id %d is not among the %zu known", (int)id, dec->nwriters);
        if (!w->usable)
            return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_SCHEMA,
                             "schema id %d cannot be read with the reader schema: %s", (int)id,
                             w->error);
        p += 5;
        len -= 5;
    }

    struct walk walk = {p, p + len, 0, reason, reason_size, p};
    if (walk_value(&walk, w ? w->schema : dec->reader_schema, 0) < 0)
        return -1;
    if (walk.p != walk.end)
        return cf_reason(reason, reason_size, CF_REASON_UNDECODABLE,
                         "%zu bytes left after the datum", (size_t)(walk.end - walk.p));

    avro_value_t *into = w && !w->same ? &w->value : &dec->reader_value;
    avro_value_reset(into);
    avro_reader_memory_set_source(dec->mem, (const char *)p, (int64_t)len);
    if (avro_value_read(dec->mem, into) != 0)
        return cf_reason(reason, reason_size, CF_REASON_UNDECODABLE, "%s", avro_strerror());
    *value = w && !w->same ? &w->view : &dec->reader_value;
    return 0;
}
