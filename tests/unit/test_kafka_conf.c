/* test_kafka_conf.c - Kafka TLS and SASL settings reach librdkafka
 * (common/source.c cf_kafka_conf_new, common/settings.c, common/config.c).
 *
 * The loopback broker (librdkafka 2.0.2's mock cluster) speaks neither TLS
 * nor SASL, so the security settings cannot be proven end to end here.
 * What can be proven is the pass-through: the runtime's real settings table
 * is loaded from a libconfig file, twin files and the environment exactly
 * as a consumer program loads it, cf_kafka_conf_new() builds the librdkafka
 * configuration, and rd_kafka_conf_get() reads every property back.  From
 * there on it is librdkafka's own TLS and SASL code, which its project
 * tests.
 *
 * Secrets are recognisable strings; every error and every printout is
 * searched for them.  The cases need a librdkafka built with ssl, sasl and
 * sasl_scram (Debian's librdkafka1 is, and tools/deps.sh installs it);
 * without them the cases fail, naming the missing feature.
 */
#include "config.h"
#include "settings.h"
#include "source.h"
#include "testutil.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SASL_SECRET     "sasl-Pw-9f3-Q7x-NOT-FOR-LOGS"
#define KEY_SECRET      "keypass-Zz81-NOT-FOR-LOGS"
#define KEYSTORE_SECRET "keystore-Hh42-NOT-FOR-LOGS"

struct fixture {
    char dir[512];
    struct cf_settings s;
    struct cf_setting_table table;
    char warnings[2048];
    char err[1024];
    rd_kafka_conf_t *conf;
};

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    cf_test_tmpdir("kafka-conf", fx->dir, sizeof(fx->dir));
    fx->table.settings = cf_settings_table;
    fx->table.count = cf_settings_count;
    fx->table.base = &fx->s;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->conf)
        rd_kafka_conf_destroy(fx->conf);
    cf_config_free(&fx->table, 1);
    cf_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

static char *fx_path(const struct fixture *fx, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", fx->dir, name);
    assert_true(n > 0 && (size_t)n < size);
    return buf;
}

/* Writes content to "<dir>/<name>" (mode 0600, as a mounted secret) and
 * returns its path in buf. */
static char *fx_file(const struct fixture *fx, const char *name, const char *content, char *buf,
                     size_t size)
{
    fx_path(fx, name, buf, size);
    FILE *f = fopen(buf, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(buf, 0600), 0);
    return buf;
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

static void assert_no_secret(const char *what, const char *text)
{
    assert_lacks(what, text, SASL_SECRET);
    assert_lacks(what, text, KEY_SECRET);
    assert_lacks(what, text, KEYSTORE_SECRET);
}

/* Loads the runtime's table as a program does: defaults, the file (NULL:
 * none), then envp.  Frees a previous load first. */
static int fx_load(struct fixture *fx, const char *path, char *const *envp)
{
    cf_config_free(&fx->table, 1);
    return cf_config_load(path, envp, &fx->table, 1, fx->warnings, sizeof(fx->warnings), fx->err,
                          sizeof(fx->err));
}

/* Load, finish (as the products consumer) and build the librdkafka
 * configuration; fails the test, with the reason, on any error. */
static void fx_build(struct fixture *fx, const char *path, char *const *envp)
{
    if (fx_load(fx, path, envp) != 0)
        fail_msg("cf_config_load: %s", fx->err);
    assert_string_equal(fx->warnings, "");
    if (cf_settings_finish(&fx->s, "products", "shop.products", fx->err, sizeof(fx->err)) != 0)
        fail_msg("cf_settings_finish: %s", fx->err);
    if (fx->conf)
        rd_kafka_conf_destroy(fx->conf);
    fx->conf = cf_kafka_conf_new(&fx->s, fx->err, sizeof(fx->err));
    if (!fx->conf)
        fail_msg("cf_kafka_conf_new: %s", fx->err);
}

/* The property as librdkafka holds it. */
static void expect_prop(rd_kafka_conf_t *conf, const char *name, const char *want)
{
    char value[1024];
    size_t size = sizeof(value);
    if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK)
        fail_msg("librdkafka does not know the property %s", name);
    if (strcmp(value, want) != 0)
        fail_msg("librdkafka property %s is \"%s\", expected \"%s\"", name, value, want);
}

