/* corpus.c - cachefleet-fuzz-corpus: seed inputs for the fuzz targets, and
 * the adversarial inputs kept as regression files.
 *
 * What it owns: writing fuzz inputs as files, one folder per target:
 *   <out>/<consumer>/   products, carts, orders, access, stock
 *   <out>/json/         the JSON target
 * Two modes:
 *   (default) seeds, generated at run time into the build folder by
 *     tools/fuzz/run.sh and never committed:
 *       sim-NNNN-c/-p   the simulator's events of the topic (shop_new,
 *                       shop_next, sim_encode_event), each in Confluent
 *                       framing (c) and plain (p); the initial sync first,
 *                       so every event type the simulator makes is there
 *       edge-NAME-c/-p  events the simulator does not make: empty lists,
 *                       null and empty optional lists, 128-byte ids, event
 *                       types it never sends (RoleDeleted), extremes of
 *                       numbers, encoded with the simulator's encoder
 *       evolved-NNNN    simulator events re-encoded with the topic's
 *                       evolved writer schema (tools/fuzz/schemas/), and
 *       evolved-NAME    events of a branch only that writer has
 *       batch-NAME      several messages in one input (pipeline.h's
 *                       marker), among them the pairs where an optional
 *                       list goes from present to null to empty
 *       json/sim-NNNN   the simulator's JSON documents (representations,
 *                       carts), json/hand-NAME a few made by hand
 *   --adversarial: hand-made hostile inputs named <expected>.<what>, which
 *     tests/regress/ keeps (tests/unit/test_fuzz_regress.c checks the
 *     expected outcome: ok, or the reason code of the rejection):
 *       huge and negative lengths and counts, the most negative block
 *       count, too many items, a varint too long, ints and booleans out of
 *       range, union branches and enum symbols out of range, truncations,
 *       trailing bytes, framing with a short header or an unknown id, the
 *       size limit, unsafe ids, JSON nested too deep or not UTF-8.
 * What it does not own: the simulator's model or encoder (tools/sim), or
 * running anything (run.sh, the test).
 *
 * DESIGN
 * Valid events go through the simulator's encoder, so they are exactly
 * what a producer writes.  Hostile ones are written byte by byte (Avro's
 * zigzag varints, length-prefixed strings, block counts) from a valid
 * minimal event of the topic, changing one thing, so each file tests one
 * guard.  The evolved re-encoding copies the decoded value field by field
 * by name into the evolved writer's value, filling what the reader does not
 * have with defaults.
 *
 * Thread: main only.
 */
#include <avro.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "encode.h"
#include "pipeline.h"
#include "shop.h"

#define PROGRAM       "cachefleet-fuzz-corpus"
#define OCCURRED      1700000000000000LL /* microseconds: 2023-11-14 */
#define EVOLVED_EVERY 4                  /* one simulator event in this many, re-encoded */

struct topic {
    enum shop_topic topic;
    const char *name; /* the consumer's */
    const char *evolved_file;
    struct sim_encoder *framed, *plain, *evolved;
    char dir[4096];
    char err[1024]; /* why the last call on this topic failed */
};

struct options {
    const char *schemas, *evolved, *out;
    long count;
    bool adversarial;
};

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/* mkdir -p */
static int make_dir(const char *path)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", path);
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c)
            continue;
        char was = *c;
        *c = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, PROGRAM ": %s: %s\n", p, strerror(errno));
            return -1;
        }
        if (!was)
            return 0;
        *c = was;
    }
}

static int save(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4352];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, PROGRAM ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int save_buf(const char *dir, const char *name, const struct cf_buf *b)
{
    return save(dir, name, b->data, b->len);
}

/* ------------------------------------------------------------------------
 * Avro by hand (hostile inputs)
 * ------------------------------------------------------------------------ */

static void put_varint(struct cf_buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        cf_buf_put(b, &c, 1);
    } while (v);
}

