/* test_decode.c - the decode stage (common/decode.c, common/event.c), fed
 * with bytes encoded from the schemas in schemas/. */
#include <avro.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "encode.h"
#include "event.h"
#include "keys.h"
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
    size_t off = 0;
    if (id >= 0) {
        out[0] = 0;
        out[1] = (char)((id >> 24) & 0xff);
        out[2] = (char)((id >> 16) & 0xff);
        out[3] = (char)((id >> 8) & 0xff);
        out[4] = (char)(id & 0xff);
        off = 5;
    }
    avro_writer_t w = avro_writer_memory(out + off, (int64_t)(size - off));
    assert_int_equal(avro_value_write(w, &v), 0);
    size_t len = (size_t)avro_writer_tell(w) + off;
    avro_writer_free(w);
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
            avro_value_t body, *value;
            const void *data;
            size_t len;
            assert_int_equal(
                sim_encoder_begin(enc, "e-1", 1, 1, "CartUpdated", &body, err, sizeof(err)), 0);
            assert_int_equal(sim_avro_set_string(&body, "cart_id", "c-1", err, sizeof(err)), 0);
            assert_int_equal(sim_avro_set_enum(&body, "change", written[i], err, sizeof(err)), 0);
            assert_int_equal(sim_avro_set_string(&body, "cart", "{}", err, sizeof(err)), 0);
            assert_int_equal(
                sim_avro_set_optional_string(&body, "user_id", NULL, 0, err, sizeof(err)), 0);
            if (sim_encoder_finish(enc, &data, &len, err, sizeof(err)) != 0)
                fail_msg("encode: %s", err);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
