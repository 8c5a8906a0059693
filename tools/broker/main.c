/* main.c - cachefleet-broker: the project's Kafka-protocol broker on
 * loopback, for a laptop run and for the integration tests.
 *
 * What it owns: the flags, the topic list (the fleet's five topics, their
 * dead-letter topics, and any --topic), the bootstrap file, the stop flag
 * and the main loop.  What it does not: the mock cluster (cluster.c) or the
 * control language (control.c).
 *
 * DESIGN
 * librdkafka's mock cluster (rdkafka_mock.h) serves the Kafka protocol from
 * its own thread on 127.0.0.1; this program only sets it up, tells the
 * world where it is, and waits.  Readiness is announced twice, after every
 * topic exists: the bootstrap file is written atomically (PATH.tmp, fsync,
 * rename), then "bootstrap <list>" is the first line on stdout.  Logs are
 * JSON lines on stderr, so stdout carries only that line and the control
 * replies.  SIGTERM and SIGINT set the stop flag (the program's only
 * global); the main loop sees it within POLL_MS, removes the bootstrap file
 * (nobody should dial a broker on its way out), destroys the cluster and
 * exits 0.  End of stdin does not stop the broker: only signals do.
 *
 * Known limits of the mock are in DESIGN.md ("Known limits of the loopback
 * broker").
 *
 * Threads: main thread; librdkafka's threads run the mock and call the log
 * callback (cluster.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "control.h"
#include "log.h"

#define PROGRAM    "cachefleet-broker"
#define POLL_MS    100
#define MAX_TOPICS 256

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The fleet's topics (DESIGN.md, "Topics"); each also gets "<name>.dlq". */
static const char *const fleet_topics[] = {
    "shop.products", "shop.carts", "shop.orders", "shop.access", "shop.stock",
};

struct topic_spec {
    char name[BROKER_TOPIC_NAME_MAX + 1];
    int partitions;
};

struct options {
    int brokers;
    int partitions;
    const char *bootstrap_file; /* NULL: none */
    bool control;
    enum cf_log_level log_level;
    /* --topic values, in order; parsed after --partitions is known. */
    const char *extra[MAX_TOPICS];
    int extra_cnt;
};

