/* test_fuzz_regress.c - every input kept under tests/regress/ replayed
 * through the fuzz targets' path, without libFuzzer.
 *
 * tests/regress/<consumer>/ holds inputs of the consumer's fuzz target
 * (tools/fuzz/fuzz_consumer.c): the crash reproducers the fuzzer found and
 * the hand-made hostile inputs (tools/fuzz/corpus.c --adversarial).
 * tests/regress/json/ holds inputs of the JSON target.  Each is run the way
 * the target runs it (tools/fuzz/pipeline.c, jsoncheck.c: the runtime's
 * per-message path and its checks), so a crash found once stays a test in
 * the normal and the sanitizer builds.
 *
 * A file's name may state the expected outcome of the input's last
 * message before the first '.':
 *   ok.<what>          planned
 *   <code>.<what>      rejected with that reason code (undecodable,
 *                      unknown-schema, too-large, invalid-field, unsafe-id,
 *                      invalid-json, unknown-type)
 *   valid.<what>, invalid.<what>   (json/) cf_json_validate at the
 *                      planners' depth, 64
 * Any other name (a reproducer before its outcome is decided) is only held
 * to the checks.  Every consumer's folder must hold at least one file.
 *
 * The consumers' inputs run twice, in name order and in reverse order, on
 * one long-lived pipeline: a message must not depend on the one before it.
 *
 * pipeline.c and jsoncheck.c come from the library cachefleet_fuzz, which
 * every build makes without libFuzzer (tools/fuzz/CMakeLists.txt) and
 * tests/CMakeLists.txt links into the tests.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsoncheck.h"
#include "keys.h"
#include "pipeline.h"
#include "testutil.h"

#define REGRESS_DIR       CF_SOURCE_DIR "/tests/regress"
#define REGRESS_MAX_INPUT (1 << 20)

struct input {
    char name[256];
    uint8_t *data;
    size_t len;
};

struct inputs {
    struct input *items;
    size_t n;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct input *)a)->name, ((const struct input *)b)->name);
}

/* Reads every file of REGRESS_DIR/<sub>/, sorted by name. */
static void inputs_load(const char *sub, struct inputs *in)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", REGRESS_DIR, sub);
    memset(in, 0, sizeof(*in));
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: %s", dir, strerror(errno));
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        struct input *items = realloc(in->items, (in->n + 1) * sizeof(*items));
        assert_non_null(items);
        in->items = items;
        struct input *it = &in->items[in->n++];
        char path[1400];
        snprintf(it->name, sizeof(it->name), "%s", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        it->data = malloc(REGRESS_MAX_INPUT + 1);
        assert_non_null(it->data);
        it->len = fread(it->data, 1, REGRESS_MAX_INPUT + 1, f);
        assert_int_equal(ferror(f), 0);
        fclose(f);
        if (it->len > REGRESS_MAX_INPUT)
            fail_msg("%s: larger than %d bytes", path, REGRESS_MAX_INPUT);
    }
    closedir(d);
    if (in->n == 0)
        fail_msg("%s holds no input: every crash the fuzzer finds, and the hand-made hostile "
                 "inputs, belong there (tools/fuzz/README.md)",
                 dir);
    qsort(in->items, in->n, sizeof(*in->items), by_name);
}

static void inputs_free(struct inputs *in)
{
    for (size_t i = 0; i < in->n; i++)
        free(in->items[i].data);
    free(in->items);
}

/* The outcome a name states ("ok", a reason code), or NULL. */
static const char *expected_code(const char *name, char *buf, size_t size)
{
    static const char *const codes[] = {
        "ok",
        CF_REASON_UNDECODABLE,
        CF_REASON_UNKNOWN_SCHEMA,
        CF_REASON_TOO_LARGE,
        CF_REASON_INVALID_FIELD,
        CF_REASON_UNSAFE_ID,
        CF_REASON_INVALID_JSON,
        CF_REASON_UNKNOWN_TYPE,
        NULL,
    };
    size_t n = strcspn(name, ".");
    if (!name[n] || n >= size)
        return NULL;
    memcpy(buf, name, n);
    buf[n] = '\0';
    for (size_t i = 0; codes[i]; i++) {
        if (strcmp(codes[i], buf) == 0)
            return buf;
    }
    return NULL;
}