/* cf_config_print() into a string (free it). */
static char *printed(const struct fixture *fx)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cf_config_print(&fx->table, 1, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(text);
    return text;
}

/* Skips the calling test when this librdkafka cannot take TLS or SASL
 * properties at all (rd_kafka_conf_set refuses ssl.* in such a build). */
static void require_features(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char features[512];
    size_t size = sizeof(features);
    assert_int_equal(rd_kafka_conf_get(conf, "builtin.features", features, &size),
                     RD_KAFKA_CONF_OK);
    rd_kafka_conf_destroy(conf);
    /* builtin.features is a comma-separated list: match whole words. */
    static const char *const needed[] = {"ssl", "sasl", "sasl_scram", NULL};
    for (const char *const *w = needed; *w; w++) {
        char word[64];
        snprintf(word, sizeof(word), ",%s,", *w);
        char list[sizeof(features) + 2];
        snprintf(list, sizeof(list), ",%s,", features);
        if (!strstr(list, word)) {
            fail_msg("librdkafka built without %s (builtin.features: %s): the TLS and SASL "
                     "settings cannot be proven here; install Debian's librdkafka1",
                     *w, features);
        }
    }
}

/* ------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

/* The secret settings are flagged in the real table: hidden when printed,
 * and accepted from a file. */
static void test_secret_settings_flagged(void **state)
{
    (void)state;
    static const char *const secrets[] = {"redis.password", "kafka.sasl_password",
                                          "kafka.ssl_key_password", NULL};
    for (const char *const *p = secrets; *p; p++) {
        const struct cf_setting *found = NULL;
        for (size_t i = 0; i < cf_settings_count; i++) {
            if (strcmp(cf_settings_table[i].path, *p) == 0)
                found = &cf_settings_table[i];
        }
        if (!found)
            fail_msg("setting %s is not in cf_settings_table", *p);
        if (!(found->flags & CF_SETTING_SECRET))
            fail_msg("setting %s is not flagged CF_SETTING_SECRET", *p);
        if (!(found->flags & CF_SETTING_FILE_TWIN))
            fail_msg("setting %s has no _file twin", *p);
    }
}

/* SASL_SSL with SCRAM-SHA-512 and a client certificate: the password from
 * a file, the key password and the CA from the environment, pass-through
 * properties from the file and the environment. */
