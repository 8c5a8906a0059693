/* decode.c - the decode stage: message bytes to an Avro value.
 *
 * DESIGN
 * avro-c's value interface, with everything made once at start and reused
 * for every message: one generic value per schema the bytes are written
 * with, and one memory reader whose source is swapped per message.  avro-c's
 * datum API was measured about ten times slower for the same work and
 * allocates per message.
 *
 * Per message: framing, then one of two paths.
 *
 * The reader schema (a plain datum, or a framed one whose writer schema is
 * the reader's): one walk of the datum with the reader schema is both the
 * guard (see decode.h) and the reader.  Each check comes first, exactly as
 * in the guard alone, so a refused datum gets the same reason; then the
 * walk sets what it read into the reader's generic value with avro-c's
 * setters (avro_value_set_long, _set_branch, _append, ...), the calls
 * avro_value_read makes.  avro_value_read cost 6 (stock) to 23 (products)
 * heap allocations per event: it reads every string into a new buffer
 * (read_string), wraps it in another, and gives both to the value, freeing
 * the previous ones.  avro_value_set_string_len is no better for strings
 * in arrays: resetting an array ends its items, so each item's string
 * buffer is allocated again per message (and it copies size bytes
 * including the NUL, which a datum does not have).  So the walk copies the
 * message's strings, each with its NUL, into one buffer of the decoder, as
 * long as the datum (always enough, see walk_copy), and lends each copy to
 * the value: a wrapped buffer without a free function, given with
 * avro_value_give_string_len (a string's size counts its NUL, as
 * read_string makes it; bytes the same way without).  Ending or giving
 * over such a string frees nothing.  The value is not reset first: a
 * message sets every part of it (records field by field, the union's
 * branch, every scalar) except arrays and maps, which are reset before
 * their items are appended (see walk_blocks); their storage, and the union
 * branch when the message keeps the previous one's, stay allocated.  What
 * still allocates: an array growing past its largest size so far, a map
 * (avro-c copies every key and remakes its index of them), and a union
 * switching branch (avro-c ends the old branch and makes the new one,
 * whose arrays then allocate their storage).  A refused datum may leave
 * the value half set; nothing reads it before the next message sets it
 * again.  Measured with callgrind over 10,000 simulator events,
 * cf_decoder_decode alone, per event: products 15,400 -> 4,400
 * instructions and 23 -> 0.9 allocations (union switches), stock
 * 6,100 -> 1,500 instructions and 6 -> 0 allocations.
 *
 * Another writer schema: the guard walk, avro_value_reset of the writer's
 * generic value (arrays would otherwise keep the previous message's items),
 * then avro_value_read into it (for a writer lacking defaulted fields, the
 * walk reads into it instead, see below); the result is a resolved-reader
 * view (avro_resolved_reader) of that value, shaped like the reader schema.
 * The other direction, avro-c's resolved writer writing into a reader
 * value, was used first and is wrong: for a union whose new branch is an
 * empty array it never sets the branch, so the previous message's branch
 * (null) leaks into the next one.
 *
 * "The reader schema" means equal both ways: avro_schema_equal(a, b)
 * compares only the enum symbols and union branches a has, so a writer
 * whose enum or union is a prefix of the reader's was taken for the
 * reader schema (harmless while avro_value_read read it by index; the
 * walk of the reader schema would have accepted a branch the writer does
 * not have).
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
 *
 * A writer lacking a field the reader has with a default (the consumer's
 * schema added an optional field; older producers still write without it)
 * is the most ordinary evolution, and avro-c 1.11.1 cannot resolve it: its
 * resolved reader has no defaults at all ("Reader field x doesn't appear
 * in writer").  Worse, refusing it crashed the consumer at start: on a
 * failed field, try_record (src/resolved-reader.c) releases the field
 * resolvers it already made one by one, but its memo hands the same
 * resolver to every field of the same pair of schemas without a reference
 * of their own (two fields of type string, or the string items of two
 * arrays, share one), so a shared one is freed twice, and the memo keeps
 * pointing at freed ones.  Any record that fails after such fields does it:
 * a defaulted field missing (products.avsc's representation, say), or a
 * field of another type.  So avro-c is never given a writer it would
 * refuse.  resolve_check first resolves the writer by avro-c's own rules,
 * dispatch and memo, with the reader's default standing in for a field the
 * writer lacks (checked to be a valid default by default_apply); a writer
 * it refuses is a writer problem with its reason, and avro-c never sees
 * it.  For a writer that lacks defaulted fields, avro-c resolves a copy of
 * the writer schema (schema_copy) in which each such record has the
 * reader's fields it lacks after its own, so that every reader field has a
 * writer field.  The datum is read by the walk above into a value of that
 * copy (avro_value_read would read the appended fields from the bytes):
 * the walk follows the writer's own schema, and after a record's fields
 * sets the appended ones to the reader's defaults (struct fill, one per
 * node of such a record, so records inside arrays, maps and unions get
 * them too).  A default is the JSON of the reader's schema file, as the
 * Avro specification encodes it (a union's is of its first branch, a bytes'
 * or fixed's a string of code points 0 to 255, a record's an object whose
 * missing fields take their own defaults); avro-c parses schemas without
 * field defaults, as it does without enum defaults (defaults_collect), so
 * the decoder keeps the reader's JSON.  The same default_apply checks a
 * default at start and sets it per message, so a default that is not of
 * its field's type is a writer problem at start, never a message refused
 * later.
 */
#include "decode.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
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

/* A schema as the walk reads it, made once per schema: avro-c's accessors
 * look a record's fields and a union's branches up in hash tables at every
 * call.  A link stays a node of its own (the walk counts it as a level of
 * nesting, as it always has) whose child is its target's node. */
