/* test_config.c - cf_config_load() and friends (common/config.c).
 *
 * Two tables, as a program has them (the runtime's and a consumer's), fill
 * two structs.  Every test gets a fresh temporary directory for its files
 * and frees what was loaded in teardown, so the ASan build checks that
 * cf_config_free() releases everything, including after a failed load.
 * Errors are checked by the substrings a user needs: the setting path and
 * file:line or the environment variable.
 */
#include "config.h"
#include "testutil.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Recognisable, so a leak into an error or the printout cannot hide. */
#define SECRET "hunter2-Zq7-TOPSECRET"

struct runtime_cfg {
    char *redis_host;
    long long redis_port;
    int redis_tls;
    char *redis_password;
    char *log_level;
    long long batch_max;
    struct cf_properties kafka_props;
    char *note;
    long long pin;
    char *mode;
};

struct consumer_cfg {
    char *slice;
    int dry_run;
    long long shards;
};

static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const modes[] = {"alpha", "beta", NULL};

static const struct cf_setting runtime_settings[] = {
    {"redis.host", CF_SETTING_STRING, offsetof(struct runtime_cfg, redis_host), "127.0.0.1", 0, 0,
     NULL, 0, "Redis host."},
    {"redis.port", CF_SETTING_INT, offsetof(struct runtime_cfg, redis_port), "6379", 1, 65535, NULL,
     0, "Redis port."},
    {"redis.tls", CF_SETTING_BOOL, offsetof(struct runtime_cfg, redis_tls), "false", 0, 0, NULL, 0,
     "Use TLS | or not."},
    {"redis.password", CF_SETTING_STRING, offsetof(struct runtime_cfg, redis_password), NULL, 0, 0,
     NULL, CF_SETTING_SECRET | CF_SETTING_FILE_TWIN, "Redis password."},
    {"log.level", CF_SETTING_STRING, offsetof(struct runtime_cfg, log_level), "info", 0, 0, levels,
     0, "Log level."},
    {"kafka.batch_max", CF_SETTING_INT, offsetof(struct runtime_cfg, batch_max), "500", 1, 100000,
     NULL, CF_SETTING_FILE_TWIN, "Largest batch."},
    {"kafka.property", CF_SETTING_PROPERTIES, offsetof(struct runtime_cfg, kafka_props), NULL, 0, 0,
     NULL, 0, "librdkafka properties."},
    {"app.note", CF_SETTING_STRING, offsetof(struct runtime_cfg, note), NULL, 0, 0, NULL, 0,
     "A note."},
    {"auth.pin", CF_SETTING_INT, offsetof(struct runtime_cfg, pin), NULL, 1000, 9999, NULL,
     CF_SETTING_SECRET, "A secret number."},
    {"auth.mode", CF_SETTING_STRING, offsetof(struct runtime_cfg, mode), "alpha", 0, 0, modes,
     CF_SETTING_SECRET, "A secret choice."},
};

static const struct cf_setting consumer_settings[] = {
    {"consumer.slice", CF_SETTING_STRING, offsetof(struct consumer_cfg, slice), "products", 0, 0,
     NULL, 0, "Slice (default: <consumer> & co)."},
    {"consumer.dry_run", CF_SETTING_BOOL, offsetof(struct consumer_cfg, dry_run), "no", 0, 0, NULL,
     0, "Dry run."},
    {"consumer.shards", CF_SETTING_INT, offsetof(struct consumer_cfg, shards), "4", 1, 64, NULL, 0,
     "Shards."},
};

#define NSETTINGS(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
    char dir[256];
    struct runtime_cfg rt;
    struct consumer_cfg cs;
    struct cf_setting_table tables[2];
    char warnings[1024];
    char err[512];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    cf_test_tmpdir("config", fx->dir, sizeof(fx->dir));
    fx->tables[0].settings = runtime_settings;
    fx->tables[0].count = NSETTINGS(runtime_settings);
    fx->tables[0].base = &fx->rt;
    fx->tables[1].settings = consumer_settings;
    fx->tables[1].count = NSETTINGS(consumer_settings);
    fx->tables[1].base = &fx->cs;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cf_config_free(fx->tables, 2);
    cf_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* Writes "<dir>/<name>" into buf; returns buf. */
static char *fx_path(const struct fixture *fx, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", fx->dir, name);
    assert_true(n > 0 && (size_t)n < size);
    return buf;
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
}

/* Writes content to "<dir>/<name>" and returns its path in buf. */
static char *fx_file(const struct fixture *fx, const char *name, const char *content, char *buf,
                     size_t size)
{
    fx_path(fx, name, buf, size);
    write_file(buf, content);
    return buf;
}

/* Loads into the fixture's structs, freeing a previous load first. */
static int fx_load(struct fixture *fx, const char *path, char *const *envp)
{
    cf_config_free(fx->tables, 2);
    return cf_config_load(path, envp, fx->tables, 2, fx->warnings, sizeof(fx->warnings), fx->err,
                          sizeof(fx->err));
}

static void assert_contains(const char *what, const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("%s: \"%s\" not found in \"%s\"", what, needle, haystack);
}

static void assert_lacks(const char *what, const char *haystack, const char *needle)
{
    if (strstr(haystack, needle))
        fail_msg("%s: \"%s\" must not appear in \"%s\"", what, needle, haystack);
}