/* One input; returns 0, or -1 after print_error() says why. */
static int replay(struct cf_fuzz *fz, const char *consumer, const struct input *it)
{
    char problem[1024], code[64];
    struct cf_fuzz_outcome out;
    if (cf_fuzz_run(fz, it->data, it->len, &out, problem, sizeof(problem)) < 0) {
        print_error("%s/%s: %s\n", consumer, it->name, problem);
        return -1;
    }
    const char *want = expected_code(it->name, code, sizeof(code));
    if (!want)
        return 0;
    if (strcmp(want, "ok") == 0 ? out.rc == 0
                                : out.rc < 0 && strncmp(out.reason, want, strlen(want)) == 0 &&
                                      out.reason[strlen(want)] == ':')
        return 0;
    print_error("%s/%s: expected %s, got %s\n", consumer, it->name, want,
                out.rc == 0 ? "ok (planned)" : out.reason);
    return -1;
}

static void replay_consumer(const char *consumer)
{
    char err[1024];
    struct inputs in;
    const struct cf_consumer_def *def = cf_fuzz_consumer_def(consumer);
    assert_non_null(def);
    struct cf_fuzz *fz = cf_fuzz_new(def, CF_SOURCE_DIR "/schemas",
                                     CF_SOURCE_DIR "/tools/fuzz/schemas", err, sizeof(err));
    if (!fz)
        fail_msg("%s: %s", consumer, err);
    inputs_load(consumer, &in);
    size_t failed = 0;
    for (size_t i = 0; i < in.n; i++)
        failed += replay(fz, consumer, &in.items[i]) < 0;
    for (size_t i = in.n; i-- > 0;)
        failed += replay(fz, consumer, &in.items[i]) < 0;
    cf_fuzz_destroy(fz);
    size_t n = in.n;
    inputs_free(&in);
    if (failed)
        fail_msg("%s: %zu of %zu replays failed (above)", consumer, failed, 2 * n);
}

static void test_products(void **state)
{
    (void)state;
    replay_consumer("products");
}

static void test_carts(void **state)
{
    (void)state;
    replay_consumer("carts");
}

static void test_orders(void **state)
{
    (void)state;
    replay_consumer("orders");
}

static void test_access(void **state)
{
    (void)state;
    replay_consumer("access");
}

static void test_stock(void **state)
{
    (void)state;
    replay_consumer("stock");
}

static void test_json(void **state)
{
    (void)state;
    struct inputs in;
    size_t failed = 0;
    inputs_load("json", &in);
    for (size_t i = 0; i < in.n; i++) {
        const struct input *it = &in.items[i];
        char problem[1024];
        if (cf_fuzz_json_check(it->data, it->len, problem, sizeof(problem)) < 0) {
            print_error("json/%s: %s\n", it->name, problem);
            failed++;
            continue;
        }
        int valid = cf_json_validate((const char *)it->data, it->len, 64, NULL, 0) == 0;
        if ((strncmp(it->name, "valid.", 6) == 0 && !valid) ||
            (strncmp(it->name, "invalid.", 8) == 0 && valid)) {
            print_error("json/%s: cf_json_validate says %s\n", it->name,
                        valid ? "valid" : "invalid");
            failed++;
        }
    }
    size_t n = in.n;
    inputs_free(&in);
    if (failed)
        fail_msg("json: %zu of %zu inputs failed (above)", failed, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products), cmocka_unit_test(test_carts),
        cmocka_unit_test(test_orders),   cmocka_unit_test(test_access),
        cmocka_unit_test(test_stock),    cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
