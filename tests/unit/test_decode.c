/* test_decode.c - the decode stage (common/decode.c, common/event.c), fed
 * with bytes encoded from the schemas in schemas/; and the decoder's own
 * reader compared with avro_value_read on simulator events, random datums
 * of every schema and type, damaged copies of both, and tests/regress/. */
#include <avro.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "encode.h"
#include "event.h"
#include "keys.h"
#include "shop.h"
#include "testutil.h"

struct fixture {
    char dir[512];             /* a schemas folder for this test */
    avro_schema_t schema;      /* products.avsc */
    avro_schema_t evolved;     /* products.avsc plus an optional field, id 2 */
    char buf[65536];
};

static const char *EVOLVED_FIELD =
    ",{\"name\":\"trace_id\",\"type\":[\"null\",\"string\"],\"default\":null,"
    "\"doc\":\"added by a newer producer\"}";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void spit(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The evolved schema: the envelope gets an optional trace_id after body,
 * and the id 2. */
static char *evolve(const char *text)
{
    const char *id = "\"cachefleet.schema_id\": 1";
    const char *at = strstr(text, id);
    assert_non_null(at);
    size_t n = strlen(text);
    char *out = malloc(n + 512);
    assert_non_null(out);
    size_t pre = (size_t)(at - text);
    memcpy(out, text, pre);
    size_t len = pre + (size_t)snprintf(out + pre, n + 512 - pre, "\"cachefleet.schema_id\": 2");
    const char *rest = at + strlen(id);
    /* the last "]" closes the envelope's fields */
    const char *last = strrchr(rest, ']');
    memcpy(out + len, rest, (size_t)(last - rest));
    len += (size_t)(last - rest);
    len += (size_t)snprintf(out + len, n + 512 - len, "%s%s", EVOLVED_FIELD, last);
    return out;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    cf_test_tmpdir("decode", fx->dir, sizeof(fx->dir));
    char path[1024];
    size_t len;
    snprintf(path, sizeof(path), "%s/products.avsc", cf_test_schemas_dir());
    char *text = slurp(path, &len);
    spit(fx->dir, "products.avsc", text);
    assert_int_equal(avro_schema_from_json_length(text, len, &fx->schema), 0);
    char *evolved = evolve(text);
    assert_int_equal(avro_schema_from_json_length(evolved, strlen(evolved), &fx->evolved), 0);
    spit(fx->dir, "products.v2.avsc", evolved);
    free(evolved);
    free(text);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    avro_schema_decref(fx->schema);
    avro_schema_decref(fx->evolved);
    cf_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* Writes v into out, framed with schema id when id >= 0 (plain Avro
 * otherwise); returns the length. */
static size_t frame_value(avro_value_t *v, int id, char *out, size_t size)
{
    size_t off = 0;
    if (id >= 0) {
        assert_true(size > 5);
        out[0] = 0;
        out[1] = (char)((id >> 24) & 0xff);
        out[2] = (char)((id >> 16) & 0xff);
        out[3] = (char)((id >> 8) & 0xff);
        out[4] = (char)(id & 0xff);
        off = 5;
    }
    avro_writer_t w = avro_writer_memory(out + off, (int64_t)(size - off));
    assert_int_equal(avro_value_write(w, v), 0);
    size_t len = (size_t)avro_writer_tell(w) + off;
    avro_writer_free(w);
    return len;
}

/* Encodes a ProductDeleted event with the given schema; returns the datum
 * length, with framing when id >= 0. */
static size_t encode(avro_schema_t schema, int id, const char *event_id, int64_t version,
                     const char *product_id, char *out, size_t size)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, f, body, branch, arr, item;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    assert_int_equal(avro_value_get_by_name(&v, "event_id", &f, NULL), 0);
    avro_value_set_string(&f, event_id);
    avro_value_get_by_name(&v, "version", &f, NULL);
    avro_value_set_long(&f, version);
    avro_value_get_by_name(&v, "occurred_at", &f, NULL);
    avro_value_set_long(&f, 1700000000000000);
    avro_value_get_by_name(&v, "body", &body, NULL);
    assert_int_equal(avro_value_set_branch(&body, 1, &branch), 0); /* ProductDeleted */
    avro_value_get_by_name(&branch, "product_id", &f, NULL);
    avro_value_set_string(&f, product_id);
    avro_value_get_by_name(&branch, "categories_before", &arr, NULL);
    avro_value_append(&arr, &item, NULL);
    avro_value_set_string(&item, "3");
    avro_value_get_by_name(&branch, "search_terms_before", &arr, NULL);
    avro_value_append(&arr, &item, NULL);
    avro_value_set_string(&item, "shoe");
    if (avro_value_get_by_name(&v, "trace_id", &f, NULL) == 0) {
        avro_value_t b2;
        avro_value_set_branch(&f, 1, &b2);
        avro_value_set_string(&b2, "abc-123");
    }
    size_t len = frame_value(&v, id, out, size);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    return len;
}

/* Reads product_id and version back through the envelope helpers. */
static void expect_deleted(const struct cf_decoder *dec, avro_value_t *value, const char *id,
                           uint64_t version)
{
    struct cf_envelope_schema es;
    struct cf_envelope env;
    char err[256];
    assert_int_equal(cf_envelope_schema_init(&es, cf_decoder_schema(dec), err, sizeof(err)), 0);
    assert_int_equal(cf_envelope_read(&es, value, &env, err, sizeof(err)), 0);
    assert_string_equal(es.branch_names[env.branch], "ProductDeleted");
    assert_int_equal(env.version, version);
    struct cf_str pid;
    int idx = cf_avro_field_index(es.branches[env.branch], "product_id", err, sizeof(err));
    assert_true(idx >= 0);
    assert_int_equal(cf_avro_str(&env.body, idx, "product_id", &pid, err, sizeof(err)), 0);
    assert_int_equal(pid.len, strlen(id));
    assert_memory_equal(pid.ptr, id, pid.len);
    struct cf_strs cats = {0};
    idx = cf_avro_field_index(es.branches[env.branch], "categories_before", err, sizeof(err));
    assert_int_equal(cf_avro_strs(&env.body, idx, "categories_before", 10, &cats, err, sizeof(err)),
                     0);
    assert_int_equal(cats.n, 1); /* not 2: the value is reset between messages */
    cf_strs_free(&cats);
}

static void test_plain_and_framed(void **state)
{
    struct fixture *fx = *state;
    char err[512], reason[256];
    struct cf_decoder *dec = cf_decoder_new(fx->dir, "products.avsc", CF_FRAMING_AUTO, err,
                                            sizeof(err));
    assert_non_null(dec);
    assert_int_equal(cf_decoder_writer_count(dec), 2);
    avro_value_t *value;

    size_t n = encode(fx->schema, -1, "e-1", 7, "42", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(dec, fx->buf, n, &value, reason, sizeof(reason)), 0);
    expect_deleted(dec, value, "42", 7);

    n = encode(fx->schema, 1, "e-2", 8, "43", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(dec, fx->buf, n, &value, reason, sizeof(reason)), 0);
    expect_deleted(dec, value, "43", 8);

    /* A newer producer added an optional field: still read, the field
     * skipped. */
    n = encode(fx->evolved, 2, "e-3", 9, "44", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(dec, fx->buf, n, &value, reason, sizeof(reason)), 0);
    expect_deleted(dec, value, "44", 9);
    cf_decoder_destroy(dec);
}

static void test_framing_modes(void **state)
{
    struct fixture *fx = *state;
    char err[512], reason[256];
    avro_value_t *value;
    struct cf_decoder *plain = cf_decoder_new(fx->dir, "products.avsc", CF_FRAMING_PLAIN, err,
                                              sizeof(err));
    struct cf_decoder *framed = cf_decoder_new(fx->dir, "products.avsc", CF_FRAMING_CONFLUENT, err,
                                               sizeof(err));
    assert_non_null(plain);
    assert_non_null(framed);
    size_t n = encode(fx->schema, 1, "e-1", 1, "1", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(framed, fx->buf, n, &value, reason, sizeof(reason)), 0);
    assert_int_equal(cf_decoder_decode(plain, fx->buf, n, &value, reason, sizeof(reason)), -1);
    assert_non_null(strstr(reason, "undecodable: "));
    n = encode(fx->schema, -1, "e-1", 1, "1", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(plain, fx->buf, n, &value, reason, sizeof(reason)), 0);
    assert_int_equal(cf_decoder_decode(framed, fx->buf, n, &value, reason, sizeof(reason)), -1);
    assert_non_null(strstr(reason, "undecodable: not framed"));
    cf_decoder_destroy(plain);
    cf_decoder_destroy(framed);
}

static void expect_reject(struct cf_decoder *dec, const void *buf, size_t len, const char *prefix)
{
    char reason[256] = ""; /* not the previous call's reason, left on the stack */
    avro_value_t *value;
    assert_int_equal(cf_decoder_decode(dec, buf, len, &value, reason, sizeof(reason)), -1);
    if (strncmp(reason, prefix, strlen(prefix)) != 0)
        fail_msg("reason \"%s\" does not start with \"%s\"", reason, prefix);
}

static void test_bad_bytes(void **state)
{
    struct fixture *fx = *state;
    char err[512];
    struct cf_decoder *dec = cf_decoder_new(fx->dir, "products.avsc", CF_FRAMING_AUTO, err,
                                            sizeof(err));
    assert_non_null(dec);
    size_t n = encode(fx->schema, 1, "e-1", 1, "42", fx->buf, sizeof(fx->buf));

    /* Every truncation of a valid framed message is refused. */
    for (size_t cut = 0; cut < n; cut++)
        expect_reject(dec, fx->buf, cut, cut < 5 ? "undecodable: " : "undecodable: ");
    /* Trailing bytes. */
    char more[4096];
    memcpy(more, fx->buf, n);
    more[n] = 0x02;
    expect_reject(dec, more, n + 1, "undecodable: 1 bytes left");
    /* Unknown schema id. */
    memcpy(more, fx->buf, n);
    more[4] = 9;
    expect_reject(dec, more, n, "unknown-schema: schema id 9");
    /* A string claiming 2^60 bytes (plain datum: event_id first). */
    const unsigned char huge[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 'a'};
    expect_reject(dec, huge, sizeof(huge), "undecodable: length beyond the end");
    /* A number longer than 10 bytes. */
    unsigned char longnum[16];
    memset(longnum, 0xff, sizeof(longnum));
    expect_reject(dec, longnum, sizeof(longnum), "undecodable: number too long");
    /* A union branch out of range: event_id "a", version 1, occurred_at 1,
     * branch 40. */
    const unsigned char branch[] = {0x02, 'a', 0x02, 0x02, 0x50};
    expect_reject(dec, branch, sizeof(branch), "undecodable: union branch out of range");
    /* An array block of 2^40 items of a ProductDeleted: categories_before. */
    const unsigned char items[] = {0x02, 'a', 0x02, 0x02, 0x02, 0x02, '1',
                                   0x80, 0x80, 0x80, 0x80, 0x80, 0x40};
    expect_reject(dec, items, sizeof(items), "undecodable: too many items");
    /* A block count of INT64_MIN (zigzag: ten bytes), whose item count
     * -INT64_MIN does not exist: refused with a reason like any other
     * count (it was refused with an empty reason). */
    const unsigned char min_count[] = {0x02, 'a',  0x02, 0x02, 0x02, 0x02, '1',  0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_reject(dec, min_count, sizeof(min_count), "undecodable: too many items");
    /* Empty message. */
    expect_reject(dec, "", 0, "undecodable: empty message");
    cf_decoder_destroy(dec);
}

static void test_unreadable_writer_is_dead_lettered_not_fatal(void **state)
{
    struct fixture *fx = *state;
    /* A writer schema with version of another type, registered as id 5. */
    char path[1024];
    size_t len;
    snprintf(path, sizeof(path), "%s/products.avsc", fx->dir);
    char *text = slurp(path, &len);
    char *at = strstr(text, "\"cachefleet.schema_id\": 1");
    assert_non_null(at);
    at[strlen("\"cachefleet.schema_id\": ")] = '5';
    /* version becomes a boolean: not promotable to long. */
    char *ver = strstr(text, "\"name\": \"version\",\n      \"type\": \"long\"");
    assert_non_null(ver);
    char *type = strstr(ver, "\"long\"");
    size_t head = (size_t)(type - text);
    char *bad = malloc(len + 16);
    assert_non_null(bad);
    memcpy(bad, text, head);
    snprintf(bad + head, len + 16 - head, "\"boolean\"%s", type + strlen("\"long\""));
    spit(fx->dir, "products.bad.avsc", bad);
    free(bad);
    free(text);

    char err[512];
    struct cf_decoder *dec = cf_decoder_new(fx->dir, "products.avsc", CF_FRAMING_AUTO, err,
                                            sizeof(err));
    assert_non_null(dec);
    int found = 0;
    for (size_t i = 0; i < cf_decoder_writer_count(dec); i++) {
        int32_t id;
        const char *file, *problem;
        cf_decoder_writer(dec, i, &id, &file, &problem);
        if (id == 5) {
            found = 1;
            assert_non_null(problem);
        } else {
            assert_null(problem);
        }
    }
    assert_true(found);
    const unsigned char framed[] = {0, 0, 0, 0, 5, 0x02, 'a'};
    expect_reject(dec, framed, sizeof(framed), "unknown-schema: schema id 5 cannot be read");
    cf_decoder_destroy(dec);
    snprintf(path, sizeof(path), "%s/products.bad.avsc", fx->dir);
    remove(path);
}

static void test_startup_errors_name_the_file(void **state)
{
    struct fixture *fx = *state;
    char err[512];
    assert_null(cf_decoder_new(fx->dir, "missing.avsc", CF_FRAMING_AUTO, err, sizeof(err)));
    assert_non_null(strstr(err, "missing.avsc"));
    spit(fx->dir, "broken.avsc", "{\"type\": \"record\", \"name\": ");
    assert_null(cf_decoder_new(fx->dir, "products.avsc", CF_FRAMING_AUTO, err, sizeof(err)));
    assert_non_null(strstr(err, "broken.avsc"));
    char path[1024];
    snprintf(path, sizeof(path), "%s/broken.avsc", fx->dir);
    remove(path);
    assert_null(cf_decoder_new("/nonexistent-dir", "products.avsc", CF_FRAMING_AUTO, err,
                               sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-dir"));
}

static void test_envelope_contract(void **state)
{
    struct fixture *fx = *state;
    char err[512], reason[256];
    struct cf_decoder *dec = cf_decoder_new(fx->dir, "products.avsc", CF_FRAMING_AUTO, err,
                                            sizeof(err));
    assert_non_null(dec);
    struct cf_envelope_schema es;
    struct cf_envelope env;
    assert_int_equal(cf_envelope_schema_init(&es, cf_decoder_schema(dec), err, sizeof(err)), 0);
    avro_value_t *value;

    size_t n = encode(fx->schema, 1, "e-1", -3, "42", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(dec, fx->buf, n, &value, reason, sizeof(reason)), 0);
    assert_int_equal(cf_envelope_read(&es, value, &env, reason, sizeof(reason)), -1);
    assert_string_equal(reason, "invalid-field: version is negative");

    char long_id[200];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    n = encode(fx->schema, 1, long_id, 1, "42", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(dec, fx->buf, n, &value, reason, sizeof(reason)), 0);
    assert_int_equal(cf_envelope_read(&es, value, &env, reason, sizeof(reason)), -1);
    assert_non_null(strstr(reason, "invalid-field: event_id must be 1 to 128 bytes"));
    cf_decoder_destroy(dec);
}

/* A union whose branch goes from null to an empty array between two
 * messages: the second must read as an empty array, not as null (avro-c's
 * resolved writer left the previous branch in place). */
static void union_sequence(struct cf_decoder *dec, struct sim_encoder *enc)
{
    struct cf_envelope_schema es;
    char err[512], reason[256];
    assert_int_equal(cf_envelope_schema_init(&es, cf_decoder_schema(dec), err, sizeof(err)), 0);
    int branch = cf_envelope_branch(&es, "UserRolesChanged");
    int idx = cf_avro_field_index(es.branches[branch], "permissions", err, sizeof(err));
    const char *const one[] = {"shop.view"};
    /* present, number of items, expected present, expected items */
    const int seq[][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 0}, {1, 1}, {1, 0}, {0, 0}, {1, 0}};
    struct cf_strs strs = {0};
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        avro_value_t body;
        assert_int_equal(sim_encoder_begin(enc, "e", 1, 1, "UserRolesChanged", &body, err,
                                           sizeof(err)),
                         0);
        assert_int_equal(sim_avro_set_string(&body, "user_id", "5", err, sizeof(err)), 0);
        assert_int_equal(sim_avro_set_string_array(&body, "roles_before", NULL, 0, err, sizeof(err)), 0);
        assert_int_equal(sim_avro_set_string_array(&body, "roles_after", NULL, 0, err, sizeof(err)), 0);
        assert_int_equal(sim_avro_set_optional_string_array(&body, "permissions", seq[i][0] != 0,
                                                            one, (size_t)seq[i][1], err, sizeof(err)),
                         0);
        avro_value_t trace;
        if (avro_value_get_by_name(sim_encoder_value(enc), "trace_id", &trace, NULL) == 0)
            assert_int_equal(sim_avro_set_optional_string(sim_encoder_value(enc), "trace_id", "t",
                                                          1, err, sizeof(err)),
                             0);
        const void *data;
        size_t len;
        if (sim_encoder_finish(enc, &data, &len, err, sizeof(err)) != 0)
            fail_msg("encode: %s", err);
        avro_value_t *value;
        struct cf_envelope env;
        assert_int_equal(cf_decoder_decode(dec, data, len, &value, reason, sizeof(reason)), 0);
        assert_int_equal(cf_envelope_read(&es, value, &env, reason, sizeof(reason)), 0);
        bool present = !seq[i][0];
        assert_int_equal(cf_avro_opt_strs(&env.body, idx, "permissions", 10, &present, &strs,
                                          reason, sizeof(reason)),
                         0);
        if (present != (seq[i][0] != 0) || strs.n != (size_t)seq[i][1])
            fail_msg("message %zu: present %d with %zu items, expected %d with %d", i, present,
                     strs.n, seq[i][0], seq[i][1]);
    }
    cf_strs_free(&strs);
}

static void test_union_branch_does_not_leak_between_messages(void **state)
{
    struct fixture *fx = *state;
    char err[512];
    /* The same schema (framed), and a writer schema that differs from the
     * reader's (resolved). */
    char path[1024];
    size_t len;
    snprintf(path, sizeof(path), "%s/access.avsc", cf_test_schemas_dir());
    char *text = slurp(path, &len);
    spit(fx->dir, "access.avsc", text);
    char *at = strstr(text, "\"cachefleet.schema_id\": 4");
    assert_non_null(at);
    at[strlen("\"cachefleet.schema_id\": ")] = '9';
    char *doc = strstr(text, "\"doc\": \"One change on topic shop.access");
    assert_non_null(doc);
    /* A different writer: the envelope's doc changes nothing, so add a field. */
    char *last = strrchr(text, ']');
    assert_non_null(last);
    size_t head = (size_t)(last - text);
    char *evolved = malloc(len + 256);
    assert_non_null(evolved);
    memcpy(evolved, text, head);
    snprintf(evolved + head, len + 256 - head, "%s%s", EVOLVED_FIELD, last);
    spit(fx->dir, "access.v9.avsc", evolved);
    free(text);
    free(evolved);

    struct cf_decoder *dec = cf_decoder_new(fx->dir, "access.avsc", CF_FRAMING_AUTO, err,
                                            sizeof(err));
    assert_non_null(dec);
    struct sim_encoder *same = sim_encoder_new(cf_test_schemas_dir(), "access.avsc",
                                               SIM_FRAMING_CONFLUENT, err, sizeof(err));
    struct sim_encoder *newer = sim_encoder_new(fx->dir, "access.v9.avsc", SIM_FRAMING_CONFLUENT,
                                                err, sizeof(err));
    assert_non_null(same);
    assert_non_null(newer);
    assert_int_equal(sim_encoder_schema_id(newer), 9);
    union_sequence(dec, same);
    union_sequence(dec, newer);
    sim_encoder_destroy(same);
    sim_encoder_destroy(newer);
    cf_decoder_destroy(dec);
    snprintf(path, sizeof(path), "%s/access.avsc", fx->dir);
    remove(path);
    snprintf(path, sizeof(path), "%s/access.v9.avsc", fx->dir);
    remove(path);
}

/* Writes schemas/carts.avsc into dir as carts.avsc (the reader; without
 * its enum's "default" when drop_default) and, as carts.v7.avsc with the
 * id 7, a newer writer whose CartChange enum has the symbols reordered and
 * one more, MERGED. */
static void carts_schemas(const char *dir, bool drop_default)
{
    char path[1024];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/carts.avsc", cf_test_schemas_dir());
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    json_t *body = json_object_get(json_array_get(json_object_get(root, "fields"), 3), "type");
    json_t *change = json_object_get(
        json_array_get(json_object_get(json_array_get(body, 0), "fields"), 2), "type");
    assert_string_equal(json_string_value(json_object_get(change, "name")), "CartChange");
    if (drop_default)
        assert_int_equal(json_object_del(change, "default"), 0);
    snprintf(path, sizeof(path), "%s/carts.avsc", dir);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(2)), 0);
    if (drop_default)
        json_object_set_new(change, "default", json_string("OTHER"));
    json_t *symbols = json_array();
    const char *const order[] = {"OTHER",      "CREATED",      "MERGED",
                                 "ITEM_ADDED", "ITEM_REMOVED", "QUANTITY_CHANGED"};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        json_array_append_new(symbols, json_string(order[i]));
    json_object_set_new(change, "symbols", symbols);
    json_object_set_new(root, "cachefleet.schema_id", json_integer(7));
    snprintf(path, sizeof(path), "%s/carts.v7.avsc", dir);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(2)), 0);
    json_decref(root);
}