static const char *prop_get(const struct cf_properties *props, const char *name)
{
    for (size_t i = 0; i < props->count; i++) {
        if (strcmp(props->names[i], name) == 0)
            return props->values[i];
    }
    return NULL;
}

/* Runs cf_config_print() or cf_config_reference() into a string (free it). */
static char *capture(void (*fn)(const struct cf_setting_table *, size_t, void *),
                     const struct cf_setting_table *tables, size_t ntables)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fn(tables, ntables, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(text);
    return text;
}

/* ------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------ */

static void test_defaults_applied(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(fx_load(fx, NULL, NULL), 0);
    assert_string_equal(fx->err, "");
    assert_string_equal(fx->warnings, "");
    assert_string_equal(fx->rt.redis_host, "127.0.0.1");
    assert_int_equal(fx->rt.redis_port, 6379);
    assert_int_equal(fx->rt.redis_tls, 0);
    assert_string_equal(fx->rt.redis_password, ""); /* NULL default: "" */
    assert_string_equal(fx->rt.log_level, "info");
    assert_int_equal(fx->rt.batch_max, 500);
    assert_int_equal(fx->rt.kafka_props.count, 0);
    assert_string_equal(fx->rt.note, "");
    assert_int_equal(fx->rt.pin, 0); /* no default: 0, not held to 1000..9999 */
    assert_string_equal(fx->rt.mode, "alpha");
    assert_string_equal(fx->cs.slice, "products");
    assert_int_equal(fx->cs.dry_run, 0);
    assert_int_equal(fx->cs.shards, 4);
}

static void test_file_overrides_defaults(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    fx_file(fx, "c.conf",
            "# products consumer\n"
            "redis = {\n"
            "  host = \"redis.internal\";\n"
            "  port = 6380;\n"
            "  tls = true;\n"
            "};\n"
            "log: { level = \"debug\"; };\n"
            "kafka = { batch_max = 1000L; };\n" /* libconfig int64 */
            "consumer = { shards = 8; dry_run = true; };\n",
            path, sizeof(path));
    assert_int_equal(fx_load(fx, path, NULL), 0);
    assert_string_equal(fx->rt.redis_host, "redis.internal");
    assert_int_equal(fx->rt.redis_port, 6380);
    assert_int_equal(fx->rt.redis_tls, 1);
    assert_string_equal(fx->rt.log_level, "debug");
    assert_int_equal(fx->rt.batch_max, 1000);
    assert_int_equal(fx->cs.shards, 8);
    assert_int_equal(fx->cs.dry_run, 1);
    /* not in the file: the defaults stay */
    assert_string_equal(fx->cs.slice, "products");
    assert_string_equal(fx->rt.mode, "alpha");
}

static void test_env_overrides_file(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    fx_file(fx, "c.conf",
            "redis = { host = \"file-host\"; port = 6380; };\n"
            "log = { level = \"debug\"; };\n",
            path, sizeof(path));
    char *envp[] = {"PATH=/usr/bin",
                    "CACHEFLEET_REDIS_PORT=6381",
                    "CACHEFLEET_CONSUMER_DRY_RUN=YES",
                    "CACHEFLEET_LOG_LEVEL=warn",
                    "CACHEFLEET_APP_NOTE=",
                    NULL};
    assert_int_equal(fx_load(fx, path, envp), 0);
    assert_int_equal(fx->rt.redis_port, 6381);
    assert_string_equal(fx->rt.redis_host, "file-host"); /* not in env: the file's */
    assert_string_equal(fx->rt.log_level, "warn");
    assert_int_equal(fx->cs.dry_run, 1);
    assert_string_equal(fx->rt.note, "");
    assert_string_equal(fx->warnings, "");
}

static void test_env_accepted_forms(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        char *entry;
        int tls;
    } bools[] = {
        {"CACHEFLEET_REDIS_TLS=true", 1}, {"CACHEFLEET_REDIS_TLS=FALSE", 0},
        {"CACHEFLEET_REDIS_TLS=1", 1},    {"CACHEFLEET_REDIS_TLS=0", 0},
        {"CACHEFLEET_REDIS_TLS=Yes", 1},  {"CACHEFLEET_REDIS_TLS=no", 0},
    };
    /* the file sets the opposite value, so each case can fail */
    char on[512], off[512];
    fx_file(fx, "on.conf", "redis = { tls = true; };\n", on, sizeof(on));
    fx_file(fx, "off.conf", "redis = { tls = false; };\n", off, sizeof(off));
    for (size_t i = 0; i < NSETTINGS(bools); i++) {
        char *envp[] = {bools[i].entry, NULL};
        assert_int_equal(fx_load(fx, bools[i].tls ? off : on, envp), 0);
        if (fx->rt.redis_tls != bools[i].tls)
            fail_msg("%s gave %d", bools[i].entry, fx->rt.redis_tls);
    }

    static const struct {
        char *entry;
        long long shards;
    } ints[] = {
        {"CACHEFLEET_CONSUMER_SHARDS=+7", 7},
        {"CACHEFLEET_CONSUMER_SHARDS=010", 10}, /* decimal, not octal */
        {"CACHEFLEET_CONSUMER_SHARDS=64", 64},  /* max is inclusive */
        {"CACHEFLEET_CONSUMER_SHARDS=1", 1},    /* min is inclusive */
    };
    for (size_t i = 0; i < NSETTINGS(ints); i++) {
        char *envp[] = {ints[i].entry, NULL};
        assert_int_equal(fx_load(fx, NULL, envp), 0);
        if (fx->cs.shards != ints[i].shards)
            fail_msg("%s gave %lld", ints[i].entry, fx->cs.shards);
    }
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