struct node {
    avro_type_t type;
    int64_t n;            /* record: fields; union: branches; enum: symbols; fixed: bytes */
    struct node **child;  /* record: fields; union: branches; array, map: [0] the items;
                             link: [0] the target */
    avro_schema_t schema; /* borrowed from the schema compiled: the key of a link's target */
    struct fill *fills;   /* a writer's record: the reader's fields it lacks (DESIGN) */
    size_t nfills;
};

/* A field of a reader record that a writer's record lacks.  The value the
 * writer's datums are read into has it after the writer's own fields, and
 * the walk sets it to the reader's default in every message (DESIGN). */
struct fill {
    avro_schema_t schema; /* the reader field's, borrowed from the reader schema */
    json_t *value;        /* its "default", borrowed from the reader schema's JSON */
};

/* Every node of a decoder, each once (links share their target's). */
struct nodes {
    struct node **all;
    size_t n;
};

struct writer {
    int32_t id;
    avro_schema_t schema;
    const struct node *node;        /* schema compiled for the walk */
    bool same;                      /* the reader schema itself: read into the reader value */
    avro_schema_t filled;           /* NULL, or schema with the reader's fields it lacks
                                       appended to its records: what value holds (DESIGN) */
    avro_value_iface_t *generic;    /* the generic class of filled, or else of schema */
    avro_value_t value;             /* the bytes are read into this */
    avro_value_iface_t *resolver;   /* resolved reader: writer value seen as the reader's */
    avro_value_t view;              /* the result when !same */
    bool usable;                    /* false: the reader cannot read this writer schema */
    bool enums_differ;              /* an enum's symbols differ from the reader's (DESIGN) */
    char file[4096];
    char error[320];                /* why it is not usable */
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
    json_t *reader_json; /* the reader schema's JSON: its fields' defaults */
    struct enum_default *defaults;
    size_t ndefaults;
    avro_value_iface_t *reader_iface;
    avro_value_t reader_value;
    const struct node *reader_node; /* reader_schema compiled for the walk */
    struct nodes nodes;             /* of every schema, to free */
    avro_reader_t mem;
    struct writer *writers;
    size_t nwriters;
    char *copies; /* the strings of the message, lent to reader_value (DESIGN) */
    size_t copies_cap;
    bool avro_read; /* cf_decoder_use_avro_read() */
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
 * Schemas compiled for the walk
 * ------------------------------------------------------------------------ */

static struct node *node_compile(struct nodes *ns, avro_schema_t s)
{
    struct node *nd = calloc(1, sizeof(*nd));
    struct node **all = realloc(ns->all, (ns->n + 1) * sizeof(*all));
    if (!nd || !all)
        abort();
    ns->all = all;
    ns->all[ns->n++] = nd; /* before the children: a link to this record finds it */
    nd->type = avro_typeof(s);
    nd->schema = s;
    switch (nd->type) {
    case AVRO_ENUM:
        nd->n = avro_schema_enum_number_of_symbols(s);
        return nd;
    case AVRO_FIXED:
        nd->n = avro_schema_fixed_size(s);
        return nd;
    case AVRO_RECORD:
        nd->n = (int64_t)avro_schema_record_size(s);
        break;
    case AVRO_UNION:
        nd->n = (int64_t)avro_schema_union_size(s);
        break;
    case AVRO_ARRAY:
    case AVRO_MAP:
    case AVRO_LINK:
        nd->n = 1;
        break;
    default:
        return nd;
    }
    nd->child = calloc((size_t)nd->n + 1, sizeof(*nd->child));
    if (!nd->child)
        abort();
    for (int64_t i = 0; i < nd->n; i++) {
        switch (nd->type) {
        case AVRO_RECORD:
            nd->child[i] = node_compile(ns, avro_schema_record_field_get_by_index(s, (int)i));
            break;
        case AVRO_UNION:
            nd->child[i] = node_compile(ns, avro_schema_union_branch(s, (int)i));
            break;
        case AVRO_ARRAY:
            nd->child[0] = node_compile(ns, avro_schema_array_items(s));
            break;
        case AVRO_MAP:
            nd->child[0] = node_compile(ns, avro_schema_map_values(s));
            break;
        default: { /* AVRO_LINK: a named type met before (recursion, or a second use) */
            avro_schema_t target = avro_schema_link_target(s);
            for (size_t j = 0; j < ns->n && !nd->child[0]; j++) {
                if (ns->all[j]->schema == target && ns->all[j]->type != AVRO_LINK)
                    nd->child[0] = ns->all[j];
            }
            if (!nd->child[0])
                nd->child[0] = node_compile(ns, target);
            break;
        }
        }
    }
    return nd;
}

static void nodes_free(struct nodes *ns)
{
    for (size_t i = 0; i < ns->n; i++) {
        free(ns->all[i]->fills);
        free(ns->all[i]->child);
        free(ns->all[i]);
    }
    free(ns->all);
    memset(ns, 0, sizeof(*ns));
}

/* ------------------------------------------------------------------------
 * The walk: the guard, and the reader of the reader schema
 * ------------------------------------------------------------------------ */

struct walk {
    const uint8_t *p, *end;
    size_t items;
    char *reason;
    size_t reason_size;
    const uint8_t *start;
    char *copy;   /* reading: where the next string's copy goes (dec->copies) */
    int in_items; /* reading: how many array items or map values the walk is in */
    const struct cf_decoder *dec; /* reading a writer's record with fills: the defaults */
};

static int default_apply(const struct cf_decoder *dec, avro_value_t *v, avro_schema_t s, json_t *j,
                         int depth, char *why, size_t why_size);

static int walk_fail(struct walk *w, const char *what)
{
    return cf_reason(w->reason, w->reason_size, CF_REASON_UNDECODABLE, "%s at byte %zu", what,
                     (size_t)(w->p - w->start));
}

/* A setter of the value failed (avro-c says why: out of memory). */
static int fill_fail(struct walk *w)
{
    return cf_reason(w->reason, w->reason_size, CF_REASON_UNDECODABLE, "%s", avro_strerror());
}

/* A zigzag varint of at most max_bytes bytes. */
static int walk_varint_long(struct walk *w, int max_bytes, int64_t *out)
{
    uint64_t v = 0;
    *out = 0;
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

/* The same, one byte inline: most lengths, counts and indexes. */
static inline int walk_varint(struct walk *w, int max_bytes, int64_t *out)
{
    if (w->p < w->end && !(*w->p & 0x80)) {
        uint8_t b = *w->p++;
        *out = (int64_t)(b >> 1) ^ -(int64_t)(b & 1);
        return 0;
    }
    return walk_varint_long(w, max_bytes, out);
}

static int walk_skip(struct walk *w, int64_t n, const char *what)
{
    if (n < 0 || n > w->end - w->p)
        return walk_fail(w, what);
    w->p += n;
    return 0;
}

/* The n bytes at at (checked by the walk), copied with a NUL after them
 * into the decoder's copy buffer; returns the copy.  A buffer as long as
 * the datum holds every copy of it: a copy takes n + 1 bytes, the datum
 * n bytes and a length prefix of at least one (a fixed, copied without
 * the NUL, n and n). */
static char *walk_copy(struct walk *w, const uint8_t *at, int64_t n)
{
    char *c = w->copy;
    memcpy(c, at, (size_t)n);
    c[n] = '\0';
    w->copy += n + 1;
    return c;
}

/* Sets the string or bytes value v to the n bytes at at: their copy is
 * lent to v (a wrapped buffer without a free function), so no string of
 * the value is ever allocated; v reads as avro_value_read makes it, a
 * string's size counting its NUL, a bytes' not. */
static int fill_bytes(struct walk *w, avro_value_t *v, avro_type_t t, const uint8_t *at, int64_t n)
{
    avro_wrapped_buffer_t buf;
    char *c = walk_copy(w, at, n);
    if (avro_wrapped_buffer_new(&buf, c, (size_t)n + (t == AVRO_STRING)) != 0 ||
        (t == AVRO_STRING ? avro_value_give_string_len(v, &buf) : avro_value_give_bytes(v, &buf)))
        return fill_fail(w);
    return 0;
}

/* Little-endian IEEE 754 bits, as the Avro specification writes floats. */
static uint64_t walk_le(const uint8_t *at, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | at[i];
    return v;
}

static int walk_value(struct walk *w, const struct node *s, avro_value_t *v, int depth);

/* An array's or a map's blocks; with v (NULL: the guard alone), appended
 * or added to it.  Arrays and maps are the only parts of the value a
 * message does not overwrite whole, so v is emptied first when it may hold
 * the previous message's items: when the walk is not inside an array item
 * or a map value.  Inside one, v was made by this message, or belongs to a
 * map key the datum repeats, and avro_value_read adds to what the key's
 * first value put there. */
static int walk_blocks(struct walk *w, const struct node *items, avro_value_t *v, bool map,
                       int depth)
{
    if (v && w->in_items == 0 && avro_value_reset(v) != 0)
        return fill_fail(w);
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
            avro_value_t child;
            int rc = 0;
            if (map) {
                int64_t len = 0;
                const uint8_t *key;
                if (walk_varint(w, 10, &len) < 0)
                    return -1;
                key = w->p;
                if (walk_skip(w, len, "map key beyond the end") < 0)
                    return -1;
                /* avro_value_read reads the key as a C string too. */
                if (v)
                    rc = avro_value_add(v, walk_copy(w, key, len), &child, NULL, NULL);
            } else if (v) {
                rc = avro_value_append(v, &child, NULL);
            }
            if (rc != 0)
                return fill_fail(w);
            w->in_items++;
            if (walk_value(w, items, v ? &child : NULL, depth + 1) < 0)
                return -1;
            w->in_items--;
        }
    }
}

