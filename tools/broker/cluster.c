/* cluster.c - the broker's mock Kafka cluster (see cluster.h).
 *
 * DESIGN
 * The handle is created first, with a log callback that turns librdkafka's
 * syslog-style levels into cf_log levels; then the mock cluster on it.  The
 * bootstrap list the mock reports is checked before anyone is told about it:
 * the broker is a loopback-only tool and refuses to start if librdkafka ever
 * binds elsewhere.
 *
 * Threads: main thread, except log_cb (librdkafka's threads).
 */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct broker_cluster {
    struct cf_log *lg; /* borrowed */
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    int brokers;
};

/* ------------------------------------------------------------------------
 * librdkafka log routing
 * ------------------------------------------------------------------------ */

/* Runs on librdkafka's threads.  The handle is never given bootstrap
 * servers (it only carries the mock), so its CONFWARN about that is noise
 * and goes to debug. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct cf_log *lg = rd_kafka_opaque(rk);
    enum cf_log_level lvl;
    if (level <= 3)
        lvl = CF_LOG_ERROR;
    else if (level == 4)
        lvl = CF_LOG_WARN;
    else if (level <= 6)
        lvl = CF_LOG_INFO;
    else
        lvl = CF_LOG_DEBUG;
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
        lvl = CF_LOG_DEBUG;
    cf_log_emit(lg, lvl, "librdkafka", CF_LS("fac", fac), CF_LS("text", buf), CF_LEND);
}

/* ------------------------------------------------------------------------
 * Validation (pure)
 * ------------------------------------------------------------------------ */

int broker_topic_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > BROKER_TOPIC_NAME_MAX)
        return 0;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

/* Checks one entry [start, end) of the list. */
static int entry_is_loopback(const char *start, const char *end)
{
    static const char prefix[] = "127.0.0.1:";
    size_t plen = sizeof(prefix) - 1;
    if ((size_t)(end - start) <= plen || memcmp(start, prefix, plen) != 0)
        return 0;
    long port = 0;
    for (const char *p = start + plen; p < end; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        port = port * 10 + (*p - '0');
        if (port > 65535)
            return 0;
    }
    return port >= 1;
}

int broker_bootstraps_are_loopback(const char *bootstraps)
{
    if (!bootstraps || !*bootstraps)
        return 0;
    const char *start = bootstraps;
    for (;;) {
        const char *comma = strchr(start, ',');
        const char *end = comma ? comma : start + strlen(start);
        if (!entry_is_loopback(start, end))
            return 0;
        if (!comma)
            return 1;
        start = comma + 1;
    }
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

struct broker_cluster *broker_cluster_new(struct cf_log *lg, int brokers, char *errstr,
                                          size_t errstr_size)
{
    struct broker_cluster *bc = NULL;
    rd_kafka_conf_t *conf = NULL;

    if (brokers < 1 || brokers > BROKER_MAX_BROKERS) {
        snprintf(errstr, errstr_size, "broker count %d out of range 1..%d", brokers,
                 BROKER_MAX_BROKERS);
        goto fail;
    }
    bc = calloc(1, sizeof(*bc));
    if (!bc) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    bc->lg = lg;
    bc->brokers = brokers;

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, lg);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (rd_kafka_conf_set(conf, "client.id", "cachefleet-broker", errstr, errstr_size) !=
        RD_KAFKA_CONF_OK)
        goto fail;
    if (cf_log_enabled(lg, CF_LOG_DEBUG)) {
        char ignored[128];
        /* Every request the mock serves, logged; best effort. */
        rd_kafka_conf_set(conf, "debug", "mock", ignored, sizeof(ignored));
    }

    bc->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!bc->rk)
        goto fail;
    conf = NULL; /* owned by bc->rk now */

    bc->mcluster = rd_kafka_mock_cluster_new(bc->rk, brokers);
    if (!bc->mcluster) {
        snprintf(errstr, errstr_size, "rd_kafka_mock_cluster_new failed");
        goto fail;
    }

    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(bc->mcluster);
    if (!broker_bootstraps_are_loopback(bootstraps)) {
        snprintf(errstr, errstr_size, "mock cluster is not on loopback only: '%s'",
                 bootstraps ? bootstraps : "(null)");
        goto fail;
    }
    return bc;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    broker_cluster_destroy(bc);
    return NULL;
}

void broker_cluster_destroy(struct broker_cluster *bc)
{
    if (!bc)
        return;
    if (bc->mcluster)
        rd_kafka_mock_cluster_destroy(bc->mcluster);
    if (bc->rk)
        rd_kafka_destroy(bc->rk);
    free(bc);
}

const char *broker_cluster_bootstraps(const struct broker_cluster *bc)
{
    return rd_kafka_mock_cluster_bootstraps(bc->mcluster);
}

rd_kafka_mock_cluster_t *broker_cluster_mock(struct broker_cluster *bc)
{
    return bc->mcluster;
}

int broker_cluster_broker_count(const struct broker_cluster *bc)
{
    return bc->brokers;
}

/* ------------------------------------------------------------------------
 * Topics
 * ------------------------------------------------------------------------ */

int broker_cluster_topic_create(struct broker_cluster *bc, const char *name, int partitions,
                                char *errstr, size_t errstr_size)
{
    if (!broker_topic_name_valid(name)) {
        snprintf(errstr, errstr_size, "invalid topic name '%s'", name);
        return -1;
    }
    if (partitions < 1 || partitions > BROKER_MAX_PARTITIONS) {
        snprintf(errstr, errstr_size, "partition count %d out of range 1..%d", partitions,
                 BROKER_MAX_PARTITIONS);
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(bc->mcluster, name, partitions, 1);
    if (err) {
        snprintf(errstr, errstr_size, "%s: %s", rd_kafka_err2name(err), rd_kafka_err2str(err));
        return -1;
    }
    cf_log_emit(bc->lg, CF_LOG_DEBUG, "topic created", CF_LS("topic", name),
                CF_LI("partitions", partitions), CF_LEND);
    return 0;
}