static void test_file_errors(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        const char *content;
        const char *expect[2];
    } cases[] = {
        {"redis = {\n  port = \"6379\";\n};\n",
         {"bad.conf:2: setting redis.port: expected an integer, not a string"}},
        {"redis = {\n  port = 63.79;\n};\n",
         {"bad.conf:2: setting redis.port: expected an integer, not a floating-point number"}},
        {"redis = {\n  port = 70000;\n};\n",
         {"bad.conf:2: setting redis.port: 70000 is out of range 1..65535"}},
        {"redis = { port = 0; };\n",
         {"bad.conf:1: setting redis.port: 0 is out of range 1..65535"}},
        {"kafka = { batch_max = 10000000000L; };\n",
         {"bad.conf:1: setting kafka.batch_max: 10000000000 is out of range 1..100000"}},
        {"\nredis = { tls = \"yes\"; };\n",
         {"bad.conf:2: setting redis.tls: expected a boolean (true or false), not a string"}},
        {"redis = { host = 5; };\n",
         {"bad.conf:1: setting redis.host: expected a string, not an "
          "integer"}},
        {"redis = { host = (\"a\", \"b\"); };\n",
         {"setting redis.host: expected a string, not a list"}},
        {"log = {\n  level = \"verbose\";\n};\n",
         {"bad.conf:2: setting log.level: \"verbose\" is not one of: debug, info, warn, error"}},
        {"redis = {\n  host = \"h\";\n  prot = 6379;\n};\n",
         {"bad.conf:3: unknown setting redis.prot"}},
        {"\n\nfoo = 1;\n", {"bad.conf:3: unknown setting foo"}},
        {"metrics = { port = 9090; };\n", {"bad.conf:1: unknown setting metrics"}},
        {"redis = 5;\n",
         {"bad.conf:1: setting redis: expected a group of settings, not an integer"}},
        {"redis = {\n  port = { value = 1; };\n};\n",
         {"bad.conf:2: setting redis.port: expected an integer, not a group"}},
        {"kafka = { property = \"acks=all\"; };\n",
         {"setting kafka.property: expected a group of name = value pairs, not a string"}},
        {"kafka = {\n  property = {\n    acks = [1, 2];\n  };\n};\n",
         {"bad.conf:3: setting kafka.property.acks: expected a string, an integer or a "
          "boolean, not an array"}},
        {"kafka = { property = { linger_ms = 5.5; }; };\n",
         {"setting kafka.property.linger_ms: expected a string, an integer or a boolean, not a "
          "floating-point number"}},
        {"redis = {\n  port = ;\n};\n", {"bad.conf:2: syntax error"}},
        {"redis = { port = 1; };\nredis = { port = 2; };\n", {"bad.conf:2: duplicate setting"}},
        {"redis = {\n  password = \"x\";\n  password_file = \"/nonexistent\";\n};\n",
         {"bad.conf:2: setting redis.password: both redis.password and redis.password_file are "
          "given"}},
        {"redis = {\n  password_file = \"/nonexistent\";\n  password = \"x\";\n};\n",
         {"bad.conf:2: setting redis.password: both redis.password and redis.password_file are "
          "given"}},
        {"kafka = { batch_max_file = 5; };\n",
         {"setting kafka.batch_max_file: expected a string (the path of a file), not an integer"}},
        {"redis = { host_file = \"/x\"; };\n", /* host has no twin */
         {"bad.conf:1: unknown setting redis.host_file"}},
        /* libconfig 1.5 would read these as 1 and 4 */
        {"redis = {\n  port = 4294967297;\n};\n",
         {"bad.conf:2: integer 4294967297 does not fit in 32 bits", "write 4294967297L"}},
        {"consumer = { shards = 0x100000004; };\n",
         {"bad.conf:1: integer 0x100000004 does not fit in 32 bits"}},
    };
    char path[512];
    fx_path(fx, "bad.conf", path, sizeof(path));
    for (size_t i = 0; i < NSETTINGS(cases); i++) {
        write_file(path, cases[i].content);
        if (fx_load(fx, path, NULL) != -1)
            fail_msg("case %zu (%s) loaded", i, cases[i].content);
        /* every message starts with the file's path */
        if (strncmp(fx->err, path, strlen(path)) != 0)
            fail_msg("case %zu: \"%s\" does not start with %s", i, fx->err, path);
        for (size_t j = 0; j < 2 && cases[i].expect[j]; j++)
            assert_contains(cases[i].content, fx->err, cases[i].expect[j]);
    }
}

