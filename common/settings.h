/* settings.h - the runtime's settings, shared by every consumer.
 *
 * What it owns: the list of the runtime's settings (names, defaults,
 * ranges, one line of meaning each) and the checks that span several of
 * them.  The README's configuration reference is generated from this table
 * (`cachefleet-<name> --config-reference`).  Each consumer adds its own
 * table for its section (e.g. products.product_ttl_s).
 *
 * Defaults that depend on the consumer (topic, group id, dead-letter
 * topic, client id) are left empty in the table and filled by
 * cf_settings_finish() from the consumer's name and topic.
 */
#ifndef CF_SETTINGS_H
#define CF_SETTINGS_H

#include "config.h"

struct cf_settings {
    char *log_level;

    char *kafka_brokers;
    char *kafka_topic;
    char *kafka_group_id;
    char *kafka_dlq_topic;
    char *kafka_client_id;
    char *kafka_auto_offset_reset;
    long long kafka_batch_max;
    long long kafka_batch_max_bytes;
    long long kafka_batch_linger_ms;
    long long kafka_commit_interval_ms;
    long long kafka_session_timeout_ms;
    long long kafka_max_poll_interval_ms;
    long long kafka_queued_max_kbytes;
    long long kafka_queued_min_messages;
    long long kafka_statistics_interval_ms;
    long long kafka_fetch_wait_max_ms;
    long long kafka_fetch_max_bytes;
    char *kafka_security_protocol;
    char *kafka_sasl_mechanism;
    char *kafka_sasl_username;
    char *kafka_sasl_password;
    char *kafka_ssl_ca_location;
    char *kafka_ssl_certificate_location;
    char *kafka_ssl_key_location;
    char *kafka_ssl_key_password;
    struct cf_properties kafka_properties;

    char *redis_host;
    long long redis_port;
    char *redis_unix_socket;
    long long redis_db;
    char *redis_user;
    char *redis_password;
    long long redis_connect_timeout_ms;
    long long redis_command_timeout_ms;
    long long redis_retry_min_ms;
    long long redis_retry_max_ms;
    long long redis_ops_per_call;
    int redis_load_functions;

    char *cache_prefix;
    long long cache_tombstone_ttl_s;
    long long cache_max_payload_bytes;
    long long cache_max_id_bytes;

    char *schemas_dir;
    char *schemas_framing;

    char *http_bind;
    long long http_port;
    long long http_stuck_ms;

    long long shutdown_timeout_ms;
};

extern const struct cf_setting cf_settings_table[];
extern const size_t cf_settings_count;

/* Fills the consumer-dependent defaults left empty (topic, group id,
 * dead-letter topic, client id) and checks the settings that depend on each
 * other.  Returns 0, or -1 with an error naming the settings. */
int cf_settings_finish(struct cf_settings *s, const char *name, const char *topic, char *errstr,
                       size_t errstr_size);

#endif
