/* encode.c - Avro encoding of the simulator's events (see encode.h).
 *
 * DESIGN
 * avro-c reports errors as errno codes plus a thread-local message
 * (avro_strerror); every failing call here is turned into one sentence in
 * errstr that names the field or file involved.  The buffer holds the
 * Confluent header in front of the datum, so framing never copies: plain
 * framing simply hands out the bytes after the header.
 */
#include "encode.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_FILE_MAX    (1024 * 1024)
#define SCHEMA_ID_PROPERTY "cachefleet.schema_id"
#define MAX_BRANCHES       32

struct sim_encoder {
    avro_schema_t schema;
    int32_t schema_id;
    enum sim_framing framing;
    avro_value_iface_t *iface;
    avro_value_t value;
    bool have_value;
    avro_writer_t writer;
    char *buf; /* SIM_CONFLUENT_HEADER bytes, then the datum */
    size_t cap;
    size_t nbranches;
    char *branches[MAX_BRANCHES]; /* body branch names by discriminant */
    char file[256];
};

int sim_framing_parse(const char *text, enum sim_framing *framing)
{
    if (strcmp(text, "confluent") == 0) {
        *framing = SIM_FRAMING_CONFLUENT;
        return 0;
    }
    if (strcmp(text, "plain") == 0) {
        *framing = SIM_FRAMING_PLAIN;
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Schema files
 * ------------------------------------------------------------------------ */

/* Reads a whole file into a new NUL-terminated buffer (free it). */
static char *read_file(const char *path, size_t *len, char *errstr, size_t errstr_size)
{
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    text = malloc(SCHEMA_FILE_MAX + 1);
    if (!text) {
        snprintf(errstr, errstr_size, "%s: out of memory", path);
        goto fail;
    }
    size_t n = fread(text, 1, SCHEMA_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(errstr, errstr_size, "%s: read error", path);
        goto fail;
    }
    if (n > SCHEMA_FILE_MAX) {
        snprintf(errstr, errstr_size, "%s: larger than %d bytes", path, SCHEMA_FILE_MAX);
        goto fail;
    }
    text[n] = '\0';
    *len = n;
    fclose(f);
    return text;

fail:
    free(text);
    fclose(f);
    return NULL;
}

int sim_schema_load(const char *dir, const char *file, avro_schema_t *schema, int32_t *schema_id,
                    char *errstr, size_t errstr_size)
{
    char path[4096];
    char *text = NULL;
    json_t *root = NULL;
    size_t len = 0;
    *schema = NULL;
    *schema_id = -1;

    int n = snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        snprintf(errstr, errstr_size, "schema path %s/%s is too long", dir, file);
        return -1;
    }
    text = read_file(path, &len, errstr, errstr_size);
    if (!text)
        goto fail;
    if (avro_schema_from_json_length(text, len, schema) != 0) {
        snprintf(errstr, errstr_size, "%s: not a valid Avro schema: %s", path, avro_strerror());
        *schema = NULL;
        goto fail;
    }
    json_error_t jerr;
    root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line, jerr.text);
        goto fail;
    }
    json_t *id = json_is_object(root) ? json_object_get(root, SCHEMA_ID_PROPERTY) : NULL;
    if (id) {
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) > INT32_MAX) {
            snprintf(errstr, errstr_size, "%s: %s must be an integer in 0..%d", path,
                     SCHEMA_ID_PROPERTY, INT32_MAX);
            goto fail;
        }
        *schema_id = (int32_t)json_integer_value(id);
    }
    json_decref(root);
    free(text);
    return 0;