/* A CartUpdated with the given change symbol, encoded by enc (the bytes
 * are enc's until its next message). */
static void encode_cart_change(struct sim_encoder *enc, const char *change, const void **data,
                               size_t *len)
{
    char err[512];
    avro_value_t body;
    assert_int_equal(sim_encoder_begin(enc, "e-1", 1, 1, "CartUpdated", &body, err, sizeof(err)),
                     0);
    assert_int_equal(sim_avro_set_string(&body, "cart_id", "c-1", err, sizeof(err)), 0);
    assert_int_equal(sim_avro_set_enum(&body, "change", change, err, sizeof(err)), 0);
    assert_int_equal(sim_avro_set_string(&body, "cart", "{}", err, sizeof(err)), 0);
    assert_int_equal(sim_avro_set_optional_string(&body, "user_id", NULL, 0, err, sizeof(err)),
                     0);
    if (sim_encoder_finish(enc, data, len, err, sizeof(err)) != 0)
        fail_msg("encode: %s", err);
}

/* An enum written by a newer producer reads as the reader's symbol of the
 * same name, or the reader's default for a symbol it lacks (the Avro
 * specification), never by position: avro-c's resolved reader passed the
 * writer's index through, so MERGED (index 2) read as ITEM_REMOVED and
 * QUANTITY_CHANGED (index 5) as no symbol at all. */