static void put_long(struct cf_buf *b, int64_t v)
{
    put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void put_str(struct cf_buf *b, const char *s, size_t n)
{
    put_long(b, (int64_t)n);
    cf_buf_put(b, s, n);
}

static void put_cstr(struct cf_buf *b, const char *s)
{
    put_str(b, s, strlen(s));
}

static void put_frame(struct cf_buf *b, int32_t id)
{
    uint8_t h[5] = {0, (uint8_t)((uint32_t)id >> 24), (uint8_t)((uint32_t)id >> 16),
                    (uint8_t)((uint32_t)id >> 8), (uint8_t)id};
    cf_buf_put(b, h, sizeof(h));
}

static void put_marker(struct cf_buf *b)
{
    cf_buf_put(b, CF_FUZZ_MARKER, CF_FUZZ_MARKER_LEN);
}

/* The envelope up to the body's branch index. */
static void put_envelope(struct cf_buf *b, const char *event_id, int64_t version, int64_t branch)
{
    put_cstr(b, event_id);
    put_long(b, version);
    put_long(b, OCCURRED);
    put_long(b, branch);
}

/* n copies of c, NUL-terminated, in scratch (valid until its next use). */
static const char *repeat(struct cf_buf *scratch, char c, size_t n)
{
    scratch->len = 0;
    cf_buf_reserve(scratch, n + 1);
    memset(scratch->data, c, n);
    scratch->data[n] = '\0';
    scratch->len = n;
    return scratch->data;
}

/* ------------------------------------------------------------------------
 * Valid events the simulator does not make (edge cases)
 * ------------------------------------------------------------------------ */

enum field_kind { F_END, F_STR, F_OPT_STR, F_STRS, F_OPT_STRS, F_LONG, F_INT, F_BOOL, F_ENUM };

struct field {
    enum field_kind kind;
    const char *name;
    const char *s;            /* F_STR, F_OPT_STR (NULL: null), F_ENUM */
    const char *const *items; /* F_STRS, F_OPT_STRS (NULL with F_OPT_STRS: null) */
    size_t count;
    int64_t n; /* F_LONG, F_INT, F_BOOL */
};

struct edge {
    const char *file;
    enum shop_topic topic;
    const char *type;
    int64_t version;
    struct field f[8];
};

#define I16 "iiiiiiiiiiiiiiii"
static const char id128[] = I16 I16 I16 I16 I16 I16 I16 I16; /* the longest id: 128 bytes */
static const char *const no_items[] = {NULL};
static const char *const some_categories[] = {"1", "2", "3"};
static const char *const utf8_terms[] = {"café", "日本語", "naïve-straße"};
static const char *const id128_list[] = {id128};
static const char *const roles_ab[] = {"staff", "customer"};
static const char *const roles_b[] = {"customer"};
static const char *const perms_two[] = {"shop.view_order", "shop.change_cart"};

static const struct edge edges[] = {
    /* products */
    {"upserted-empty-lists-null-repr",
     SHOP_TOPIC_PRODUCTS,
     "ProductUpserted",
     1,
     {{F_STR, "product_id", "1", NULL, 0, 0},
      {F_STRS, "categories_before", NULL, no_items, 0, 0},
      {F_STRS, "categories_after", NULL, no_items, 0, 0},
      {F_STRS, "search_terms_before", NULL, no_items, 0, 0},
      {F_STRS, "search_terms_after", NULL, no_items, 0, 0},
      {F_OPT_STR, "representation", NULL, NULL, 0, 0}}},
    {"upserted-max-ids",
     SHOP_TOPIC_PRODUCTS,
     "ProductUpserted",
     INT64_MAX,
     {{F_STR, "product_id", id128, NULL, 0, 0},
      {F_STRS, "categories_before", NULL, id128_list, 1, 0},
      {F_STRS, "categories_after", NULL, some_categories, 3, 0},
      {F_STRS, "search_terms_before", NULL, utf8_terms, 3, 0},
      {F_STRS, "search_terms_after", NULL, id128_list, 1, 0},
      {F_OPT_STR, "representation", "{\"id\":1,\"name\":\"caf\\u00e9\",\"tags\":[],\"p\":-0.5e-3}",
       NULL, 0, 0}}},
    {"deleted-empty-lists",
     SHOP_TOPIC_PRODUCTS,
     "ProductDeleted",
     2,
     {{F_STR, "product_id", "7", NULL, 0, 0},
      {F_STRS, "categories_before", NULL, no_items, 0, 0},
      {F_STRS, "search_terms_before", NULL, no_items, 0, 0}}},
    {"related-max-id",
     SHOP_TOPIC_PRODUCTS,
     "ProductRelatedChanged",
     0,
     {{F_STR, "product_id", id128, NULL, 0, 0},
      {F_STR, "related_model", "", NULL, 0, 0},
      {F_STR, "related_id", "", NULL, 0, 0}}},
    {"category-root-extremes",
     SHOP_TOPIC_PRODUCTS,
     "CategoryUpserted",
     3,
     {{F_STR, "category_id", "9", NULL, 0, 0},
      {F_OPT_STR, "parent_id", NULL, NULL, 0, 0},
      {F_STR, "name", "Ünïcode \"quoted\" \\ name\t", NULL, 0, 0},
      {F_STR, "slug", "x", NULL, 0, 0},
      {F_INT, "position", NULL, NULL, 0, INT32_MIN},
      {F_BOOL, "visible", NULL, NULL, 0, 0}}},
    {"category-child",
     SHOP_TOPIC_PRODUCTS,
     "CategoryUpserted",
     4,
     {{F_STR, "category_id", "10", NULL, 0, 0},
      {F_OPT_STR, "parent_id", "9", NULL, 0, 0},
      {F_STR, "name", "Child", NULL, 0, 0},
      {F_STR, "slug", "child", NULL, 0, 0},
      {F_INT, "position", NULL, NULL, 0, INT32_MAX},
      {F_BOOL, "visible", NULL, NULL, 0, 1}}},
    {"category-deleted",
     SHOP_TOPIC_PRODUCTS,
     "CategoryDeleted",
     5,
     {{F_STR, "category_id", "9", NULL, 0, 0}}},
    /* carts */
    {"updated-anonymous",
     SHOP_TOPIC_CARTS,
     "CartUpdated",
     1,
     {{F_STR, "cart_id", "c-1", NULL, 0, 0},
      {F_OPT_STR, "user_id", NULL, NULL, 0, 0},
      {F_ENUM, "change", "OTHER", NULL, 0, 0},
      {F_STR, "cart", "{}", NULL, 0, 0}}},
    {"updated-max-id",
     SHOP_TOPIC_CARTS,
     "CartUpdated",
     INT64_MAX,
     {{F_STR, "cart_id", id128, NULL, 0, 0},
      {F_OPT_STR, "user_id", "42", NULL, 0, 0},
      {F_ENUM, "change", "QUANTITY_CHANGED", NULL, 0, 0},
      {F_STR, "cart", "{\"items\":[{\"sku\":\"SKU-1-1\",\"qty\":2}],\"total\":\"9.90\"}", NULL, 0,
       0}}},
    {"deleted", SHOP_TOPIC_CARTS, "CartDeleted", 0, {{F_STR, "cart_id", "c-1", NULL, 0, 0}}},
    {"merged-anonymous",
     SHOP_TOPIC_CARTS,
     "CartMerged",
     3,
     {{F_STR, "source_cart_id", "c-1", NULL, 0, 0},
      {F_STR, "target_cart_id", "c-2", NULL, 0, 0},
      {F_OPT_STR, "user_id", NULL, NULL, 0, 0},
      {F_STR, "cart", "[]", NULL, 0, 0}}},
    /* orders */
    {"completed-guest",
     SHOP_TOPIC_ORDERS,
     "OrderCompleted",
     1,
     {{F_STR, "order_id", "o-1", NULL, 0, 0},
      {F_STR, "cart_id", "c-1", NULL, 0, 0},
      {F_OPT_STR, "user_id", NULL, NULL, 0, 0},
      {F_STR, "total", "", NULL, 0, 0},
      {F_STR, "currency", "", NULL, 0, 0}}},
    {"completed-max-ids",
     SHOP_TOPIC_ORDERS,
     "OrderCompleted",
     INT64_MAX,
     {{F_STR, "order_id", id128, NULL, 0, 0},
      {F_STR, "cart_id", id128, NULL, 0, 0},
      {F_OPT_STR, "user_id", id128, NULL, 0, 0},
      {F_STR, "total", "0.00", NULL, 0, 0},
      {F_STR, "currency", "EUR", NULL, 0, 0}}},
    /* access */
    {"roles-null-permissions",
     SHOP_TOPIC_ACCESS,
     "UserRolesChanged",
     1,
     {{F_STR, "user_id", "u-1", NULL, 0, 0},
      {F_STRS, "roles_before", NULL, roles_ab, 2, 0},
      {F_STRS, "roles_after", NULL, roles_b, 1, 0},
      {F_OPT_STRS, "permissions", NULL, NULL, 0, 0}}},
    {"roles-empty-permissions",
     SHOP_TOPIC_ACCESS,
     "UserRolesChanged",
     2,
     {{F_STR, "user_id", "u-1", NULL, 0, 0},
      {F_STRS, "roles_before", NULL, no_items, 0, 0},
      {F_STRS, "roles_after", NULL, no_items, 0, 0},
      {F_OPT_STRS, "permissions", NULL, no_items, 0, 0}}},
    {"roles-permissions",
     SHOP_TOPIC_ACCESS,
     "UserRolesChanged",
     3,
     {{F_STR, "user_id", id128, NULL, 0, 0},
      {F_STRS, "roles_before", NULL, roles_b, 1, 0},
      {F_STRS, "roles_after", NULL, roles_ab, 2, 0},
      {F_OPT_STRS, "permissions", NULL, perms_two, 2, 0}}},
    {"role-permissions-empty",
     SHOP_TOPIC_ACCESS,
     "RolePermissionsChanged",
     1,
     {{F_STR, "role_id", "staff", NULL, 0, 0}, {F_STRS, "permissions", NULL, no_items, 0, 0}}},
    {"role-deleted",
     SHOP_TOPIC_ACCESS,
     "RoleDeleted",
     9,
     {{F_STR, "role_id", "staff", NULL, 0, 0}}},
    {"logged-in",
     SHOP_TOPIC_ACCESS,
     "UserLoggedIn",
     1,
     {{F_STR, "user_id", "u-1", NULL, 0, 0},
      {F_STR, "session_key", "abcdefghijklmnopqrstuvwxyz012345", NULL, 0, 0}}},
    {"logged-out",
     SHOP_TOPIC_ACCESS,
     "UserLoggedOut",
     2,
     {{F_STR, "user_id", "u-1", NULL, 0, 0},
      {F_STR, "session_key", "abcdefghijklmnopqrstuvwxyz012345", NULL, 0, 0}}},
    {"logged-out-everywhere",
     SHOP_TOPIC_ACCESS,
     "UserLoggedOutEverywhere",
     3,
     {{F_STR, "user_id", "u-1", NULL, 0, 0}}},
    {"password-changed",
     SHOP_TOPIC_ACCESS,
     "UserPasswordChanged",
     4,
     {{F_STR, "user_id", "u-1", NULL, 0, 0}}},
    {"deactivated",
     SHOP_TOPIC_ACCESS,
     "UserDeactivated",
     5,
     {{F_STR, "user_id", id128, NULL, 0, 0}}},
    /* stock */
    {"moved-extremes",
     SHOP_TOPIC_STOCK,
     "StockMoved",
     INT64_MAX,
     {{F_STR, "sku", id128, NULL, 0, 0},
      {F_STR, "product_id", "1", NULL, 0, 0},
      {F_ENUM, "kind", "ADJUSTMENT", NULL, 0, 0},
      {F_LONG, "quantity_delta", NULL, NULL, 0, -1000000000000LL},
      {F_LONG, "on_hand", NULL, NULL, 0, -1000000000000LL}}},
    {"moved-to-zero",
     SHOP_TOPIC_STOCK,
     "StockMoved",
     1,
     {{F_STR, "sku", "SKU-1-1", NULL, 0, 0},
      {F_STR, "product_id", "1", NULL, 0, 0},
      {F_ENUM, "kind", "PURCHASE", NULL, 0, 0},
      {F_LONG, "quantity_delta", NULL, NULL, 0, -3},
      {F_LONG, "on_hand", NULL, NULL, 0, 0}}},
};

static int set_field(avro_value_t *rec, const struct field *f, char *err, size_t err_size)
{
    avro_value_t v;
    switch (f->kind) {
    case F_STR:
        return sim_avro_set_string(rec, f->name, f->s, err, err_size);
    case F_OPT_STR:
        return sim_avro_set_optional_string(rec, f->name, f->s, f->s ? strlen(f->s) : 0, err,
                                            err_size);
    case F_STRS:
        return sim_avro_set_string_array(rec, f->name, f->items, f->count, err, err_size);
    case F_OPT_STRS:
        return sim_avro_set_optional_string_array(rec, f->name, f->items != NULL, f->items,
                                                  f->count, err, err_size);
    case F_LONG:
        return sim_avro_set_long(rec, f->name, f->n, err, err_size);
    case F_ENUM:
        return sim_avro_set_enum(rec, f->name, f->s, err, err_size);
    case F_INT:
    case F_BOOL:
        if (avro_value_get_by_name(rec, f->name, &v, NULL) != 0 ||
            (f->kind == F_INT ? avro_value_set_int(&v, (int32_t)f->n)
                              : avro_value_set_boolean(&v, (int)f->n)) != 0) {
            snprintf(err, err_size, "field %s: %s", f->name, avro_strerror());
            return -1;
        }
        return 0;
    case F_END:
        break;
    }
    return 0;
}

/* Encodes edge e with enc into *data and *len (valid until enc is used again). */
static int encode_edge(struct sim_encoder *enc, const struct edge *e, const void **data,
                       size_t *len, char *err, size_t err_size)
{
    avro_value_t body;
    if (sim_encoder_begin(enc, "edge-0000-0000-0000-000000000000", e->version, OCCURRED, e->type,
                          &body, err, err_size) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(e->f) / sizeof(e->f[0]) && e->f[i].kind != F_END; i++) {
        if (set_field(&body, &e->f[i], err, err_size) < 0)
            return -1;
    }
    return sim_encoder_finish(enc, data, len, err, err_size);
}

/* ------------------------------------------------------------------------
 * Re-encoding with the evolved writer schema
 * ------------------------------------------------------------------------ */

/* Does the writer branch schema b take the reader value src? */
static bool branch_matches(avro_schema_t b, const avro_value_t *src)
{
    avro_schema_t s = avro_value_get_schema(src);
    avro_type_t t = avro_typeof(b), st = avro_value_get_type(src);
    if (t == AVRO_LINK)
        return false;
    if (t == AVRO_RECORD || t == AVRO_ENUM)
        return st == t && strcmp(avro_schema_name(b), avro_schema_name(s)) == 0;
    return t == st || (t == AVRO_INT32 && st == AVRO_INT64) ||
           (t == AVRO_INT64 && st == AVRO_INT32);
}

/* Fills dst (a value of the evolved writer) from src (a value of the
 * reader schema; NULL: defaults), field by field by name. */
static int transcode(avro_value_t *dst, const avro_value_t *src)
{
    avro_value_t d, s, item, sitem;
    const char *str;
    size_t n = 0, size = 0;
    int64_t l = 0;
    int32_t i32 = 0;
    int rc = 0;

    if (src && avro_value_get_type(src) == AVRO_UNION) {
        avro_value_get_current_branch(src, &s);
        return transcode(dst, &s);
    }
    avro_schema_t schema = avro_value_get_schema(dst);
    switch (avro_value_get_type(dst)) {
    case AVRO_RECORD:
        n = avro_schema_record_size(schema);
        for (size_t i = 0; i < n && rc == 0; i++) {
            const char *name;
            avro_value_get_by_index(dst, i, &d, &name);
            bool found = src && avro_value_get_by_name(src, name, &s, NULL) == 0;
            rc = transcode(&d, found ? &s : NULL);
        }
        return rc;
    case AVRO_UNION: {
        /* src's own type if the writer has it, else null, else the first. */
        size_t nb = avro_schema_union_size(schema), pick = nb;
        bool matched = false;
        for (size_t b = 0; src && b < nb && pick == nb; b++) {
            if (branch_matches(avro_schema_union_branch(schema, (int)b), src))
                pick = b, matched = true;
        }
        for (size_t b = 0; b < nb && pick == nb; b++) {
            if (avro_typeof(avro_schema_union_branch(schema, (int)b)) == AVRO_NULL)
                pick = b;
        }
        if (pick == nb)
            pick = 0;
        if (avro_value_set_branch(dst, (int)pick, &d) != 0)
            return -1;
        return transcode(&d, matched ? src : NULL);
    }
    case AVRO_ARRAY:
        if (!src || avro_value_get_type(src) != AVRO_ARRAY)
            return 0;
        avro_value_get_size(src, &n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            avro_value_get_by_index(src, i, &sitem, NULL);
            rc = avro_value_append(dst, &item, NULL) || transcode(&item, &sitem);
        }
        return rc;
    case AVRO_MAP:
        return avro_value_add(dst, "main", &item, NULL, NULL) || transcode(&item, NULL);
    case AVRO_STRING:
        if (src && avro_value_get_type(src) == AVRO_STRING &&
            avro_value_get_string(src, &str, &size) == 0)
            return avro_value_set_string_len(dst, str, size);
        return avro_value_set_string(dst, "evolved");
    case AVRO_INT32:
        if (src && avro_value_get_type(src) == AVRO_INT64 && avro_value_get_long(src, &l) == 0)
            i32 = (int32_t)(l > INT32_MAX ? INT32_MAX : l < INT32_MIN ? INT32_MIN : l);
        else if (src && avro_value_get_type(src) == AVRO_INT32)
            avro_value_get_int(src, &i32);
        return avro_value_set_int(dst, i32);
    case AVRO_INT64:
        if (src && avro_value_get_type(src) == AVRO_INT64)
            avro_value_get_long(src, &l);
        else if (src && avro_value_get_type(src) == AVRO_INT32 &&
                 avro_value_get_int(src, &i32) == 0)
            l = i32;
        return avro_value_set_long(dst, l);
    case AVRO_BOOLEAN: {
        int b = 1;
        if (src && avro_value_get_type(src) == AVRO_BOOLEAN)
            avro_value_get_boolean(src, &b);
        return avro_value_set_boolean(dst, b);
    }
    case AVRO_ENUM: {
        int e = 0, idx = 0;
        if (src && avro_value_get_type(src) == AVRO_ENUM && avro_value_get_enum(src, &e) == 0) {
            const char *sym = avro_schema_enum_get(avro_value_get_schema(src), e);
            idx = sym ? avro_schema_enum_get_by_name(schema, sym) : 0;
        }
        return avro_value_set_enum(dst, idx < 0 ? 0 : idx);
    }
    case AVRO_NULL:
        return avro_value_set_null(dst);
    default:
        return 0;
    }
}

/* Re-encodes the value src (of the reader schema) with enc, the evolved
 * encoder; body_branch: the name of a body branch to use instead of src's,
 * with defaults (NULL: src's). */
static int encode_evolved(struct sim_encoder *enc, const avro_value_t *src, const char *body_branch,
                          const void **data, size_t *len, char *err, size_t err_size)
{
    avro_value_t *dst = sim_encoder_value(enc), body, branch;
    if (avro_value_reset(dst) != 0 || transcode(dst, src) != 0)
        goto avro_fail;
    if (body_branch) {
        avro_schema_t u;
        if (avro_value_get_by_name(dst, "body", &body, NULL) != 0)
            goto avro_fail;
        u = avro_value_get_schema(&body);
        size_t nb = avro_schema_union_size(u), b = 0;
        while (b < nb &&
               strcmp(avro_schema_name(avro_schema_union_branch(u, (int)b)), body_branch) != 0)
            b++;
        if (b == nb || avro_value_set_branch(&body, (int)b, &branch) != 0 ||
            transcode(&branch, NULL) != 0)
            goto avro_fail;
    }
    return sim_encoder_finish(enc, data, len, err, err_size);

avro_fail:
    snprintf(err, err_size, "re-encoding: %s", avro_strerror());
    return -1;
}

/* ------------------------------------------------------------------------
 * Seeds
 * ------------------------------------------------------------------------ */

/* A branch only the evolved writer of the topic has, or NULL. */
static const char *evolved_only_branch(enum shop_topic topic)
{
    switch (topic) {
    case SHOP_TOPIC_PRODUCTS:
        return "ProductArchived";
    case SHOP_TOPIC_ACCESS:
        return "UserImpersonated";
    default:
        return NULL;
    }
}

static int seeds_sim(struct topic *t, const char *json_dir, long count, size_t *json_n)
{
    struct shop_config cfg = {
        .seed = 20240601u + (uint64_t)t->topic,
        .categories = 6,
        .products = 12,
        .initial_sync = true,
        .topics = SHOP_TOPIC_BIT(t->topic),
        .users = 8,
    };
    struct shop *shop = shop_new(&cfg, t->err, sizeof(t->err));
    struct cf_buf batch = {0};
    unsigned seen = 0; /* event types met, bit per enum shop_event_type */
    int rc = -1;
    if (!shop)
        goto out;
    for (long i = 0; i < count; i++) {
        const struct shop_event *ev;
        const void *data;
        size_t len;
        char name[64];
        if (shop_next(shop, OCCURRED + i * 1000, &ev) < 0) {
            snprintf(t->err, sizeof(t->err), "the simulator stopped after %ld events", i);
            goto out;
        }
        seen |= 1u << ev->type;
        if (sim_encode_event(t->plain, ev, &data, &len, t->err, sizeof(t->err)) < 0)
            goto out;
        snprintf(name, sizeof(name), "sim-%04ld-p", i);
        if (save(t->dir, name, data, len) < 0)
            goto out;
        /* A batch of four consecutive events, as the runtime sees them. */
        if (i % 4 == 0)
            batch.len = 0;
        else
            put_marker(&batch);
        cf_buf_put(&batch, data, len);
        if (i % 4 == 3) {
            snprintf(name, sizeof(name), "batch-sim-%04ld", i - 3);
            if (save_buf(t->dir, name, &batch) < 0)
                goto out;
        }
        if (sim_encode_event(t->framed, ev, &data, &len, t->err, sizeof(t->err)) < 0)
            goto out;
        snprintf(name, sizeof(name), "sim-%04ld-c", i);
        if (save(t->dir, name, data, len) < 0)
            goto out;
        if (i % EVOLVED_EVERY == 0) {
            if (encode_evolved(t->evolved, sim_encoder_value(t->framed), NULL, &data, &len, t->err,
                               sizeof(t->err)) < 0)
                goto out;
            snprintf(name, sizeof(name), "evolved-%04ld", i);
            if (save(t->dir, name, data, len) < 0)
                goto out;
        }
        /* The documents, for the JSON target. */
        const char *doc = ev->representation ? ev->representation : ev->cart;
        size_t doc_len = ev->representation ? ev->representation_len : ev->cart_len;
        if (doc && *json_n < 400) {
            snprintf(name, sizeof(name), "sim-%04zu", (*json_n)++);
            if (save(json_dir, name, doc, doc_len) < 0)
                goto out;
        }
    }
    const char *only = evolved_only_branch(t->topic);
    if (only) {
        const void *data;
        size_t len;
        char name[64];
        if (encode_evolved(t->evolved, sim_encoder_value(t->framed), only, &data, &len, t->err,
                           sizeof(t->err)) < 0)
            goto out;
        snprintf(name, sizeof(name), "evolved-%s", only);
        if (save(t->dir, name, data, len) < 0)
            goto out;
    }
    for (int type = 0; type < SHOP_EVENT_TYPE_COUNT; type++) {
        if (shop_event_type_topic((enum shop_event_type)type) == t->topic && !(seen & (1u << type)))
            fprintf(stderr, PROGRAM ": note: no %s among the first %ld events of %s\n",
                    shop_event_type_name((enum shop_event_type)type), count, t->name);
    }
    rc = 0;
out:
    if (rc < 0)
        fprintf(stderr, PROGRAM ": %s: %s\n", t->name, t->err);
    cf_buf_free(&batch);
    shop_destroy(shop);
    return rc;
}

/* The edge events of the topic, both framings and evolved. */
static int seeds_edges(struct topic *t)
{
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        const struct edge *e = &edges[i];
        const void *data;
        size_t len;
        char name[128];
        if (e->topic != t->topic)
            continue;
        if (encode_edge(t->plain, e, &data, &len, t->err, sizeof(t->err)) < 0)
            goto fail;
        snprintf(name, sizeof(name), "edge-%s-p", e->file);
        if (save(t->dir, name, data, len) < 0)
            return -1;
        if (encode_edge(t->framed, e, &data, &len, t->err, sizeof(t->err)) < 0)
            goto fail;
        snprintf(name, sizeof(name), "edge-%s-c", e->file);
        if (save(t->dir, name, data, len) < 0)
            return -1;
        if (encode_evolved(t->evolved, sim_encoder_value(t->framed), NULL, &data, &len, t->err,
                           sizeof(t->err)) < 0)
            goto fail;
        snprintf(name, sizeof(name), "evolved-%s", e->file);
        if (save(t->dir, name, data, len) < 0)
            return -1;
    }
    return 0;
fail:
    fprintf(stderr, PROGRAM ": %s: %s\n", t->name, t->err);
    return -1;
}