static void test_sasl_ssl_scram_and_client_cert(void **state)
{
    struct fixture *fx = *state;
    require_features();
    char pw[600], ca[600], cert[600], key[600], conf_path[600], text[4096];
    fx_file(fx, "sasl.pw", SASL_SECRET "\n", pw, sizeof(pw));
    fx_file(fx, "ca.pem", "-----BEGIN CERTIFICATE-----\n", ca, sizeof(ca));
    fx_file(fx, "client.pem", "-----BEGIN CERTIFICATE-----\n", cert, sizeof(cert));
    fx_file(fx, "client.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", key, sizeof(key));
    int n = snprintf(text, sizeof(text),
                     "kafka = {\n"
                     "  brokers = \"127.0.0.1:9093\";\n"
                     "  security_protocol = \"sasl_ssl\";\n"
                     "  sasl_mechanism = \"SCRAM-SHA-512\";\n"
                     "  sasl_username = \"cachefleet-products\";\n"
                     "  sasl_password_file = \"%s\";\n"
                     "  ssl_certificate_location = \"%s\";\n"
                     "  ssl_key_location = \"%s\";\n"
                     "  property = {\n"
                     "    ssl_endpoint_identification_algorithm = \"https\";\n"
                     "    client_rack = \"eu-west-1a\";\n"
                     "  };\n"
                     "};\n",
                     pw, cert, key);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    fx_file(fx, "products.conf", text, conf_path, sizeof(conf_path));
    char ca_env[700];
    snprintf(ca_env, sizeof(ca_env), "CACHEFLEET_KAFKA_SSL_CA_LOCATION=%s", ca);
    char *envp[] = {ca_env, "CACHEFLEET_KAFKA_SSL_KEY_PASSWORD=" KEY_SECRET,
                    "CACHEFLEET_KAFKA_PROPERTY_SOCKET_KEEPALIVE_ENABLE=true",
                    "CACHEFLEET_KAFKA_PROPERTY_SSL_KEYSTORE_PASSWORD=" KEYSTORE_SECRET, NULL};
    fx_build(fx, conf_path, envp);

    expect_prop(fx->conf, "bootstrap.servers", "127.0.0.1:9093");
    expect_prop(fx->conf, "client.id", "cachefleet-products");
    expect_prop(fx->conf, "security.protocol", "sasl_ssl");
    expect_prop(fx->conf, "sasl.mechanisms", "SCRAM-SHA-512");
    expect_prop(fx->conf, "sasl.username", "cachefleet-products");
    expect_prop(fx->conf, "sasl.password", SASL_SECRET); /* the file, less its newline */
    expect_prop(fx->conf, "ssl.ca.location", ca);
    expect_prop(fx->conf, "ssl.certificate.location", cert);
    expect_prop(fx->conf, "ssl.key.location", key);
    expect_prop(fx->conf, "ssl.key.password", KEY_SECRET);
    /* https is librdkafka 2.x's default too: client.rack (default empty)
     * proves the file's property group reaches librdkafka. */
    expect_prop(fx->conf, "ssl.endpoint.identification.algorithm", "https");
    expect_prop(fx->conf, "client.rack", "eu-west-1a");
    expect_prop(fx->conf, "socket.keepalive.enable", "true");
    expect_prop(fx->conf, "ssl.keystore.password", KEYSTORE_SECRET);

    char *out = printed(fx);
    assert_no_secret("cf_config_print", out);
    assert_contains("cf_config_print", out, "kafka.sasl_password = (set);\n");
    assert_contains("cf_config_print", out, "kafka.ssl_key_password = (set);\n");
    assert_contains("cf_config_print", out, "kafka.property.ssl.keystore.password = (set);\n");
    assert_contains("cf_config_print", out, "kafka.security_protocol = \"sasl_ssl\";\n");
    assert_contains("cf_config_print", out, "kafka.sasl_mechanism = \"SCRAM-SHA-512\";\n");
    assert_contains("cf_config_print", out, "kafka.sasl_username = \"cachefleet-products\";\n");
    assert_contains("cf_config_print", out,
                    "kafka.property.ssl.endpoint.identification.algorithm = \"https\";\n");
    assert_contains("cf_config_print", out, "kafka.property.socket.keepalive.enable = \"true\";\n");
    assert_contains("cf_config_print", out, "kafka.property.client.rack = \"eu-west-1a\";\n");
    assert_contains("cf_config_print", out, "redis.password = (unset);\n");
    free(out);
}

/* Mutual TLS without SASL, everything from the environment, the key
 * password from a file. */
static void test_mutual_tls(void **state)
{
    struct fixture *fx = *state;
    require_features();
    char keypw[600];
    fx_file(fx, "key.pw", KEY_SECRET "\r\n", keypw, sizeof(keypw));
    char keypw_env[700];
    snprintf(keypw_env, sizeof(keypw_env), "CACHEFLEET_KAFKA_SSL_KEY_PASSWORD_FILE=%s", keypw);
    char *envp[] = {"CACHEFLEET_KAFKA_BROKERS=127.0.0.1:9093",
                    "CACHEFLEET_KAFKA_SECURITY_PROTOCOL=ssl",
                    "CACHEFLEET_KAFKA_SSL_CA_LOCATION=/etc/cachefleet/tls/ca.pem",
                    "CACHEFLEET_KAFKA_SSL_CERTIFICATE_LOCATION=/etc/cachefleet/tls/client.pem",
                    "CACHEFLEET_KAFKA_SSL_KEY_LOCATION=/etc/cachefleet/tls/client.key",
                    keypw_env,
                    NULL};
    fx_build(fx, NULL, envp);
    expect_prop(fx->conf, "security.protocol", "ssl");
    expect_prop(fx->conf, "ssl.ca.location", "/etc/cachefleet/tls/ca.pem");
    expect_prop(fx->conf, "ssl.certificate.location", "/etc/cachefleet/tls/client.pem");
    expect_prop(fx->conf, "ssl.key.location", "/etc/cachefleet/tls/client.key");
    expect_prop(fx->conf, "ssl.key.password", KEY_SECRET); /* "\r\n" stripped */
    char *out = printed(fx);
    assert_no_secret("cf_config_print", out);
    assert_contains("cf_config_print", out, "kafka.ssl_key_password = (set);\n");
    assert_contains("cf_config_print", out, "kafka.sasl_password = (unset);\n");
    free(out);
}