static void test_enum_resolved_by_symbol(void **state)
{
    (void)state;
    const char *const written[] = {"OTHER",      "CREATED",      "MERGED",
                                   "ITEM_ADDED", "ITEM_REMOVED", "QUANTITY_CHANGED"};
    for (int drop_default = 0; drop_default <= 1; drop_default++) {
        char dir[512], err[512], reason[256];
        cf_test_tmpdir("decode-enum", dir, sizeof(dir));
        carts_schemas(dir, drop_default != 0);
        struct cf_decoder *dec =
            cf_decoder_new(dir, "carts.avsc", CF_FRAMING_AUTO, err, sizeof(err));
        if (!dec)
            fail_msg("decoder: %s", err);
        struct sim_encoder *enc =
            sim_encoder_new(dir, "carts.v7.avsc", SIM_FRAMING_CONFLUENT, err, sizeof(err));
        if (!enc)
            fail_msg("encoder: %s", err);
        struct cf_envelope_schema es;
        assert_int_equal(cf_envelope_schema_init(&es, cf_decoder_schema(dec), err, sizeof(err)), 0);
        int branch = cf_envelope_branch(&es, "CartUpdated");
        assert_true(branch >= 0);
        int idx = cf_avro_field_index(es.branches[branch], "change", err, sizeof(err));
        assert_true(idx >= 0);
        for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
            avro_value_t *value;
            const void *data;
            size_t len;
            encode_cart_change(enc, written[i], &data, &len);
            bool unknown = strcmp(written[i], "MERGED") == 0;
            int rc = cf_decoder_decode(dec, data, len, &value, reason, sizeof(reason));
            if (unknown && drop_default) {
                /* No symbol of that name and no default: an error. */
                assert_int_equal(rc, -1);
                assert_string_equal(reason, "undecodable: enum CartChange: the writer's symbol "
                                            "MERGED is not the reader's, which has no default");
                continue;
            }
            if (rc != 0)
                fail_msg("%s: %s", written[i], reason);
            struct cf_envelope env;
            assert_int_equal(cf_envelope_read(&es, value, &env, reason, sizeof(reason)), 0);
            assert_int_equal(env.branch, branch);
            int e = -1;
            const char *symbol = NULL;
            assert_int_equal(
                cf_avro_enum(&env.body, idx, "change", &e, &symbol, reason, sizeof(reason)), 0);
            assert_string_equal(symbol, unknown ? "OTHER" : written[i]);
        }
        sim_encoder_destroy(enc);
        cf_decoder_destroy(dec);
        cf_test_rmtree(dir);
    }
}

/* ------------------------------------------------------------------------
 * The decoder's own reader against avro_value_read
 *
 * A datum written with the reader schema is read by the decoder's walk
 * (decode.c, DESIGN); cf_decoder_use_avro_read() makes a second decoder
 * read it as before, with avro_value_read after the guard.  Every datum
 * below goes through both: the same answer, the same reason for bytes
 * refused, and values avro_value_equal says are equal.
 * ------------------------------------------------------------------------ */

struct pair {
    struct cf_decoder *fast; /* the decoder's own reader */
    struct cf_decoder *ref;  /* avro_value_read */
    size_t accepted, refused;
};

static void pair_new(struct pair *pr, const char *dir, const char *file)
{
    char err[512];
    memset(pr, 0, sizeof(*pr));
    pr->fast = cf_decoder_new(dir, file, CF_FRAMING_AUTO, err, sizeof(err));
    if (!pr->fast)
        fail_msg("decoder %s/%s: %s", dir, file, err);
    pr->ref = cf_decoder_new(dir, file, CF_FRAMING_AUTO, err, sizeof(err));
    if (!pr->ref)
        fail_msg("decoder %s/%s: %s", dir, file, err);
    cf_decoder_use_avro_read(pr->ref, true);
}

static void pair_free(struct pair *pr)
{
    cf_decoder_destroy(pr->fast);
    cf_decoder_destroy(pr->ref);
}

static void print_value(const char *which, avro_value_t *v)
{
    char *json = NULL;
    if (avro_value_to_json(v, 1, &json) == 0) {
        print_error("%s: %s\n", which, json);
        free(json);
    }
}

/* Decodes buf with both decoders and fails the test when they differ.
 * Returns 0 (accepted by both, *value: the reader's) or -1 (refused by
 * both with the same reason, in reason). */
static int decode_both(struct pair *pr, const void *buf, size_t len, const char *what,
                       avro_value_t **value, char *reason, size_t reason_size)
{
    char rf[256] = "", rr[256] = "";
    avro_value_t *vf = NULL, *vr = NULL;
    int a = cf_decoder_decode(pr->fast, buf, len, &vf, rf, sizeof(rf));
    int b = cf_decoder_decode(pr->ref, buf, len, &vr, rr, sizeof(rr));
    if (a != b)
        fail_msg("%s (%zu bytes): the reader says \"%s\", avro_value_read \"%s\"", what, len,
                 a ? rf : "ok", b ? rr : "ok");
    if (a < 0) {
        if (strcmp(rf, rr) != 0)
            fail_msg("%s (%zu bytes): the reader refuses it with \"%s\", avro_value_read with "
                     "\"%s\"",
                     what, len, rf, rr);
        if (reason)
            snprintf(reason, reason_size, "%s", rf);
        pr->refused++;
        return -1;
    }
    if (!avro_value_equal(vf, vr)) {
        print_value("the reader", vf);
        print_value("avro_value_read", vr);
        fail_msg("%s (%zu bytes): the values differ (above)", what, len);
    }
    if (value)
        *value = vf;
    pr->accepted++;
    return 0;
}