/* Appends edge `file` of the topic, encoded with enc (the evolved encoder
 * re-encodes the framed one's value). */
static int append_edge(struct topic *t, const char *file, bool evolved, struct cf_buf *b)
{
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        const void *data;
        size_t len;
        if (strcmp(edges[i].file, file) != 0 || edges[i].topic != t->topic)
            continue;
        if (encode_edge(t->framed, &edges[i], &data, &len, t->err, sizeof(t->err)) < 0 ||
            (evolved && encode_evolved(t->evolved, sim_encoder_value(t->framed), NULL, &data, &len,
                                       t->err, sizeof(t->err)) < 0))
            return -1;
        if (b->len)
            put_marker(b);
        cf_buf_put(b, data, len);
        return 0;
    }
    snprintf(t->err, sizeof(t->err), "no edge %s", file);
    return -1;
}

/* Batches whose messages differ in one optional value, in every order: the
 * class of bug where a message's value comes from the one before. */
static int seeds_sequences(struct topic *t, const char *const *files, size_t n)
{
    struct cf_buf b = {0};
    char name[256];
    int rc = 0;
    for (int evolved = 0; evolved < 2 && rc == 0; evolved++) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            for (size_t j = 0; j < n && rc == 0; j++) {
                if (i == j)
                    continue;
                b.len = 0;
                rc = append_edge(t, files[i], evolved, &b) || append_edge(t, files[j], evolved, &b);
                snprintf(name, sizeof(name), "batch-%s%s-then-%s", evolved ? "evolved-" : "",
                         files[i], files[j]);
                rc = rc ? rc : save_buf(t->dir, name, &b);
            }
        }
    }
    if (rc)
        fprintf(stderr, PROGRAM ": %s: %s\n", t->name, t->err);
    cf_buf_free(&b);
    return rc ? -1 : 0;
}