/* A property librdkafka refuses: the error names the setting as the user
 * wrote it (kafka.property.<name>) and repeats no secret, although the
 * secrets were set before it. */
static void test_refused_property_named_without_secrets(void **state)
{
    struct fixture *fx = *state;
    require_features();
    static const struct {
        const char *env;     /* the refused pass-through property */
        const char *setting; /* what the error must name */
    } cases[] = {
        {"CACHEFLEET_KAFKA_PROPERTY_SOCKET_KEEPALIVE_ENABLE=maybe",
         "setting kafka.property.socket.keepalive.enable: librdkafka refused"},
        {"CACHEFLEET_KAFKA_PROPERTY_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=httpz",
         "setting kafka.property.ssl.endpoint.identification.algorithm: librdkafka refused"},
        /* A misspelt secret property: unknown, and its value not shown. */
        {"CACHEFLEET_KAFKA_PROPERTY_SSL_KEY_PASSWROD=" KEY_SECRET,
         "setting kafka.property.ssl.key.passwrod: librdkafka refused"},
        {"CACHEFLEET_KAFKA_PROPERTY_SASL_OAUTHBEARER_CLIENT_SECRETT=" SASL_SECRET,
         "setting kafka.property.sasl.oauthbearer.client.secrett: librdkafka refused"},
    };
    char pw[600], pw_env[700];
    fx_file(fx, "sasl.pw", SASL_SECRET, pw, sizeof(pw));
    snprintf(pw_env, sizeof(pw_env), "CACHEFLEET_KAFKA_SASL_PASSWORD_FILE=%s", pw);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char refused[256];
        snprintf(refused, sizeof(refused), "%s", cases[i].env);
        char *envp[] = {"CACHEFLEET_KAFKA_SECURITY_PROTOCOL=sasl_ssl",
                        "CACHEFLEET_KAFKA_SASL_MECHANISM=SCRAM-SHA-256",
                        "CACHEFLEET_KAFKA_SASL_USERNAME=svc",
                        pw_env,
                        "CACHEFLEET_KAFKA_SSL_KEY_PASSWORD=" KEY_SECRET,
                        refused,
                        NULL};
        if (fx_load(fx, NULL, envp) != 0)
            fail_msg("%s: cf_config_load: %s", cases[i].env, fx->err);
        assert_int_equal(
            cf_settings_finish(&fx->s, "products", "shop.products", fx->err, sizeof(fx->err)), 0);
        fx->err[0] = '\0';
        rd_kafka_conf_t *conf = cf_kafka_conf_new(&fx->s, fx->err, sizeof(fx->err));
        if (conf) {
            rd_kafka_conf_destroy(conf);
            fail_msg("%s: librdkafka accepted it", cases[i].env);
        }
        assert_contains(cases[i].env, fx->err, cases[i].setting);
        assert_no_secret(cases[i].env, fx->err);
        print_message("refused as expected: %s\n", fx->err);
    }
}

/* A sasl_* protocol without a mechanism is a configuration error naming
 * both settings; with one it is fine; the error shows no secret. */
