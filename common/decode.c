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
 *
 * avro-c's resolved reader also passes an enum's index through unchanged
 * (it checks only that the two enums have the same name), so a writer that
 * reordered or added symbols was read by position: its MERGED (index 2) as
 * the reader's ITEM_REMOVED, its sixth symbol as an index past the reader's
 * last.  The Avro specification resolves an enum by symbol name, and a
 * symbol the reader lacks as the reader's "default" (an error without
 * one).  So for a writer whose enums differ from the reader's, the decoder
 * rewrites each enum of the writer's value, after reading it, to the
 * reader's index of the same symbol (or of the default) before the view
 * reads it; a symbol with neither is "undecodable".  The writer's value is
 * only ever the view's source, so holding reader indexes there is safe.
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
    bool enums_differ;              /* an enum's symbols differ from the reader's (DESIGN) */
    char file[4096];
    char error[256];                /* why it is not usable */
};

/* An enum of the reader schema that has a "default" symbol: its index
 * (avro-c parses schemas without enum defaults, so they are read from the
 * schema's JSON). */
struct enum_default {
    avro_schema_t schema; /* borrowed from the reader schema */
    int index;
};

struct cf_decoder {
    enum cf_framing framing;
    avro_schema_t reader_schema;
    struct enum_default *defaults;
    size_t ndefaults;
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
            /* -INT64_MIN does not exist: no datum holds that many items. */
            if (count == INT64_MIN)
                return walk_fail(w, "too many items");
            if (walk_varint(w, 10, &size) < 0)
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

/* Parses a schema file: the schema, its full name and its id (-1: none);
 * json (may be NULL) gets the parsed JSON too, to json_decref(). */
static int load_schema(const char *path, avro_schema_t *schema, char *fullname,
                       size_t fullname_size, int64_t *id, json_t **json, char *errstr,
                       size_t errstr_size)
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
    if (json)
        *json = json_incref(root);
    rc = 0;
out:
    json_decref(root);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------------
 * Enums: resolution by symbol (see DESIGN)
 * ------------------------------------------------------------------------ */

static avro_schema_t unlink_schema(avro_schema_t s)
{
    while (avro_typeof(s) == AVRO_LINK)
        s = avro_schema_link_target(s);
    return s;
}

/* The enum named name in s, or NULL.  Links are not followed: they name a
 * type defined elsewhere in s. */
static avro_schema_t find_enum(avro_schema_t s, const char *name, int depth)
{
    avro_schema_t found = NULL;
    if (depth > WALK_MAX_DEPTH)
        return NULL;
    switch (avro_typeof(s)) {
    case AVRO_ENUM:
        return strcmp(avro_schema_name(s), name) == 0 ? s : NULL;
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s) && !found; i++)
            found = find_enum(avro_schema_record_field_get_by_index(s, (int)i), name, depth + 1);
        return found;
    case AVRO_UNION:
        for (size_t i = 0; i < avro_schema_union_size(s) && !found; i++)
            found = find_enum(avro_schema_union_branch(s, (int)i), name, depth + 1);
        return found;
    case AVRO_ARRAY:
        return find_enum(avro_schema_array_items(s), name, depth + 1);
    case AVRO_MAP:
        return find_enum(avro_schema_map_values(s), name, depth + 1);
    default:
        return NULL;
    }
}

/* Collects the "default" of every enum of the reader schema's JSON. */
static void defaults_collect(struct cf_decoder *dec, json_t *node, int depth)
{
    size_t i;
    const char *key;
    json_t *child;
    if (depth > WALK_MAX_DEPTH)
        return;
    if (json_is_array(node)) {
        json_array_foreach(node, i, child) defaults_collect(dec, child, depth + 1);
        return;
    }
    if (!json_is_object(node))
        return;
    const char *type = json_string_value(json_object_get(node, "type"));
    const char *name = json_string_value(json_object_get(node, "name"));
    const char *def = json_string_value(json_object_get(node, "default"));
    if (type && strcmp(type, "enum") == 0 && name && def) {
        /* avro-c names a type by its short name. */
        const char *dot = strrchr(name, '.');
        avro_schema_t e = find_enum(dec->reader_schema, dot ? dot + 1 : name, 0);
        int index = e ? avro_schema_enum_get_by_name(e, def) : -1;
        if (index >= 0) {
            struct enum_default *d =
                realloc(dec->defaults, (dec->ndefaults + 1) * sizeof(*dec->defaults));
            if (!d)
                abort();
            dec->defaults = d;
            d[dec->ndefaults++] = (struct enum_default){e, index};
        }
    }
    json_object_foreach(node, key, child)
    {
        (void)key;
        defaults_collect(dec, child, depth + 1);
    }
}

static bool same_symbols(avro_schema_t a, avro_schema_t b)
{
    int n = avro_schema_enum_number_of_symbols(a);
    if (n != avro_schema_enum_number_of_symbols(b))
        return false;
    for (int i = 0; i < n; i++) {
        if (strcmp(avro_schema_enum_get(a, i), avro_schema_enum_get(b, i)) != 0)
            return false;
    }
    return true;
}

/* Does an enum of the writer schema ws have other symbols, or the same in
 * another order, than the reader's enum of that name? */