static int seeds_json(const char *dir)
{
    static const struct {
        const char *name, *doc;
    } docs[] = {
        {"object", "{\"a\":[1,-2.5e+3,true,false,null,\"s\\n\\u00e9\\ud83d\\ude00\"],\"b\":{}}"},
        {"scalar-string", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
        {"scalar-number", " -0.0e-0 "},
        {"nul-escape", "{\"\\u0000\":\"\\u0000\"}"},
        {"big-numbers", "[1e999,-123456789012345678901234567890]"},
        {"deep-64", NULL},
        {"lone-high", "[\"\\ud800\"]"},
        {"lone-low", "[\"\\udc00x\"]"},
        {"overlong", "\"\xc0\xaf\""},
        {"surrogate-utf8", "\"\xed\xa0\x80\""},
        {"above-max", "\"\xf4\x90\x80\x80\""},
        {"leading-zero", "[01]"},
        {"trailing-comma", "[1,]"},
    };
    char deep[129];
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        char name[64];
        const char *doc = docs[i].doc ? docs[i].doc : deep;
        snprintf(name, sizeof(name), "hand-%s", docs[i].name);
        if (save(dir, name, doc, strlen(doc)) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Adversarial inputs (tests/regress/)
 * ------------------------------------------------------------------------ */

/* The body of a valid minimal event of the topic: the branch index and
 * the record. */
static void minimal_body(enum shop_topic topic, struct cf_buf *b)
{
    switch (topic) {
    case SHOP_TOPIC_PRODUCTS: /* ProductUpserted, empty lists, null representation */
        put_long(b, 0);
        put_cstr(b, "1");
        put_long(b, 0), put_long(b, 0), put_long(b, 0), put_long(b, 0);
        put_long(b, 0);
        break;
    case SHOP_TOPIC_CARTS: /* CartDeleted */
        put_long(b, 1);
        put_cstr(b, "c-1");
        break;
    case SHOP_TOPIC_ORDERS: /* OrderCompleted, guest */
        put_long(b, 0);
        put_cstr(b, "o-1"), put_cstr(b, "c-1"), put_long(b, 0), put_cstr(b, "1.00");
        put_cstr(b, "EUR");
        break;
    case SHOP_TOPIC_ACCESS: /* RoleDeleted */
        put_long(b, 2);
        put_cstr(b, "staff");
        break;
    case SHOP_TOPIC_STOCK: /* StockMoved */
        put_long(b, 0);
        put_cstr(b, "SKU-1-1"), put_cstr(b, "1"), put_long(b, 1), put_long(b, 5);
        put_long(b, 5);
        break;
    case SHOP_TOPIC_COUNT:
        break;
    }
}

static int32_t topic_id(enum shop_topic topic)
{
    return (int32_t)topic + 1; /* schemas/<topic>.avsc's cachefleet.schema_id */
}

/* Inputs every topic gets: framing, envelope, lengths, truncation. */
static int adversarial_common(struct topic *t)
{
    struct cf_buf rep = {0}; /* repeat()'s */
    struct cf_buf b = {0}, ok = {0}, body = {0};
    const char *d = t->dir;
    int rc = 0;
    minimal_body(t->topic, &body);
    put_cstr(&ok, "e-1"), put_long(&ok, 1), put_long(&ok, OCCURRED);
    cf_buf_put(&ok, body.data, body.len);

#define SAVE(name) (rc = rc ? rc : save_buf(d, name, &b))
#define RESET()    (b.len = 0)
    /* Sanity: the minimal event itself, both framings. */
    RESET(), cf_buf_put(&b, ok.data, ok.len), SAVE("ok.minimal-plain");
    RESET(), put_frame(&b, topic_id(t->topic)), cf_buf_put(&b, ok.data, ok.len),
        SAVE("ok.minimal-framed");
    RESET(), SAVE("undecodable.empty");
    RESET(), put_frame(&b, topic_id(t->topic)), b.len = 3, SAVE("undecodable.framed-short-header");
    RESET(), put_frame(&b, topic_id(t->topic)), SAVE("undecodable.framed-no-datum");
    RESET(), put_frame(&b, 999), cf_buf_put(&b, ok.data, ok.len),
        SAVE("unknown-schema.framed-id-999");
    RESET(), put_frame(&b, -1), cf_buf_put(&b, ok.data, ok.len),
        SAVE("unknown-schema.framed-id-minus-1");
    /* Lengths of event_id: huge, negative, the most negative. */
    RESET(), put_long(&b, INT64_C(1) << 62), cf_buf_put(&b, "e", 1),
        SAVE("undecodable.event-id-length-2-62");
    RESET(), put_long(&b, -5), SAVE("undecodable.event-id-length-negative");
    RESET(), put_long(&b, INT64_MIN), SAVE("undecodable.event-id-length-int64-min");
    RESET(), put_long(&b, INT64_MAX), SAVE("undecodable.event-id-length-int64-max");
    /* A varint of 11 bytes for the version. */
    RESET(), put_cstr(&b, "e-1"),
        cf_buf_put(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),
        SAVE("undecodable.version-varint-11-bytes");
    /* Ten bytes whose last carries bits beyond 64. */
    RESET(), put_cstr(&b, "e-1"), cf_buf_put(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10),
        put_long(&b, OCCURRED), put_long(&b, 0), SAVE("undecodable.version-varint-overflow");
    /* Envelope contract. */
    RESET(), put_str(&b, repeat(&rep, 'e', 129), 129), put_long(&b, 1), put_long(&b, OCCURRED),
        cf_buf_put(&b, body.data, body.len), SAVE("invalid-field.event-id-129-bytes");
    RESET(), put_str(&b, repeat(&rep, 'e', 128), 128), put_long(&b, 1), put_long(&b, OCCURRED),
        cf_buf_put(&b, body.data, body.len), SAVE("ok.event-id-128-bytes");
    RESET(), put_cstr(&b, "e-1"), put_long(&b, -1), put_long(&b, OCCURRED),
        cf_buf_put(&b, body.data, body.len), SAVE("invalid-field.version-negative");
    RESET(), put_cstr(&b, "e-1"), put_long(&b, 1), put_long(&b, -1),
        cf_buf_put(&b, body.data, body.len), SAVE("invalid-field.occurred-at-negative");
    /* An empty event_id in plain framing reads as a framed message (decode.h,
     * "AUTO is unambiguous"): rejected either way. */
    RESET(), put_cstr(&b, ""), put_long(&b, 1), put_long(&b, OCCURRED),
        cf_buf_put(&b, body.data, body.len), SAVE("unknown-schema.event-id-empty-plain");
    /* The body union. */
    RESET(), put_envelope(&b, "e-1", 1, 99), SAVE("undecodable.body-branch-99");
    RESET(), put_envelope(&b, "e-1", 1, -1), SAVE("undecodable.body-branch-negative");
    RESET(), put_envelope(&b, "e-1", 1, INT64_MIN), SAVE("undecodable.body-branch-int64-min");
    /* Truncations and a trailing byte. */
    RESET(), cf_buf_put(&b, ok.data, ok.len - 1), SAVE("undecodable.truncated-last-byte");
    RESET(), cf_buf_put(&b, ok.data, ok.len / 2), SAVE("undecodable.truncated-half");
    RESET(), cf_buf_put(&b, ok.data, ok.len), cf_buf_put(&b, "\0", 1),
        SAVE("undecodable.trailing-byte");
    /* The size limit: a valid-looking message one byte too large. */
    RESET(), put_cstr(&b, "e-1"), put_long(&b, 1), put_long(&b, OCCURRED),
        cf_buf_put(&b, repeat(&rep, 'x', CF_FUZZ_MAX_PAYLOAD), CF_FUZZ_MAX_PAYLOAD - b.len + 1),
        SAVE("too-large.over-max-payload");
    /* A batch: the minimal event after a hostile one, after a valid one. */
    RESET(), put_long(&b, INT64_C(1) << 62), put_marker(&b), cf_buf_put(&b, ok.data, ok.len),
        put_marker(&b), cf_buf_put(&b, ok.data, ok.len), SAVE("ok.batch-after-hostile");
#undef SAVE
#undef RESET
    cf_buf_free(&b);
    cf_buf_free(&rep);
    cf_buf_free(&ok);
    cf_buf_free(&body);
    return rc;
}

/* A ProductUpserted whose categories_before is written by put_list. */
static void product_with_list(struct cf_buf *b, void (*put_list)(struct cf_buf *))
{
    put_envelope(b, "e-1", 1, 0);
    put_cstr(b, "1");
    put_list(b);
    put_long(b, 0), put_long(b, 0), put_long(b, 0);
    put_long(b, 0);
}

static void list_int64_min(struct cf_buf *b)
{
    put_long(b, INT64_MIN);
    put_long(b, 0);
}

static void list_huge(struct cf_buf *b)
{
    put_long(b, INT64_C(1) << 40);
}

static void list_negative_size_beyond(struct cf_buf *b)
{
    put_long(b, -1);
    put_long(b, 1000);
    put_cstr(b, "1");
    put_long(b, 0);
}

static void list_negative_ok(struct cf_buf *b)
{
    /* Avro's blocks with a byte size: -2 items in 4 bytes, then 1 item. */
    put_long(b, -2);
    put_long(b, 4);
    put_cstr(b, "1"), put_cstr(b, "2");
    put_long(b, 1);
    put_cstr(b, "3");
    put_long(b, 0);
}

static void list_too_many(struct cf_buf *b)
{
    put_long(b, (INT64_C(1) << 20) + 1);
}

static void list_many_blocks(struct cf_buf *b)
{
    /* 257 one-item blocks: more categories than products.max_categories. */
    for (int i = 0; i < 257; i++) {
        put_long(b, 1);
        put_cstr(b, "1");
    }
    put_long(b, 0);
}

static void list_unsafe(struct cf_buf *b)
{
    put_long(b, 2);
    put_cstr(b, "1");
    put_cstr(b, "1:v");
    put_long(b, 0);
}

/* A CategoryUpserted, with the raw bytes of position and visible. */
static void category(struct cf_buf *b, const char *id, const char *parent, const char *name,
                     size_t name_len, const void *tail, size_t tail_len)
{
    put_envelope(b, "e-1", 1, 3);
    put_cstr(b, id);
    if (parent) {
        put_long(b, 1);
        put_cstr(b, parent);
    } else {
        put_long(b, 0);
    }
    put_str(b, name, name_len);
    put_cstr(b, "slug");
    cf_buf_put(b, tail, tail_len);
}

/* A ProductUpserted with a representation. */
static void product_repr(struct cf_buf *b, const char *id, const char *repr, size_t len)
{
    put_envelope(b, "e-1", 1, 0);
    put_cstr(b, id);
    put_long(b, 0), put_long(b, 0), put_long(b, 0), put_long(b, 0);
    put_long(b, 1);
    put_str(b, repr, len);
}

static int adversarial_products(const char *d)
{
    struct cf_buf rep = {0}; /* repeat()'s */
    struct cf_buf b = {0};
    int rc = 0;
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
#define SAVE(name) (rc = rc ? rc : save_buf(d, name, &b))
#define RESET()    (b.len = 0)
    RESET(), product_with_list(&b, list_int64_min), SAVE("undecodable.block-count-int64-min");
    RESET(), product_with_list(&b, list_huge), SAVE("undecodable.block-count-2-40");
    RESET(), product_with_list(&b, list_negative_size_beyond),
        SAVE("undecodable.block-size-beyond-end");
    RESET(), product_with_list(&b, list_negative_ok), SAVE("ok.negative-block-count");
    RESET(), product_with_list(&b, list_too_many), SAVE("undecodable.too-many-items");
    RESET(), product_with_list(&b, list_many_blocks), SAVE("invalid-field.257-categories");
    RESET(), product_with_list(&b, list_unsafe), SAVE("unsafe-id.category-with-colon");
    RESET(), category(&b, "9", NULL, "n", 1, "\x02\x02", 2), SAVE("undecodable.boolean-2");
    RESET(), category(&b, "9", NULL, "n", 1, "\x80\x80\x80\x80\x10\x01", 6),
        SAVE("undecodable.int-out-of-range");
    RESET(), category(&b, "9", NULL, "n", 1, "\xff\xff\xff\xff\x0f\x01", 6),
        SAVE("ok.position-int32-min");
    RESET(), category(&b, "9", "9", "n", 1, "\x02\x01", 2), SAVE("invalid-field.own-parent");
    RESET(), category(&b, "9", NULL, "\xc3\x28", 2, "\x02\x01", 2),
        SAVE("invalid-field.name-not-utf8");
    RESET(), category(&b, "9", NULL, "", 0, "\x02\x01", 2), SAVE("invalid-field.name-empty");
    RESET(), category(&b, "9", NULL, repeat(&rep, 'n', 513), 513, "\x02\x01", 2),
        SAVE("invalid-field.name-513-bytes");
    RESET(), category(&b, "9", "9:x", "n", 1, "\x02\x01", 2), SAVE("unsafe-id.parent-with-colon");
    RESET(), product_repr(&b, "1", deep, 130), SAVE("invalid-json.representation-depth-65");
    RESET(), product_repr(&b, "1", deep + 1, 128), SAVE("ok.representation-depth-64");
    RESET(), product_repr(&b, "1", "[\"\\ud800\"]", 10),
        SAVE("invalid-json.representation-lone-surrogate");
    RESET(), product_repr(&b, "1", "{\"a\":\"\0\"}", 9), SAVE("invalid-json.representation-nul");
    RESET(), product_repr(&b, "1", "", 0), SAVE("invalid-json.representation-empty");
    RESET(), product_repr(&b, "1", repeat(&rep, '[', 40000), 40000),
        SAVE("invalid-json.representation-40000-open");
    RESET(), product_repr(&b, id128, "{}", 2), SAVE("ok.product-id-128-bytes");
    RESET(), product_repr(&b, repeat(&rep, '1', 129), "{}", 2),
        SAVE("unsafe-id.product-id-129-bytes");
    RESET(), product_repr(&b, "", "{}", 2), SAVE("unsafe-id.product-id-empty");
    RESET(), product_repr(&b, "a*", "{}", 2), SAVE("unsafe-id.product-id-glob");
    RESET(), product_repr(&b, "caf\xc3\xa9", "{}", 2), SAVE("unsafe-id.product-id-utf8");
    /* A search term: valid UTF-8 is allowed, invisible characters are not. */
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "1"), put_long(&b, 0), put_long(&b, 0),
        put_long(&b, 1), put_cstr(&b, "caf\xc3\xa9"), put_long(&b, 0), put_long(&b, 0),
        put_long(&b, 0), SAVE("ok.search-term-utf8");
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "1"), put_long(&b, 0), put_long(&b, 0),
        put_long(&b, 1), put_cstr(&b, "a\xe2\x80\x8b"), put_long(&b, 0), put_long(&b, 0),
        put_long(&b, 0), SAVE("unsafe-id.search-term-zero-width");
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "1"), put_long(&b, 0), put_long(&b, 0),
        put_long(&b, 1), put_cstr(&b, "\xc0\xaf"), put_long(&b, 0), put_long(&b, 0),
        put_long(&b, 0), SAVE("unsafe-id.search-term-overlong");
    /* A batch that coalesces: one product four times, a category twice and
     * its menu. */
    RESET();
    for (int v = 4; v >= 1; v--) {
        if (b.len)
            put_marker(&b);
        size_t at = b.len;
        product_repr(&b, "1", "{}", 2);
        b.data[at + 4] = (char)(v * 2); /* the version, after "\x06e-1": zigzag v */
    }
    put_marker(&b), category(&b, "9", NULL, "n", 1, "\x02\x01", 2);
    put_marker(&b), category(&b, "9", NULL, "m", 1, "\x04\x00", 2);
    SAVE("ok.batch-coalesce");
    /* Seventeen messages: the sixteenth holds the rest, markers included. */
    RESET();
    for (int i = 0; i < 17; i++) {
        if (i)
            put_marker(&b);
        product_repr(&b, "1", "{}", 2);
    }
    SAVE("undecodable.batch-17-messages");
    /* Every list and optional set, then an event without them: nothing of
     * the first may reach the second's operations. */
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "1"), put_long(&b, 2), put_cstr(&b, "1"),
        put_cstr(&b, "2"), put_long(&b, 0), put_long(&b, 1), put_cstr(&b, "3"), put_long(&b, 0),
        put_long(&b, 1), put_cstr(&b, "a"), put_long(&b, 0), put_long(&b, 1), put_cstr(&b, "b"),
        put_long(&b, 0), put_long(&b, 1), put_cstr(&b, "{}");
    put_marker(&b), put_envelope(&b, "e-2", 2, 1), put_cstr(&b, "1"), put_long(&b, 0),
        put_long(&b, 0);
    put_marker(&b), product_repr(&b, "2", "{}", 2);
    put_marker(&b), put_envelope(&b, "e-4", 1, 0), put_cstr(&b, "2"), put_long(&b, 0),
        put_long(&b, 0), put_long(&b, 0), put_long(&b, 0), put_long(&b, 0);
    put_marker(&b), category(&b, "9", "8", "n", 1, "\x02\x01", 2);
    put_marker(&b), category(&b, "9", NULL, "n", 1, "\x02\x01", 2);
    SAVE("ok.batch-lists-then-none");