/* Walks one value of schema s.  v NULL: the guard alone.  Otherwise v, a
 * generic value of s, is set to the value read (see DESIGN). */
static int walk_value(struct walk *w, const struct node *s, avro_value_t *v, int depth)
{
    if (depth > WALK_MAX_DEPTH)
        return walk_fail(w, "nested too deep");
    int64_t n;
    const uint8_t *at;
    avro_value_t child;
    switch (s->type) {
    case AVRO_STRING:
    case AVRO_BYTES:
        if (walk_varint(w, 10, &n) < 0)
            return -1;
        at = w->p;
        if (walk_skip(w, n, "length beyond the end") < 0)
            return -1;
        return v ? fill_bytes(w, v, s->type, at, n) : 0;
    case AVRO_INT32:
        if (walk_varint(w, 5, &n) < 0)
            return -1;
        if (n < INT32_MIN || n > INT32_MAX)
            return walk_fail(w, "int out of range");
        if (v && avro_value_set_int(v, (int32_t)n) != 0)
            return fill_fail(w);
        return 0;
    case AVRO_INT64:
        if (walk_varint(w, 10, &n) < 0)
            return -1;
        if (v && avro_value_set_long(v, n) != 0)
            return fill_fail(w);
        return 0;
    case AVRO_FLOAT: {
        at = w->p;
        if (walk_skip(w, 4, "truncated float") < 0)
            return -1;
        uint32_t bits = (uint32_t)walk_le(at, 4);
        float f;
        memcpy(&f, &bits, sizeof(f));
        if (v && avro_value_set_float(v, f) != 0)
            return fill_fail(w);
        return 0;
    }
    case AVRO_DOUBLE: {
        at = w->p;
        if (walk_skip(w, 8, "truncated double") < 0)
            return -1;
        uint64_t bits = walk_le(at, 8);
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (v && avro_value_set_double(v, d) != 0)
            return fill_fail(w);
        return 0;
    }
    case AVRO_BOOLEAN:
        if (w->p >= w->end)
            return walk_fail(w, "truncated boolean");
        if (*w->p > 1)
            return walk_fail(w, "boolean not 0 or 1");
        if (v && avro_value_set_boolean(v, *w->p) != 0)
            return fill_fail(w);
        w->p++;
        return 0;
    case AVRO_NULL:
        if (v && avro_value_set_null(v) != 0)
            return fill_fail(w);
        return 0;
    case AVRO_RECORD: {
        for (size_t i = 0; i < (size_t)s->n; i++) {
            if (v && avro_value_get_by_index(v, i, &child, NULL) != 0)
                return fill_fail(w);
            if (walk_value(w, s->child[i], v ? &child : NULL, depth + 1) < 0)
                return -1;
        }
        /* The reader's fields this writer's record lacks: after its own
         * fields in v, set to their defaults (checked at start). */
        for (size_t i = 0; v && i < s->nfills; i++) {
            char why[128];
            if (avro_value_get_by_index(v, (size_t)s->n + i, &child, NULL) != 0)
                return fill_fail(w);
            if (default_apply(w->dec, &child, s->fills[i].schema, s->fills[i].value, 0, why,
                              sizeof(why)) < 0)
                return cf_reason(w->reason, w->reason_size, CF_REASON_UNDECODABLE,
                                 "a default the writer lacks: %s", why);
        }
        return 0;
    }
    case AVRO_ENUM:
        if (walk_varint(w, 10, &n) < 0)
            return -1;
        if (n < 0 || n >= s->n)
            return walk_fail(w, "enum index out of range");
        if (v && avro_value_set_enum(v, (int)n) != 0)
            return fill_fail(w);
        return 0;
    case AVRO_FIXED:
        n = s->n;
        at = w->p;
        if (walk_skip(w, n, "truncated fixed") < 0)
            return -1;
        if (v) {
            /* Copied without a NUL: n bytes of the buffer for n of the
             * datum.  avro_value_set_fixed copies them into the value. */
            char *c = w->copy;
            memcpy(c, at, (size_t)n);
            w->copy += n;
            if (avro_value_set_fixed(v, c, (size_t)n) != 0)
                return fill_fail(w);
        }
        return 0;
    case AVRO_MAP:
        return walk_blocks(w, s->child[0], v, true, depth);
    case AVRO_ARRAY:
        return walk_blocks(w, s->child[0], v, false, depth);
    case AVRO_UNION:
        if (walk_varint(w, 10, &n) < 0)
            return -1;
        if (n < 0 || n >= s->n)
            return walk_fail(w, "union branch out of range");
        /* The same branch as the previous message's keeps its storage. */
        if (v && avro_value_set_branch(v, (int)n, &child) != 0)
            return fill_fail(w);
        return walk_value(w, s->child[n], v ? &child : NULL, depth + 1);
    case AVRO_LINK:
        /* A generic value of a link forwards every call to its target's. */
        return walk_value(w, s->child[0], v, depth + 1);
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

/* ------------------------------------------------------------------------
 * Defaults of the reader's fields a writer lacks (see DESIGN)
 * ------------------------------------------------------------------------ */

/* The JSON object of the record named name (its short name, as avro-c
 * names types) in the schema JSON node, or NULL. */
static json_t *json_find_record(json_t *node, const char *name, int depth)
{
    size_t i;
    const char *key;
    json_t *child, *found = NULL;
    if (depth > WALK_MAX_DEPTH)
        return NULL;
    if (json_is_array(node)) {
        json_array_foreach(node, i, child)
        {
            if (!found)
                found = json_find_record(child, name, depth + 1);
        }
        return found;
    }
    if (!json_is_object(node))
        return NULL;
    const char *type = json_string_value(json_object_get(node, "type"));
    const char *full = json_string_value(json_object_get(node, "name"));
    if (type && strcmp(type, "record") == 0 && full) {
        const char *dot = strrchr(full, '.');
        if (strcmp(dot ? dot + 1 : full, name) == 0)
            return node;
    }
    json_object_foreach(node, key, child)
    {
        (void)key;
        if (!found)
            found = json_find_record(child, name, depth + 1);
    }
    return found;
}

/* The "default" of field name of the reader's record, or NULL if it has
 * none (a JSON null is a default: the null one). */
static json_t *reader_default(const struct cf_decoder *dec, avro_schema_t record, const char *name)
{
    json_t *rj = json_find_record(dec->reader_json, avro_schema_name(record), 0);
    json_t *field;
    size_t i;
    json_array_foreach(json_object_get(rj, "fields"), i, field)
    {
        const char *fname = json_string_value(json_object_get(field, "name"));
        if (fname && strcmp(fname, name) == 0)
            return json_object_get(field, "default");
    }
    return NULL;
}

/* A bytes or fixed default: a JSON string whose code points, each 0 to
 * 255, are the bytes (the Avro specification).  jansson hands the string
 * over as UTF-8, so a code point from 128 is two bytes there.  out holds
 * len bytes; returns how many it got, or -1 for a code point above 255. */
static long default_bytes(const char *s, size_t len, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)s[i];
        if (b < 0x80) {
            out[n++] = b;
        } else if ((b == 0xc2 || b == 0xc3) && i + 1 < len && ((uint8_t)s[i + 1] & 0xc0) == 0x80) {
            out[n++] = (uint8_t)(((b & 0x1f) << 6) | ((uint8_t)s[i + 1] & 0x3f));
            i++;
        } else {
            return -1;
        }
    }
    return (long)n;
}