static void test_env_errors(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        char *entry[3];
        const char *expect;
    } cases[] = {
        {{"CACHEFLEET_REDIS_PORT=ten"},
         "environment CACHEFLEET_REDIS_PORT: setting redis.port: \"ten\" is not an integer"},
        {{"CACHEFLEET_REDIS_PORT=6379x"}, "setting redis.port: \"6379x\" is not an integer"},
        {{"CACHEFLEET_REDIS_PORT="}, "setting redis.port: \"\" is not an integer"},
        {{"CACHEFLEET_REDIS_PORT= 6379"}, "setting redis.port: \" 6379\" is not an integer"},
        {{"CACHEFLEET_REDIS_PORT=0x10"}, "setting redis.port: \"0x10\" is not an integer"},
        {{"CACHEFLEET_REDIS_PORT=a\nb"}, "setting redis.port: \"a\\x0ab\" is not an integer"},
        {{"CACHEFLEET_REDIS_PORT=70000"},
         "environment CACHEFLEET_REDIS_PORT: setting redis.port: 70000 is out of range 1..65535"},
        {{"CACHEFLEET_REDIS_PORT=99999999999999999999"},
         "setting redis.port: \"99999999999999999999\" is out of range 1..65535"},
        {{"CACHEFLEET_REDIS_TLS=maybe"},
         "environment CACHEFLEET_REDIS_TLS: setting redis.tls: \"maybe\" is not a boolean"},
        {{"CACHEFLEET_REDIS_TLS="}, "setting redis.tls: \"\" is not a boolean"},
        {{"CACHEFLEET_LOG_LEVEL=verbose"},
         "environment CACHEFLEET_LOG_LEVEL: setting log.level: \"verbose\" is not one of: debug, "
         "info, warn, error"},
        {{"CACHEFLEET_CONSUMER_SHARDS=0"},
         "environment CACHEFLEET_CONSUMER_SHARDS: setting consumer.shards: 0 is out of range "
         "1..64"},
        {{"CACHEFLEET_KAFKA_BATCH_MAX=5", "CACHEFLEET_KAFKA_BATCH_MAX_FILE=/nonexistent"},
         "environment CACHEFLEET_KAFKA_BATCH_MAX and CACHEFLEET_KAFKA_BATCH_MAX_FILE: setting "
         "kafka.batch_max: both are set"},
        {{"CACHEFLEET_KAFKA_BATCH_MAX_FILE=/nonexistent/cachefleet-batch"},
         "environment CACHEFLEET_KAFKA_BATCH_MAX_FILE: setting kafka.batch_max: cannot read the "
         "file /nonexistent/cachefleet-batch: No such file or directory"},
    };
    for (size_t i = 0; i < NSETTINGS(cases); i++) {
        char *envp[4] = {NULL};
        for (size_t j = 0; j < 3 && cases[i].entry[j]; j++)
            envp[j] = cases[i].entry[j];
        if (fx_load(fx, NULL, envp) != -1)
            fail_msg("case %zu (%s) loaded", i, cases[i].entry[0]);
        assert_contains(cases[i].entry[0], fx->err, cases[i].expect);
        assert_null(strchr(fx->err, '\n')); /* one line, whatever the value */
    }
}

static void test_unknown_env_warns(void **state)
{
    struct fixture *fx = *state;
    char *envp[] = {"CACHEFLEET_REDIS_PROT=6379",
                    "HOME=/root",
                    "CACHEFLEETX=1",
                    "CACHEFLEET_REDIS_PORT=6380",
                    "CACHEFLEET_REDIS_PASSWORD_FILE=/dev/null", /* a twin: known */
                    "CACHEFLEET_REDIS_HOST_FILE=/dev/null",     /* host has no twin */
                    "CACHEFLEET_KAFKA_PROPERTY=acks=all",       /* needs a name */
                    "CACHEFLEET_KAFKA_PROPERTY_ACKS=all",       /* a property: known */
                    NULL};
    assert_int_equal(fx_load(fx, NULL, envp), 0);
    assert_int_equal(fx->rt.redis_port, 6380);
    assert_string_equal(fx->warnings,
                        "unknown environment variable CACHEFLEET_REDIS_PROT ignored\n"
                        "unknown environment variable CACHEFLEET_REDIS_HOST_FILE ignored\n"
                        "unknown environment variable CACHEFLEET_KAFKA_PROPERTY ignored\n");

    /* warnings may be NULL */
    cf_config_free(fx->tables, 2);
    assert_int_equal(cf_config_load(NULL, envp, fx->tables, 2, NULL, 0, fx->err, sizeof(fx->err)),
                     0);
    assert_int_equal(fx->rt.redis_port, 6380);

    /* a line that does not fit is dropped whole */
    char small[70];
    cf_config_free(fx->tables, 2);
    assert_int_equal(
        cf_config_load(NULL, envp, fx->tables, 2, small, sizeof(small), fx->err, sizeof(fx->err)),
        0);
    assert_string_equal(small, "unknown environment variable CACHEFLEET_REDIS_PROT ignored\n");
}

static void test_missing_file(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    fx_path(fx, "missing.conf", path, sizeof(path));
    assert_int_equal(fx_load(fx, path, NULL), -1);
    assert_contains("missing", fx->err, path);
    assert_contains("missing", fx->err, "No such file or directory");

    assert_int_equal(fx_load(fx, fx->dir, NULL), -1);
    assert_contains("directory", fx->err, fx->dir);
    assert_contains("directory", fx->err, "Is a directory");
}