#undef SAVE
#undef RESET
    cf_buf_free(&b);
    cf_buf_free(&rep);
    return rc;
}

static int adversarial_carts(const char *d)
{
    struct cf_buf rep = {0}; /* repeat()'s */
    struct cf_buf b = {0};
    int rc = 0;
#define SAVE(name) (rc = rc ? rc : save_buf(d, name, &b))
#define RESET()    (b.len = 0)
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "c-1"), put_long(&b, 0), put_long(&b, 9),
        put_cstr(&b, "{}"), SAVE("undecodable.change-symbol-9");
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "c-1"), put_long(&b, 0), put_long(&b, -1),
        put_cstr(&b, "{}"), SAVE("undecodable.change-symbol-negative");
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "c-1"), put_long(&b, 2), put_long(&b, 0),
        put_cstr(&b, "{}"), SAVE("undecodable.user-branch-2");
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "c-1"), put_long(&b, 0), put_long(&b, 0),
        put_cstr(&b, "{\"items\":[1,2,}"), SAVE("invalid-json.cart-trailing-comma");
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "c-1"), put_long(&b, 0), put_long(&b, 0),
        put_cstr(&b, repeat(&rep, '{', 100)), SAVE("invalid-json.cart-deep-objects");
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "c?1"), put_long(&b, 0), put_long(&b, 0),
        put_cstr(&b, "{}"), SAVE("unsafe-id.cart-id-glob");
    RESET(), put_envelope(&b, "e-1", 1, 2), put_cstr(&b, "c-1"), put_cstr(&b, "c-1"),
        put_long(&b, 0), put_cstr(&b, "{}"), SAVE("invalid-field.merge-into-itself");
    RESET(), put_envelope(&b, "e-1", 1, 2), put_cstr(&b, "c-1"), put_cstr(&b, "c-2"),
        put_long(&b, 1), put_cstr(&b, "u-1"), put_cstr(&b, "{}"), SAVE("ok.merged");
    /* A merge (two carts, a user), then an anonymous update, then a delete. */
    RESET(), put_envelope(&b, "e-1", 1, 2), put_cstr(&b, "c-1"), put_cstr(&b, "c-2"),
        put_long(&b, 1), put_cstr(&b, "u-1"), put_cstr(&b, "[1]"), put_marker(&b),
        put_envelope(&b, "e-2", 2, 0), put_cstr(&b, "c-3"), put_long(&b, 0), put_long(&b, 1),
        put_cstr(&b, "{}"), put_marker(&b), put_envelope(&b, "e-3", 3, 1), put_cstr(&b, "c-3"),
        SAVE("ok.batch-merge-update-delete");
    /* The reordered CartChange of the evolved writer (id 102): index 2 is
     * MERGED, a symbol the reader does not have. */
    RESET(), put_frame(&b, 102), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "c-1"),
        put_cstr(&b, "u-1"), put_long(&b, 2), put_cstr(&b, "{}"),
        SAVE("ok.evolved-change-symbol-unknown-to-reader");
    RESET(), put_frame(&b, 102), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "c-1"),
        put_cstr(&b, "u-1"), put_long(&b, 5), put_cstr(&b, "{}"),
        SAVE("ok.evolved-change-symbol-5");
