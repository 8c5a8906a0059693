/* pipeline.c - one consumer's per-message path, with the checks that turn a
 * wrong answer into a finding (see pipeline.h).
 *
 * DESIGN
 * The path is runtime.c plan_batch() with Kafka and the metrics taken
 * out; the statements that matter (size limit, decode, mark, handle,
 * rollback on rejection, coalesce at the end of the batch) are the same
 * calls in the same order, so a finding here is a finding there.
 *
 * "Fed alone" is checked without building a second decoder per message
 * (cf_decoder_new parses every schema file of the folder: about 0.7 ms, a
 * hundred times the cost of a message).  Instead the check is split where
 * the state lives:
 *   - the decoder's state (its reused generic value, resolved view and
 *     memory reader): the bytes are read again into a generic value made
 *     for this message only, of the schema they were written with.  Written
 *     with the reader schema, the decoder's value must equal it; written by
 *     a newer writer, the decoder's value must be it resolved as the Avro
 *     specification says (fields by name, a union's first branch that can
 *     read the written type, enum symbols by name or the reader's default,
 *     number promotions), which avro-c's resolved reader is not trusted to
 *     do;
 *   - the handler's state (its reused event struct, lists and scratch
 *     buffer) and the plan's: a handler made for this message only (cheap:
 *     field lookups) handles the same value into a new plan, and its answer
 *     (code, reason, event type, every operation's bytes) must be the
 *     persistent handler's answer, byte for byte.
 * Both hold for the first message of a batch too, so a leak from the
 * previous fuzz input is caught as well (that report may then need the
 * previous input to reproduce; a leak inside one input reproduces alone).
 *
 * Coalescing is checked against plan.h's contract rather than against a
 * second implementation: operations are grouped by identity (the class and
 * key, plus the member of an index operation or the id of a category
 * record) before cf_plan_coalesce() runs, and each group's survivor is
 * checked after.
 *
 * A failed check returns -1 with one sentence in problem; the fuzz target
 * aborts with it (a crash for libFuzzer), the regression test fails with it.
 *
 * Thread: one thread per struct cf_fuzz.
 */
#include "pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "buf.h"
#include "carts.h"
#include "config.h"
#include "decode.h"
#include "keys.h"
#include "orders.h"
#include "plan.h"
#include "products.h"
#include "settings.h"
#include "stock.h"

#define SCHEMA_FILE_MAX (1 << 20)
#define KAFKA_TS_MS     1700000000000LL /* the message timestamp handed to handlers */

/* The reference decode of one writer schema (see DESIGN). */
struct ref_writer {
    int32_t id;
    bool usable;
    bool same; /* the reader schema: read into a reader value */
    avro_schema_t schema;
    avro_value_iface_t *generic; /* !same: the writer's class */
};

/* What the runtime makes once: a decoder and the handler of its reader. */
struct instance {
    struct cf_decoder *dec;
    void *handler;
    avro_value_iface_t *reader_generic;
    struct ref_writer *writers;
    size_t nwriters;
};

/* An enum of the reader schema and its default symbol (Avro's answer for a
 * writer's symbol the reader lacks). */
struct enum_default {
    char name[128];
    char symbol[128];
};

struct cf_fuzz {
    const struct cf_consumer_def *def;
    struct enum_default defaults[16];
    size_t ndefaults;
    struct cf_settings s;
    void *cs; /* the consumer's settings struct */
    struct cf_setting_table tables[2];
    bool settings_loaded;
    enum cf_framing framing;
    struct instance main;
    struct instance evolved; /* dec NULL without an evolved folder */
    struct cf_plan *plan;
    avro_reader_t mem;                /* the reference decode's reader */
    struct cf_buf fp_batch, fp_alone; /* answers to compare */
};

/* A fixed environment (see pipeline.h, "Settings"). */
static char env_payload[] = "CACHEFLEET_CACHE_MAX_PAYLOAD_BYTES=49152";
static char env_revoke[] = "CACHEFLEET_ACCESS_REVOKE_SESSIONS_ON_ROLE_REVOKE=true";

static const char *const decode_codes[] = {CF_REASON_UNDECODABLE, CF_REASON_UNKNOWN_SCHEMA, NULL};
static const char *const handler_codes[] = {CF_REASON_INVALID_FIELD, CF_REASON_UNSAFE_ID,
                                            CF_REASON_INVALID_JSON, CF_REASON_UNKNOWN_TYPE, NULL};

__attribute__((format(printf, 3, 4))) static int check_failed(char *problem, size_t problem_size,
                                                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, problem_size, fmt, ap);
    va_end(ap);
    return -1;
}