/* ------------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROGRAM " [--brokers N] [--partitions P] [--topic NAME[:PARTITIONS]]...\n"
            "       [--bootstrap-file PATH] [--control] [--log-level debug|info|warn|error]\n"
            "\n"
            "A Kafka-protocol broker on 127.0.0.1 (librdkafka's mock cluster).\n"
            "  --brokers N           brokers in the cluster, 1..%d (default 1)\n"
            "  --partitions P        partitions of the fleet's topics, 1..%d (default 8)\n"
            "  --topic NAME[:P]      one more topic (repeatable; P defaults to --partitions)\n"
            "  --bootstrap-file PATH write the bootstrap list there once ready\n"
            "  --control             read control commands on stdin, reply on stdout\n"
            "  --log-level LEVEL     default info\n",
            BROKER_MAX_BROKERS, BROKER_MAX_PARTITIONS);
}

static int bad_flag(const char *flag, const char *value, const char *expect)
{
    fprintf(stderr, PROGRAM ": %s: expected %s, got '%s'\n", flag, expect, value);
    return -1;
}

/* Returns 0, 1 for --help, or -1 on a bad flag (reported on stderr). */
static int parse_options(int argc, char **argv, struct options *opt)
{
    /* clang-format off */
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"control", no_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* clang-format on */
    long v;
    int c;

    opt->brokers = 1;
    opt->partitions = 8;
    opt->bootstrap_file = NULL;
    opt->control = false;
    opt->log_level = CF_LOG_INFO;
    opt->extra_cnt = 0;

    while ((c = getopt_long(argc, argv, "b:p:t:f:cl:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (control_parse_long(optarg, 1, BROKER_MAX_BROKERS, &v) != 0)
                return bad_flag("--brokers", optarg, "an integer from 1 to 32");
            opt->brokers = (int)v;
            break;
        case 'p':
            if (control_parse_long(optarg, 1, BROKER_MAX_PARTITIONS, &v) != 0)
                return bad_flag("--partitions", optarg, "an integer from 1 to 10000");
            opt->partitions = (int)v;
            break;
        case 't':
            if (opt->extra_cnt == MAX_TOPICS)
                return bad_flag("--topic", optarg, "at most 256 --topic flags");
            opt->extra[opt->extra_cnt++] = optarg;
            break;
        case 'f':
            if (!*optarg || strlen(optarg) > PATH_MAX - 8)
                return bad_flag("--bootstrap-file", optarg, "a path");
            opt->bootstrap_file = optarg;
            break;
        case 'c':
            opt->control = true;
            break;
        case 'l':
            if (cf_log_level_parse(optarg, &opt->log_level) != 0)
                return bad_flag("--log-level", optarg, "debug, info, warn or error");
            break;
        case 'h':
            return 1;
        default:
            return -1; /* getopt_long has said why */
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Topic list
 * ------------------------------------------------------------------------ */

/* Adds name, or updates the partition count of a topic already listed (so
 * --topic shop.products:16 overrides the default).  Returns 0 or -1. */
static int topics_add(struct topic_spec *topics, int *cnt, const char *name, size_t name_len,
                      int partitions)
{
    if (name_len > BROKER_TOPIC_NAME_MAX)
        return -1;
    for (int i = 0; i < *cnt; i++) {
        if (strlen(topics[i].name) == name_len && memcmp(topics[i].name, name, name_len) == 0) {
            topics[i].partitions = partitions;
            return 0;
        }
    }
    if (*cnt == MAX_TOPICS)
        return -1;
    memcpy(topics[*cnt].name, name, name_len);
    topics[*cnt].name[name_len] = '\0';
    if (!broker_topic_name_valid(topics[*cnt].name))
        return -1;
    topics[*cnt].partitions = partitions;
    (*cnt)++;
    return 0;
}

/* Builds the full list: fleet topics, their .dlq, then --topic values.
 * Returns the count, or -1 on a bad --topic (reported on stderr). */
static int topics_build(const struct options *opt, struct topic_spec *topics)
{
    int cnt = 0;
    for (size_t i = 0; i < sizeof(fleet_topics) / sizeof(fleet_topics[0]); i++) {
        char dlq[BROKER_TOPIC_NAME_MAX + 1];
        snprintf(dlq, sizeof(dlq), "%s.dlq", fleet_topics[i]);
        topics_add(topics, &cnt, fleet_topics[i], strlen(fleet_topics[i]), opt->partitions);
        topics_add(topics, &cnt, dlq, strlen(dlq), opt->partitions);
    }
    for (int i = 0; i < opt->extra_cnt; i++) {
        const char *spec = opt->extra[i];
        const char *colon = strchr(spec, ':');
        size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
        long partitions = opt->partitions;
        if (colon && control_parse_long(colon + 1, 1, BROKER_MAX_PARTITIONS, &partitions) != 0)
            return bad_flag("--topic", spec, "NAME[:PARTITIONS] with PARTITIONS 1..10000");
        if (topics_add(topics, &cnt, spec, name_len, (int)partitions) != 0)
            return bad_flag("--topic", spec,
                            "a topic name of 1..249 of [A-Za-z0-9._-] (at most 256 topics)");
        /* A fleet topic's dead-letter topic follows its partition count
         * (a later --topic NAME.dlq:P still overrides it). */
        for (size_t f = 0; f < sizeof(fleet_topics) / sizeof(fleet_topics[0]); f++) {
            if (strlen(fleet_topics[f]) == name_len &&
                memcmp(fleet_topics[f], spec, name_len) == 0) {
                char dlq[BROKER_TOPIC_NAME_MAX + 1];
                snprintf(dlq, sizeof(dlq), "%s.dlq", fleet_topics[f]);
                topics_add(topics, &cnt, dlq, strlen(dlq), (int)partitions);
            }
        }
    }
    return cnt;
}

/* ------------------------------------------------------------------------
 * Bootstrap file
 * ------------------------------------------------------------------------ */

/* Writes text + "\n" to path atomically: path.tmp, fsync, rename. */
static int bootstrap_file_write(const char *path, const char *text, char *errstr,
                                size_t errstr_size)
{
    char tmp[PATH_MAX];
    int fd = -1;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        snprintf(errstr, errstr_size, "path too long");
        goto fail;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "open .tmp: %s", strerror(errno));
        goto fail;
    }
    size_t len = strlen(text);
    const char *parts[2] = {text, "\n"};
    size_t lens[2] = {len, 1};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            ssize_t w = write(fd, parts[i] + off, lens[i] - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                snprintf(errstr, errstr_size, "write .tmp: %s", strerror(errno));
                goto fail;
            }
            off += (size_t)w;
        }
    }
    if (fsync(fd) != 0) {
        snprintf(errstr, errstr_size, "fsync .tmp: %s", strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        snprintf(errstr, errstr_size, "close .tmp: %s", strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(errstr, errstr_size, "rename: %s", strerror(errno));
        goto fail;
    }
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* ------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------ */

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() returns EINTR at once */
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    /* A control reader that went away must not kill the broker. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Joins the topic names into buf ("a:8,b:8"), cut to fit. */
static void topics_describe(const struct topic_spec *topics, int cnt, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < cnt && off < size; i++) {
        int n = snprintf(buf + off, size - off, "%s%s:%d", i ? "," : "", topics[i].name,
                         topics[i].partitions);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

int main(int argc, char **argv)
{
    struct options opt;
    struct topic_spec *topics = NULL;
    struct cf_log *lg = NULL;
    struct broker_cluster *bc = NULL;
    struct control *ctl = NULL;
    bool file_written = false;
    int rc = 1;
    char errstr[512];

    int prc = parse_options(argc, argv, &opt);
    if (prc != 0) {
        usage(prc > 0 ? stdout : stderr);
        return prc > 0 ? 0 : 2;
    }
    topics = calloc(MAX_TOPICS, sizeof(*topics));
    if (!topics) {
        fprintf(stderr, PROGRAM ": out of memory\n");
        return 1;
    }
    int topic_cnt = topics_build(&opt, topics);
    if (topic_cnt < 0) {
        usage(stderr);
        free(topics);
        return 2;
    }

    lg = cf_log_new("broker", opt.log_level, stderr);
    if (!lg) {
        fprintf(stderr, PROGRAM ": out of memory\n");
        goto fail;
    }
    if (install_signals() != 0) {
        cf_log_emit(lg, CF_LOG_ERROR, "sigaction failed", CF_LS("error", strerror(errno)), CF_LEND);
        goto fail;
    }

    bc = broker_cluster_new(lg, opt.brokers, errstr, sizeof(errstr));
    if (!bc) {
        cf_log_emit(lg, CF_LOG_ERROR, "cannot create the mock cluster", CF_LS("error", errstr),
                    CF_LEND);
        goto fail;
    }
    for (int i = 0; i < topic_cnt; i++) {
        if (broker_cluster_topic_create(bc, topics[i].name, topics[i].partitions, errstr,
                                        sizeof(errstr)) != 0) {
            cf_log_emit(lg, CF_LOG_ERROR, "cannot create topic", CF_LS("topic", topics[i].name),
                        CF_LS("error", errstr), CF_LEND);
            goto fail;
        }
    }
    if (opt.control) {
        ctl = control_new(bc, lg, stdout);
        if (!ctl) {
            cf_log_emit(lg, CF_LOG_ERROR, "out of memory", CF_LEND);
            goto fail;
        }
    }

    const char *bootstraps = broker_cluster_bootstraps(bc);
    if (opt.bootstrap_file) {
        if (bootstrap_file_write(opt.bootstrap_file, bootstraps, errstr, sizeof(errstr)) != 0) {
            cf_log_emit(lg, CF_LOG_ERROR, "cannot write the bootstrap file",
                        CF_LS("path", opt.bootstrap_file), CF_LS("error", errstr), CF_LEND);
            goto fail;
        }
        file_written = true;
    }
    printf("bootstrap %s\n", bootstraps);
    fflush(stdout);

    char described[2048];
    topics_describe(topics, topic_cnt, described, sizeof(described));
    cf_log_emit(lg, CF_LOG_INFO, "started", CF_LS("bootstrap", bootstraps),
                CF_LI("brokers", opt.brokers), CF_LI("partitions", opt.partitions),
                CF_LI("topic_count", topic_cnt), CF_LS("topics", described),
                CF_LS("bootstrap_file", opt.bootstrap_file), CF_LB("control", opt.control),
                CF_LEND);

    /* The loop: wait for a signal, serving control lines meanwhile.  With
     * fd -1 (no control, or stdin closed) poll() just sleeps. */
    struct pollfd pfd = {.fd = opt.control ? STDIN_FILENO : -1, .events = POLLIN};
    while (!stop_requested) {
        int n = poll(&pfd, 1, POLL_MS);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cf_log_emit(lg, CF_LOG_ERROR, "poll failed", CF_LS("error", strerror(errno)), CF_LEND);
            goto fail;
        }
        if (n == 0 || pfd.fd < 0)
            continue;
        int r = control_read(ctl, pfd.fd);
        if (r != 0) {
            cf_log_emit(lg, CF_LOG_INFO, "control input closed, serving until a signal",
                        CF_LS("error", r < 0 ? strerror(errno) : NULL), CF_LEND);
            pfd.fd = -1;
        }
    }

    cf_log_emit(lg, CF_LOG_INFO, "stopping", CF_LEND);
    rc = 0;

fail:
    if (file_written && unlink(opt.bootstrap_file) != 0)
        cf_log_emit(lg, CF_LOG_WARN, "cannot remove the bootstrap file",
                    CF_LS("path", opt.bootstrap_file), CF_LS("error", strerror(errno)), CF_LEND);
    control_destroy(ctl);
    broker_cluster_destroy(bc);
    if (rc == 0)
        cf_log_emit(lg, CF_LOG_INFO, "stopped", CF_LEND);
    cf_log_destroy(lg);
    free(topics);
    return rc;
}