#undef SAVE
#undef RESET
    cf_buf_free(&b);
    cf_buf_free(&rep);
    return rc;
}

static int adversarial_orders(const char *d)
{
    struct cf_buf b = {0};
    int rc = 0;
#define SAVE(name) (rc = rc ? rc : save_buf(d, name, &b))
#define RESET()    (b.len = 0)
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "o 1"), put_cstr(&b, "c-1"),
        put_long(&b, 0), put_cstr(&b, ""), put_cstr(&b, ""), SAVE("unsafe-id.order-id-space");
    RESET(), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "o-1"), put_cstr(&b, "c-1\n"),
        put_long(&b, 0), put_cstr(&b, ""), put_cstr(&b, ""), SAVE("unsafe-id.cart-id-newline");
    /* The evolved writer (id 103): user_id [string, null], order lines. */
    RESET(), put_frame(&b, 103), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "o-1"),
        put_cstr(&b, "c-1"), put_long(&b, 1), put_cstr(&b, "1.00"), put_cstr(&b, "EUR"),
        put_long(&b, 1), put_cstr(&b, "SKU-1-1"), put_long(&b, 2), put_long(&b, 0),
        SAVE("ok.evolved-guest-with-lines");
    RESET(), put_frame(&b, 103), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "o-1"),
        put_cstr(&b, "c-1"), put_long(&b, 0), put_cstr(&b, "u-1"), put_cstr(&b, "1.00"),
        put_cstr(&b, "EUR"), put_long(&b, -1), put_long(&b, 100),
        SAVE("undecodable.evolved-lines-block-size-beyond-end");
    RESET(), put_frame(&b, 103), put_envelope(&b, "e-1", 1, 0), put_cstr(&b, "o-1"),
        put_cstr(&b, "c-1"), put_long(&b, 0), put_cstr(&b, "u-1"), put_cstr(&b, "1.00"),
        put_cstr(&b, "EUR"), put_long(&b, 1), put_cstr(&b, "SKU-1-1"),
        put_long(&b, INT64_C(1) << 40), put_long(&b, 0),
        SAVE("undecodable.evolved-quantity-int-out-of-range");