fail:
    json_decref(root);
    free(text);
    if (*schema) {
        avro_schema_decref(*schema);
        *schema = NULL;
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * The encoder
 * ------------------------------------------------------------------------ */

/* Checks the envelope (see encode.h) and records the body's branches. */
static int check_envelope(struct sim_encoder *enc, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *name;
        avro_type_t type;
    } fields[] = {{"event_id", AVRO_STRING}, {"version", AVRO_INT64}, {"occurred_at", AVRO_INT64}};

    if (!is_avro_record(enc->schema)) {
        snprintf(errstr, errstr_size, "%s: the top-level schema is not a record", enc->file);
        return -1;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        avro_schema_t f = avro_schema_record_field_get(enc->schema, fields[i].name);
        if (!f || avro_typeof(f) != fields[i].type) {
            snprintf(errstr, errstr_size, "%s: field %s is missing or of the wrong type", enc->file,
                     fields[i].name);
            return -1;
        }
    }
    avro_schema_t body = avro_schema_record_field_get(enc->schema, "body");
    if (!body || !is_avro_union(body)) {
        snprintf(errstr, errstr_size, "%s: field body is missing or not a union", enc->file);
        return -1;
    }
    size_t n = avro_schema_union_size(body);
    if (n > MAX_BRANCHES) {
        snprintf(errstr, errstr_size, "%s: body has more than %d branches", enc->file,
                 MAX_BRANCHES);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = avro_schema_union_branch(body, (int)i);
        const char *name = is_avro_record(b) ? avro_schema_name(b) : "";
        enc->branches[i] = strdup(name);
        if (!enc->branches[i]) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        enc->nbranches = i + 1;
    }
    return 0;
}

struct sim_encoder *sim_encoder_new(const char *dir, const char *file, enum sim_framing framing,
                                    char *errstr, size_t errstr_size)
{
    struct sim_encoder *enc = calloc(1, sizeof(*enc));
    if (!enc) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    enc->framing = framing;
    snprintf(enc->file, sizeof(enc->file), "%s/%s", dir, file);
    if (sim_schema_load(dir, file, &enc->schema, &enc->schema_id, errstr, errstr_size) < 0)
        goto fail;
    if (framing == SIM_FRAMING_CONFLUENT && enc->schema_id < 0) {
        snprintf(errstr, errstr_size,
                 "%s: has no integer property \"%s\", which Confluent framing needs", enc->file,
                 SCHEMA_ID_PROPERTY);
        goto fail;
    }
    if (check_envelope(enc, errstr, errstr_size) < 0)
        goto fail;
    enc->iface = avro_generic_class_from_schema(enc->schema);
    if (!enc->iface) {
        snprintf(errstr, errstr_size, "%s: %s", enc->file, avro_strerror());
        goto fail;
    }
    if (avro_generic_value_new(enc->iface, &enc->value) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", enc->file, avro_strerror());
        goto fail;
    }
    enc->have_value = true;
    enc->cap = 64 * 1024;
    enc->buf = malloc(enc->cap);
    if (!enc->buf) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    enc->writer = avro_writer_memory(enc->buf + SIM_CONFLUENT_HEADER,
                                     (int64_t)(enc->cap - SIM_CONFLUENT_HEADER));
    if (!enc->writer) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return enc;

fail:
    sim_encoder_destroy(enc);
    return NULL;
}

void sim_encoder_destroy(struct sim_encoder *enc)
{
    if (!enc)
        return;
    if (enc->writer)
        avro_writer_free(enc->writer);
    if (enc->have_value)
        avro_value_decref(&enc->value);
    if (enc->iface)
        avro_value_iface_decref(enc->iface);
    if (enc->schema)
        avro_schema_decref(enc->schema);
    for (size_t i = 0; i < enc->nbranches; i++)
        free(enc->branches[i]);
    free(enc->buf);
    free(enc);
}

avro_schema_t sim_encoder_schema(const struct sim_encoder *enc)
{
    return enc->schema;
}

int32_t sim_encoder_schema_id(const struct sim_encoder *enc)
{
    return enc->schema_id;
}

avro_value_t *sim_encoder_value(struct sim_encoder *enc)
{
    return &enc->value;
}

static int field(avro_value_t *rec, const char *name, avro_value_t *out, char *errstr,
                 size_t errstr_size)
{
    if (avro_value_get_by_name(rec, name, out, NULL) != 0) {
        snprintf(errstr, errstr_size, "no field %s in the schema", name);
        return -1;
    }
    return 0;
}