static void test_include_names_included_file(void **state)
{
    struct fixture *fx = *state;
    char inc[512], main_conf[512], text[700];
    fx_file(fx, "inc.conf", "\nredis = { port = 0; };\n", inc, sizeof(inc));
    snprintf(text, sizeof(text), "app = { note = \"x\"; };\n@include \"%s\"\n", inc);
    fx_file(fx, "main.conf", text, main_conf, sizeof(main_conf));
    assert_int_equal(fx_load(fx, main_conf, NULL), -1);
    assert_contains("include", fx->err, "inc.conf:2: setting redis.port: 0 is out of range");
}

static void test_literals_in_comments_and_strings_pass(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    fx_file(fx, "ok.conf",
            "# 99999999999\n"
            "// 99999999999\n"
            "/* 99999999999\n 99999999999 */\n"
            "app = { note = \"99999999999 \\\" 99999999999\"; };\n"
            "redis = { tls = true# 99999999999\n; port = 0x1F; };\n"
            "kafka = { property = { big = 99999999999L; ratio = \"1e10\"; n = -2147483648; }; };\n",
            path, sizeof(path));
    if (fx_load(fx, path, NULL) != 0)
        fail_msg("%s", fx->err);
    assert_string_equal(fx->rt.note, "99999999999 \" 99999999999");
    assert_int_equal(fx->rt.redis_port, 31);
    assert_int_equal(fx->rt.redis_tls, 1);
    assert_string_equal(prop_get(&fx->rt.kafka_props, "big"), "99999999999");
    assert_string_equal(prop_get(&fx->rt.kafka_props, "n"), "-2147483648");
}

/* ------------------------------------------------------------------------
 * File twins
 * ------------------------------------------------------------------------ */

static void test_file_twin(void **state)
{
    struct fixture *fx = *state;
    char pw[512], conf[512], text[1024];
    static const struct {
        const char *content;
        const char *value;
    } strips[] = {
        /* one "\n" or "\r\n" is stripped, and only one */
        {SECRET "\n", SECRET}, {"abc\r\n", "abc"}, {"abc\n\n", "abc\n"}, {"abc", "abc"}, {"", ""},
    };
    fx_path(fx, "pw", pw, sizeof(pw));
    snprintf(text, sizeof(text), "redis = { password_file = \"%s\"; };\n", pw);
    fx_file(fx, "twin.conf", text, conf, sizeof(conf));
    for (size_t i = 0; i < NSETTINGS(strips); i++) {
        write_file(pw, strips[i].content);
        assert_int_equal(fx_load(fx, conf, NULL), 0);
        assert_string_equal(fx->rt.redis_password, strips[i].value);
    }

    /* from the environment, for an integer */
    char batch[512], entry[600];
    fx_file(fx, "batch", "250\n", batch, sizeof(batch));
    snprintf(entry, sizeof(entry), "CACHEFLEET_KAFKA_BATCH_MAX_FILE=%s", batch);
    char *envp[] = {entry, NULL};
    assert_int_equal(fx_load(fx, NULL, envp), 0);
    assert_int_equal(fx->rt.batch_max, 250);

    /* its content is checked like any value, naming the file */
    write_file(batch, "many\n");
    assert_int_equal(fx_load(fx, NULL, envp), -1);
    assert_contains("twin int", fx->err, "environment CACHEFLEET_KAFKA_BATCH_MAX_FILE (file ");
    assert_contains("twin int", fx->err,
                    "batch): setting kafka.batch_max: \"many\" is not an "
                    "integer");
}

static void test_file_twin_layers(void **state)
{
    struct fixture *fx = *state;
    char pw[512], conf[512], text[1024], entry[600];
    fx_file(fx, "pw", SECRET "\n", pw, sizeof(pw));

    /* the environment's twin beats the file's value */
    fx_file(fx, "a.conf", "redis = { password = \"from-file\"; };\n", conf, sizeof(conf));
    snprintf(entry, sizeof(entry), "CACHEFLEET_REDIS_PASSWORD_FILE=%s", pw);
    char *env_twin[] = {entry, NULL};
    assert_int_equal(fx_load(fx, conf, env_twin), 0);
    assert_string_equal(fx->rt.redis_password, SECRET);

    /* the environment's value beats the file's twin */
    snprintf(text, sizeof(text), "redis = { password_file = \"%s\"; };\n", pw);
    fx_file(fx, "b.conf", text, conf, sizeof(conf));
    char *env_value[] = {"CACHEFLEET_REDIS_PASSWORD=from-env", NULL};
    assert_int_equal(fx_load(fx, conf, env_value), 0);
    assert_string_equal(fx->rt.redis_password, "from-env");
}

static void test_file_twin_unreadable(void **state)
{
    struct fixture *fx = *state;
    char nope[512], conf[512], text[1024];
    fx_path(fx, "nope", nope, sizeof(nope));
    snprintf(text, sizeof(text), "redis = {\n  password_file = \"%s\";\n};\n", nope);
    fx_file(fx, "twin.conf", text, conf, sizeof(conf));
    assert_int_equal(fx_load(fx, conf, NULL), -1);
    assert_contains("unreadable", fx->err,
                    "twin.conf:2: setting redis.password: cannot read the "
                    "file ");
    assert_contains("unreadable", fx->err, nope);
    assert_contains("unreadable", fx->err, "No such file or directory");

    /* a directory is not a value either */
    snprintf(text, sizeof(text), "redis = {\n  password_file = \"%s\";\n};\n", fx->dir);
    write_file(conf, text);
    assert_int_equal(fx_load(fx, conf, NULL), -1);
    assert_contains("directory twin", fx->err, "Is a directory");
}