static bool enums_differ(avro_schema_t ws, avro_schema_t reader, int depth)
{
    bool differ = false;
    if (depth > WALK_MAX_DEPTH)
        return false;
    switch (avro_typeof(ws)) {
    case AVRO_ENUM: {
        avro_schema_t rs = find_enum(reader, avro_schema_name(ws), 0);
        return rs && !same_symbols(ws, rs);
    }
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(ws) && !differ; i++)
            differ =
                enums_differ(avro_schema_record_field_get_by_index(ws, (int)i), reader, depth + 1);
        return differ;
    case AVRO_UNION:
        for (size_t i = 0; i < avro_schema_union_size(ws) && !differ; i++)
            differ = enums_differ(avro_schema_union_branch(ws, (int)i), reader, depth + 1);
        return differ;
    case AVRO_ARRAY:
        return enums_differ(avro_schema_array_items(ws), reader, depth + 1);
    case AVRO_MAP:
        return enums_differ(avro_schema_map_values(ws), reader, depth + 1);
    default:
        return false;
    }
}

/* The branch of the reader's union u that a written value of schema ws is
 * read as (the Avro specification: the first branch that matches, named
 * types by name), or NULL. */
static avro_schema_t union_branch_for(avro_schema_t u, avro_schema_t ws)
{
    for (size_t i = 0; i < avro_schema_union_size(u); i++) {
        avro_schema_t b = unlink_schema(avro_schema_union_branch(u, (int)i));
        if (avro_typeof(b) != avro_typeof(ws))
            continue;
        if ((is_avro_record(b) || is_avro_enum(b)) &&
            strcmp(avro_schema_name(b), avro_schema_name(ws)) != 0)
            continue;
        return b;
    }
    return NULL;
}

/* Rewrites every enum of the writer's value wv that the reader reads (as
 * rs) to the reader's index of its symbol, or of the reader's default.
 * Returns 0, or -1 with an "undecodable" reason for a symbol the reader
 * has not and no default. */
static int enums_resolve(const struct cf_decoder *dec, avro_value_t *wv, avro_schema_t rs,
                         int depth, char *reason, size_t reason_size)
{
    avro_value_t child;
    const char *name;
    size_t n = 0;
    if (depth > WALK_MAX_DEPTH)
        return 0;
    rs = unlink_schema(rs);
    avro_type_t wt = avro_value_get_type(wv);
    if (wt == AVRO_UNION) {
        if (avro_value_get_current_branch(wv, &child) != 0)
            return 0;
        return enums_resolve(dec, &child, rs, depth + 1, reason, reason_size);
    }
    if (is_avro_union(rs)) {
        rs = union_branch_for(rs, unlink_schema(avro_value_get_schema(wv)));
        if (!rs)
            return 0; /* the view refuses it; nothing of it is read */
    }
    if (avro_typeof(rs) != wt)
        return 0; /* a promotion of a scalar: no enum in it */
    switch (wt) {
    case AVRO_RECORD:
        avro_value_get_size(wv, &n);
        for (size_t i = 0; i < n; i++) {
            name = NULL;
            if (avro_value_get_by_index(wv, i, &child, &name) != 0 || !name)
                continue;
            int ri = avro_schema_record_field_get_index(rs, name);
            if (ri < 0)
                continue; /* a field the reader skips */
            if (enums_resolve(dec, &child, avro_schema_record_field_get_by_index(rs, ri), depth + 1,
                              reason, reason_size) < 0)
                return -1;
        }
        return 0;
    case AVRO_ARRAY:
    case AVRO_MAP:
        avro_value_get_size(wv, &n);
        for (size_t i = 0; i < n; i++) {
            if (avro_value_get_by_index(wv, i, &child, NULL) != 0)
                continue;
            if (enums_resolve(dec, &child,
                              wt == AVRO_ARRAY ? avro_schema_array_items(rs)
                                               : avro_schema_map_values(rs),
                              depth + 1, reason, reason_size) < 0)
                return -1;
        }
        return 0;
    case AVRO_ENUM: {
        avro_schema_t ws = unlink_schema(avro_value_get_schema(wv));
        int wi = 0;
        if (avro_value_get_enum(wv, &wi) != 0)
            return 0;
        /* The guard walk checked wi against the writer's symbols. */
        const char *symbol = avro_schema_enum_get(ws, wi);
        int ri = symbol ? avro_schema_enum_get_by_name(rs, symbol) : -1;
        for (size_t i = 0; ri < 0 && i < dec->ndefaults; i++) {
            if (dec->defaults[i].schema == rs)
                ri = dec->defaults[i].index;
        }
        if (ri < 0)
            return cf_reason(reason, reason_size, CF_REASON_UNDECODABLE,
                             "enum %s: the writer's symbol %s is not the reader's, which has no "
                             "default",
                             avro_schema_name(rs), symbol ? symbol : "(none)");
        avro_value_set_enum(wv, ri);
        return 0;
    }
    default:
        return 0;
    }
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
            w->enums_differ = enums_differ(schema, dec->reader_schema, 0);
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
    json_t *json = NULL;

    snprintf(path, sizeof(path), "%s/%s", dir, reader_file);
    if (load_schema(path, &dec->reader_schema, fullname, sizeof(fullname), &id, &json, errstr,
                    errstr_size) < 0)
        goto fail;
    defaults_collect(dec, json, 0);
    json_decref(json);
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
        if (load_schema(wpath, &ws, wname, sizeof(wname), &id, NULL, errstr, errstr_size) < 0)
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
    free(dec->defaults);
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
    if (w && !w->same && w->enums_differ &&
        enums_resolve(dec, &w->value, dec->reader_schema, 0, reason, reason_size) < 0)
        return -1;
    *value = w && !w->same ? &w->view : &dec->reader_value;
    return 0;
}