int sim_encoder_begin(struct sim_encoder *enc, const char *event_id, int64_t version,
                      int64_t occurred_at, const char *type, avro_value_t *body, char *errstr,
                      size_t errstr_size)
{
    avro_value_t f;
    size_t disc = 0;
    while (disc < enc->nbranches && strcmp(enc->branches[disc], type) != 0)
        disc++;
    if (disc == enc->nbranches) {
        snprintf(errstr, errstr_size, "%s: no body branch %s", enc->file, type);
        return -1;
    }
    if (avro_value_reset(&enc->value) != 0) {
        snprintf(errstr, errstr_size, "avro reset: %s", avro_strerror());
        return -1;
    }
    if (sim_avro_set_string(&enc->value, "event_id", event_id, errstr, errstr_size) < 0)
        return -1;
    if (field(&enc->value, "version", &f, errstr, errstr_size) < 0 ||
        avro_value_set_long(&f, version) != 0)
        goto avro_fail;
    if (field(&enc->value, "occurred_at", &f, errstr, errstr_size) < 0 ||
        avro_value_set_long(&f, occurred_at) != 0)
        goto avro_fail;
    if (field(&enc->value, "body", &f, errstr, errstr_size) < 0 ||
        avro_value_set_branch(&f, (int)disc, body) != 0)
        goto avro_fail;
    return 0;

avro_fail:
    snprintf(errstr, errstr_size, "%s: cannot fill the envelope: %s", enc->file, avro_strerror());
    return -1;
}

int sim_encoder_finish(struct sim_encoder *enc, const void **data, size_t *len, char *errstr,
                       size_t errstr_size)
{
    size_t size = 0;
    if (avro_value_sizeof(&enc->value, &size) != 0) {
        snprintf(errstr, errstr_size, "avro sizeof: %s", avro_strerror());
        return -1;
    }
    if (size + SIM_CONFLUENT_HEADER > enc->cap) {
        size_t cap = enc->cap;
        while (cap < size + SIM_CONFLUENT_HEADER)
            cap *= 2;
        char *buf = realloc(enc->buf, cap);
        if (!buf) {
            snprintf(errstr, errstr_size, "out of memory for a %zu-byte event", size);
            return -1;
        }
        enc->buf = buf;
        enc->cap = cap;
    }
    avro_writer_memory_set_dest(enc->writer, enc->buf + SIM_CONFLUENT_HEADER,
                                (int64_t)(enc->cap - SIM_CONFLUENT_HEADER));
    if (avro_value_write(enc->writer, &enc->value) != 0) {
        snprintf(errstr, errstr_size, "avro write: %s", avro_strerror());
        return -1;
    }
    size_t written = (size_t)avro_writer_tell(enc->writer);
    if (enc->framing == SIM_FRAMING_PLAIN) {
        *data = enc->buf + SIM_CONFLUENT_HEADER;
        *len = written;
        return 0;
    }
    uint32_t id = (uint32_t)enc->schema_id;
    enc->buf[0] = 0;
    enc->buf[1] = (char)(id >> 24);
    enc->buf[2] = (char)(id >> 16);
    enc->buf[3] = (char)(id >> 8);
    enc->buf[4] = (char)id;
    *data = enc->buf;
    *len = written + SIM_CONFLUENT_HEADER;
    return 0;
}

/* ------------------------------------------------------------------------
 * Field helpers
 * ------------------------------------------------------------------------ */