/* ------------------------------------------------------------------------
 * Secrets
 * ------------------------------------------------------------------------ */

static void test_secret_not_in_errors(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        char *entry;
        const char *expect;
        const char *hidden;
    } env_cases[] = {
        {"CACHEFLEET_AUTH_MODE=" SECRET,
         "environment CACHEFLEET_AUTH_MODE: setting auth.mode: the value is not one of: alpha, "
         "beta",
         SECRET},
        {"CACHEFLEET_AUTH_PIN=" SECRET, "setting auth.pin: the value is not an integer", SECRET},
        {"CACHEFLEET_AUTH_PIN=123456", "setting auth.pin: the value is out of range 1000..9999",
         "123456"},
    };
    for (size_t i = 0; i < NSETTINGS(env_cases); i++) {
        char *envp[] = {env_cases[i].entry, NULL};
        assert_int_equal(fx_load(fx, NULL, envp), -1);
        assert_contains(env_cases[i].entry, fx->err, env_cases[i].expect);
        assert_lacks(env_cases[i].entry, fx->err, env_cases[i].hidden);
    }

    static const char *const file_cases[] = {
        "auth = { pin = 98765; };\n",
        "auth = { mode = \"" SECRET "\"; };\n",
        "redis = { password = \"" SECRET "\"; prot = 1; };\n",
        "redis = { password = \"" SECRET "\"; }; kafka = { batch_max = 0; };\n",
        "redis = { password = \"" SECRET "\"; port = ; };\n",
        "redis = { password = \"" SECRET "\"; password_file = \"/x\"; };\n",
    };
    char path[512];
    fx_path(fx, "s.conf", path, sizeof(path));
    for (size_t i = 0; i < NSETTINGS(file_cases); i++) {
        write_file(path, file_cases[i]);
        assert_int_equal(fx_load(fx, path, NULL), -1);
        assert_contains(file_cases[i], fx->err, "s.conf:1:");
        assert_lacks(file_cases[i], fx->err, SECRET);
        assert_lacks(file_cases[i], fx->err, "98765");
    }
}

static void test_secret_not_printed(void **state)
{
    struct fixture *fx = *state;
    char *envp[] = {"CACHEFLEET_REDIS_PASSWORD=" SECRET,
                    "CACHEFLEET_AUTH_PIN=4321",
                    "CACHEFLEET_KAFKA_PROPERTY_SASL_PASSWORD=" SECRET,
                    "CACHEFLEET_KAFKA_PROPERTY_SASL_OAUTHBEARER_CLIENT_SECRET=" SECRET,
                    "CACHEFLEET_KAFKA_PROPERTY_SSL_KEY_PEM=" SECRET,
                    "CACHEFLEET_KAFKA_PROPERTY_SASL_USERNAME=svc",
                    NULL};
    assert_int_equal(fx_load(fx, NULL, envp), 0);
    assert_string_equal(fx->rt.redis_password, SECRET); /* loaded, only hidden */
    char *out = capture(cf_config_print, fx->tables, 2);
    assert_lacks("print", out, SECRET);
    assert_lacks("print", out, "4321");
    assert_contains("print", out, "redis.password = (set);\n");
    assert_contains("print", out, "auth.pin = (set);\n");
    assert_contains("print", out, "auth.mode = (set);\n");
    assert_contains("print", out, "kafka.property.sasl.password = (set);\n");
    assert_contains("print", out, "kafka.property.sasl.oauthbearer.client.secret = (set);\n");
    assert_contains("print", out, "kafka.property.ssl.key.pem = (set);\n");
    assert_contains("print", out, "kafka.property.sasl.username = \"svc\";\n");
    free(out);

    assert_int_equal(fx_load(fx, NULL, NULL), 0);
    out = capture(cf_config_print, fx->tables, 2);
    assert_contains("print unset", out, "redis.password = (unset);\n");
    free(out);
}

/* ------------------------------------------------------------------------
 * Properties
 * ------------------------------------------------------------------------ */

static void test_properties_file_and_env(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    fx_file(fx, "p.conf",
            "kafka = {\n"
            "  property = {\n"
            "    security_protocol = \"SSL\";\n"
            "    batch_num_messages = 100;\n"
            "    enable_idempotence = true;\n"
            "  };\n"
            "};\n",
            path, sizeof(path));
    assert_int_equal(fx_load(fx, path, NULL), 0);
    const struct cf_properties *props = &fx->rt.kafka_props;
    assert_int_equal(props->count, 3);
    assert_string_equal(prop_get(props, "security.protocol"), "SSL");
    assert_string_equal(prop_get(props, "batch.num.messages"), "100");
    assert_string_equal(prop_get(props, "enable.idempotence"), "true");

    char *envp[] = {"CACHEFLEET_KAFKA_PROPERTY_SECURITY_PROTOCOL=SASL_SSL",
                    "CACHEFLEET_KAFKA_PROPERTY_SASL_USERNAME=svc", NULL};
    assert_int_equal(fx_load(fx, path, envp), 0);
    assert_int_equal(props->count, 4); /* overridden, not added twice */
    assert_string_equal(prop_get(props, "security.protocol"), "SASL_SSL");
    assert_string_equal(prop_get(props, "sasl.username"), "svc");
    assert_string_equal(prop_get(props, "batch.num.messages"), "100");
    assert_string_equal(fx->warnings, "");
}