/* xorshift64*: the same datums on every run. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

/* A damaged copy of buf[0..len) in out (room for len + 1): cut, a bit
 * flipped, a byte replaced, inserted or removed.  Returns its length. */
static size_t damage(uint64_t *s, const uint8_t *buf, size_t len, uint8_t *out)
{
    size_t at = (size_t)rnd_below(s, len);
    memcpy(out, buf, len);
    switch (rnd_below(s, 5)) {
    case 0:
        return at;
    case 1:
        out[at] ^= (uint8_t)(1u << rnd_below(s, 8));
        return len;
    case 2:
        out[at] = (uint8_t)rnd(s);
        return len;
    case 3:
        memmove(out + at + 1, out + at, len - at);
        out[at] = (uint8_t)rnd(s);
        return len + 1;
    default:
        memmove(out + at, out + at + 1, len - at - 1);
        return len - 1;
    }
}

/* Every simulator event of every topic, framed and plain, and a damaged
 * copy of each before it (so a refused datum, which may leave the reused
 * value half set, is followed by a good one). */
static void test_reader_matches_avro_read_on_sim_events(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        char err[512], what[128];
        const char *file = sim_topic_schema_file((enum shop_topic)t);
        struct pair pr, damaged;
        pair_new(&pr, cf_test_schemas_dir(), file);
        pair_new(&damaged, cf_test_schemas_dir(), file);
        struct sim_encoder *enc =
            sim_encoder_new(cf_test_schemas_dir(), file, SIM_FRAMING_CONFLUENT, err, sizeof(err));
        if (!enc)
            fail_msg("encoder: %s", err);
        struct shop_config cfg = {.seed = 7 + (uint64_t)t,
                                  .categories = 8,
                                  .products = 60,
                                  .initial_sync = true,
                                  .topics = SHOP_TOPIC_BIT(t),
                                  .users = 50};
        struct shop *shop = shop_new(&cfg, err, sizeof(err));
        if (!shop)
            fail_msg("shop: %s", err);
        bool seen[SHOP_EVENT_TYPE_COUNT] = {false};
        uint8_t copy[65536 + 1];
        for (int i = 0; i < 1500; i++) {
            const struct shop_event *ev;
            const void *data;
            size_t len;
            assert_int_equal(shop_next(shop, 1700000000000000LL + i * 1000LL, &ev), 0);
            if (sim_encode_event(enc, ev, &data, &len, err, sizeof(err)) != 0)
                fail_msg("encode: %s", err);
            assert_true(len > SIM_CONFLUENT_HEADER && len < sizeof(copy));
            seen[ev->type] = true;
            snprintf(what, sizeof(what), "%s event %d (%s)", file, i,
                     shop_event_type_name(ev->type));
            size_t n = damage(&seed, data, len, copy);
            decode_both(&damaged, copy, n, what, NULL, NULL, 0);
            if (decode_both(&damaged, data, len, what, NULL, NULL, 0) != 0 ||
                decode_both(&pr, data, len, what, NULL, NULL, 0) != 0 ||
                decode_both(&pr, (const uint8_t *)data + SIM_CONFLUENT_HEADER,
                            len - SIM_CONFLUENT_HEADER, what, NULL, NULL, 0) != 0)
                fail_msg("%s: refused", what);
        }
        /* The workload reached every event type of the topic (every body
         * branch the simulator writes), and damage both refused datums and
         * changed ones still read. */
        for (int e = 0; e < SHOP_EVENT_TYPE_COUNT; e++) {
            if (shop_event_type_topic((enum shop_event_type)e) == (enum shop_topic)t && !seen[e])
                fail_msg("%s: no %s event in the workload", file,
                         shop_event_type_name((enum shop_event_type)e));
        }
        assert_int_equal(pr.accepted, 3000);
        if (damaged.refused < 100 || damaged.accepted < 1500 + 50)
            fail_msg("%s: damaged events: %zu refused, %zu of 1500 read", file, damaged.refused,
                     damaged.accepted - 1500);
        shop_destroy(shop);
        sim_encoder_destroy(enc);
        pair_free(&pr);
        pair_free(&damaged);
    }
}

/* A growable byte buffer for the datums written below. */
struct out {
    uint8_t *p;
    size_t len, cap;
};

static void out_bytes(struct out *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2 + 64;
        o->p = realloc(o->p, o->cap);
        assert_non_null(o->p);
    }
    if (n)
        memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void out_long(struct out *o, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(z & 0x7f);
        z >>= 7;
        if (z)
            b[n] |= 0x80;
        n++;
    } while (z);
    out_bytes(o, b, n);
}

static void out_random_bytes(uint64_t *s, struct out *o, size_t n)
{
    out_long(o, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)rnd(s);
        out_bytes(o, &b, 1);
    }
}

static void write_random(uint64_t *s, struct out *o, avro_schema_t sc, int depth);

/* An array's or a map's items in one to three blocks, each with a count,
 * or a negative count and the block's size in bytes; then the end. */
static void write_blocks(uint64_t *s, struct out *o, avro_schema_t items, bool map, int depth)
{
    static const char *const keys[] = {"a", "b", "", "key"}; /* repeats happen */
    size_t blocks = depth > 4 ? 0 : (size_t)rnd_below(s, 4);
    for (size_t b = 0; b < blocks; b++) {
        struct out block = {0};
        int64_t count = 1 + (int64_t)rnd_below(s, 3);
        for (int64_t i = 0; i < count; i++) {
            if (map) {
                const char *k = keys[rnd_below(s, 4)];
                out_long(&block, (int64_t)strlen(k));
                out_bytes(&block, k, strlen(k));
            }
            write_random(s, &block, items, depth + 1);
        }
        if (rnd_below(s, 2)) {
            out_long(o, -count);
            out_long(o, (int64_t)block.len);
        } else {
            out_long(o, count);
        }
        out_bytes(o, block.p, block.len);
        free(block.p);
    }
    out_long(o, 0);
}

/* A random datum of schema sc, written as the Avro specification says. */
static void write_random(uint64_t *s, struct out *o, avro_schema_t sc, int depth)
{
    static const int64_t longs[] = {0,  1,         -1,        63,        -64,
                                    64, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX};
    uint8_t b;
    switch (avro_typeof(sc)) {
    case AVRO_NULL:
        return;
    case AVRO_BOOLEAN:
        b = (uint8_t)rnd_below(s, 2);
        out_bytes(o, &b, 1);
        return;
    case AVRO_INT32:
        out_long(o, rnd_below(s, 2) ? longs[rnd_below(s, 8)] : (int32_t)rnd(s));
        return;
    case AVRO_INT64:
        out_long(o, rnd_below(s, 2) ? longs[rnd_below(s, 10)] : (int64_t)rnd(s));
        return;
    case AVRO_FLOAT: {
        float f = (float)((int64_t)rnd_below(s, 2000001) - 1000000) / 7.0f;
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        for (int i = 0; i < 4; i++, bits >>= 8) {
            b = (uint8_t)bits;
            out_bytes(o, &b, 1);
        }
        return;
    }
    case AVRO_DOUBLE: {
        double d = (double)(int64_t)rnd(s) / 3.0;
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        for (int i = 0; i < 8; i++, bits >>= 8) {
            b = (uint8_t)bits;
            out_bytes(o, &b, 1);
        }
        return;
    }
    case AVRO_STRING:
    case AVRO_BYTES:
        out_random_bytes(s, o, (size_t)rnd_below(s, rnd_below(s, 8) ? 12 : 300));
        return;
    case AVRO_ENUM:
        out_long(o, (int64_t)rnd_below(s, (uint64_t)avro_schema_enum_number_of_symbols(sc)));
        return;
    case AVRO_FIXED:
        for (int64_t i = 0; i < avro_schema_fixed_size(sc); i++) {
            b = (uint8_t)rnd(s);
            out_bytes(o, &b, 1);
        }
        return;
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(sc); i++)
            write_random(s, o, avro_schema_record_field_get_by_index(sc, (int)i), depth + 1);
        return;
    case AVRO_UNION: {
        /* Deep down, the null branch (first where there is one) ends recursion. */
        size_t n = avro_schema_union_size(sc);
        size_t pick = depth > 4 ? 0 : (size_t)rnd_below(s, n);
        out_long(o, (int64_t)pick);
        write_random(s, o, avro_schema_union_branch(sc, (int)pick), depth + 1);
        return;
    }
    case AVRO_ARRAY:
        write_blocks(s, o, avro_schema_array_items(sc), false, depth);
        return;
    case AVRO_MAP:
        write_blocks(s, o, avro_schema_map_values(sc), true, depth);
        return;
    case AVRO_LINK:
        write_random(s, o, avro_schema_link_target(sc), depth + 1);
        return;
    default:
        fail_msg("write_random: type %d", (int)avro_typeof(sc));
    }
}

/* Every Avro type and shape the fleet's schemas do not have: maps (of
 * unions, of maps), fixed, bytes, float, double, int, boolean, null, a
 * named type used twice, a recursive record, arrays of arrays. */