/* The end of a setter's call in default_apply: rc is its result. */
static int default_set(int rc, char *why, size_t why_size)
{
    if (rc == 0)
        return 0;
    snprintf(why, why_size, "%s", avro_strerror());
    return -1;
}

/* Checks the default j of a reader field of schema s and, with v (a
 * value of s, or of a copy of s), sets v to it: one function, so what is
 * checked at start is what is set per message.  The JSON encoding is the
 * Avro specification's: a union's default is of its first branch, a
 * record's an object (a field it leaves out takes that field's default),
 * an enum's a symbol.  An array or map is emptied first: v may hold the
 * previous message's.  Returns 0, or -1 with what is wrong in why. */
static int default_apply(const struct cf_decoder *dec, avro_value_t *v, avro_schema_t s, json_t *j,
                         int depth, char *why, size_t why_size)
{
    avro_value_t child;
    size_t i;
    json_t *item;
    int rc = 0;
    if (depth > WALK_MAX_DEPTH) {
        snprintf(why, why_size, "nested too deep");
        return -1;
    }
    s = unlink_schema(s);
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        if (!json_is_null(j))
            break;
        if (v)
            rc = avro_value_set_null(v);
        return default_set(rc, why, why_size);
    case AVRO_BOOLEAN:
        if (!json_is_boolean(j))
            break;
        if (v)
            rc = avro_value_set_boolean(v, json_is_true(j));
        return default_set(rc, why, why_size);
    case AVRO_INT32:
        if (!json_is_integer(j) || json_integer_value(j) < INT32_MIN ||
            json_integer_value(j) > INT32_MAX)
            break;
        if (v)
            rc = avro_value_set_int(v, (int32_t)json_integer_value(j));
        return default_set(rc, why, why_size);
    case AVRO_INT64:
        if (!json_is_integer(j))
            break;
        if (v)
            rc = avro_value_set_long(v, (int64_t)json_integer_value(j));
        return default_set(rc, why, why_size);
    case AVRO_FLOAT:
        if (!json_is_number(j))
            break;
        if (v)
            rc = avro_value_set_float(v, (float)json_number_value(j));
        return default_set(rc, why, why_size);
    case AVRO_DOUBLE:
        if (!json_is_number(j))
            break;
        if (v)
            rc = avro_value_set_double(v, json_number_value(j));
        return default_set(rc, why, why_size);
    case AVRO_STRING:
        if (!json_is_string(j))
            break;
        /* A string's size counts its NUL, as avro_value_read makes it. */
        if (v)
            rc = avro_value_set_string_len(v, json_string_value(j), json_string_length(j) + 1);
        return default_set(rc, why, why_size);
    case AVRO_BYTES:
    case AVRO_FIXED: {
        if (!json_is_string(j))
            break;
        size_t len = json_string_length(j);
        uint8_t *buf = malloc(len + 1);
        if (!buf)
            abort();
        long n = default_bytes(json_string_value(j), len, buf);
        if (n < 0 || (is_avro_fixed(s) && n != avro_schema_fixed_size(s))) {
            free(buf);
            break;
        }
        if (v)
            rc = is_avro_fixed(s) ? avro_value_set_fixed(v, buf, (size_t)n)
                                  : avro_value_set_bytes(v, buf, (size_t)n);
        free(buf);
        return default_set(rc, why, why_size);
    }
    case AVRO_ENUM: {
        int index = json_is_string(j) ? avro_schema_enum_get_by_name(s, json_string_value(j)) : -1;
        if (index < 0)
            break;
        if (v)
            rc = avro_value_set_enum(v, index);
        return default_set(rc, why, why_size);
    }
    case AVRO_ARRAY:
        if (!json_is_array(j))
            break;
        if (v && default_set(avro_value_reset(v), why, why_size) < 0)
            return -1;
        json_array_foreach(j, i, item)
        {
            if (v && default_set(avro_value_append(v, &child, NULL), why, why_size) < 0)
                return -1;
            if (default_apply(dec, v ? &child : NULL, avro_schema_array_items(s), item, depth + 1,
                              why, why_size) < 0)
                return -1;
        }
        return 0;
    case AVRO_MAP: {
        const char *key;
        if (!json_is_object(j))
            break;
        if (v && default_set(avro_value_reset(v), why, why_size) < 0)
            return -1;
        json_object_foreach(j, key, item)
        {
            if (v && default_set(avro_value_add(v, key, &child, NULL, NULL), why, why_size) < 0)
                return -1;
            if (default_apply(dec, v ? &child : NULL, avro_schema_map_values(s), item, depth + 1,
                              why, why_size) < 0)
                return -1;
        }
        return 0;
    }
    case AVRO_UNION: {
        avro_schema_t first = avro_schema_union_branch(s, 0);
        if (v && default_set(avro_value_set_branch(v, 0, &child), why, why_size) < 0)
            return -1;
        if (default_apply(dec, v ? &child : NULL, first, j, depth + 1, why, why_size) < 0) {
            snprintf(why, why_size,
                     "is not a %s, the first branch of its union (the Avro "
                     "specification: a union's default is of its first branch)",
                     avro_schema_type_name(unlink_schema(first)));
            return -1;
        }
        return 0;
    }
    case AVRO_RECORD:
        if (!json_is_object(j))
            break;
        for (i = 0; i < avro_schema_record_size(s); i++) {
            const char *name = avro_schema_record_field_name(s, (int)i);
            item = json_object_get(j, name);
            if (!item)
                item = reader_default(dec, s, name);
            if (!item) {
                snprintf(why, why_size, "gives no %s, which has no default", name);
                return -1;
            }
            if (v && default_set(avro_value_get_by_index(v, i, &child, NULL), why, why_size) < 0)
                return -1;
            if (default_apply(dec, v ? &child : NULL,
                              avro_schema_record_field_get_by_index(s, (int)i), item, depth + 1,
                              why, why_size) < 0)
                return -1;
        }
        return 0;
    default:
        break;
    }
    snprintf(why, why_size, "is not a valid %s", avro_schema_type_name(s));
    return -1;
}