static void test_sasl_needs_mechanism(void **state)
{
    struct fixture *fx = *state;
    static const char *const protocols[] = {"sasl_plaintext", "sasl_ssl", NULL};
    for (const char *const *p = protocols; *p; p++) {
        char proto[128];
        snprintf(proto, sizeof(proto), "CACHEFLEET_KAFKA_SECURITY_PROTOCOL=%s", *p);
        char *envp[] = {proto, "CACHEFLEET_KAFKA_SASL_USERNAME=svc",
                        "CACHEFLEET_KAFKA_SASL_PASSWORD=" SASL_SECRET, NULL};
        if (fx_load(fx, NULL, envp) != 0)
            fail_msg("cf_config_load: %s", fx->err);
        fx->err[0] = '\0';
        assert_int_equal(
            cf_settings_finish(&fx->s, "products", "shop.products", fx->err, sizeof(fx->err)), -1);
        assert_contains(*p, fx->err, "setting kafka.sasl_mechanism is required");
        assert_contains(*p, fx->err, "kafka.security_protocol");
        assert_contains(*p, fx->err, *p);
        assert_no_secret(*p, fx->err);

        char *with[] = {proto, "CACHEFLEET_KAFKA_SASL_MECHANISM=PLAIN",
                        "CACHEFLEET_KAFKA_SASL_USERNAME=svc",
                        "CACHEFLEET_KAFKA_SASL_PASSWORD=" SASL_SECRET, NULL};
        if (fx_load(fx, NULL, with) != 0)
            fail_msg("cf_config_load: %s", fx->err);
        if (cf_settings_finish(&fx->s, "products", "shop.products", fx->err, sizeof(fx->err)) != 0)
            fail_msg("%s with PLAIN: %s", *p, fx->err);
    }
    /* A mechanism the settings do not offer is refused by name, before
     * librdkafka sees it. */
    char *bad[] = {"CACHEFLEET_KAFKA_SECURITY_PROTOCOL=sasl_ssl",
                   "CACHEFLEET_KAFKA_SASL_MECHANISM=GSSAPI", NULL};
    assert_int_equal(fx_load(fx, NULL, bad), -1);
    assert_contains("GSSAPI", fx->err,
                    "environment CACHEFLEET_KAFKA_SASL_MECHANISM: setting "
                    "kafka.sasl_mechanism");
}

/* A secret given twice (value and file) is refused naming both, showing
 * neither; an unreadable twin file is named, its content is not. */
static void test_secret_sources_errors(void **state)
{
    struct fixture *fx = *state;
    char pw[600], pw_env[700];
    fx_file(fx, "sasl.pw", SASL_SECRET, pw, sizeof(pw));
    snprintf(pw_env, sizeof(pw_env), "CACHEFLEET_KAFKA_SASL_PASSWORD_FILE=%s", pw);
    char *both[] = {pw_env, "CACHEFLEET_KAFKA_SASL_PASSWORD=" SASL_SECRET, NULL};
    assert_int_equal(fx_load(fx, NULL, both), -1);
    assert_contains("both", fx->err, "CACHEFLEET_KAFKA_SASL_PASSWORD");
    assert_contains("both", fx->err, "CACHEFLEET_KAFKA_SASL_PASSWORD_FILE");
    assert_contains("both", fx->err, "setting kafka.sasl_password");
    assert_no_secret("both", fx->err);

    char *missing[] = {"CACHEFLEET_REDIS_PASSWORD_FILE=/nonexistent/cachefleet/redis.pw", NULL};
    assert_int_equal(fx_load(fx, NULL, missing), -1);
    assert_contains("missing", fx->err, "/nonexistent/cachefleet/redis.pw");
    assert_contains("missing", fx->err, "setting redis.password");

    char *user_only[] = {"CACHEFLEET_REDIS_USER=cachefleet", NULL};
    assert_int_equal(fx_load(fx, NULL, user_only), 0);
    assert_int_equal(
        cf_settings_finish(&fx->s, "products", "shop.products", fx->err, sizeof(fx->err)), -1);
    assert_contains("user only", fx->err, "setting redis.user needs redis.password");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secret_settings_flagged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sasl_ssl_scram_and_client_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutual_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_property_named_without_secrets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sasl_needs_mechanism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_sources_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