int sim_avro_set_string(avro_value_t *rec, const char *name, const char *s, char *errstr,
                        size_t errstr_size)
{
    avro_value_t f;
    if (field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    if (avro_value_set_string(&f, s) != 0) {
        snprintf(errstr, errstr_size, "field %s: %s", name, avro_strerror());
        return -1;
    }
    return 0;
}

int sim_avro_set_optional_string(avro_value_t *rec, const char *name, const char *s, size_t len,
                                 char *errstr, size_t errstr_size)
{
    avro_value_t f, branch;
    if (field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    avro_schema_t u = avro_value_get_schema(&f);
    if (!u || !is_avro_union(u)) {
        snprintf(errstr, errstr_size, "field %s is not a union", name);
        return -1;
    }
    avro_type_t want = s ? AVRO_STRING : AVRO_NULL;
    size_t n = avro_schema_union_size(u), disc = 0;
    while (disc < n && avro_typeof(avro_schema_union_branch(u, (int)disc)) != want)
        disc++;
    if (disc == n) {
        snprintf(errstr, errstr_size, "field %s has no %s branch", name, s ? "string" : "null");
        return -1;
    }
    if (avro_value_set_branch(&f, (int)disc, &branch) != 0)
        goto avro_fail;
    /* set_string_len counts the terminating NUL, which s carries. */
    if (s && avro_value_set_string_len(&branch, s, len + 1) != 0)
        goto avro_fail;
    if (!s && avro_value_set_null(&branch) != 0)
        goto avro_fail;
    return 0;

avro_fail:
    snprintf(errstr, errstr_size, "field %s: %s", name, avro_strerror());
    return -1;
}

int sim_avro_set_string_array(avro_value_t *rec, const char *name, const char *const *items,
                              size_t count, char *errstr, size_t errstr_size)
{
    avro_value_t f, item;
    if (field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    /* The value was reset by begin, so the array is empty here. */
    for (size_t i = 0; i < count; i++) {
        if (avro_value_append(&f, &item, NULL) != 0 ||
            avro_value_set_string(&item, items[i]) != 0) {
            snprintf(errstr, errstr_size, "field %s: %s", name, avro_strerror());
            return -1;
        }
    }
    return 0;
}

int sim_avro_set_optional_string_array(avro_value_t *rec, const char *name, bool present,
                                       const char *const *items, size_t count, char *errstr,
                                       size_t errstr_size)
{
    avro_value_t f, branch, item;
    if (field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    avro_schema_t u = avro_value_get_schema(&f);
    if (!u || !is_avro_union(u)) {
        snprintf(errstr, errstr_size, "field %s is not a union", name);
        return -1;
    }
    avro_type_t want = present ? AVRO_ARRAY : AVRO_NULL;
    size_t n = avro_schema_union_size(u), disc = 0;
    while (disc < n && avro_typeof(avro_schema_union_branch(u, (int)disc)) != want)
        disc++;
    if (disc == n) {
        snprintf(errstr, errstr_size, "field %s has no %s branch", name,
                 present ? "array" : "null");
        return -1;
    }
    if (avro_value_set_branch(&f, (int)disc, &branch) != 0)
        goto avro_fail;
    if (!present) {
        if (avro_value_set_null(&branch) != 0)
            goto avro_fail;
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (avro_value_append(&branch, &item, NULL) != 0 ||
            avro_value_set_string(&item, items[i]) != 0)
            goto avro_fail;
    }
    return 0;

avro_fail:
    snprintf(errstr, errstr_size, "field %s: %s", name, avro_strerror());
    return -1;
}

int sim_avro_set_long(avro_value_t *rec, const char *name, int64_t v, char *errstr,
                      size_t errstr_size)
{
    avro_value_t f;
    if (field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    if (avro_value_set_long(&f, v) != 0) {
        snprintf(errstr, errstr_size, "field %s: %s", name, avro_strerror());
        return -1;
    }
    return 0;
}

int sim_avro_set_enum(avro_value_t *rec, const char *name, const char *symbol, char *errstr,
                      size_t errstr_size)
{
    avro_value_t f;
    if (field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    avro_schema_t e = avro_value_get_schema(&f);
    if (!e || !is_avro_enum(e)) {
        snprintf(errstr, errstr_size, "field %s is not an enum", name);
        return -1;
    }
    int index = avro_schema_enum_get_by_name(e, symbol);
    if (index < 0) {
        snprintf(errstr, errstr_size, "field %s has no symbol %s", name, symbol);
        return -1;
    }
    if (avro_value_set_enum(&f, index) != 0) {
        snprintf(errstr, errstr_size, "field %s: %s", name, avro_strerror());
        return -1;
    }
    return 0;
}

static int set_int(avro_value_t *rec, const char *name, int32_t v, char *errstr, size_t errstr_size)
{
    avro_value_t f;
    if (field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    if (avro_value_set_int(&f, v) != 0) {
        snprintf(errstr, errstr_size, "field %s: %s", name, avro_strerror());
        return -1;
    }
    return 0;
}

static int set_bool(avro_value_t *rec, const char *name, int v, char *errstr, size_t errstr_size)
{
    avro_value_t f;
    if (field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    if (avro_value_set_boolean(&f, v) != 0) {
        snprintf(errstr, errstr_size, "field %s: %s", name, avro_strerror());
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * shop.products (schemas/products.avsc)
 * ------------------------------------------------------------------------ */

static int set_ids(avro_value_t *rec, const char *name, const struct shop_id_list *list,
                   char *errstr, size_t errstr_size)
{
    const char *items[SHOP_MAX_PRODUCT_CATEGORIES];
    for (uint32_t i = 0; i < list->count; i++)
        items[i] = list->ids[i];
    return sim_avro_set_string_array(rec, name, items, list->count, errstr, errstr_size);
}

static int set_terms(avro_value_t *rec, const char *name, const struct shop_term_list *list,
                     char *errstr, size_t errstr_size)
{
    const char *items[SHOP_MAX_TERMS];
    for (uint32_t i = 0; i < list->count; i++)
        items[i] = list->terms[i];
    return sim_avro_set_string_array(rec, name, items, list->count, errstr, errstr_size);
}

int sim_encode_product_event(struct sim_encoder *enc, const struct shop_event *ev,
                             const void **data, size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t b;
    if (ev->topic != SHOP_TOPIC_PRODUCTS) {
        snprintf(errstr, errstr_size, "%s is an event of %s, not of products",
                 shop_event_type_name(ev->type), shop_topic_name(ev->topic));
        return -1;
    }
    if (sim_encoder_begin(enc, ev->event_id, ev->version, ev->occurred_at,
                          shop_event_type_name(ev->type), &b, errstr, errstr_size) < 0)
        return -1;
    int rc = 0;
    switch (ev->type) {
    case SHOP_PRODUCT_UPSERTED:
        rc = sim_avro_set_string(&b, "product_id", ev->key, errstr, errstr_size);
        rc =
            rc ? rc : set_ids(&b, "categories_before", &ev->categories_before, errstr, errstr_size);
        rc = rc ? rc : set_ids(&b, "categories_after", &ev->categories_after, errstr, errstr_size);
        rc = rc ? rc : set_terms(&b, "search_terms_before", &ev->terms_before, errstr, errstr_size);
        rc = rc ? rc : set_terms(&b, "search_terms_after", &ev->terms_after, errstr, errstr_size);
        rc = rc ? rc
                : sim_avro_set_optional_string(&b, "representation", ev->representation,
                                               ev->representation_len, errstr, errstr_size);
        break;
    case SHOP_PRODUCT_DELETED:
        rc = sim_avro_set_string(&b, "product_id", ev->key, errstr, errstr_size);
        rc =
            rc ? rc : set_ids(&b, "categories_before", &ev->categories_before, errstr, errstr_size);
        rc = rc ? rc : set_terms(&b, "search_terms_before", &ev->terms_before, errstr, errstr_size);
        break;
    case SHOP_PRODUCT_RELATED_CHANGED:
        rc = sim_avro_set_string(&b, "product_id", ev->key, errstr, errstr_size);
        rc = rc ? rc
                : sim_avro_set_string(&b, "related_model", ev->related_model, errstr, errstr_size);
        rc = rc ? rc : sim_avro_set_string(&b, "related_id", ev->related_id, errstr, errstr_size);
        break;
    case SHOP_CATEGORY_UPSERTED:
        rc = sim_avro_set_string(&b, "category_id", ev->key, errstr, errstr_size);
        rc = rc ? rc
                : sim_avro_set_optional_string(&b, "parent_id",
                                               ev->has_parent ? ev->parent_id : NULL,
                                               strlen(ev->parent_id), errstr, errstr_size);
        rc = rc ? rc : sim_avro_set_string(&b, "name", ev->name, errstr, errstr_size);
        rc = rc ? rc : sim_avro_set_string(&b, "slug", ev->slug, errstr, errstr_size);
        rc = rc ? rc : set_int(&b, "position", ev->position, errstr, errstr_size);
        rc = rc ? rc : set_bool(&b, "visible", ev->visible, errstr, errstr_size);
        break;
    case SHOP_CATEGORY_DELETED:
        rc = sim_avro_set_string(&b, "category_id", ev->key, errstr, errstr_size);
        break;
    default:
        snprintf(errstr, errstr_size, "unknown event type %d", (int)ev->type);
        return -1;
    }
    if (rc < 0)
        return -1;
    return sim_encoder_finish(enc, data, len, errstr, errstr_size);
}

/* ------------------------------------------------------------------------
 * The other topics (schemas/carts.avsc, orders.avsc, access.avsc, stock.avsc)
 * ------------------------------------------------------------------------ */

/* Starts ev with enc after checking it belongs to topic. */
static int begin_topic(struct sim_encoder *enc, const struct shop_event *ev, enum shop_topic topic,
                       avro_value_t *body, char *errstr, size_t errstr_size)
{
    if (ev->topic != topic) {
        snprintf(errstr, errstr_size, "%s is an event of %s, not of %s",
                 shop_event_type_name(ev->type), shop_topic_name(ev->topic),
                 shop_topic_name(topic));
        return -1;
    }
    return sim_encoder_begin(enc, ev->event_id, ev->version, ev->occurred_at,
                             shop_event_type_name(ev->type), body, errstr, errstr_size);
}

static const char *optional(bool present, const char *s)
{
    return present ? s : NULL;
}

int sim_encode_cart_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                          size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t b;
    if (begin_topic(enc, ev, SHOP_TOPIC_CARTS, &b, errstr, errstr_size) < 0)
        return -1;
    /* The model builds the JSON only for carts it hands out. */
    const char *cart = ev->cart;
    if (ev->type != SHOP_CART_DELETED && !cart) {
        snprintf(errstr, errstr_size, "%s of cart %s has no cart JSON",
                 shop_event_type_name(ev->type), ev->key);
        return -1;
    }
    int rc = 0;
    switch (ev->type) {
    case SHOP_CART_UPDATED:
        rc = sim_avro_set_string(&b, "cart_id", ev->key, errstr, errstr_size);
        rc = rc ? rc
                : sim_avro_set_optional_string(&b, "user_id", optional(ev->has_user, ev->user_id),
                                               strlen(ev->user_id), errstr, errstr_size);
        rc = rc ? rc
                : sim_avro_set_enum(&b, "change", shop_cart_change_symbol(ev->cart_change), errstr,
                                    errstr_size);
        rc = rc ? rc : sim_avro_set_string(&b, "cart", cart, errstr, errstr_size);
        break;
    case SHOP_CART_DELETED:
        rc = sim_avro_set_string(&b, "cart_id", ev->key, errstr, errstr_size);
        break;
    case SHOP_CART_MERGED:
        rc = sim_avro_set_string(&b, "source_cart_id", ev->source_cart_id, errstr, errstr_size);
        rc = rc ? rc : sim_avro_set_string(&b, "target_cart_id", ev->key, errstr, errstr_size);
        rc = rc ? rc
                : sim_avro_set_optional_string(&b, "user_id", optional(ev->has_user, ev->user_id),
                                               strlen(ev->user_id), errstr, errstr_size);
        rc = rc ? rc : sim_avro_set_string(&b, "cart", cart, errstr, errstr_size);
        break;
    default:
        snprintf(errstr, errstr_size, "unknown cart event type %d", (int)ev->type);
        return -1;
    }
    if (rc < 0)
        return -1;
    return sim_encoder_finish(enc, data, len, errstr, errstr_size);
}

int sim_encode_order_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                           size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t b;
    if (begin_topic(enc, ev, SHOP_TOPIC_ORDERS, &b, errstr, errstr_size) < 0)
        return -1;
    if (ev->type != SHOP_ORDER_COMPLETED) {
        snprintf(errstr, errstr_size, "unknown order event type %d", (int)ev->type);
        return -1;
    }
    int rc = sim_avro_set_string(&b, "order_id", ev->key, errstr, errstr_size);
    rc = rc ? rc : sim_avro_set_string(&b, "cart_id", ev->cart_id, errstr, errstr_size);
    rc = rc ? rc
            : sim_avro_set_optional_string(&b, "user_id", optional(ev->has_user, ev->user_id),
                                           strlen(ev->user_id), errstr, errstr_size);
    rc = rc ? rc : sim_avro_set_string(&b, "total", ev->total, errstr, errstr_size);
    rc = rc ? rc : sim_avro_set_string(&b, "currency", ev->currency, errstr, errstr_size);
    if (rc < 0)
        return -1;
    return sim_encoder_finish(enc, data, len, errstr, errstr_size);
}

static int set_names(avro_value_t *rec, const char *name, const struct shop_name_list *list,
                     char *errstr, size_t errstr_size)
{
    return sim_avro_set_string_array(rec, name, list->names, list->count, errstr, errstr_size);
}

int sim_encode_access_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                            size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t b;
    if (begin_topic(enc, ev, SHOP_TOPIC_ACCESS, &b, errstr, errstr_size) < 0)
        return -1;
    int rc = 0;
    switch (ev->type) {
    case SHOP_USER_ROLES_CHANGED:
        rc = sim_avro_set_string(&b, "user_id", ev->key, errstr, errstr_size);
        rc = rc ? rc : set_names(&b, "roles_before", &ev->roles_before, errstr, errstr_size);
        rc = rc ? rc : set_names(&b, "roles_after", &ev->roles_after, errstr, errstr_size);
        rc = rc ? rc
                : sim_avro_set_optional_string_array(&b, "permissions", ev->has_permissions,
                                                     ev->permissions.names, ev->permissions.count,
                                                     errstr, errstr_size);
        break;
    case SHOP_ROLE_PERMISSIONS_CHANGED:
        rc = sim_avro_set_string(&b, "role_id", ev->key, errstr, errstr_size);
        rc = rc ? rc : set_names(&b, "permissions", &ev->permissions, errstr, errstr_size);
        break;
    case SHOP_USER_LOGGED_IN:
    case SHOP_USER_LOGGED_OUT:
        rc = sim_avro_set_string(&b, "user_id", ev->key, errstr, errstr_size);
        rc = rc ? rc : sim_avro_set_string(&b, "session_key", ev->session_key, errstr, errstr_size);
        break;
    case SHOP_USER_LOGGED_OUT_EVERYWHERE:
    case SHOP_USER_PASSWORD_CHANGED:
    case SHOP_USER_DEACTIVATED:
        rc = sim_avro_set_string(&b, "user_id", ev->key, errstr, errstr_size);
        break;
    default:
        snprintf(errstr, errstr_size, "unknown access event type %d", (int)ev->type);
        return -1;
    }
    if (rc < 0)
        return -1;
    return sim_encoder_finish(enc, data, len, errstr, errstr_size);
}

int sim_encode_stock_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                           size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t b;
    if (begin_topic(enc, ev, SHOP_TOPIC_STOCK, &b, errstr, errstr_size) < 0)
        return -1;
    if (ev->type != SHOP_STOCK_MOVED) {
        snprintf(errstr, errstr_size, "unknown stock event type %d", (int)ev->type);
        return -1;
    }
    int rc = sim_avro_set_string(&b, "sku", ev->key, errstr, errstr_size);
    rc = rc ? rc : sim_avro_set_string(&b, "product_id", ev->product_id, errstr, errstr_size);
    rc =
        rc ? rc
           : sim_avro_set_enum(&b, "kind", shop_movement_symbol(ev->movement), errstr, errstr_size);
    rc = rc ? rc : sim_avro_set_long(&b, "quantity_delta", ev->quantity_delta, errstr, errstr_size);
    rc = rc ? rc : sim_avro_set_long(&b, "on_hand", ev->on_hand, errstr, errstr_size);
    if (rc < 0)
        return -1;
    return sim_encoder_finish(enc, data, len, errstr, errstr_size);
}

int sim_encode_event(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                     size_t *len, char *errstr, size_t errstr_size)
{
    switch (ev->topic) {
    case SHOP_TOPIC_PRODUCTS:
        return sim_encode_product_event(enc, ev, data, len, errstr, errstr_size);
    case SHOP_TOPIC_CARTS:
        return sim_encode_cart_event(enc, ev, data, len, errstr, errstr_size);
    case SHOP_TOPIC_ORDERS:
        return sim_encode_order_event(enc, ev, data, len, errstr, errstr_size);
    case SHOP_TOPIC_ACCESS:
        return sim_encode_access_event(enc, ev, data, len, errstr, errstr_size);
    case SHOP_TOPIC_STOCK:
        return sim_encode_stock_event(enc, ev, data, len, errstr, errstr_size);
    case SHOP_TOPIC_COUNT:
        break;
    }
    snprintf(errstr, errstr_size, "unknown topic %d", (int)ev->topic);
    return -1;
}

const char *sim_topic_schema_file(enum shop_topic topic)
{
    static const char *const files[SHOP_TOPIC_COUNT] = {
        "products.avsc", "carts.avsc", "orders.avsc", "access.avsc", "stock.avsc",
    };
    return topic < SHOP_TOPIC_COUNT ? files[topic] : "unknown.avsc";
}