static const char *EVERY_TYPE_SCHEMA =
    "{\"type\":\"record\",\"name\":\"Every\",\"namespace\":\"cachefleet.test\","
    "\"cachefleet.schema_id\":77,\"fields\":["
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"n\",\"type\":\"null\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    "\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]}},"
    "{\"name\":\"e2\",\"type\":\"Color\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Id\",\"size\":4}},"
    "{\"name\":\"nested\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"fields\":["
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}]}},"
    "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":\"Inner\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":"
    "[\"null\",\"string\",{\"type\":\"array\",\"items\":\"long\"}]}},"
    "{\"name\":\"mm\",\"type\":{\"type\":\"map\","
    "\"values\":{\"type\":\"map\",\"values\":\"Inner\"}}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"Inner\",{\"type\":\"array\",\"items\":\"Color\"},"
    "\"bytes\",\"Id\",\"double\"]},"
    "{\"name\":\"list\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
    "{\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}]},"
    "{\"name\":\"aa\",\"type\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"array\",\"items\":\"string\"}}}]}";

/* Random datums of every schema of the fleet (every body branch, both
 * sides of every optional field, empty and multi-block arrays) and of
 * EVERY_TYPE_SCHEMA, framed and plain, each after a damaged copy. */
static void test_reader_matches_avro_read_on_random_datums(void **state)
{
    (void)state;
    static const char *const files[] = {"products.avsc", "carts.avsc", "orders.avsc",
                                        "access.avsc",   "stock.avsc", "every.avsc"};
    char dir[512], path[1024], what[128];
    cf_test_tmpdir("decode-random", dir, sizeof(dir));
    spit(dir, "every.avsc", EVERY_TYPE_SCHEMA);
    uint64_t seed = 7;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        const char *sdir = f == 5 ? dir : cf_test_schemas_dir();
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", sdir, files[f]);
        char *text = slurp(path, &len);
        avro_schema_t schema;
        if (avro_schema_from_json_length(text, len, &schema) != 0)
            fail_msg("%s: %s", files[f], avro_strerror());
        json_error_t jerr;
        json_t *root = json_loadb(text, len, 0, &jerr);
        assert_non_null(root);
        int id = (int)json_integer_value(json_object_get(root, "cachefleet.schema_id"));
        json_decref(root);
        free(text);
        struct pair pr, damaged;
        pair_new(&pr, sdir, files[f]);
        pair_new(&damaged, sdir, files[f]);
        struct out o = {0};
        uint8_t *copy = NULL;
        for (int i = 0; i < 400; i++) {
            o.len = 0;
            const uint8_t header[5] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16),
                                       (uint8_t)(id >> 8), (uint8_t)id};
            out_bytes(&o, header, sizeof(header));
            write_random(&seed, &o, schema, 0);
            snprintf(what, sizeof(what), "%s datum %d", files[f], i);
            copy = realloc(copy, o.len + 1);
            assert_non_null(copy);
            size_t n = damage(&seed, o.p, o.len, copy);
            decode_both(&damaged, copy, n, what, NULL, NULL, 0);
            if (decode_both(&damaged, o.p, o.len, what, NULL, NULL, 0) != 0 ||
                decode_both(&pr, o.p, o.len, what, NULL, NULL, 0) != 0)
                fail_msg("%s: refused", what);
            /* Plain, unless the datum starts with byte 0 (AUTO takes that
             * as framed): never for the fleet's schemas (decode.h). */
            if (o.p[5] != 0 && decode_both(&pr, o.p + 5, o.len - 5, what, NULL, NULL, 0) != 0)
                fail_msg("%s: refused plain", what);
        }
        if (damaged.refused < 40)
            fail_msg("%s: only %zu damaged datums refused", files[f], damaged.refused);
        free(copy);
        free(o.p);
        avro_schema_decref(schema);
        pair_free(&pr);
        pair_free(&damaged);
    }
    cf_test_rmtree(dir);
}

/* The first message of p[0..len): its length in *msg_len; returns where
 * the next one starts, or 0 when it is the last (tools/fuzz/pipeline.h:
 * messages are separated by a marker). */
static size_t next_message(const uint8_t *p, size_t len, size_t *msg_len)
{
    const char *marker = "|CF-NEXT|";
    size_t m = strlen(marker);
    for (size_t i = 0; i + m <= len; i++) {
        if (memcmp(p + i, marker, m) == 0) {
            *msg_len = i;
            return i + m;
        }
    }
    *msg_len = len;
    return 0;
}

/* The hostile inputs and fuzz reproducers kept in tests/regress/<topic>/,
 * message by message, in name order on one pair of decoders. */
static void test_reader_matches_avro_read_on_regress_inputs(void **state)
{
    (void)state;
    static const char *const topics[] = {"products", "carts", "orders", "access", "stock"};
    for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
        char dir[1024], file[64], path[1400], what[512];
        snprintf(dir, sizeof(dir), "%s/tests/regress/%s", CF_SOURCE_DIR, topics[t]);
        snprintf(file, sizeof(file), "%s.avsc", topics[t]);
        struct pair pr;
        pair_new(&pr, cf_test_schemas_dir(), file);
        struct dirent **names;
        int n = scandir(dir, &names, NULL, alphasort);
        if (n < 0)
            fail_msg("%s: %s", dir, strerror(errno));
        size_t messages = 0;
        for (int i = 0; i < n; i++) {
            if (names[i]->d_name[0] != '.') {
                size_t len;
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
                uint8_t *data = (uint8_t *)slurp(path, &len);
                size_t at = 0, next, mlen;
                do {
                    next = next_message(data + at, len - at, &mlen);
                    snprintf(what, sizeof(what), "%s/%s message %zu", topics[t], names[i]->d_name,
                             messages);
                    decode_both(&pr, data + at, mlen, what, NULL, NULL, 0);
                    messages++;
                    at += next;
                } while (next);
                free(data);
            }
            free(names[i]);
        }
        free(names);
        /* Every folder holds good and hostile inputs (tools/fuzz/README.md). */
        if (pr.accepted < 5 || pr.refused < 5)
            fail_msg("%s: %zu messages read, %zu refused", topics[t], pr.accepted, pr.refused);
        assert_int_equal(pr.accepted + pr.refused, messages);
        pair_free(&pr);
    }
}

/* The comparison can fail: two different events are not equal, and a
 * reader that skipped a field would be seen. */
static void test_reader_comparison_can_fail(void **state)
{
    struct fixture *fx = *state;
    char reason[256];
    struct pair pr;
    pair_new(&pr, fx->dir, "products.avsc");
    avro_value_t *a, *b;
    size_t n = encode(fx->schema, 1, "e-1", 7, "42", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(pr.fast, fx->buf, n, &a, reason, sizeof(reason)), 0);
    n = encode(fx->schema, 1, "e-1", 7, "43", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(pr.ref, fx->buf, n, &b, reason, sizeof(reason)), 0);
    assert_false(avro_value_equal(a, b));
    n = encode(fx->schema, 1, "e-1", 7, "42", fx->buf, sizeof(fx->buf));
    assert_int_equal(cf_decoder_decode(pr.ref, fx->buf, n, &b, reason, sizeof(reason)), 0);
    assert_true(avro_value_equal(a, b));
    pair_free(&pr);
}

/* The reader's value after a refused datum: half set by it, then whole
 * again with the next datum, strings included (the value lends the
 * decoder's copies of them, overwritten by every message). */
static void test_reader_recovers_after_refused_datum(void **state)
{
    struct fixture *fx = *state;
    char reason[256];
    struct pair pr;
    pair_new(&pr, fx->dir, "products.avsc");
    avro_value_t *value;
    size_t n = encode(fx->schema, 1, "event-one", 7, "product-42", fx->buf, sizeof(fx->buf));
    char good[4096];
    memcpy(good, fx->buf, n);
    /* Every truncation, each followed by the whole datum. */
    for (size_t cut = 5; cut < n; cut++) {
        assert_int_equal(decode_both(&pr, good, cut, "cut", NULL, reason, sizeof(reason)), -1);
        assert_non_null(strstr(reason, "undecodable: "));
        assert_int_equal(decode_both(&pr, good, n, "whole", &value, NULL, 0), 0);
        expect_deleted(pr.fast, value, "product-42", 7);
    }
    pair_free(&pr);
}

/* A writer whose enum is a prefix of the reader's is not the reader
 * schema (avro_schema_equal compares only the symbols its first argument
 * has): its datums are guarded with its own enum, read by symbol. */