const struct cf_consumer_def *cf_fuzz_consumer_def(const char *name)
{
    const struct cf_consumer_def *const defs[] = {
        &products_consumer, &carts_consumer, &orders_consumer, &access_consumer, &stock_consumer,
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (strcmp(defs[i]->name, name) == 0)
            return defs[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Schema folders
 * ------------------------------------------------------------------------ */

static bool is_schema_file(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".avsc") == 0;
}

/* Reads a whole file into a new NUL-terminated buffer (free it). */
static char *slurp(const char *path, size_t *len, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SCHEMA_FILE_MAX + 1);
    if (!buf)
        abort();
    size_t n = fread(buf, 1, SCHEMA_FILE_MAX + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || n > SCHEMA_FILE_MAX) {
        snprintf(errstr, errstr_size, "%s: %s", path, err ? "read error" : "too large");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Copies every schema file of from into the folder to. */
static int copy_schemas(const char *from, const char *to, char *errstr, size_t errstr_size)
{
    DIR *d = opendir(from);
    if (!d) {
        snprintf(errstr, errstr_size, "schemas folder %s: %s", from, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (struct dirent *e = readdir(d); e && rc == 0; e = readdir(d)) {
        if (!is_schema_file(e->d_name))
            continue;
        char src[4096], dst[4096];
        size_t len;
        snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
        char *text = slurp(src, &len, errstr, errstr_size);
        if (!text) {
            rc = -1;
            break;
        }
        FILE *f = fopen(dst, "wb");
        if (!f || fwrite(text, 1, len, f) != len) {
            snprintf(errstr, errstr_size, "%s: %s", dst, strerror(errno));
            rc = -1;
        }
        if (f && fclose(f) != 0 && rc == 0) {
            snprintf(errstr, errstr_size, "%s: %s", dst, strerror(errno));
            rc = -1;
        }
        free(text);
    }
    closedir(d);
    return rc;
}

/* Removes a folder made by merge_folders() and the files in it. */
static void remove_folder(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        for (struct dirent *e = readdir(d); e; e = readdir(d)) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* A new temporary folder holding the schema files of a and b. */
static int merge_folders(const char *a, const char *b, char *out, size_t out_size, char *errstr,
                         size_t errstr_size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, out_size, "%s/cf-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(out)) {
        snprintf(errstr, errstr_size, "temporary folder %s: %s", out, strerror(errno));
        return -1;
    }
    if (copy_schemas(a, out, errstr, errstr_size) < 0 ||
        copy_schemas(b, out, errstr, errstr_size) < 0) {
        remove_folder(out);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Instances
 * ------------------------------------------------------------------------ */

static void instance_close(const struct cf_consumer_def *def, struct instance *in)
{
    for (size_t i = 0; i < in->nwriters; i++) {
        struct ref_writer *w = &in->writers[i];
        if (w->generic)
            avro_value_iface_decref(w->generic);
        if (w->schema)
            avro_schema_decref(w->schema);
    }
    free(in->writers);
    if (in->reader_generic)
        avro_value_iface_decref(in->reader_generic);
    if (in->handler)
        def->handler_destroy(in->handler);
    cf_decoder_destroy(in->dec);
    memset(in, 0, sizeof(*in));
}

/* The reference decode's classes for writer i of the instance's decoder. */
static int ref_writer_open(struct instance *in, size_t i, char *errstr, size_t errstr_size)
{
    struct ref_writer *w = &in->writers[i];
    const char *file, *problem;
    cf_decoder_writer(in->dec, i, &w->id, &file, &problem);
    w->usable = problem == NULL;
    if (!w->usable)
        return 0;
    size_t len;
    char *text = slurp(file, &len, errstr, errstr_size);
    if (!text)
        return -1;
    int rc = avro_schema_from_json_length(text, len, &w->schema);
    free(text);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "%s: %s", file, avro_strerror());
        return -1;
    }
    avro_schema_t reader = cf_decoder_schema(in->dec);
    w->same = avro_schema_equal(w->schema, reader) != 0;
    if (w->same)
        return 0;
    w->generic = avro_generic_class_from_schema(w->schema);
    if (!w->generic) {
        snprintf(errstr, errstr_size, "%s: %s", file, avro_strerror());
        return -1;
    }
    return 0;
}

static int instance_open(struct cf_fuzz *fz, struct instance *in, const char *dir, char *errstr,
                         size_t errstr_size)
{
    char why[512];
    in->dec = cf_decoder_new(dir, fz->def->schema_file, fz->framing, why, sizeof(why));
    if (!in->dec) {
        snprintf(errstr, errstr_size, "decoder: %s", why);
        goto fail;
    }
    avro_schema_t reader = cf_decoder_schema(in->dec);
    in->handler = fz->def->handler_new(fz->cs, reader, why, sizeof(why));
    if (!in->handler) {
        snprintf(errstr, errstr_size, "handler: %s", why);
        goto fail;
    }
    in->reader_generic = avro_generic_class_from_schema(reader);
    if (!in->reader_generic) {
        snprintf(errstr, errstr_size, "reader class: %s", avro_strerror());
        goto fail;
    }
    in->nwriters = cf_decoder_writer_count(in->dec);
    in->writers = calloc(in->nwriters ? in->nwriters : 1, sizeof(*in->writers));
    if (!in->writers)
        abort();
    for (size_t i = 0; i < in->nwriters; i++) {
        if (ref_writer_open(in, i, errstr, errstr_size) < 0)
            goto fail;
    }
    return 0;

fail:
    instance_close(fz->def, in);
    return -1;
}

static const struct ref_writer *instance_writer(const struct instance *in, int32_t id)
{
    for (size_t i = 0; i < in->nwriters; i++) {
        if (in->writers[i].id == id)
            return &in->writers[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Resolution: a newer writer's value as the reader sees it
 * ------------------------------------------------------------------------ */

/* Collects the "default" of every enum of a schema's JSON. */
static void enum_defaults_walk(struct cf_fuzz *fz, json_t *node)
{
    size_t i;
    const char *key;
    json_t *child;
    if (json_is_array(node)) {
        json_array_foreach(node, i, child) enum_defaults_walk(fz, child);
        return;
    }
    if (!json_is_object(node))
        return;
    const char *type = json_string_value(json_object_get(node, "type"));
    const char *name = json_string_value(json_object_get(node, "name"));
    const char *def = json_string_value(json_object_get(node, "default"));
    if (type && strcmp(type, "enum") == 0 && name && def &&
        fz->ndefaults < sizeof(fz->defaults) / sizeof(fz->defaults[0])) {
        struct enum_default *d = &fz->defaults[fz->ndefaults++];
        snprintf(d->name, sizeof(d->name), "%s", name);
        snprintf(d->symbol, sizeof(d->symbol), "%s", def);
    }
    json_object_foreach(node, key, child)
    {
        (void)key;
        enum_defaults_walk(fz, child);
    }
}

static int enum_defaults_load(struct cf_fuzz *fz, const char *path, char *errstr,
                              size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    enum_defaults_walk(fz, root);
    json_decref(root);
    return 0;
}

static const char *enum_default(const struct cf_fuzz *fz, const char *name)
{
    for (size_t i = 0; i < fz->ndefaults; i++) {
        if (strcmp(fz->defaults[i].name, name) == 0)
            return fz->defaults[i].symbol;
    }
    return NULL;
}

/* Can a value of the writer's schema ws be read as the reader's rs (the
 * Avro specification: the same type, or a promotion; named types by
 * name)? */
static bool readable_as(avro_schema_t ws, avro_schema_t rs)
{
    avro_type_t wt = avro_typeof(ws), rt = avro_typeof(rs);
    if (wt == AVRO_LINK)
        return readable_as(avro_schema_link_target(ws), rs);
    if (rt == AVRO_LINK)
        return readable_as(ws, avro_schema_link_target(rs));
    if (wt == rt) {
        if (rt != AVRO_RECORD && rt != AVRO_ENUM && rt != AVRO_FIXED)
            return true;
        return strcmp(avro_schema_name(ws), avro_schema_name(rs)) == 0;
    }
    switch (wt) {
    case AVRO_INT32:
        return rt == AVRO_INT64 || rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
    case AVRO_INT64:
        return rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
    case AVRO_FLOAT:
        return rt == AVRO_DOUBLE;
    case AVRO_STRING:
        return rt == AVRO_BYTES;
    case AVRO_BYTES:
        return rt == AVRO_STRING;
    default:
        return false;
    }
}

/* A number of the written value as a double and as an integer. */
static void number_of(const avro_value_t *v, double *d, int64_t *i)
{
    int32_t i32 = 0;
    float f = 0;
    *d = 0, *i = 0;
    switch (avro_value_get_type(v)) {
    case AVRO_INT32:
        avro_value_get_int(v, &i32);
        *i = i32, *d = i32;
        break;
    case AVRO_INT64:
        avro_value_get_long(v, i);
        *d = (double)*i;
        break;
    case AVRO_FLOAT:
        avro_value_get_float(v, &f);
        *d = f;
        break;
    case AVRO_DOUBLE:
        avro_value_get_double(v, d);
        break;
    default:
        break;
    }
}

/* Are the scalars w (written) and r (decoded, of the reader's type) the
 * same value? */
static bool same_scalar(const avro_value_t *w, const avro_value_t *r)
{
    const void *wp = NULL, *rp = NULL;
    size_t wn = 0, rn = 0;
    double wd, rd;
    int64_t wi, ri;
    int wb = 0, rb = 0;
    switch (avro_value_get_type(r)) {
    case AVRO_STRING:
    case AVRO_BYTES:
        if (avro_value_get_type(w) == AVRO_STRING) {
            const char *s = NULL;
            avro_value_get_string(w, &s, &wn);
            wp = s, wn = wn ? wn - 1 : 0; /* the string's NUL */
        } else {
            avro_value_get_bytes(w, &wp, &wn);
        }
        if (avro_value_get_type(r) == AVRO_STRING) {
            const char *s = NULL;
            avro_value_get_string(r, &s, &rn);
            rp = s, rn = rn ? rn - 1 : 0;
        } else {
            avro_value_get_bytes(r, &rp, &rn);
        }
        return wn == rn && (wn == 0 || memcmp(wp, rp, wn) == 0);
    case AVRO_FIXED:
        avro_value_get_fixed(w, &wp, &wn);
        avro_value_get_fixed(r, &rp, &rn);
        return wn == rn && (wn == 0 || memcmp(wp, rp, wn) == 0);
    case AVRO_INT32:
    case AVRO_INT64:
        number_of(w, &wd, &wi);
        number_of(r, &rd, &ri);
        return wi == ri;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        number_of(w, &wd, &wi);
        number_of(r, &rd, &ri);
        if (avro_value_get_type(r) == AVRO_FLOAT)
            wd = (float)wd;
        return wd == rd || (wd != wd && rd != rd); /* NaN reads as NaN */
    case AVRO_BOOLEAN:
        avro_value_get_boolean(w, &wb);
        avro_value_get_boolean(r, &rb);
        return !wb == !rb;
    default:
        return true;
    }
}

/* The written enum w as decoded r: the writer's symbol by name, or the
 * reader's default when the reader lacks it. */
static int check_enum(const struct cf_fuzz *fz, const avro_value_t *w, const avro_value_t *r,
                      char *problem, size_t problem_size)
{
    int wi = -1, ri = -1;
    avro_schema_t ws = avro_value_get_schema(w), rs = avro_value_get_schema(r);
    if (avro_value_get_enum(w, &wi) != 0 || avro_value_get_enum(r, &ri) != 0)
        return check_failed(problem, problem_size, "enum %s cannot be read", avro_schema_name(rs));
    int wn = avro_schema_enum_number_of_symbols(ws), rn = avro_schema_enum_number_of_symbols(rs);
    if (wi < 0 || wi >= wn)
        return check_failed(problem, problem_size,
                            "the written value holds symbol %d of enum %s (%d symbols): the "
                            "guard walk let it through",
                            wi, avro_schema_name(ws), wn);
    const char *wsym = avro_schema_enum_get(ws, wi);
    const char *want = wsym;
    if (avro_schema_enum_get_by_name(rs, wsym) < 0)
        want = enum_default(fz, avro_schema_name(rs));
    if (!want)
        return check_failed(problem, problem_size,
                            "the writer's symbol %s of enum %s is not the reader's, which has no "
                            "default, yet the message decoded",
                            wsym, avro_schema_name(rs));
    /* Only an index below the count may go to avro_schema_enum_get(). */
    const char *rsym = ri >= 0 && ri < rn ? avro_schema_enum_get(rs, ri) : NULL;
    if (!rsym || strcmp(rsym, want) != 0)
        return check_failed(problem, problem_size,
                            "enum %s resolved by position, not by name: the writer's symbol %s "
                            "(its index %d) reads as index %d of the reader's %d symbols (%s), "
                            "not as %s",
                            avro_schema_name(rs), wsym, wi, ri, rn,
                            rsym ? rsym : "none: beyond the last", want);
    return 0;
}

/* Checks the decoded value r (the reader's shape) against the written
 * value w (the writer's shape, read for this message alone), as the Avro
 * specification resolves one into the other: record fields by name, a
 * reader's union by the first branch that can read the written type, enums
 * by symbol, promotions of numbers.  A value left from an earlier message
 * differs from the written one, so this is also the leak check of a
 * resolved message. */
static int check_written(const struct cf_fuzz *fz, const avro_value_t *w, const avro_value_t *r,
                         int depth, char *problem, size_t problem_size)
{
    avro_value_t wc, rc;
    size_t n = 0, wn = 0;
    const char *name;
    if (depth > 64)
        return 0;
    avro_type_t rt = avro_value_get_type(r);
    if (avro_value_get_type(w) == AVRO_UNION && rt != AVRO_UNION) {
        if (avro_value_get_current_branch(w, &wc) != 0)
            return check_failed(problem, problem_size, "a written union has no branch");
        return check_written(fz, &wc, r, depth + 1, problem, problem_size);
    }
    if (rt == AVRO_UNION) {
        /* The first reader branch that can read the written type. */
        avro_value_t wv = *w;
        if (avro_value_get_type(w) == AVRO_UNION && avro_value_get_current_branch(w, &wv) != 0)
            return check_failed(problem, problem_size, "a written union has no branch");
        avro_schema_t u = avro_value_get_schema(r);
        int want = -1, disc = -1;
        for (size_t b = 0; b < avro_schema_union_size(u) && want < 0; b++) {
            if (readable_as(avro_value_get_schema(&wv), avro_schema_union_branch(u, (int)b)))
                want = (int)b;
        }
        if (avro_value_get_discriminant(r, &disc) != 0 || disc < 0)
            return 0; /* no reader branch: the handler rejects it (unknown-type) */
        if (disc != want)
            return check_failed(problem, problem_size,
                                "a written %s reads as branch %d of a union, not %d (the first "
                                "that can read it)",
                                avro_schema_type_name(avro_value_get_schema(&wv)), disc, want);
        if (avro_value_get_current_branch(r, &rc) != 0)
            return check_failed(problem, problem_size, "a decoded union has no branch");
        return check_written(fz, &wv, &rc, depth + 1, problem, problem_size);
    }
    if (!readable_as(avro_value_get_schema(w), avro_value_get_schema(r)))
        return check_failed(problem, problem_size, "a written %s reads as the reader's %s",
                            avro_schema_type_name(avro_value_get_schema(w)),
                            avro_schema_type_name(avro_value_get_schema(r)));
    switch (rt) {
    case AVRO_RECORD:
        n = avro_schema_record_size(avro_value_get_schema(r));
        for (size_t i = 0; i < n; i++) {
            name = NULL;
            if (avro_value_get_by_index(r, i, &rc, &name) != 0 || !name)
                return check_failed(problem, problem_size, "field %zu cannot be read", i);
            if (avro_value_get_by_name(w, name, &wc, NULL) != 0)
                continue; /* the reader's default: avro-c's decoder refuses such writers */
            if (check_written(fz, &wc, &rc, depth + 1, problem, problem_size) < 0)
                return -1;
        }
        return 0;
    case AVRO_ARRAY:
    case AVRO_MAP:
        if (avro_value_get_size(r, &n) != 0 || avro_value_get_size(w, &wn) != 0 || n != wn)
            return check_failed(problem, problem_size, "%zu written items read as %zu", wn, n);
        for (size_t i = 0; i < n; i++) {
            name = NULL;
            if (avro_value_get_by_index(r, i, &rc, &name) != 0 ||
                (rt == AVRO_MAP ? !name || avro_value_get_by_name(w, name, &wc, NULL) != 0
                                : avro_value_get_by_index(w, i, &wc, NULL) != 0))
                return check_failed(problem, problem_size, "item %zu is not the written one", i);
            if (check_written(fz, &wc, &rc, depth + 1, problem, problem_size) < 0)
                return -1;
        }
        return 0;
    case AVRO_ENUM:
        return check_enum(fz, w, r, problem, problem_size);
    default:
        if (!same_scalar(w, r))
            return check_failed(problem, problem_size, "a written %s reads as another value",
                                avro_schema_type_name(avro_value_get_schema(r)));
        return 0;
    }
}

/* ------------------------------------------------------------------------
 * Making and destroying
 * ------------------------------------------------------------------------ */

struct cf_fuzz *cf_fuzz_new(const struct cf_consumer_def *def, const char *schemas_dir,
                            const char *evolved_dir, char *errstr, size_t errstr_size)
{
    struct cf_fuzz *fz = calloc(1, sizeof(*fz));
    if (!fz)
        abort();
    char merged[4096] = "";
    char *envp[] = {env_payload, env_revoke, NULL};
    char warnings[2048];

    fz->def = def;
    fz->cs = calloc(1, def->settings_size ? def->settings_size : 1);
    if (!fz->cs)
        abort();
    fz->tables[0] = (struct cf_setting_table){cf_settings_table, cf_settings_count, &fz->s};
    fz->tables[1] = (struct cf_setting_table){def->settings, def->nsettings, fz->cs};
    fz->settings_loaded = true;
    if (cf_config_load(NULL, envp, fz->tables, 2, warnings, sizeof(warnings), errstr, errstr_size) <
            0 ||
        cf_settings_finish(&fz->s, def->name, def->topic, errstr, errstr_size) < 0 ||
        (def->check_settings && def->check_settings(fz->cs, errstr, errstr_size) < 0))
        goto fail;
    fz->framing = CF_FRAMING_AUTO;
    if (cf_framing_parse(fz->s.schemas_framing, &fz->framing) < 0) {
        snprintf(errstr, errstr_size, "schemas.framing %s", fz->s.schemas_framing);
        goto fail;
    }
    fz->mem = avro_reader_memory("", 0);
    if (!fz->mem)
        abort();
    if (instance_open(fz, &fz->main, schemas_dir, errstr, errstr_size) < 0)
        goto fail;
    snprintf(merged, sizeof(merged), "%s/%s", schemas_dir, def->schema_file);
    if (enum_defaults_load(fz, merged, errstr, errstr_size) < 0)
        goto fail;
    if (evolved_dir) {
        if (merge_folders(schemas_dir, evolved_dir, merged, sizeof(merged), errstr, errstr_size) <
            0)
            goto fail;
        /* Everything is read at start: the folder can go at once. */
        int rc = instance_open(fz, &fz->evolved, merged, errstr, errstr_size);
        remove_folder(merged);
        if (rc < 0)
            goto fail;
    }
    fz->plan = cf_plan_new(fz->s.cache_prefix);
    return fz;

fail:
    cf_fuzz_destroy(fz);
    return NULL;
}

void cf_fuzz_destroy(struct cf_fuzz *fz)
{
    if (!fz)
        return;
    instance_close(fz->def, &fz->evolved);
    instance_close(fz->def, &fz->main);
    cf_plan_destroy(fz->plan);
    if (fz->mem)
        avro_reader_free(fz->mem);
    cf_buf_free(&fz->fp_batch);
    cf_buf_free(&fz->fp_alone);
    if (fz->settings_loaded)
        cf_config_free(fz->tables, 2);
    free(fz->cs);
    free(fz);
}

/* ------------------------------------------------------------------------
 * Checks of one answer
 * ------------------------------------------------------------------------ */

/* Does reason start with "<one of codes>: "? */
static bool reason_has_code(const char *reason, const char *const *codes)
{
    for (size_t i = 0; codes[i]; i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(reason, codes[i], n) == 0 && reason[n] == ':' && reason[n + 1] == ' ')
            return true;
    }
    return false;
}

static bool is_event_type(const struct cf_consumer_def *def, const char *type)
{
    for (size_t i = 0; type && def->event_types[i]; i++) {
        if (strcmp(def->event_types[i], type) == 0)
            return true;
    }
    return false;
}

static bool has_ts(char code)
{
    return strchr("WTDXGFC", code) != NULL;
}

/* The end of an operation's bytes in the arena. */
static uint64_t op_end(const struct cf_op *op)
{
    uint64_t end = (uint64_t)op->key.off + op->key.len;
    uint64_t a = (uint64_t)op->a.off + op->a.len, b = (uint64_t)op->b.off + op->b.len;
    if (a > end)
        end = a;
    if (b > end)
        end = b;
    return end;
}

/* Reads every byte of a span, so that AddressSanitizer sees a span that
 * leaves the arena. */
static unsigned touch(const struct cf_plan *plan, struct cf_span span)
{
    const unsigned char *p = (const unsigned char *)cf_plan_bytes(plan, span);
    unsigned sum = 0;
    for (uint32_t i = 0; i < span.len; i++)
        sum += p[i];
    return sum;
}

static bool has_prefix(const struct cf_plan *plan, const char *key, size_t len)
{
    const char *prefix = cf_plan_prefix(plan);
    size_t n = strlen(prefix);
    return len >= n && memcmp(key, prefix, n) == 0;
}

/* Checks operations [from, count) of plan. */
static int check_ops(const struct cf_plan *plan, size_t from, char *problem, size_t problem_size)
{
    volatile unsigned sink = 0;
    for (size_t i = from; i < cf_plan_count(plan); i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        uint64_t start = i ? op_end(cf_plan_op(plan, i - 1)) : 0;
        if (!op->code || !strchr("WTDXGARFPCM", op->code))
            return check_failed(problem, problem_size, "operation %zu has the unknown code %d", i,
                                (int)op->code);
        if (op->key.off != start)
            return check_failed(
                problem, problem_size,
                "operation %zu (%c) starts at byte %u of the arena, not at %llu where "
                "the previous one ends (a rollback would cut the wrong bytes)",
                i, op->code, op->key.off, (unsigned long long)start);
        sink += touch(plan, op->key) + touch(plan, op->a) + touch(plan, op->b);
        if (!has_prefix(plan, cf_plan_bytes(plan, op->key), op->key.len))
            return check_failed(problem, problem_size, "operation %zu (%c): key without the prefix",
                                i, op->code);
        if (op->dead)
            return check_failed(problem, problem_size,
                                "operation %zu (%c) is dead before coalescing", i, op->code);
        if ((has_ts(op->code) && op->ts_us < 0) || op->ttl_ms < 0)
            return check_failed(problem, problem_size, "operation %zu (%c): negative time or TTL",
                                i, op->code);
        if (op->code != CF_OP_WARM_GUARDED) {
            if (op->nguards)
                return check_failed(problem, problem_size, "operation %zu (%c) has guards", i,
                                    op->code);
            continue;
        }
        /* T: b holds nguards keys, each a 4-byte length and the key. */
        const char *b = cf_plan_bytes(plan, op->b);
        uint32_t off = 0;
        for (uint32_t g = 0; g < op->nguards; g++) {
            uint32_t n;
            size_t len;
            if (op->b.len - off < 4)
                return check_failed(problem, problem_size, "operation %zu: guard %u is cut", i, g);
            memcpy(&n, b + off, 4);
            if (op->b.len - off - 4 < n)
                return check_failed(problem, problem_size,
                                    "operation %zu: guard %u overruns its span", i, g);
            const char *key = cf_plan_guard_key(plan, op, g, &len);
            if (key != b + off + 4 || len != n || !has_prefix(plan, key, len))
                return check_failed(problem, problem_size, "operation %zu: guard %u is misread", i,
                                    g);
            off += 4 + n;
        }
        if (off != op->b.len)
            return check_failed(problem, problem_size,
                                "operation %zu: %u bytes after the last guard", i, op->b.len - off);
    }
    (void)sink;
    return 0;
}

/* ------------------------------------------------------------------------
 * Answers, to compare a message in its batch with the message alone
 * ------------------------------------------------------------------------ */

static void fp_field(struct cf_buf *fp, const void *p, size_t n)
{
    uint32_t len = (uint32_t)n;
    cf_buf_put(fp, &len, sizeof(len));
    cf_buf_put(fp, p, n);
}

static void fp_span(struct cf_buf *fp, const struct cf_plan *plan, struct cf_span span)
{
    fp_field(fp, cf_plan_bytes(plan, span), span.len);
}

/* The answer of a handler: its code, reason, event type and operations
 * [from, count) of plan, as bytes (offsets left out: they depend on what
 * the plan held before). */
static void fingerprint(struct cf_buf *fp, int rc, const struct cf_event *ev,
                        const struct cf_plan *plan, size_t from)
{
    fp->len = 0;
    cf_buf_put(fp, &rc, sizeof(rc));
    fp_field(fp, rc < 0 ? ev->reason : "", rc < 0 ? strlen(ev->reason) : 0);
    fp_field(fp, ev->type ? ev->type : "(none)", strlen(ev->type ? ev->type : "(none)"));
    for (size_t i = from; i < cf_plan_count(plan); i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        cf_buf_put(fp, &op->code, 1);
        fp_span(fp, plan, op->key);
        fp_span(fp, plan, op->a);
        fp_span(fp, plan, op->b);
        cf_buf_put(fp, &op->nguards, sizeof(op->nguards));
        cf_buf_put(fp, &op->version, sizeof(op->version));
        cf_buf_put(fp, &op->ts_us, sizeof(op->ts_us));
        cf_buf_put(fp, &op->ttl_ms, sizeof(op->ttl_ms));
    }
}

/* Describes the first difference of two answers. */
static int answers_differ(const struct cf_buf *batch, const struct cf_buf *alone,
                          const struct cf_event *ev, const struct cf_event *ev_alone, char *problem,
                          size_t problem_size)
{
    size_t at = 0;
    while (at < batch->len && at < alone->len && batch->data[at] == alone->data[at])
        at++;
    return check_failed(
        problem, problem_size,
        "state leaked between messages: the handler's answer in its batch differs from "
        "its answer alone at byte %zu (batch: type %s, reason \"%s\"; alone: type %s, "
        "reason \"%s\")",
        at, ev->type ? ev->type : "(none)", ev->reason, ev_alone->type ? ev_alone->type : "(none)",
        ev_alone->reason);
}

/* ------------------------------------------------------------------------
 * The reference decode
 * ------------------------------------------------------------------------ */

struct ref {
    avro_value_t raw; /* the bytes read into a value of their writer schema */
    bool has_raw;
    bool same; /* written with the reader schema */
};

static void ref_free(struct ref *r)
{
    if (r->has_raw)
        avro_value_decref(&r->raw);
    memset(r, 0, sizeof(*r));
}

/* Reads the message the decoder accepted into a value made for it alone,
 * of the schema it was written with. */
static int ref_decode(struct cf_fuzz *fz, const struct instance *in, const uint8_t *p, size_t len,
                      struct ref *r, char *problem, size_t problem_size)
{
    const struct ref_writer *w = NULL;
    bool framed = fz->framing == CF_FRAMING_CONFLUENT ||
                  (fz->framing == CF_FRAMING_AUTO && len > 0 && p[0] == 0);
    memset(r, 0, sizeof(*r));
    if (framed) {
        if (len < 5)
            return check_failed(problem, problem_size,
                                "the decoder accepted a %zu-byte framed message", len);
        int32_t id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
                               ((uint32_t)p[3] << 8) | (uint32_t)p[4]);
        w = instance_writer(in, id);
        if (!w || !w->usable)
            return check_failed(
                problem, problem_size,
                "the decoder accepted schema id %d, which it does not list as usable", (int)id);
        p += 5;
        len -= 5;
    }
    r->same = !w || w->same;
    if (avro_generic_value_new(r->same ? in->reader_generic : w->generic, &r->raw) != 0)
        return check_failed(problem, problem_size, "reference value: %s", avro_strerror());
    r->has_raw = true;
    avro_reader_memory_set_source(fz->mem, (const char *)p, (int64_t)len);
    if (avro_value_read(fz->mem, &r->raw) != 0) {
        check_failed(problem, problem_size,
                     "the decoder accepted bytes that a fresh value cannot read: %s",
                     avro_strerror());
        goto fail;
    }
    /* The guard walk said the datum ends with the message: so must avro-c. */
    if (avro_skip(fz->mem, 1) == 0) {
        check_failed(problem, problem_size,
                     "avro-c stopped before the end of a datum the guard walk accepted whole");
        goto fail;
    }
    return 0;

fail:
    ref_free(r);
    return -1;
}

/* ------------------------------------------------------------------------
 * One message
 * ------------------------------------------------------------------------ */

static void event_init(const struct cf_fuzz *fz, struct cf_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->kafka_ts_ms = KAFKA_TS_MS;
    ev->max_id_bytes = (size_t)fz->s.cache_max_id_bytes;
    ev->type = NULL;
    ev->reason[0] = '\0';
}

static void outcome_set(struct cf_fuzz_outcome *out, int rc, const struct cf_event *ev, size_t ops)
{
    out->rc = rc;
    snprintf(out->reason, sizeof(out->reason), "%s", rc < 0 ? ev->reason : "");
    out->type = ev->type;
    out->ops = ops;
}

/* Decodes p[0..len) as plan_batch() does; with an evolved instance, a
 * schema id only it knows is decoded there.  Returns 1 decoded (*in, *value
 * set), 0 rejected (ev->reason set), -1 a failed check. */
static int decode(struct cf_fuzz *fz, const uint8_t *p, size_t len, struct cf_event *ev,
                  struct instance **in, avro_value_t **value, char *problem, size_t problem_size)
{
    *in = &fz->main;
    if (cf_decoder_decode(fz->main.dec, len ? p : NULL, len, value, ev->reason,
                          sizeof(ev->reason)) == 0)
        return 1;
    if (!reason_has_code(ev->reason, decode_codes))
        return check_failed(problem, problem_size, "decoder rejection without a known code: \"%s\"",
                            ev->reason);
    bool unknown =
        strncmp(ev->reason, CF_REASON_UNKNOWN_SCHEMA, strlen(CF_REASON_UNKNOWN_SCHEMA)) == 0;
    if (!fz->evolved.dec || !unknown || len < 5 || p[0] != 0)
        return 0;
    int32_t id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) |
                           (uint32_t)p[4]);
    if (!instance_writer(&fz->evolved, id))
        return 0;
    *in = &fz->evolved;
    ev->reason[0] = '\0';
    if (cf_decoder_decode(fz->evolved.dec, p, len, value, ev->reason, sizeof(ev->reason)) == 0)
        return 1;
    if (!reason_has_code(ev->reason, decode_codes))
        return check_failed(problem, problem_size, "decoder rejection without a known code: \"%s\"",
                            ev->reason);
    return 0;
}

/* The message handled alone: a new handler and plan, the same value.  Its
 * answer goes to fz->fp_alone. */
static int handle_alone(struct cf_fuzz *fz, const struct instance *in, const avro_value_t *value,
                        struct cf_event *ev, char *problem, size_t problem_size)
{
    char why[512];
    void *handler = fz->def->handler_new(fz->cs, cf_decoder_schema(in->dec), why, sizeof(why));
    if (!handler)
        return check_failed(problem, problem_size, "a second handler cannot be made: %s", why);
    struct cf_plan *plan = cf_plan_new(fz->s.cache_prefix);
    event_init(fz, ev);
    int rc = fz->def->handle(handler, value, ev, plan);
    if (rc < 0)
        cf_plan_rollback(plan, 0);
    fingerprint(&fz->fp_alone, rc, ev, plan, 0);
    cf_plan_destroy(plan);
    fz->def->handler_destroy(handler);
    return 0;
}

static int run_message(struct cf_fuzz *fz, const uint8_t *p, size_t len,
                       struct cf_fuzz_outcome *out, char *problem, size_t problem_size)
{
    struct cf_event ev, ev_alone;
    struct instance *in;
    avro_value_t *value;
    struct ref ref;
    int rc = -1;

    event_init(fz, &ev);
    /* plan_batch(): the size limit, then the decoder. */
    if (len > (size_t)fz->s.cache_max_payload_bytes) {
        cf_reason(ev.reason, sizeof(ev.reason), CF_REASON_TOO_LARGE,
                  "%zu bytes, more than cache.max_payload_bytes %lld", len,
                  fz->s.cache_max_payload_bytes);
        outcome_set(out, -1, &ev, 0);
        return 0;
    }
    int decoded = decode(fz, p, len, &ev, &in, &value, problem, problem_size);
    if (decoded < 0)
        return -1;
    if (decoded == 0) {
        outcome_set(out, -1, &ev, 0);
        return 0;
    }

    /* The decoder's value must be what was written: what a fresh value
     * reads from these bytes, resolved to the reader's shape if a newer
     * writer wrote them. */
    if (ref_decode(fz, in, p, len, &ref, problem, problem_size) < 0)
        return -1;
    if (ref.same && !avro_value_equal(value, &ref.raw)) {
        check_failed(
            problem, problem_size,
            "state leaked between messages: the decoded value differs from a fresh decode of "
            "the same bytes");
        goto out;
    }
    if (!ref.same && check_written(fz, &ref.raw, value, 0, problem, problem_size) < 0)
        goto out;

    /* plan_batch(): mark, handle, roll back on rejection. */
    size_t mark = cf_plan_mark(fz->plan);
    int hrc = fz->def->handle(in->handler, value, &ev, fz->plan);
    if (hrc != 0 && hrc != -1) {
        check_failed(problem, problem_size, "handle() returned %d, not 0 or -1", hrc);
        goto out;
    }
    if (hrc < 0) {
        cf_plan_rollback(fz->plan, mark);
        if (cf_plan_count(fz->plan) != mark) {
            check_failed(problem, problem_size, "rollback left %zu operations, not %zu",
                         cf_plan_count(fz->plan), mark);
            goto out;
        }
        if (!reason_has_code(ev.reason, handler_codes)) {
            check_failed(problem, problem_size, "handler rejection without a known code: \"%s\"",
                         ev.reason);
            goto out;
        }
    } else {
        if (!is_event_type(fz->def, ev.type)) {
            check_failed(problem, problem_size,
                         "accepted event with the type \"%s\", not one of %s's",
                         ev.type ? ev.type : "(none)", fz->def->name);
            goto out;
        }
        if (check_ops(fz->plan, mark, problem, problem_size) < 0)
            goto out;
    }
    if (ev.type && !is_event_type(fz->def, ev.type)) {
        check_failed(problem, problem_size, "event type \"%s\" is not one of %s's", ev.type,
                     fz->def->name);
        goto out;
    }
    fingerprint(&fz->fp_batch, hrc, &ev, fz->plan, mark);
    outcome_set(out, hrc, &ev, cf_plan_count(fz->plan) - mark);

    /* The same message alone. */
    if (handle_alone(fz, in, value, &ev_alone, problem, problem_size) < 0)
        goto out;
    if (fz->fp_batch.len != fz->fp_alone.len ||
        memcmp(fz->fp_batch.data, fz->fp_alone.data, fz->fp_batch.len) != 0) {
        answers_differ(&fz->fp_batch, &fz->fp_alone, &ev, &ev_alone, problem, problem_size);
        goto out;
    }
    rc = 0;
out:
    ref_free(&ref);
    return rc;
}

/* ------------------------------------------------------------------------
 * Coalescing
 * ------------------------------------------------------------------------ */

struct ident {
    char cls;
    const char *key, *extra;
    uint32_t key_len, extra_len;
    size_t op;
};

static int bytes_cmp(const char *a, uint32_t an, const char *b, uint32_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

static int ident_same(const struct ident *a, const struct ident *b)
{
    int c = a->cls - b->cls;
    if (!c)
        c = bytes_cmp(a->key, a->key_len, b->key, b->key_len);
    if (!c)
        c = bytes_cmp(a->extra, a->extra_len, b->extra, b->extra_len);
    return c;
}

static int ident_cmp(const void *pa, const void *pb)
{
    const struct ident *a = pa, *b = pb;
    int c = ident_same(a, b);
    if (c)
        return c;
    return a->op < b->op ? -1 : a->op > b->op;
}

static struct ident ident_of(const struct cf_plan *plan, size_t i)
{
    const struct cf_op *op = cf_plan_op(plan, i);
    struct ident id = {cf_op_class(op->code), cf_plan_bytes(plan, op->key), "", op->key.len, 0, i};
    if (op->code == CF_OP_INDEX_ADD || op->code == CF_OP_INDEX_REM || op->code == CF_OP_CATEGORY) {
        id.extra = cf_plan_bytes(plan, op->a);
        id.extra_len = op->a.len;
    }
    return id;
}

/* One group's survivor against plan.h's rules.  ids[from, to) is the
 * group, sorted by position; max_version and max_ts are the group's before
 * coalescing. */
static int check_group(const struct cf_plan *plan, const struct ident *ids, size_t from, size_t to,
                       uint64_t max_version, int64_t max_ts, char *problem, size_t problem_size)
{
    char cls = ids[from].cls;
    size_t live = 0, survivor = 0;
    for (size_t k = from; k < to; k++) {
        const struct cf_op *op = cf_plan_op(plan, ids[k].op);
        if (op->dead)
            continue;
        struct ident now = ident_of(plan, ids[k].op);
        if (ident_same(&now, &ids[k]) != 0)
            return check_failed(problem, problem_size,
                                "coalescing changed the key of operation %zu", ids[k].op);
        live++;
        survivor = ids[k].op;
    }
    if (cls == CF_OP_FANOUT || cls == CF_OP_PURGE) {
        /* Several runs may stay (membership changed between them); the
         * last one always does. */
        if (cf_plan_op(plan, ids[to - 1].op)->dead)
            return check_failed(problem, problem_size, "coalescing dropped the last %c of a set",
                                cls);
        return 0;
    }
    if (live != 1)
        return check_failed(problem, problem_size,
                            "coalescing left %zu live operations of class %c on "
                            "one identity (%zu in the batch), not 1",
                            live, cls, to - from);
    const struct cf_op *op = cf_plan_op(plan, survivor);
    size_t want = cls == CF_OP_CATEGORY ? ids[from].op : ids[to - 1].op;
    if (survivor != want)
        return check_failed(problem, problem_size,
                            "coalescing kept operation %zu of class %c, not %zu "
                            "(plan.h: the %s occurrence's position)",
                            survivor, cls, want, cls == CF_OP_CATEGORY ? "first" : "last");
    if ((cls == 'V' || cls == 'S' || cls == CF_OP_CATEGORY) && op->version != max_version)
        return check_failed(problem, problem_size,
                            "coalescing kept version %llu of class %c, not the "
                            "highest, %llu",
                            (unsigned long long)op->version, cls, (unsigned long long)max_version);
    if ((cls == CF_OP_XINVAL || cls == CF_OP_TAG) && op->ts_us != max_ts)
        return check_failed(problem, problem_size,
                            "coalescing kept time %lld of class %c, not the "
                            "latest, %lld",
                            (long long)op->ts_us, cls, (long long)max_ts);
    return 0;
}

static int coalesce_and_check(struct cf_plan *plan, size_t *live_out, char *problem,
                              size_t problem_size)
{
    size_t n = cf_plan_count(plan);
    struct ident *ids = calloc(n ? n : 1, sizeof(*ids));
    uint64_t *max_version = calloc(n ? n : 1, sizeof(*max_version));
    int64_t *max_ts = calloc(n ? n : 1, sizeof(*max_ts));
    int rc = -1;
    if (!ids || !max_version || !max_ts)
        abort();
    for (size_t i = 0; i < n; i++)
        ids[i] = ident_of(plan, i);
    qsort(ids, n, sizeof(*ids), ident_cmp);
    /* Before: each group's highest version and latest time, kept at the
     * group's first index. */
    for (size_t from = 0, to; from < n; from = to) {
        max_version[from] = cf_plan_op(plan, ids[from].op)->version;
        max_ts[from] = cf_plan_op(plan, ids[from].op)->ts_us;
        for (to = from + 1; to < n && ident_same(&ids[to], &ids[from]) == 0; to++) {
            const struct cf_op *op = cf_plan_op(plan, ids[to].op);
            if (op->version > max_version[from])
                max_version[from] = op->version;
            if (op->ts_us > max_ts[from])
                max_ts[from] = op->ts_us;
        }
    }

    size_t live = cf_plan_coalesce(plan), counted = 0;
    for (size_t i = 0; i < n; i++)
        counted += !cf_plan_op(plan, i)->dead;
    if (live != counted) {
        check_failed(problem, problem_size,
                     "cf_plan_coalesce() returned %zu live operations; %zu are", live, counted);
        goto out;
    }
    for (size_t from = 0, to; from < n; from = to) {
        for (to = from + 1; to < n && ident_same(&ids[to], &ids[from]) == 0; to++)
            ;
        if (check_group(plan, ids, from, to, max_version[from], max_ts[from], problem,
                        problem_size) < 0)
            goto out;
    }
    *live_out = live;
    rc = 0;
out:
    free(ids);
    free(max_version);
    free(max_ts);
    return rc;
}

/* ------------------------------------------------------------------------
 * One batch
 * ------------------------------------------------------------------------ */

/* The first marker in p[0..len), or NULL. */
static const uint8_t *find_marker(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + CF_FUZZ_MARKER_LEN <= len; i++) {
        if (p[i] == (uint8_t)CF_FUZZ_MARKER[0] &&
            memcmp(p + i, CF_FUZZ_MARKER, CF_FUZZ_MARKER_LEN) == 0)
            return p + i;
    }
    return NULL;
}

int cf_fuzz_run(struct cf_fuzz *fz, const uint8_t *data, size_t size, struct cf_fuzz_outcome *last,
                char *problem, size_t problem_size)
{
    struct cf_fuzz_outcome out;
    memset(&out, 0, sizeof(out));
    problem[0] = '\0';
    cf_plan_clear(fz->plan);
    const uint8_t *p = data, *end = data + size;
    for (size_t m = 0;; m++) {
        const uint8_t *mark =
            m + 1 < CF_FUZZ_MAX_MESSAGES ? find_marker(p, (size_t)(end - p)) : NULL;
        size_t len = (size_t)((mark ? mark : end) - p);
        if (run_message(fz, p, len, &out, problem, problem_size) < 0)
            return -1;
        out.messages = m + 1;
        if (!mark)
            break;
        p = mark + CF_FUZZ_MARKER_LEN;
    }
    if (coalesce_and_check(fz->plan, &out.live, problem, problem_size) < 0)
        return -1;
    if (last)
        *last = out;
    return 0;
}

/* ------------------------------------------------------------------------
 * Known findings (the fuzz targets' CF_FUZZ_TOLERATE)
 * ------------------------------------------------------------------------ */

bool cf_fuzz_tolerated(const char *tolerate, const char *problem)
{
    /* Process-wide on purpose: a fuzz target is one process and reports a
     * tolerated finding once, not once per input. */
    static char reported[16][128];
    static size_t nreported;
    char piece[128];
    while (tolerate && *tolerate) {
        size_t n = strcspn(tolerate, "|");
        if (n > 0 && n < sizeof(piece)) {
            memcpy(piece, tolerate, n);
            piece[n] = '\0';
            if (strstr(problem, piece)) {
                bool seen = false;
                for (size_t i = 0; i < nreported; i++)
                    seen = seen || strcmp(reported[i], piece) == 0;
                if (!seen && nreported < 16) {
                    memcpy(reported[nreported++], piece, n + 1);
                    fprintf(stderr, "cachefleet-fuzz: tolerated (CF_FUZZ_TOLERATE): %s\n", problem);
                }
                return true;
            }
        }
        tolerate += n + (tolerate[n] == '|');
    }
    return false;
}
