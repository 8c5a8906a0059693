/* cluster.h - the broker's mock Kafka cluster: one librdkafka handle and the
 * mock cluster hung on it.
 *
 * What it owns: the rd_kafka_t that librdkafka's mock cluster needs for its
 * book keeping, the rd_kafka_mock_cluster_t itself, the check that it
 * listens on loopback only, and topic creation with validated names.  What
 * it does not: flags, signals, the bootstrap file (main.c) or the text
 * commands of the control channel (control.c), which call the mock's fault
 * API through broker_cluster_mock().
 *
 * DESIGN
 * rd_kafka_mock_cluster_new() starts its own thread and one listening socket
 * per broker on 127.0.0.1 with a kernel-chosen port; clients anywhere on the
 * machine reach it over TCP exactly as they reach a real cluster.  The handle
 * it is hung on is a producer that never produces: it only carries the log
 * callback (routed into cf_log) and the mock's debug context.
 *
 * Threads: every function here is called from the main thread.  The log
 * callback runs on librdkafka's threads; cf_log is thread safe.
 */
#ifndef CF_BROKER_CLUSTER_H
#define CF_BROKER_CLUSTER_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "log.h"

/* Limits the flags and the control channel enforce. */
#define BROKER_MAX_BROKERS    32
#define BROKER_MAX_PARTITIONS 10000
#define BROKER_TOPIC_NAME_MAX 249 /* Kafka's own limit */

struct broker_cluster;

/* Creates the handle and a mock cluster of `brokers` brokers (ids 1..brokers)
 * and checks that every bootstrap address is 127.0.0.1.  lg is borrowed and
 * must outlive the cluster; debug-level logging turns on librdkafka's "mock"
 * debug context.  Returns NULL with the reason in errstr. */
struct broker_cluster *broker_cluster_new(struct cf_log *lg, int brokers, char *errstr,
                                          size_t errstr_size);

/* Destroys the mock cluster (closing every client connection), then the
 * handle.  NULL is a no-op. */
void broker_cluster_destroy(struct broker_cluster *bc);

/* The bootstrap list, "127.0.0.1:port[,127.0.0.1:port...]"; owned by bc. */
const char *broker_cluster_bootstraps(const struct broker_cluster *bc);

/* The mock cluster, for its fault API; owned by bc. */
rd_kafka_mock_cluster_t *broker_cluster_mock(struct broker_cluster *bc);

/* The number of brokers the cluster was created with. */
int broker_cluster_broker_count(const struct broker_cluster *bc);

/* Creates a topic with replication factor 1.  The name must satisfy
 * broker_topic_name_valid() and partitions 1..BROKER_MAX_PARTITIONS.
 * Returns 0, or -1 with the reason in errstr (an existing topic is an
 * error: TOPIC_ALREADY_EXISTS). */
int broker_cluster_topic_create(struct broker_cluster *bc, const char *name, int partitions,
                                char *errstr, size_t errstr_size);

/* 1 when name is a legal Kafka topic name: 1..249 of [A-Za-z0-9._-], and
 * neither "." nor "..".  Pure. */
int broker_topic_name_valid(const char *name);

/* 1 when every comma-separated entry of bootstraps is "127.0.0.1:<port>"
 * with a port of 1..65535, 0 otherwise (also for an empty list).  Pure. */
int broker_bootstraps_are_loopback(const char *bootstraps);

#endif
