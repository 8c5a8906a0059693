/* settings.c - the runtime's settings, shared by every consumer. */
#include "settings.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(field) offsetof(struct cf_settings, field)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const offset_resets[] = {"earliest", "latest", NULL};
static const char *const framings[] = {"auto", "confluent", "plain", NULL};
static const char *const protocols[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl", NULL};
static const char *const mechanisms[] = {"", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL};

const struct cf_setting cf_settings_table[] = {
    {"log.level", CF_SETTING_STRING, S(log_level), "info", 0, 0, log_levels, 0,
     "Lowest level logged (JSON lines on stderr)."},

    {"kafka.brokers", CF_SETTING_STRING, S(kafka_brokers), "127.0.0.1:9092", 0, 0, NULL,
     CF_SETTING_FILE_TWIN, "Bootstrap brokers, host:port[,host:port...]; kafka.brokers_file "
     "reads them from a file (the local broker writes one)."},
    {"kafka.topic", CF_SETTING_STRING, S(kafka_topic), "", 0, 0, NULL, 0,
     "Topic consumed (default: the consumer's, e.g. shop.products)."},
    {"kafka.group_id", CF_SETTING_STRING, S(kafka_group_id), "", 0, 0, NULL, 0,
     "Consumer group (default: cachefleet-<consumer>). Instances of one consumer share it."},
    {"kafka.dlq_topic", CF_SETTING_STRING, S(kafka_dlq_topic), "", 0, 0, NULL, 0,
     "Dead-letter topic (default: <topic>.dlq)."},
    {"kafka.client_id", CF_SETTING_STRING, S(kafka_client_id), "", 0, 0, NULL, 0,
     "Client id shown by the brokers (default: cachefleet-<consumer>)."},
    {"kafka.auto_offset_reset", CF_SETTING_STRING, S(kafka_auto_offset_reset), "earliest", 0, 0,
     offset_resets, 0, "Where a group without committed offsets starts."},
    {"kafka.batch_max", CF_SETTING_INT, S(kafka_batch_max), "2000", 1, 100000, NULL, 0,
     "Most events applied in one batch (one Redis round trip)."},
    {"kafka.batch_max_bytes", CF_SETTING_INT, S(kafka_batch_max_bytes), "4194304", 1024,
     1073741824, NULL, 0,
     "Most event bytes in one batch: a batch closes once its events' payloads reach this "
     "(large events: memory bounded by bytes, not by kafka.batch_max)."},
    {"kafka.batch_linger_ms", CF_SETTING_INT, S(kafka_batch_linger_ms), "2", 0, 1000, NULL, 0,
     "How long a batch waits for more events after its first one."},
    {"kafka.commit_interval_ms", CF_SETTING_INT, S(kafka_commit_interval_ms), "1000", 0, 60000,
     NULL, 0, "Offsets of applied batches are committed at most this often (0: every batch)."},
    {"kafka.session_timeout_ms", CF_SETTING_INT, S(kafka_session_timeout_ms), "10000", 1000,
     300000, NULL, 0, "Group session timeout."},
    {"kafka.max_poll_interval_ms", CF_SETTING_INT, S(kafka_max_poll_interval_ms), "300000", 10000,
     86400000, NULL, 0, "Longest time between polls before the group drops this instance."},
    {"kafka.queued_max_kbytes", CF_SETTING_INT, S(kafka_queued_max_kbytes), "4096", 64, 2097151,
     NULL, 0, "Prefetch buffer in KiB: fetching stops while this much is waiting to be "
     "applied (bounds memory; see the README's performance section)."},
    {"kafka.queued_min_messages", CF_SETTING_INT, S(kafka_queued_min_messages), "20000", 1,
     10000000, NULL, 0, "Prefetch buffer in events: fetching stops while this many are waiting to be "
     "applied (small events' memory is mostly per event)."},
    {"kafka.fetch_wait_max_ms", CF_SETTING_INT, S(kafka_fetch_wait_max_ms), "10", 0, 10000, NULL,
     0, "Longest wait of a fetch for new events; short, so a quiet topic's events are applied "
     "at once (librdkafka's default is 500)."},
    {"kafka.fetch_max_bytes", CF_SETTING_INT, S(kafka_fetch_max_bytes), "4194304", 1024,
     104857600, NULL, 0, "Most bytes one fetch brings (bounds memory with queued_max_kbytes)."},
    {"kafka.statistics_interval_ms", CF_SETTING_INT, S(kafka_statistics_interval_ms), "5000", 0,
     600000, NULL, 0, "How often librdkafka reports lag for the metrics (0: never)."},
    {"kafka.security_protocol", CF_SETTING_STRING, S(kafka_security_protocol), "plaintext", 0, 0,
     protocols, 0, "plaintext, ssl, sasl_plaintext or sasl_ssl."},
    {"kafka.sasl_mechanism", CF_SETTING_STRING, S(kafka_sasl_mechanism), "", 0, 0, mechanisms, 0,
     "SASL mechanism when the protocol is sasl_*."},
    {"kafka.sasl_username", CF_SETTING_STRING, S(kafka_sasl_username), "", 0, 0, NULL, 0,
     "SASL user name."},
    {"kafka.sasl_password", CF_SETTING_STRING, S(kafka_sasl_password), "", 0, 0, NULL,
     CF_SETTING_SECRET | CF_SETTING_FILE_TWIN, "SASL password (or kafka.sasl_password_file)."},
    {"kafka.ssl_ca_location", CF_SETTING_STRING, S(kafka_ssl_ca_location), "", 0, 0, NULL, 0,
     "CA certificate file for TLS."},
    {"kafka.ssl_certificate_location", CF_SETTING_STRING, S(kafka_ssl_certificate_location), "",
     0, 0, NULL, 0, "Client certificate file (mutual TLS)."},
    {"kafka.ssl_key_location", CF_SETTING_STRING, S(kafka_ssl_key_location), "", 0, 0, NULL, 0,
     "Client private key file (mutual TLS)."},
    {"kafka.ssl_key_password", CF_SETTING_STRING, S(kafka_ssl_key_password), "", 0, 0, NULL,
     CF_SETTING_SECRET | CF_SETTING_FILE_TWIN, "Password of the client key (or _file)."},
    {"kafka.property", CF_SETTING_PROPERTIES, S(kafka_properties), NULL, 0, 0, NULL, 0,
     "Any other librdkafka property, passed through (group property { fetch_wait_max_ms = "
     "\"10\"; } or CACHEFLEET_KAFKA_PROPERTY_FETCH_WAIT_MAX_MS)."},

    {"redis.host", CF_SETTING_STRING, S(redis_host), "127.0.0.1", 0, 0, NULL, 0, "Redis host."},
    {"redis.port", CF_SETTING_INT, S(redis_port), "6379", 1, 65535, NULL, 0, "Redis port."},
    {"redis.unix_socket", CF_SETTING_STRING, S(redis_unix_socket), "", 0, 0, NULL, 0,
     "Unix socket path; when set, host and port are not used."},
    {"redis.db", CF_SETTING_INT, S(redis_db), "0", 0, 1023, NULL, 0,
     "Database number (the web tier's django-redis LOCATION /<db>)."},
    {"redis.user", CF_SETTING_STRING, S(redis_user), "", 0, 0, NULL, 0,
     "ACL user (empty: the default user)."},
    {"redis.password", CF_SETTING_STRING, S(redis_password), "", 0, 0, NULL,
     CF_SETTING_SECRET | CF_SETTING_FILE_TWIN, "Password (or redis.password_file)."},
    {"redis.connect_timeout_ms", CF_SETTING_INT, S(redis_connect_timeout_ms), "2000", 10, 60000,
     NULL, 0, "Connect timeout."},
    {"redis.command_timeout_ms", CF_SETTING_INT, S(redis_command_timeout_ms), "30000", 100,
     600000, NULL, 0, "Longest wait for a batch's replies before the connection is dropped."},
    {"redis.retry_min_ms", CF_SETTING_INT, S(redis_retry_min_ms), "100", 1, 60000, NULL, 0,
     "First wait after a failed apply; doubles per failure."},
    {"redis.retry_max_ms", CF_SETTING_INT, S(redis_retry_max_ms), "5000", 1, 600000, NULL, 0,
     "Longest wait between attempts."},
    {"redis.load_functions", CF_SETTING_BOOL, S(redis_load_functions), "true", 0, 0, NULL, 0,
     "Load the function library on connect (FUNCTION LOAD REPLACE). Off: an operator loads "
     "share/cachefleet/functions.lua and the program only checks it is its own, so the "
     "fleet's ACL user needs no FUNCTION LOAD."},
    {"redis.ops_per_call", CF_SETTING_INT, S(redis_ops_per_call), "500", 1, 100000, NULL, 0,
     "Operations packed into one FCALL (bounds how long one call holds Redis)."},

    {"cache.prefix", CF_SETTING_STRING, S(cache_prefix), ":1:", 0, 0, NULL, 0,
     "Key prefix: django-redis' KEY_PREFIX:VERSION: (\":1:\" for its defaults)."},
    {"cache.tombstone_ttl_s", CF_SETTING_INT, S(cache_tombstone_ttl_s), "3600", 1, 2592000, NULL,
     0, "How long an invalidation's tombstone refuses older writes and fills."},
    {"cache.max_payload_bytes", CF_SETTING_INT, S(cache_max_payload_bytes), "1048576", 64,
     67108864, NULL, 0, "Larger messages go to the dead-letter topic (too-large)."},
    {"cache.max_id_bytes", CF_SETTING_INT, S(cache_max_id_bytes), "128", 1, 1024, NULL, 0,
     "Longest id accepted as a key part."},

    {"schemas.dir", CF_SETTING_STRING, S(schemas_dir), "schemas", 0, 0, NULL, 0,
     "Folder of the .avsc schema files."},
    {"schemas.framing", CF_SETTING_STRING, S(schemas_framing), "auto", 0, 0, framings, 0,
     "confluent (0 + schema id + datum), plain (datum only), or auto (either)."},

    {"http.bind", CF_SETTING_STRING, S(http_bind), "0.0.0.0", 0, 0, NULL, 0,
     "Address of the metrics and health endpoint."},
    {"http.port", CF_SETTING_INT, S(http_port), "0", 0, 65535, NULL, 0,
     "Port of /metrics, /healthz, /readyz (0: no endpoint)."},
    {"http.stuck_ms", CF_SETTING_INT, S(http_stuck_ms), "60000", 100, 3600000, NULL, 0,
     "/healthz answers 503 once the consume loop has not run for this long (a liveness probe "
     "restarts the consumer)."},

    {"shutdown.timeout_ms", CF_SETTING_INT, S(shutdown_timeout_ms), "10000", 0, 600000, NULL, 0,
     "On SIGTERM, how long to keep retrying a batch that cannot be applied before leaving it "
     "to be redelivered."},
};

const size_t cf_settings_count = sizeof(cf_settings_table) / sizeof(cf_settings_table[0]);

/* Replaces an empty string setting by "<a><b>". */
static void default_string(char **field, const char *a, const char *b)
{
    if (*field && **field)
        return;
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (!s)
        abort();
    snprintf(s, n, "%s%s", a, b);
    free(*field);
    *field = s;
}

int cf_settings_finish(struct cf_settings *s, const char *name, const char *topic, char *errstr,
                       size_t errstr_size)
{
    default_string(&s->kafka_topic, topic, "");
    default_string(&s->kafka_group_id, "cachefleet-", name);
    default_string(&s->kafka_dlq_topic, s->kafka_topic, ".dlq");
    default_string(&s->kafka_client_id, "cachefleet-", name);

    if (s->redis_retry_min_ms > s->redis_retry_max_ms) {
        snprintf(errstr, errstr_size, "setting redis.retry_min_ms (%lld) is larger than "
                 "redis.retry_max_ms (%lld)", s->redis_retry_min_ms, s->redis_retry_max_ms);
        return -1;
    }
    if (strcmp(s->kafka_dlq_topic, s->kafka_topic) == 0) {
        snprintf(errstr, errstr_size, "setting kafka.dlq_topic must differ from kafka.topic");
        return -1;
    }
    if (!strchr(s->kafka_brokers, ':')) {
        snprintf(errstr, errstr_size, "setting kafka.brokers: expected host:port[,host:port...]");
        return -1;
    }
    if (strncmp(s->kafka_security_protocol, "sasl", 4) == 0 && !s->kafka_sasl_mechanism[0]) {
        snprintf(errstr, errstr_size, "setting kafka.sasl_mechanism is required when "
                 "kafka.security_protocol is %s", s->kafka_security_protocol);
        return -1;
    }
    if (s->redis_user[0] && !s->redis_password[0]) {
        snprintf(errstr, errstr_size, "setting redis.user needs redis.password (or "
                 "redis.password_file)");
        return -1;
    }
    for (const char *p = s->cache_prefix; *p; p++) {
        if (*p == '{' || *p == '}' || *p == ' ' || (unsigned char)*p < 0x20) {
            snprintf(errstr, errstr_size, "setting cache.prefix must not contain braces, spaces "
                     "or control characters");
            return -1;
        }
    }
    return 0;
}