/* ------------------------------------------------------------------------
 * Resolution of a writer schema, before avro-c's (see DESIGN)
 * ------------------------------------------------------------------------ */

struct pair {
    avro_schema_t w, r;
};

struct pairs {
    struct pair *p;
    size_t n;
};

/* The pair (w, r), or with r NULL the first pair of w; NULL if none. */
static const struct pair *pairs_find(const struct pairs *ps, avro_schema_t w, avro_schema_t r)
{
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->p[i].w == w && (!r || ps->p[i].r == r))
            return &ps->p[i];
    }
    return NULL;
}

static void pairs_add(struct pairs *ps, avro_schema_t w, avro_schema_t r)
{
    struct pair *p = realloc(ps->p, (ps->n + 1) * sizeof(*p));
    if (!p)
        abort();
    ps->p = p;
    ps->p[ps->n++] = (struct pair){w, r};
}

struct resolve {
    const struct cf_decoder *dec;
    struct pairs seen;   /* (writer, reader) resolved or being resolved: avro-c's memo */
    struct pairs filled; /* (writer record, reader record) the reader's defaults complete */
    bool fatal;          /* a record of the same name failed: avro-c would free twice */
    char why[320];
};

static bool resolve_fail(struct resolve *c, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool resolve_fail(struct resolve *c, bool fatal, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    c->fatal = fatal;
    return false;
}

static bool resolve_check(struct resolve *c, avro_schema_t ws, avro_schema_t rs, int depth);

/* A writer record against a reader record: by avro-c's try_record, except
 * that a reader field the writer lacks takes its default.  Failing here is
 * fatal: avro-c's try_record fails by freeing what it resolved (DESIGN). */
static bool resolve_record(struct resolve *c, avro_schema_t ws, avro_schema_t rs, int depth)
{
    bool lacks = false;
    const char *rname = avro_schema_name(rs);
    if (!is_avro_record(ws))
        return resolve_fail(c, false, "the writer's %s is not the reader's record %s",
                            avro_schema_type_name(ws), rname);
    if (strcmp(avro_schema_name(ws), rname) != 0)
        return resolve_fail(c, false, "the writer's record %s is not the reader's %s",
                            avro_schema_name(ws), rname);
    pairs_add(&c->seen, ws, rs);
    for (size_t i = 0; i < avro_schema_record_size(rs); i++) {
        const char *name = avro_schema_record_field_name(rs, (int)i);
        avro_schema_t rf = avro_schema_record_field_get_by_index(rs, (int)i);
        int wi = avro_schema_record_field_get_index(ws, name);
        if (wi < 0) {
            char why[192];
            json_t *def = reader_default(c->dec, rs, name);
            if (!def)
                return resolve_fail(c, true,
                                    "record %s: field %s is not in the writer's, and "
                                    "the reader's has no default",
                                    rname, name);
            if (default_apply(c->dec, NULL, rf, def, 0, why, sizeof(why)) < 0)
                return resolve_fail(c, true,
                                    "record %s: field %s is not in the writer's, and "
                                    "the reader's default %s",
                                    rname, name, why);
            lacks = true;
            continue;
        }
        if (!resolve_check(c, avro_schema_record_field_get_by_index(ws, wi), rf, depth + 1)) {
            char why[sizeof(c->why)];
            if (c->fatal)
                return false;
            snprintf(why, sizeof(why), "%s", c->why);
            return resolve_fail(c, true, "record %s: field %s: %s", rname, name, why);
        }
    }
    if (lacks) {
        const struct pair *p = pairs_find(&c->filled, ws, NULL);
        if (p && p->r != rs)
            return resolve_fail(c, true, "record %s is read as two records of the reader", rname);
        if (!p)
            pairs_add(&c->filled, ws, rs);
    }
    return true;
}

/* Would avro_resolved_reader_new(ws, rs) succeed, once every record of
 * ws lacking a defaulted reader field has it?  The same dispatch, in the
 * same order, with the same memo, as avro-c 1.11.1's resolved-reader.c, so
 * that avro-c is only ever given what it resolves: its failures are only
 * safe where no record of the same name failed (c->fatal).  Returns true,
 * or false with the reason in c->why. */
static bool resolve_check(struct resolve *c, avro_schema_t ws, avro_schema_t rs, int depth)
{
    size_t mark = c->seen.n;
    bool ok = false;
    avro_type_t wt = avro_typeof(ws);
    if (depth > WALK_MAX_DEPTH)
        return resolve_fail(c, true, "nested too deep");
    if (pairs_find(&c->seen, ws, rs))
        return true;
    if (wt == AVRO_UNION) {
        /* Readable if one branch is; a message of another is refused when
         * it comes (the resolved reader's get_current_branch). */
        pairs_add(&c->seen, ws, rs);
        for (size_t i = 0; i < avro_schema_union_size(ws); i++) {
            if (resolve_check(c, avro_schema_union_branch(ws, (int)i), rs, depth + 1))
                ok = true;
            else if (c->fatal)
                return false;
        }
        if (!ok) {
            c->seen.n = mark;
            return resolve_fail(c, false, "no branch of the writer's union is the reader's %s",
                                avro_schema_type_name(rs));
        }
        return true;
    }
    if (wt == AVRO_LINK) {
        pairs_add(&c->seen, ws, rs);
        ok = resolve_check(c, avro_schema_link_target(ws), rs, depth + 1);
        if (!ok)
            c->seen.n = mark;
        return ok;
    }
    switch (avro_typeof(rs)) {
    case AVRO_BOOLEAN:
    case AVRO_BYTES:
    case AVRO_INT32:
    case AVRO_NULL:
    case AVRO_STRING:
        ok = wt == avro_typeof(rs);
        break;
    case AVRO_INT64:
        ok = wt == AVRO_INT64 || wt == AVRO_INT32;
        break;
    case AVRO_FLOAT:
        ok = wt == AVRO_FLOAT || wt == AVRO_INT64 || wt == AVRO_INT32;
        break;
    case AVRO_DOUBLE:
        ok = wt == AVRO_DOUBLE || wt == AVRO_FLOAT || wt == AVRO_INT64 || wt == AVRO_INT32;
        break;
    case AVRO_ENUM:
        ok = wt == AVRO_ENUM && strcmp(avro_schema_name(ws), avro_schema_name(rs)) == 0;
        break;
    case AVRO_FIXED:
        ok = avro_schema_equal(ws, rs) != 0;
        break;
    case AVRO_ARRAY:
    case AVRO_MAP:
        if (wt != avro_typeof(rs))
            break;
        pairs_add(&c->seen, ws, rs);
        ok = wt == AVRO_ARRAY ? resolve_check(c, avro_schema_array_items(ws),
                                              avro_schema_array_items(rs), depth + 1)
                              : resolve_check(c, avro_schema_map_values(ws),
                                              avro_schema_map_values(rs), depth + 1);
        if (!ok)
            c->seen.n = mark;
        return ok;
    case AVRO_RECORD:
        return resolve_record(c, ws, rs, depth);
    case AVRO_UNION:
        pairs_add(&c->seen, ws, rs);
        for (size_t i = 0; i < avro_schema_union_size(rs); i++) {
            if (resolve_check(c, ws, avro_schema_union_branch(rs, (int)i), depth + 1))
                return true;
            if (c->fatal)
                return false;
        }
        c->seen.n = mark;
        return resolve_fail(c, false, "the writer's %s is no branch of the reader's union",
                            avro_schema_type_name(ws));
    case AVRO_LINK:
        pairs_add(&c->seen, ws, rs);
        ok = resolve_check(c, ws, avro_schema_link_target(rs), depth + 1);
        if (!ok)
            c->seen.n = mark;
        return ok;
    default:
        break;
    }
    if (ok)
        return true;
    return resolve_fail(c, false, "the writer's %s is not the reader's %s",
                        avro_schema_type_name(ws), avro_schema_type_name(rs));
}

/* A copy of the writer schema s in which every record of c->filled has,
 * after its own fields, the reader's fields it lacks (copies of them): the
 * schema avro-c resolves and the walk reads into (DESIGN).  Records,
 * arrays, maps, unions and links are copied, the other types shared.
 * copied maps a named type to its copy so that a link points into the
 * copy; a link to a type the copy does not have yet (a reader's type that
 * an appended field brings along) gets the type itself there instead. */
static avro_schema_t schema_copy(const struct resolve *c, struct pairs *copied, avro_schema_t s)
{
    avro_schema_t out, child;
    const struct pair *p;
    size_t i;
    switch (avro_typeof(s)) {
    case AVRO_LINK:
        p = pairs_find(copied, avro_schema_link_target(s), NULL);
        if (!p)
            return schema_copy(c, copied, avro_schema_link_target(s));
        out = avro_schema_link(p->r);
        break;
    case AVRO_ENUM:
    case AVRO_FIXED:
        pairs_add(copied, s, s);
        return avro_schema_incref(s);
    case AVRO_ARRAY:
        child = schema_copy(c, copied, avro_schema_array_items(s));
        out = avro_schema_array(child);
        avro_schema_decref(child);
        break;
    case AVRO_MAP:
        child = schema_copy(c, copied, avro_schema_map_values(s));
        out = avro_schema_map(child);
        avro_schema_decref(child);
        break;
    case AVRO_UNION:
        out = avro_schema_union();
        for (i = 0; out && i < avro_schema_union_size(s); i++) {
            child = schema_copy(c, copied, avro_schema_union_branch(s, (int)i));
            if (avro_schema_union_append(out, child) != 0)
                abort();
            avro_schema_decref(child);
        }
        break;
    case AVRO_RECORD:
        out = avro_schema_record(avro_schema_name(s), avro_schema_namespace(s));
        if (!out)
            abort();
        pairs_add(copied, s, out); /* before the fields: a link to this record finds it */
        for (i = 0; i < avro_schema_record_size(s); i++) {
            child = schema_copy(c, copied, avro_schema_record_field_get_by_index(s, (int)i));
            if (avro_schema_record_field_append(out, avro_schema_record_field_name(s, (int)i),
                                                child) != 0)
                abort();
            avro_schema_decref(child);
        }
        /* The reader's fields it lacks, in the reader's order, as
         * fills_attach gives the walk their defaults. */
        p = pairs_find(&c->filled, s, NULL);
        for (i = 0; p && i < avro_schema_record_size(p->r); i++) {
            const char *name = avro_schema_record_field_name(p->r, (int)i);
            if (avro_schema_record_field_get_index(s, name) >= 0)
                continue;
            child = schema_copy(c, copied, avro_schema_record_field_get_by_index(p->r, (int)i));
            if (avro_schema_record_field_append(out, name, child) != 0)
                abort();
            avro_schema_decref(child);
        }
        return out;
    default:
        return avro_schema_incref(s);
    }
    if (!out)
        abort();
    return out;
}

/* Gives each record of c->filled among the nodes compiled from its writer
 * (ns->all[from..]) the defaults of the reader's fields it lacks, in the
 * order schema_copy appends them. */
static void fills_attach(const struct resolve *c, struct nodes *ns, size_t from)
{
    for (size_t i = 0; i < c->filled.n; i++) {
        avro_schema_t ws = c->filled.p[i].w, rs = c->filled.p[i].r;
        for (size_t k = from; k < ns->n; k++) {
            struct node *nd = ns->all[k];
            if (nd->schema != ws || nd->type != AVRO_RECORD)
                continue;
            nd->fills = calloc(avro_schema_record_size(rs), sizeof(*nd->fills));
            if (!nd->fills)
                abort();
            for (size_t f = 0; f < avro_schema_record_size(rs); f++) {
                const char *name = avro_schema_record_field_name(rs, (int)f);
                if (avro_schema_record_field_get_index(ws, name) >= 0)
                    continue;
                nd->fills[nd->nfills++] =
                    (struct fill){avro_schema_record_field_get_by_index(rs, (int)f),
                                  reader_default(c->dec, rs, name)};
            }
            break;
        }
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
    /* The reader schema itself, compared both ways: avro_schema_equal(a, b)
     * compares only the enum symbols and union branches a has (DESIGN). */
    w->same = avro_schema_equal(schema, dec->reader_schema) != 0 &&
              avro_schema_equal(dec->reader_schema, schema) != 0;
    /* A writer schema the reader cannot resolve (a field the reader has
     * without a default missing, a field of another type) does not stop
     * the consumer: its messages go to the dead-letter topic with the
     * reason.  resolve_check refuses it before avro-c sees it (DESIGN). */
    struct resolve rc = {.dec = dec};
    w->usable = true;
    if (!w->same && !resolve_check(&rc, schema, dec->reader_schema, 0)) {
        w->usable = false;
        snprintf(w->error, sizeof(w->error), "%s", rc.why);
    } else if (!w->same) {
        struct pairs copied = {0};
        if (rc.filled.n > 0)
            w->filled = schema_copy(&rc, &copied, schema);
        free(copied.p);
        avro_schema_t read = w->filled ? w->filled : schema;
        w->resolver = avro_resolved_reader_new(read, dec->reader_schema);
        w->generic = w->resolver ? avro_generic_class_from_schema(read) : NULL;
        if (!w->resolver || !w->generic || avro_generic_value_new(w->generic, &w->value) != 0 ||
            avro_resolved_reader_new_value(w->resolver, &w->view) != 0) {
            w->usable = false;
            snprintf(w->error, sizeof(w->error), "%s", avro_strerror());
            for (char *c = w->error; *c; c++)
                *c = *c == '\n' ? ' ' : *c;
        } else {
            avro_resolved_reader_set_source(&w->view, &w->value);
            w->enums_differ = enums_differ(read, dec->reader_schema, 0);
        }
    }
    w->id = id;
    w->schema = avro_schema_incref(schema);
    size_t from = dec->nodes.n;
    w->node = node_compile(&dec->nodes, w->schema);
    if (w->filled && w->usable)
        fills_attach(&rc, &dec->nodes, from);
    free(rc.seen.p);
    free(rc.filled.p);
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
    dec->reader_json = json; /* the fields' defaults (reader_default) */
    json = NULL;
    dec->reader_node = node_compile(&dec->nodes, dec->reader_schema);
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
        if (w->filled)
            avro_schema_decref(w->filled);
        avro_schema_decref(w->schema);
    }
    free(dec->writers);
    free(dec->defaults);
    nodes_free(&dec->nodes);
    if (dec->reader_iface) {
        if (dec->reader_value.self)
            avro_value_decref(&dec->reader_value);
        avro_value_iface_decref(dec->reader_iface);
    }
    if (dec->mem)
        avro_reader_free(dec->mem);
    free(dec->copies);
    if (dec->reader_schema)
        avro_schema_decref(dec->reader_schema);
    json_decref(dec->reader_json);
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

void cf_decoder_use_avro_read(struct cf_decoder *dec, bool on)
{
    dec->avro_read = on;
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

    /* Read by the walk as it goes (DESIGN): a datum of the reader schema,
     * and one of a writer whose value has the reader's fields it lacks
     * (avro_value_read would read those from the bytes). */
    bool other = w && !w->same;
    avro_value_t *into = other ? &w->value : &dec->reader_value;
    if (other ? w->filled != NULL : !dec->avro_read) {
        if (len > dec->copies_cap) {
            size_t cap = dec->copies_cap ? dec->copies_cap : 4096;
            while (cap < len)
                cap *= 2;
            char *c = realloc(dec->copies, cap);
            if (!c)
                abort();
            dec->copies = c;
            dec->copies_cap = cap;
        }
        struct walk walk = {p, p + len, 0, reason, reason_size, p, dec->copies, 0, dec};
        if (walk_value(&walk, other ? w->node : dec->reader_node, into, 0) < 0)
            return -1;
        assert(walk.copy <= dec->copies + len);
        if (walk.p != walk.end)
            return cf_reason(reason, reason_size, CF_REASON_UNDECODABLE,
                             "%zu bytes left after the datum", (size_t)(walk.end - walk.p));
    } else {
        /* Another writer schema: the guard walk, then avro-c reads it. */
        struct walk walk = {p, p + len, 0, reason, reason_size, p, NULL, 0, NULL};
        if (walk_value(&walk, w ? w->node : dec->reader_node, NULL, 0) < 0)
            return -1;
        if (walk.p != walk.end)
            return cf_reason(reason, reason_size, CF_REASON_UNDECODABLE,
                             "%zu bytes left after the datum", (size_t)(walk.end - walk.p));
        avro_value_reset(into);
        avro_reader_memory_set_source(dec->mem, (const char *)p, (int64_t)len);
        if (avro_value_read(dec->mem, into) != 0)
            return cf_reason(reason, reason_size, CF_REASON_UNDECODABLE, "%s", avro_strerror());
    }
    if (other && w->enums_differ &&
        enums_resolve(dec, &w->value, dec->reader_schema, 0, reason, reason_size) < 0)
        return -1;
    *value = other ? &w->view : &dec->reader_value;
    return 0;
}