#undef SAVE
#undef RESET
    cf_buf_free(&b);
    return rc;
}

/* A UserRolesChanged of u-1: roles before and after (n each, the same
 * role ids), permissions: -1 null, else that many items of perm. */
static void roles_changed(struct cf_buf *b, int nroles, int nperms, const char *perm,
                          size_t perm_len)
{
    char role[32];
    put_envelope(b, "e-1", 1, 0);
    put_cstr(b, "u-1");
    for (int list = 0; list < 2; list++) {
        if (nroles) {
            put_long(b, nroles);
            for (int i = 0; i < nroles; i++) {
                snprintf(role, sizeof(role), "r%d", list ? i : i + 1);
                put_cstr(b, role);
            }
        }
        put_long(b, 0);
    }
    if (nperms < 0) {
        put_long(b, 0);
        return;
    }
    put_long(b, 1);
    if (nperms) {
        put_long(b, nperms);
        for (int i = 0; i < nperms; i++)
            put_str(b, perm, perm_len);
    }
    put_long(b, 0);
}

static int adversarial_access(const char *d)
{
    struct cf_buf rep = {0}; /* repeat()'s */
    struct cf_buf b = {0};
    int rc = 0;
#define SAVE(name) (rc = rc ? rc : save_buf(d, name, &b))
#define RESET()    (b.len = 0)
    RESET(), roles_changed(&b, 2, -1, NULL, 0), SAVE("ok.roles-null-permissions");
    RESET(), roles_changed(&b, 2, 0, NULL, 0), SAVE("ok.roles-empty-permissions");
    RESET(), roles_changed(&b, 1001, 0, NULL, 0), SAVE("invalid-field.1001-roles");
    RESET(), roles_changed(&b, 1000, 1, "a.b", 3), SAVE("ok.1000-roles");
    RESET(), roles_changed(&b, 1, 10001, "a", 1), SAVE("invalid-field.10001-permissions");
    RESET(), roles_changed(&b, 1, 1, repeat(&rep, 'p', 256), 256),
        SAVE("invalid-field.permission-256-bytes");
    RESET(), roles_changed(&b, 1, 1, "\xff", 1), SAVE("invalid-field.permission-not-utf8");
    RESET(), roles_changed(&b, 1, 1, "", 0), SAVE("invalid-field.permission-empty");
    RESET(), roles_changed(&b, 1, 1, "a\"b\\c\x01", 6), SAVE("ok.permission-escapes");
    /* null, then empty, then present, then null: each must read as itself. */
    RESET(), roles_changed(&b, 1, 2, "a.b", 3), put_marker(&b), roles_changed(&b, 1, -1, NULL, 0),
        put_marker(&b), roles_changed(&b, 1, 0, NULL, 0), put_marker(&b),
        roles_changed(&b, 1, 2, "a.b", 3), put_marker(&b), roles_changed(&b, 1, -1, NULL, 0),
        SAVE("ok.batch-permissions-present-null-empty");
    /* Roles, permissions and a session, then events without them. */
    RESET(), roles_changed(&b, 3, 2, "a.b", 3), put_marker(&b), put_envelope(&b, "e-2", 1, 1),
        put_cstr(&b, "r1"), put_long(&b, 0), put_marker(&b), put_envelope(&b, "e-3", 1, 3),
        put_cstr(&b, "u-1"), put_cstr(&b, "abc"), put_marker(&b), put_envelope(&b, "e-4", 1, 5),
        put_cstr(&b, "u-1"), put_marker(&b), put_envelope(&b, "e-5", 1, 0), put_cstr(&b, "u-2"),
        put_long(&b, 0), put_long(&b, 0), put_long(&b, 0), SAVE("ok.batch-lists-then-none");
    /* The same through the evolved writer (id 104): permissions' branches
     * swapped (0: array, 1: null), changed_by in front. */
    RESET();
    for (int i = 0; i < 4; i++) {
        static const int kinds[] = {2, -1, 0, -1}; /* items, null, empty, null */
        if (i)
            put_marker(&b);
        put_frame(&b, 104), put_envelope(&b, "e-1", 1, 0), put_long(&b, 0), put_cstr(&b, "u-1");
        put_long(&b, 0), put_long(&b, 0);
        if (kinds[i] < 0) {
            put_long(&b, 1);
        } else {
            put_long(&b, 0);
            if (kinds[i])
                put_long(&b, kinds[i]), put_cstr(&b, "a.b"), put_cstr(&b, "c.d");
            put_long(&b, 0);
        }
    }
    SAVE("ok.batch-evolved-permissions-present-null-empty-null");
    RESET(), put_frame(&b, 104), put_envelope(&b, "e-1", 1, 8), put_cstr(&b, "u-1"),
        put_cstr(&b, "admin"), SAVE("unknown-type.evolved-new-branch");
    RESET(), put_envelope(&b, "e-1", 1, 3), put_cstr(&b, "u-1"),
        put_cstr(&b, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"), SAVE("invalid-field.session-key-upper");
    RESET(), put_envelope(&b, "e-1", 1, 3), put_cstr(&b, "u-1"),
        put_cstr(&b, repeat(&rep, 'a', 65)), SAVE("invalid-field.session-key-65-bytes");
    RESET(), put_envelope(&b, "e-1", 1, 4), put_cstr(&b, "u-1"), put_cstr(&b, ""),
        SAVE("invalid-field.session-key-empty");
    RESET(), put_envelope(&b, "e-1", 1, 2), put_cstr(&b, "r{1}"), SAVE("unsafe-id.role-brace");
    RESET(), put_envelope(&b, "e-1", 1, 7), put_cstr(&b, ""), SAVE("unsafe-id.user-empty");
#undef SAVE
#undef RESET
    cf_buf_free(&b);
    cf_buf_free(&rep);
    return rc;
}

static void stock_moved(struct cf_buf *b, int32_t frame, int64_t kind, int64_t delta,
                        int64_t on_hand)
{
    if (frame)
        put_frame(b, frame);
    put_envelope(b, "e-1", 1, 0);
    put_cstr(b, "SKU-1-1");
    put_cstr(b, "1");
    put_long(b, kind);
    put_long(b, delta);
    put_long(b, on_hand);
    if (frame == 105) /* the evolved writer's map: one block of one entry */
        put_long(b, 1), put_cstr(b, "main"), put_long(b, on_hand), put_long(b, 0);
}

static int adversarial_stock(const char *d)
{
    struct cf_buf b = {0};
    int rc = 0;
#define SAVE(name) (rc = rc ? rc : save_buf(d, name, &b))
#define RESET()    (b.len = 0)
    RESET(), stock_moved(&b, 0, 0, 0, INT64_MIN), SAVE("invalid-field.on-hand-int64-min");
    RESET(), stock_moved(&b, 0, 0, INT64_MAX, 0), SAVE("invalid-field.delta-int64-max");
    RESET(), stock_moved(&b, 0, 0, 1000000000000LL, -1000000000000LL),
        SAVE("ok.delta-and-on-hand-at-max");
    RESET(), stock_moved(&b, 0, 5, 1, 1), SAVE("undecodable.kind-symbol-5");
    /* The evolved writer (id 105): TRANSFER is symbol 5, which the reader
     * does not have; quantity_delta an int. */
    RESET(), stock_moved(&b, 105, 5, 1, 1), SAVE("ok.evolved-kind-transfer");
    RESET(), stock_moved(&b, 105, 1, -3, 0), SAVE("ok.evolved-restock");
    RESET(), stock_moved(&b, 105, 1, INT64_C(1) << 31, 0),
        SAVE("undecodable.evolved-delta-int-out-of-range");
    RESET(), stock_moved(&b, 0, 0, 0, 0), b.len -= 1, put_long(&b, INT64_C(1) << 62),
        b.data[b.len - 1] |= (char)0x80, SAVE("undecodable.on-hand-truncated-varint");
    RESET(), stock_moved(&b, 105, 1, 1, 1), b.len -= 1, put_long(&b, -1), put_long(&b, 1000),
        SAVE("undecodable.evolved-map-block-size-beyond-end");
#undef SAVE
#undef RESET
    cf_buf_free(&b);
    return rc;
}

static int adversarial_json(const char *d)
{
    static const struct {
        const char *name, *doc;
        size_t len; /* 0: strlen */
    } docs[] = {
        {"valid.object", "{\"a\":[1,2.5,-3e-2,true,false,null],\"b\":\"\\u00e9\"}", 0},
        {"valid.nul-escape-in-key", "{\"\\u0000\":1}", 0},
        {"valid.big-numbers", "[1e999,123456789012345678901234567890]", 0},
        {"valid.surrogate-pair", "\"\\ud83d\\ude00\"", 0},
        {"valid.scalar-with-spaces", " \t\r\n1 ", 0},
        {"invalid.empty", "", 0},
        {"invalid.spaces", "   ", 0},
        {"invalid.raw-nul", "[\"a\0\"]", 6},
        {"invalid.nul-after-value", "1\0", 2},
        {"invalid.lone-high-surrogate", "\"\\ud800\"", 0},
        {"invalid.high-then-high", "\"\\ud800\\ud800\"", 0},
        {"invalid.lone-low-surrogate", "\"\\udfff\"", 0},
        {"invalid.high-surrogate-at-end", "\"\\ud800", 0},
        {"invalid.high-surrogate-backslash-at-end", "\"\\ud800\\", 0},
        {"invalid.overlong-slash", "\"\xc0\xaf\"", 0},
        {"invalid.utf8-surrogate", "\"\xed\xa0\x80\"", 0},
        {"invalid.above-10ffff", "\"\xf4\x90\x80\x80\"", 0},
        {"invalid.truncated-utf8", "\"\xe2\x82", 0},
        {"invalid.leading-zero", "012", 0},
        {"invalid.plus", "+1", 0},
        {"invalid.trailing-dot", "1.", 0},
        {"invalid.nan", "NaN", 0},
        {"invalid.trailing-comma", "[1,]", 0},
        {"invalid.single-quotes", "'a'", 0},
        {"invalid.control-in-string", "\"a\x01\"", 0},
        {"invalid.two-values", "1 2", 0},
        {"invalid.truncated-literal", "tru", 0},
        {"invalid.unclosed", "{\"a\":[", 0},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]) && rc == 0; i++)
        rc = save(d, docs[i].name, docs[i].doc, docs[i].len ? docs[i].len : strlen(docs[i].doc));
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    rc = rc ? rc : save(d, "invalid.depth-300", deep, sizeof(deep));
    rc = rc ? rc : save(d, "valid.depth-64", deep + 236, 128);
    rc = rc ? rc : save(d, "invalid.depth-65", deep + 235, 130);
    return rc;
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROGRAM " --schemas DIR --evolved DIR --out DIR [--count N] "
               "[--adversarial]\n"
               "Writes fuzz inputs into DIR/<consumer>/ and DIR/json/: seeds from the simulator\n"
               "(N events per topic, default 200, both framings), or with --adversarial the\n"
               "hand-made hostile inputs kept under tests/regress/.\n");
}