static void test_writer_with_fewer_enum_symbols_is_resolved(void **state)
{
    (void)state;
    char dir[512], path[1024], err[512], reason[256];
    json_error_t jerr;
    cf_test_tmpdir("decode-prefix", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/carts.avsc", cf_test_schemas_dir());
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    snprintf(path, sizeof(path), "%s/carts.avsc", dir);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(2)), 0);
    json_t *body = json_object_get(json_array_get(json_object_get(root, "fields"), 3), "type");
    json_t *change = json_object_get(
        json_array_get(json_object_get(json_array_get(body, 0), "fields"), 2), "type");
    json_t *symbols = json_object_get(change, "symbols");
    assert_string_equal(json_string_value(json_array_get(symbols, 4)), "OTHER");
    assert_int_equal(json_array_remove(symbols, 4), 0);
    json_object_set_new(root, "cachefleet.schema_id", json_integer(8));
    snprintf(path, sizeof(path), "%s/carts.v8.avsc", dir);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(2)), 0);
    json_decref(root);

    struct cf_decoder *dec = cf_decoder_new(dir, "carts.avsc", CF_FRAMING_AUTO, err, sizeof(err));
    if (!dec)
        fail_msg("decoder: %s", err);
    struct sim_encoder *enc =
        sim_encoder_new(dir, "carts.avsc", SIM_FRAMING_CONFLUENT, err, sizeof(err));
    if (!enc)
        fail_msg("encoder: %s", err);
    struct cf_envelope_schema es;
    assert_int_equal(cf_envelope_schema_init(&es, cf_decoder_schema(dec), err, sizeof(err)), 0);
    int branch = cf_envelope_branch(&es, "CartUpdated");
    int idx = cf_avro_field_index(es.branches[branch], "change", err, sizeof(err));
    const char *const written[] = {"ITEM_ADDED", "OTHER"};
    for (size_t i = 0; i < 2; i++) {
        avro_value_t *value;
        const void *data;
        size_t len;
        encode_cart_change(enc, written[i], &data, &len);
        uint8_t framed[1024];
        assert_true(len <= sizeof(framed));
        memcpy(framed, data, len);
        framed[4] = 8; /* as written by the writer of id 8 */
        int rc = cf_decoder_decode(dec, framed, len, &value, reason, sizeof(reason));
        if (i == 1) {
            /* OTHER is index 4: past the writer's symbols. */
            const char *want = "undecodable: enum index out of range at byte ";
            assert_int_equal(rc, -1);
            if (strncmp(reason, want, strlen(want)) != 0)
                fail_msg("reason: %s", reason);
            continue;
        }
        if (rc != 0)
            fail_msg("%s: %s", written[i], reason);
        struct cf_envelope env;
        assert_int_equal(cf_envelope_read(&es, value, &env, reason, sizeof(reason)), 0);
        int e = -1;
        const char *symbol = NULL;
        assert_int_equal(
            cf_avro_enum(&env.body, idx, "change", &e, &symbol, reason, sizeof(reason)), 0);
        assert_string_equal(symbol, written[i]);
    }
    sim_encoder_destroy(enc);
    cf_decoder_destroy(dec);
    cf_test_rmtree(dir);
}

/* ------------------------------------------------------------------------
 * A writer lacking fields the reader has with a default
 * ------------------------------------------------------------------------ */

/* The record Evt of the tests below, with extra (fields, each with a
 * leading comma) after kind; a new string, to free. */
static char *evt_schema(int id, const char *extra)
{
    char *text = malloc(4096);
    assert_non_null(text);
    int n =
        snprintf(text, 4096,
                 "{\"type\": \"record\", \"name\": \"Evt\", \"namespace\": \"cachefleet.test\", "
                 "\"cachefleet.schema_id\": %d, \"fields\": ["
                 "{\"name\": \"event_id\", \"type\": \"string\"}, "
                 "{\"name\": \"tags\", \"type\": {\"type\": \"array\", \"items\": \"string\"}}, "
                 "{\"name\": \"kind\", \"type\": {\"type\": \"enum\", \"name\": \"Kind\", "
                 "\"symbols\": [\"A\", \"B\", \"C\"]}}%s, "
                 "{\"name\": \"version\", \"type\": \"long\"}]}",
                 id, extra);
    assert_true(n > 0 && n < 4096);
    return text;
}

/* A framed (id >= 0) or plain datum of an Evt of schema text: tags
 * ["a", "b"], kind B, and the field x set by set_x when given.  Returns
 * its length; *json gets the value as avro_value_to_json writes it (free
 * it). */