/* ------------------------------------------------------------------------
 * Output, names, freeing
 * ------------------------------------------------------------------------ */

static void test_print(void **state)
{
    struct fixture *fx = *state;
    char *envp[] = {"CACHEFLEET_REDIS_HOST=a\"b\\c\td", "CACHEFLEET_KAFKA_PROPERTY_CLIENT_ID=x",
                    NULL};
    assert_int_equal(fx_load(fx, NULL, envp), 0);
    char *out = capture(cf_config_print, fx->tables, 2);
    static const char *const lines[] = {
        "redis.host = \"a\\\"b\\\\c\\td\";\n",
        "redis.port = 6379;\n",
        "redis.tls = false;\n",
        "log.level = \"info\";\n",
        "kafka.batch_max = 500;\n",
        "kafka.property.client.id = \"x\";\n",
        "app.note = \"\";\n",
        "consumer.slice = \"products\";\n",
        "consumer.dry_run = false;\n",
        "consumer.shards = 4;\n",
    };
    for (size_t i = 0; i < NSETTINGS(lines); i++)
        assert_contains("print", out, lines[i]);
    free(out);
}

static void test_reference(void **state)
{
    struct fixture *fx = *state;
    char *out = capture(cf_config_reference, fx->tables, 2);
    static const char *const rows[] = {
        "| setting | environment | default | allowed | meaning |\n|---|---|---|---|---|\n",
        "| `redis.port` | `CACHEFLEET_REDIS_PORT` | `6379` | 1..65535 | Redis port. |\n",
        "| `redis.tls` | `CACHEFLEET_REDIS_TLS` | `false` | `true`, `false` | Use TLS \\| or "
        "not. |\n",
        "| `log.level` | `CACHEFLEET_LOG_LEVEL` | `info` | `debug`, `info`, `warn`, `error` | "
        "Log level. |\n",
        "| `redis.password` or `redis.password_file` | `CACHEFLEET_REDIS_PASSWORD` or "
        "`CACHEFLEET_REDIS_PASSWORD_FILE` | (empty) | a string |",
        "| `kafka.property.<name>` | `CACHEFLEET_KAFKA_PROPERTY_<NAME>` | (none) |",
        "| `consumer.dry_run` | `CACHEFLEET_CONSUMER_DRY_RUN` | `false` |",
        "| `consumer.slice` | `CACHEFLEET_CONSUMER_SLICE` | `products` | a string | Slice "
        "(default: "
        "&lt;consumer&gt; &amp; co). |\n",
    };
    for (size_t i = 0; i < NSETTINGS(rows); i++)
        assert_contains("reference", out, rows[i]);
    size_t lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + NSETTINGS(runtime_settings) + NSETTINGS(consumer_settings));
    free(out);
}

static void test_env_name(void **state)
{
    (void)state;
    char buf[64];
    assert_ptr_equal(cf_config_env_name("kafka.batch_max", buf, sizeof(buf)), buf);
    assert_string_equal(buf, "CACHEFLEET_KAFKA_BATCH_MAX");
    char small[8];
    assert_ptr_equal(cf_config_env_name("kafka.batch_max", small, sizeof(small)), small);
    assert_string_equal(small, "CACHEFL");
}

static void test_free_zeroes(void **state)
{
    struct fixture *fx = *state;
    char *envp[] = {"CACHEFLEET_KAFKA_PROPERTY_ACKS=all", NULL};
    assert_int_equal(fx_load(fx, NULL, envp), 0);
    assert_int_equal(fx->rt.kafka_props.count, 1);
    cf_config_free(fx->tables, 2);
    assert_null(fx->rt.redis_host);
    assert_null(fx->rt.redis_password);
    assert_null(fx->cs.slice);
    assert_int_equal(fx->rt.kafka_props.count, 0);
    assert_null(fx->rt.kafka_props.names);
    assert_null(fx->rt.kafka_props.values);
    cf_config_free(fx->tables, 2); /* twice is harmless */
}

static void test_failed_load_keeps_what_it_filled(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    fx_file(fx, "c.conf",
            "redis = { host = \"file-host\"; };\n"
            "kafka = { property = { acks = \"all\"; }; };\n",
            path, sizeof(path));
    char *envp[] = {"CACHEFLEET_CONSUMER_SHARDS=many", NULL};
    assert_int_equal(fx_load(fx, path, envp), -1);
    assert_contains("partial", fx->err, "CACHEFLEET_CONSUMER_SHARDS");
    /* owned by the struct; teardown frees them (the ASan run checks) */
    assert_string_equal(fx->rt.redis_host, "file-host");
    assert_string_equal(prop_get(&fx->rt.kafka_props, "acks"), "all");
}