static int parse(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"schemas", required_argument, NULL, 's'},
        {"evolved", required_argument, NULL, 'e'},
        {"out", required_argument, NULL, 'o'},
        {"count", required_argument, NULL, 'n'},
        {"adversarial", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;
    o->count = 200;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            o->schemas = optarg;
            break;
        case 'e':
            o->evolved = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'n':
            errno = 0;
            o->count = strtol(optarg, &end, 10);
            if (errno || *end || o->count < 1 || o->count > 100000) {
                fprintf(stderr, PROGRAM ": --count: 1 to 100000\n");
                return -1;
            }
            break;
        case 'a':
            o->adversarial = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (!o->schemas || !o->evolved || !o->out || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static int topic_open(struct topic *t, const struct options *o)
{
    const char *file = sim_topic_schema_file(t->topic);
    char evolved[64];
    snprintf(evolved, sizeof(evolved), "evolved-%s", file);
    snprintf(t->dir, sizeof(t->dir), "%s/%s", o->out, t->name);
    if (make_dir(t->dir) < 0)
        return -1;
    t->framed = sim_encoder_new(o->schemas, file, SIM_FRAMING_CONFLUENT, t->err, sizeof(t->err));
    t->plain = t->framed
                   ? sim_encoder_new(o->schemas, file, SIM_FRAMING_PLAIN, t->err, sizeof(t->err))
                   : NULL;
    t->evolved = t->plain ? sim_encoder_new(o->evolved, evolved, SIM_FRAMING_CONFLUENT, t->err,
                                            sizeof(t->err))
                          : NULL;
    if (!t->evolved) {
        fprintf(stderr, PROGRAM ": %s\n", t->err);
        return -1;
    }
    return 0;
}

static void topic_close(struct topic *t)
{
    sim_encoder_destroy(t->framed);
    sim_encoder_destroy(t->plain);
    sim_encoder_destroy(t->evolved);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct topic topics[SHOP_TOPIC_COUNT];
    char json_dir[4096];
    size_t json_n = 0;
    int status = 1;

    if (parse(argc, argv, &o) < 0)
        return 2;
    memset(topics, 0, sizeof(topics));
    snprintf(json_dir, sizeof(json_dir), "%s/json", o.out);
    if (make_dir(o.out) < 0 || make_dir(json_dir) < 0)
        return 1;
    for (int i = 0; i < SHOP_TOPIC_COUNT; i++) {
        topics[i].topic = (enum shop_topic)i;
        topics[i].name = shop_topic_name((enum shop_topic)i);
        if (topic_open(&topics[i], &o) < 0)
            goto out;
    }
    if (o.adversarial) {
        for (int i = 0; i < SHOP_TOPIC_COUNT; i++) {
            if (adversarial_common(&topics[i]) < 0)
                goto out;
        }
        if (adversarial_products(topics[SHOP_TOPIC_PRODUCTS].dir) < 0 ||
            adversarial_carts(topics[SHOP_TOPIC_CARTS].dir) < 0 ||
            adversarial_orders(topics[SHOP_TOPIC_ORDERS].dir) < 0 ||
            adversarial_access(topics[SHOP_TOPIC_ACCESS].dir) < 0 ||
            adversarial_stock(topics[SHOP_TOPIC_STOCK].dir) < 0 || adversarial_json(json_dir) < 0)
            goto out;
        status = 0;
        goto out;
    }
    static const char *const access_seq[] = {"roles-null-permissions", "roles-empty-permissions",
                                             "roles-permissions"};
    static const char *const products_seq[] = {"upserted-empty-lists-null-repr", "upserted-max-ids",
                                               "category-root-extremes", "category-child"};
    static const char *const carts_seq[] = {"updated-anonymous", "updated-max-id",
                                            "merged-anonymous"};
    for (int i = 0; i < SHOP_TOPIC_COUNT; i++) {
        if (seeds_sim(&topics[i], json_dir, o.count, &json_n) < 0 || seeds_edges(&topics[i]) < 0)
            goto out;
    }
    if (seeds_sequences(&topics[SHOP_TOPIC_ACCESS], access_seq, 3) < 0 ||
        seeds_sequences(&topics[SHOP_TOPIC_PRODUCTS], products_seq, 4) < 0 ||
        seeds_sequences(&topics[SHOP_TOPIC_CARTS], carts_seq, 3) < 0 || seeds_json(json_dir) < 0)
        goto out;
    status = 0;
out:
    for (int i = 0; i < SHOP_TOPIC_COUNT; i++)
        topic_close(&topics[i]);
    return status;
}