static size_t evt_encode(const char *text, int id, const char *event_id, int64_t version,
                         void (*set_x)(avro_value_t *x), char *out, size_t size, char **json)
{
    avro_schema_t schema;
    assert_int_equal(avro_schema_from_json_length(text, strlen(text), &schema), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, f, item;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    assert_int_equal(avro_value_get_by_name(&v, "event_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, event_id), 0);
    assert_int_equal(avro_value_get_by_name(&v, "tags", &f, NULL), 0);
    assert_int_equal(avro_value_append(&f, &item, NULL), 0);
    assert_int_equal(avro_value_set_string(&item, "a"), 0);
    assert_int_equal(avro_value_append(&f, &item, NULL), 0);
    assert_int_equal(avro_value_set_string(&item, "b"), 0);
    assert_int_equal(avro_value_get_by_name(&v, "kind", &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, 1), 0);
    assert_int_equal(avro_value_get_by_name(&v, "version", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, version), 0);
    if (set_x) {
        assert_int_equal(avro_value_get_by_name(&v, "x", &f, NULL), 0);
        set_x(&f);
    }
    size_t len = frame_value(&v, id, out, size);
    assert_int_equal(avro_value_to_json(&v, 1, json), 0);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return len;
}

/* Decodes buf and compares the whole value, every field, with want (as
 * avro_value_to_json writes it). */
static void expect_json(struct cf_decoder *dec, const void *buf, size_t len, const char *want)
{
    char reason[256];
    avro_value_t *value;
    char *json = NULL;
    if (cf_decoder_decode(dec, buf, len, &value, reason, sizeof(reason)) != 0)
        fail_msg("decode: %s", reason);
    assert_int_equal(avro_value_to_json(value, 1, &json), 0);
    if (strcmp(json, want) != 0)
        fail_msg("decoded %s\n     want %s", json, want);
    free(json);
}

static void set_null_string_other(avro_value_t *x)
{
    avro_value_t b;
    assert_int_equal(avro_value_set_branch(x, 1, &b), 0);
    assert_int_equal(avro_value_set_string(&b, "t-1"), 0);
}

static void set_string_other(avro_value_t *x)
{
    assert_int_equal(avro_value_set_string(x, "given"), 0);
}

static void set_int_other(avro_value_t *x)
{
    assert_int_equal(avro_value_set_int(x, 12), 0);
}

static void set_long_other(avro_value_t *x)
{
    assert_int_equal(avro_value_set_long(x, -5), 0);
}

static void set_boolean_other(avro_value_t *x)
{
    assert_int_equal(avro_value_set_boolean(x, 0), 0);
}

static void set_enum_other(avro_value_t *x)
{
    assert_int_equal(avro_value_set_enum(x, 0), 0);
}

static void set_array_other(avro_value_t *x)
{
    avro_value_t item;
    assert_int_equal(avro_value_append(x, &item, NULL), 0);
    if (avro_value_get_type(&item) == AVRO_STRING)
        assert_int_equal(avro_value_set_string(&item, "z"), 0);
    else
        assert_int_equal(avro_value_set_long(&item, 9), 0);
}

static void set_double_other(avro_value_t *x)
{
    assert_int_equal(avro_value_set_double(x, -1.25), 0);
}

static void set_float_other(avro_value_t *x)
{
    assert_int_equal(avro_value_set_float(x, 0.5f), 0);
}

static void set_bytes_other(avro_value_t *x)
{
    char b[] = {0, 1};
    if (avro_value_get_type(x) == AVRO_FIXED)
        assert_int_equal(avro_value_set_fixed(x, b, 2), 0);
    else
        assert_int_equal(avro_value_set_bytes(x, b, 2), 0);
}

static void set_map_other(avro_value_t *x)
{
    avro_value_t v;
    assert_int_equal(avro_value_add(x, "j", &v, NULL, NULL), 0);
    assert_int_equal(avro_value_set_int(&v, 4), 0);
}

static void set_string_null_other(avro_value_t *x)
{
    avro_value_t b;
    assert_int_equal(avro_value_set_branch(x, 1, &b), 0);
    assert_int_equal(avro_value_set_null(&b), 0);
}

static void set_record_other(avro_value_t *x)
{
    avro_value_t f;
    assert_int_equal(avro_value_get_by_name(x, "zone", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "us"), 0);
    assert_int_equal(avro_value_get_by_name(x, "floor", &f, NULL), 0);
    assert_int_equal(avro_value_set_int(&f, 3), 0);
}

/* The consumer's schema added a field x with a default; an older producer
 * still writes without it.  Its datums read with x the reader's default
 * (the Avro specification), for every type a default can have: avro-c's
 * resolved reader has no defaults, and refusing such a writer freed
 * memory twice (a crash at start). */
static void test_writer_lacking_defaulted_field_reads_the_default(void **state)
{
    (void)state;
    static const struct {
        const char *field; /* x, as the reader has it */
        const char *want;  /* x read from the old writer's datum */
        void (*set_other)(avro_value_t *x);
    } cases[] = {
        {"{\"name\": \"x\", \"type\": [\"null\", \"string\"], \"default\": null}", "null",
         set_null_string_other},
        {"{\"name\": \"x\", \"type\": \"string\", \"default\": \"none\"}", "\"none\"",
         set_string_other},
        {"{\"name\": \"x\", \"type\": \"int\", \"default\": -7}", "-7", set_int_other},
        {"{\"name\": \"x\", \"type\": \"long\", \"default\": 1234567890123}", "1234567890123",
         set_long_other},
        {"{\"name\": \"x\", \"type\": \"boolean\", \"default\": true}", "true", set_boolean_other},
        {"{\"name\": \"x\", \"type\": {\"type\": \"enum\", \"name\": \"Level\", \"symbols\": "
         "[\"LOW\", \"MID\", \"HIGH\"]}, \"default\": \"MID\"}",
         "\"MID\"", set_enum_other},
        /* A reference to a type defined in another field (a link). */
        {"{\"name\": \"x\", \"type\": \"Kind\", \"default\": \"C\"}", "\"C\"", set_enum_other},
        {"{\"name\": \"x\", \"type\": {\"type\": \"array\", \"items\": \"string\"}, "
         "\"default\": []}",
         "[]", set_array_other},
        {"{\"name\": \"x\", \"type\": {\"type\": \"array\", \"items\": \"long\"}, "
         "\"default\": [1, 2]}",
         "[1, 2]", set_array_other},
        {"{\"name\": \"x\", \"type\": \"double\", \"default\": 2.5}", "2.5", set_double_other},
        {"{\"name\": \"x\", \"type\": \"float\", \"default\": 1}", "1.0", set_float_other},
        {"{\"name\": \"x\", \"type\": \"bytes\", \"default\": \"a\\u00ff\"}", "\"a\\u00FF\"",
         set_bytes_other},
        {"{\"name\": \"x\", \"type\": {\"type\": \"fixed\", \"name\": \"Two\", \"size\": 2}, "
         "\"default\": \"\\u0001\\u00e9\"}",
         "\"\\u0001\\u00E9\"", set_bytes_other},
        {"{\"name\": \"x\", \"type\": {\"type\": \"map\", \"values\": \"int\"}, "
         "\"default\": {\"k\": 3}}",
         "{\"k\": 3}", set_map_other},
        {"{\"name\": \"x\", \"type\": [\"string\", \"null\"], \"default\": \"s\"}",
         "{\"string\": \"s\"}", set_string_null_other},
        /* A record default; the field it leaves out takes its own. */
        {"{\"name\": \"x\", \"type\": {\"type\": \"record\", \"name\": \"Where\", \"fields\": "
         "[{\"name\": \"zone\", \"type\": \"string\"}, "
         "{\"name\": \"floor\", \"type\": \"int\", \"default\": 0}]}, "
         "\"default\": {\"zone\": \"eu\"}}",
         "{\"zone\": \"eu\", \"floor\": 0}", set_record_other},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[512], err[512], extra[1024], buf[1024], want[1024];
        cf_test_tmpdir("decode-default", dir, sizeof(dir));
        snprintf(extra, sizeof(extra), ", %s", cases[i].field);
        char *reader = evt_schema(1, extra);
        char *older = evt_schema(2, "");
        spit(dir, "evt.avsc", reader);
        spit(dir, "evt.v0.avsc", older);

        struct cf_decoder *dec = cf_decoder_new(dir, "evt.avsc", CF_FRAMING_AUTO, err, sizeof(err));
        if (!dec)
            fail_msg("case %zu: %s", i, err);
        assert_int_equal(cf_decoder_writer_count(dec), 2);
        for (size_t k = 0; k < 2; k++) {
            int32_t id;
            const char *file, *problem;
            cf_decoder_writer(dec, k, &id, &file, &problem);
            if (problem)
                fail_msg("case %zu: writer %d: %s", i, (int)id, problem);
        }
        /* Old writer, reader (framed, plain), old writer again: the
         * default every time, the reader's datums as written. */
        for (int round = 0; round < 2; round++) {
            char *json;
            size_t n = evt_encode(older, 2, "e-old", 7 + round, NULL, buf, sizeof(buf), &json);
            free(json);
            snprintf(want, sizeof(want),
                     "{\"event_id\": \"e-old\", \"tags\": [\"a\", \"b\"], \"kind\": \"B\", "
                     "\"x\": %s, \"version\": %d}",
                     cases[i].want, 7 + round);
            expect_json(dec, buf, n, want);
            for (int framed = 0; framed <= 1; framed++) {
                n = evt_encode(reader, framed ? 1 : -1, "e-new", 9, cases[i].set_other, buf,
                               sizeof(buf), &json);
                char def[1100];
                snprintf(def, sizeof(def), "\"x\": %s,", cases[i].want);
                assert_null(strstr(json, def)); /* not the default: read, not filled in */
                expect_json(dec, buf, n, json);
                free(json);
            }
        }
        cf_decoder_destroy(dec);
        free(reader);
        free(older);
        cf_test_rmtree(dir);
    }
}

static void set_old_lines(avro_value_t *x)
{
    avro_value_t line, f;
    const char *const skus[] = {"s-1", "s-2"};
    if (avro_value_get_type(x) == AVRO_MAP) {
        assert_int_equal(avro_value_add(x, "first", &line, NULL, NULL), 0);
        assert_int_equal(avro_value_get_by_name(&line, "sku", &f, NULL), 0);
        assert_int_equal(avro_value_set_string(&f, "s-1"), 0);
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(avro_value_append(x, &line, NULL), 0);
        assert_int_equal(avro_value_get_by_name(&line, "sku", &f, NULL), 0);
        assert_int_equal(avro_value_set_string(&f, skus[i]), 0);
    }
}

/* A record the writer has inside an array or a map lacks a defaulted
 * field: each item gets the defaults, every message.  (Not a map of
 * records that hold an array: avro-c 1.11.1's resolved reader crashes
 * reading one, defaults or not.) */
static void test_writer_lacking_defaulted_field_in_items(void **state)
{
    (void)state;
    static const struct {
        const char *reader, *writer; /* x */
        const char *want;
    } cases[] = {
        {", {\"name\": \"x\", \"type\": {\"type\": \"array\", \"items\": {\"type\": \"record\", "
         "\"name\": \"Line\", \"fields\": [{\"name\": \"sku\", \"type\": \"string\"}, "
         "{\"name\": \"qty\", \"type\": \"int\", \"default\": 1}, "
         "{\"name\": \"note\", \"type\": [\"null\", \"string\"], \"default\": null}]}}}",
         ", {\"name\": \"x\", \"type\": {\"type\": \"array\", \"items\": {\"type\": \"record\", "
         "\"name\": \"Line\", \"fields\": [{\"name\": \"sku\", \"type\": \"string\"}]}}}",
         "[{\"sku\": \"s-1\", \"qty\": 1, \"note\": null}, "
         "{\"sku\": \"s-2\", \"qty\": 1, \"note\": null}]"},
        {", {\"name\": \"x\", \"type\": {\"type\": \"map\", \"values\": {\"type\": \"record\", "
         "\"name\": \"Line\", \"fields\": [{\"name\": \"sku\", \"type\": \"string\"}, "
         "{\"name\": \"qty\", \"type\": \"int\", \"default\": 1}, "
         "{\"name\": \"note\", \"type\": [\"string\", \"null\"], \"default\": \"n\"}]}}}",
         ", {\"name\": \"x\", \"type\": {\"type\": \"map\", \"values\": {\"type\": \"record\", "
         "\"name\": \"Line\", \"fields\": [{\"name\": \"sku\", \"type\": \"string\"}]}}}",
         "{\"first\": {\"sku\": \"s-1\", \"qty\": 1, \"note\": {\"string\": \"n\"}}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[512], err[512], buf[1024], want[1024];
        cf_test_tmpdir("decode-items", dir, sizeof(dir));
        char *reader = evt_schema(1, cases[i].reader);
        char *older = evt_schema(2, cases[i].writer);
        spit(dir, "evt.avsc", reader);
        spit(dir, "evt.v0.avsc", older);
        struct cf_decoder *dec = cf_decoder_new(dir, "evt.avsc", CF_FRAMING_AUTO, err, sizeof(err));
        if (!dec)
            fail_msg("case %zu: %s", i, err);
        for (size_t k = 0; k < cf_decoder_writer_count(dec); k++) {
            int32_t id;
            const char *file, *problem;
            cf_decoder_writer(dec, k, &id, &file, &problem);
            if (problem)
                fail_msg("case %zu: writer %d: %s", i, (int)id, problem);
        }
        snprintf(want, sizeof(want),
                 "{\"event_id\": \"e-old\", \"tags\": [\"a\", \"b\"], \"kind\": \"B\", "
                 "\"x\": %s, \"version\": 7}",
                 cases[i].want);
        for (int round = 0; round < 3; round++) {
            char *json;
            size_t n = evt_encode(older, 2, "e-old", 7, set_old_lines, buf, sizeof(buf), &json);
            free(json);
            expect_json(dec, buf, n, want);
        }
        cf_decoder_destroy(dec);
        free(reader);
        free(older);
        cf_test_rmtree(dir);
    }
}

/* A ProductUpserted of schema (products.avsc, or a copy): product "p-1",
 * listed in category 7, matching "shoe"; with representation when schema
 * has it (the null branch when repr is NULL). */
static void products_upserted(avro_schema_t schema, const char *repr, avro_value_iface_t **iface,
                              avro_value_t *v)
{
    avro_value_t f, body, up, item;
    *iface = avro_generic_class_from_schema(schema);
    assert_int_equal(avro_generic_value_new(*iface, v), 0);
    assert_int_equal(avro_value_get_by_name(v, "event_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "e-up"), 0);
    assert_int_equal(avro_value_get_by_name(v, "version", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, 11), 0);
    assert_int_equal(avro_value_get_by_name(v, "occurred_at", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, 1700000000000000), 0);
    assert_int_equal(avro_value_get_by_name(v, "body", &body, NULL), 0);
    assert_int_equal(avro_value_set_branch(&body, 0, &up), 0);
    assert_int_equal(avro_value_get_by_name(&up, "product_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "p-1"), 0);
    assert_int_equal(avro_value_get_by_name(&up, "categories_after", &f, NULL), 0);
    assert_int_equal(avro_value_append(&f, &item, NULL), 0);
    assert_int_equal(avro_value_set_string(&item, "7"), 0);
    assert_int_equal(avro_value_get_by_name(&up, "search_terms_after", &f, NULL), 0);
    assert_int_equal(avro_value_append(&f, &item, NULL), 0);
    assert_int_equal(avro_value_set_string(&item, "shoe"), 0);
    if (avro_value_get_by_name(&up, "representation", &f, NULL) == 0) {
        assert_int_equal(avro_value_set_branch(&f, repr ? 1 : 0, &item), 0);
        if (repr)
            assert_int_equal(avro_value_set_string(&item, repr), 0);
    }
}

/* The fleet's own case: products.avsc's ProductUpserted has representation
 * ["null", "string"] with the default null; a producer from before that
 * field (schema id 3) writes without it.  That folder crashed the
 * consumer at start (avro-c freed a resolver twice); its datums now read
 * with representation null, and the other branches and the reader's own
 * datums as before. */
static void test_products_writer_without_representation(void **state)
{
    struct fixture *fx = *state;
    char path[1024], err[512], json_path[1024];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/products.avsc", cf_test_schemas_dir());
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    json_t *upserted = json_array_get(
        json_object_get(json_array_get(json_object_get(root, "fields"), 3), "type"), 0);
    assert_string_equal(json_string_value(json_object_get(upserted, "name")), "ProductUpserted");
    json_t *fields = json_object_get(upserted, "fields");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 5), "name")),
                        "representation");
    assert_int_equal(json_array_remove(fields, 5), 0);
    json_object_set_new(root, "cachefleet.schema_id", json_integer(3));
    snprintf(json_path, sizeof(json_path), "%s/products.v0.avsc", fx->dir);
    assert_int_equal(json_dump_file(root, json_path, JSON_INDENT(2)), 0);
    char *older_text = json_dumps(root, 0);
    assert_non_null(older_text);
    json_decref(root);
    avro_schema_t older;
    assert_int_equal(avro_schema_from_json_length(older_text, strlen(older_text), &older), 0);
    free(older_text);

    struct cf_decoder *dec =
        cf_decoder_new(fx->dir, "products.avsc", CF_FRAMING_AUTO, err, sizeof(err));
    if (!dec)
        fail_msg("decoder: %s", err);
    assert_int_equal(cf_decoder_writer_count(dec), 3);
    for (size_t i = 0; i < 3; i++) {
        int32_t id;
        const char *file, *problem;
        cf_decoder_writer(dec, i, &id, &file, &problem);
        if (problem)
            fail_msg("writer %d: %s", (int)id, problem);
    }

    avro_value_iface_t *wi, *ri;
    avro_value_t wv, rv, *value;
    char *json, *want, reason[256];
    products_upserted(older, NULL, &wi, &wv);
    products_upserted(fx->schema, NULL, &ri, &rv); /* what it reads as: representation null */
    assert_int_equal(avro_value_to_json(&rv, 1, &want), 0);
    assert_non_null(strstr(want, "\"representation\": null"));
    for (int round = 0; round < 2; round++) {
        size_t n = frame_value(&wv, 3, fx->buf, sizeof(fx->buf));
        expect_json(dec, fx->buf, n, want);
        /* Through the accessors the consumer uses, too. */
        assert_int_equal(cf_decoder_decode(dec, fx->buf, n, &value, reason, sizeof(reason)), 0);
        avro_value_t body, up, repr;
        int branch = -1;
        assert_int_equal(avro_value_get_by_name(value, "body", &body, NULL), 0);
        assert_int_equal(avro_value_get_current_branch(&body, &up), 0);
        assert_int_equal(avro_value_get_by_name(&up, "representation", &repr, NULL), 0);
        assert_int_equal(avro_value_get_discriminant(&repr, &branch), 0);
        assert_int_equal(branch, 0);

        /* A ProductDeleted of the old writer: nothing lacking there. */
        n = encode(older, 3, "e-del", 12, "p-2", fx->buf, sizeof(fx->buf));
        assert_int_equal(cf_decoder_decode(dec, fx->buf, n, &value, reason, sizeof(reason)), 0);
        expect_deleted(dec, value, "p-2", 12);

        /* The reader's own datum, with a representation. */
        avro_value_iface_t *ri2;
        avro_value_t rv2;
        products_upserted(fx->schema, "{\"id\": \"p-1\"}", &ri2, &rv2);
        n = frame_value(&rv2, 1, fx->buf, sizeof(fx->buf));
        assert_int_equal(avro_value_to_json(&rv2, 1, &json), 0);
        expect_json(dec, fx->buf, n, json);
        free(json);
        avro_value_decref(&rv2);
        avro_value_iface_decref(ri2);
    }
    free(want);
    avro_value_decref(&wv);
    avro_value_decref(&rv);
    avro_value_iface_decref(wi);
    avro_value_iface_decref(ri);
    avro_schema_decref(older);
    cf_decoder_destroy(dec);
    remove(json_path);
}

/* A writer the reader cannot read is a writer problem that names the
 * field, its datums dead-lettered, the reader's still read: a field the
 * reader added without a default, or with a default that is not of its
 * type, and a field of another type after fields whose resolvers avro-c
 * shares (that crashed at start too: avro-c is no longer asked). */
static void test_unreadable_older_writer_is_a_problem(void **state)
{
    (void)state;
    static const struct {
        const char *reader, *writer; /* the fields after kind */
        const char *problem;         /* in the writer's problem */
        void (*set_x)(avro_value_t *x);
    } cases[] = {
        {", {\"name\": \"x\", \"type\": \"string\"}", "",
         "record Evt: field x is not in the writer's, and the reader's has no default",
         set_string_other},
        {", {\"name\": \"x\", \"type\": [\"null\", \"string\"], \"default\": \"oops\"}", "",
         "record Evt: field x is not in the writer's, and the reader's default is not a null, "
         "the first branch of its union",
         set_null_string_other},
        {", {\"name\": \"x\", \"type\": \"int\", \"default\": \"seven\"}", "",
         "the reader's default is not a valid int", set_int_other},
        {", {\"name\": \"x\", \"type\": \"int\", \"default\": 3000000000}", "",
         "the reader's default is not a valid int", set_int_other},
        {", {\"name\": \"x\", \"type\": \"bytes\", \"default\": \"\\u0100\"}", "",
         "the reader's default is not a valid bytes", set_bytes_other},
        {", {\"name\": \"x\", \"type\": {\"type\": \"enum\", \"name\": \"Level\", \"symbols\": "
         "[\"LOW\", \"MID\"]}, \"default\": \"HIGH\"}",
         "", "the reader's default is not a valid Level", set_enum_other},
        {", {\"name\": \"more\", \"type\": {\"type\": \"array\", \"items\": \"string\"}}, "
         "{\"name\": \"n\", \"type\": \"long\"}",
         ", {\"name\": \"more\", \"type\": {\"type\": \"array\", \"items\": \"string\"}}, "
         "{\"name\": \"n\", \"type\": \"boolean\"}",
         "record Evt: field n: the writer's boolean is not the reader's long", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[512], err[512], buf[1024], want[512];
        cf_test_tmpdir("decode-problem", dir, sizeof(dir));
        char *reader = evt_schema(1, cases[i].reader);
        char *older = evt_schema(2, cases[i].writer);
        spit(dir, "evt.avsc", reader);
        spit(dir, "evt.v0.avsc", older);
        struct cf_decoder *dec = cf_decoder_new(dir, "evt.avsc", CF_FRAMING_AUTO, err, sizeof(err));
        if (!dec)
            fail_msg("case %zu: %s", i, err);
        const char *problem2 = NULL;
        for (size_t k = 0; k < cf_decoder_writer_count(dec); k++) {
            int32_t id;
            const char *file, *problem;
            cf_decoder_writer(dec, k, &id, &file, &problem);
            if (id == 1)
                assert_null(problem);
            else
                problem2 = problem;
        }
        if (!problem2 || !strstr(problem2, cases[i].problem))
            fail_msg("case %zu: problem \"%s\", want \"%s\"", i, problem2 ? problem2 : "(none)",
                     cases[i].problem);
        char *json;
        size_t n = evt_encode(older, 2, "e-old", 7, NULL, buf, sizeof(buf), &json);
        free(json);
        snprintf(want, sizeof(want),
                 "unknown-schema: schema id 2 cannot be read with the reader "
                 "schema: %s",
                 problem2);
        expect_reject(dec, buf, n, want);
        n = evt_encode(reader, 1, "e-new", 9, cases[i].set_x, buf, sizeof(buf), &json);
        expect_json(dec, buf, n, json);
        free(json);
        cf_decoder_destroy(dec);
        free(reader);
        free(older);
        cf_test_rmtree(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_framed),
        cmocka_unit_test(test_framing_modes),
        cmocka_unit_test(test_bad_bytes),
        cmocka_unit_test(test_unreadable_writer_is_dead_lettered_not_fatal),
        cmocka_unit_test(test_startup_errors_name_the_file),
        cmocka_unit_test(test_envelope_contract),
        cmocka_unit_test(test_union_branch_does_not_leak_between_messages),
        cmocka_unit_test(test_enum_resolved_by_symbol),
        cmocka_unit_test(test_reader_comparison_can_fail),
        cmocka_unit_test(test_reader_recovers_after_refused_datum),
        cmocka_unit_test(test_reader_matches_avro_read_on_sim_events),
        cmocka_unit_test(test_reader_matches_avro_read_on_random_datums),
        cmocka_unit_test(test_reader_matches_avro_read_on_regress_inputs),
        cmocka_unit_test(test_writer_with_fewer_enum_symbols_is_resolved),
        cmocka_unit_test(test_writer_lacking_defaulted_field_reads_the_default),
        cmocka_unit_test(test_writer_lacking_defaulted_field_in_items),
        cmocka_unit_test(test_products_writer_without_representation),
        cmocka_unit_test(test_unreadable_older_writer_is_a_problem),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