/* A "" default means none, as NULL does: not held to choices or range. */
static void test_empty_default_is_none(void **state)
{
    (void)state;
    struct any {
        char *level;
        long long n;
        int b;
    } any;
    static const struct cf_setting settings[] = {
        {"log.level", CF_SETTING_STRING, offsetof(struct any, level), "", 0, 0, levels, 0, ""},
        {"a.n", CF_SETTING_INT, offsetof(struct any, n), "", 5, 9, NULL, 0, ""},
        {"a.b", CF_SETTING_BOOL, offsetof(struct any, b), "", 0, 0, NULL, 0, ""},
    };
    struct cf_setting_table table = {settings, NSETTINGS(settings), &any};
    char err[256];
    if (cf_config_load(NULL, NULL, &table, 1, NULL, 0, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(any.level, "");
    assert_int_equal(any.n, 0);
    assert_int_equal(any.b, 0);

    /* given, it is checked */
    char *envp[] = {"CACHEFLEET_A_N=4", NULL};
    cf_config_free(&table, 1);
    assert_int_equal(cf_config_load(NULL, envp, &table, 1, NULL, 0, err, sizeof(err)), -1);
    assert_contains("given", err, "setting a.n: 4 is out of range 5..9");
    cf_config_free(&table, 1);
}

/* ------------------------------------------------------------------------
 * Tables that are wrong
 * ------------------------------------------------------------------------ */

struct any_cfg {
    long long a, b;
    char *s, *t;
    struct cf_properties p;
};

static void test_table_errors(void **state)
{
    (void)state;
    static const struct {
        struct cf_setting settings[2];
        size_t count;
        const char *expect;
    } cases[] = {
        {{{"a.x", CF_SETTING_INT, offsetof(struct any_cfg, a), "1", 0, 9, NULL, 0, ""},
          {"a.x", CF_SETTING_INT, offsetof(struct any_cfg, b), "1", 0, 9, NULL, 0, ""}},
         2,
         "settings table: setting a.x is defined twice"},
        {{{"a.x", CF_SETTING_INT, offsetof(struct any_cfg, a), "1", 9, 0, NULL, 0, ""}},
         1,
         "settings table: setting a.x: min 9 is above max 0"},
        {{{"a..x", CF_SETTING_INT, offsetof(struct any_cfg, a), "1", 0, 9, NULL, 0, ""}},
         1,
         "settings table: setting \"a..x\""},
        {{{"a_b.c", CF_SETTING_INT, offsetof(struct any_cfg, a), "1", 0, 9, NULL, 0, ""},
          {"a.b_c", CF_SETTING_INT, offsetof(struct any_cfg, b), "1", 0, 9, NULL, 0, ""}},
         2,
         "share the environment variable CACHEFLEET_A_B_C"},
        {{{"redis", CF_SETTING_STRING, offsetof(struct any_cfg, s), "", 0, 0, NULL, 0, ""},
          {"redis.port", CF_SETTING_INT, offsetof(struct any_cfg, a), "1", 0, 9, NULL, 0, ""}},
         2,
         "settings redis and redis.port: one is inside the other"},
        {{{"r.pw", CF_SETTING_STRING, offsetof(struct any_cfg, s), "", 0, 0, NULL,
           CF_SETTING_FILE_TWIN, ""},
          {"r.pw_file", CF_SETTING_STRING, offsetof(struct any_cfg, t), "", 0, 0, NULL, 0, ""}},
         2,
         "one is the other's file twin"},
        {{{"k.p", CF_SETTING_PROPERTIES, offsetof(struct any_cfg, p), "acks=all", 0, 0, NULL, 0,
           ""}},
         1,
         "setting k.p: a properties setting has no default"},
        {{{"a.x", CF_SETTING_INT, offsetof(struct any_cfg, a), "1", 0, 9, levels, 0, ""}},
         1,
         "setting a.x: only a string setting has choices"},
        {{{"a.x", CF_SETTING_INT, offsetof(struct any_cfg, a), "ten", 0, 9, NULL, 0, ""}},
         1,
         "default: setting a.x: \"ten\" is not an integer"},
        {{{"a.s", CF_SETTING_STRING, offsetof(struct any_cfg, s), "trace", 0, 0, levels, 0, ""}},
         1,
         "default: setting a.s: \"trace\" is not one of: debug, info, warn, error"},
    };
    for (size_t i = 0; i < NSETTINGS(cases); i++) {
        struct any_cfg any;
        memset(&any, 0xa5, sizeof(any)); /* load must not trust what is there */
        struct cf_setting_table table = {cases[i].settings, cases[i].count, &any};
        char err[256];
        assert_int_equal(cf_config_load(NULL, NULL, &table, 1, NULL, 0, err, sizeof(err)), -1);
        assert_contains(cases[i].expect, err, cases[i].expect);
        cf_config_free(&table, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_overrides_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_accepted_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_env_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_names_included_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_literals_in_comments_and_strings_pass, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_twin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_twin_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_twin_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_not_in_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_not_printed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_properties_file_and_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference, setup, teardown),
        cmocka_unit_test(test_env_name),
        cmocka_unit_test_setup_teardown(test_free_zeroes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_load_keeps_what_it_filled, setup, teardown),
        cmocka_unit_test(test_empty_default_is_none),
        cmocka_unit_test(test_table_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
