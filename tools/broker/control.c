/* control.c - the broker's control channel (see control.h).
 *
 * DESIGN
 * Bytes are gathered into one line buffer; every complete line is split
 * into words in place (no strtok: a small splitter on blanks), looked up in
 * a table of commands with their argument counts, and handed to one small
 * handler per command that validates every number and calls the mock's API.
 * Every line gets exactly one reply line, flushed at once, so the other
 * side can read replies in lock step.  The mock's own error codes are
 * reported by name ("error BROKER_NOT_AVAILABLE: ...").
 *
 * Threads: main thread only.
 */
#include "control.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORDS 34 /* a command word, an api key and up to 32 errors */

struct control {
    struct broker_cluster *bc; /* borrowed */
    struct cf_log *lg;         /* borrowed */
    FILE *out;                 /* borrowed */
    char buf[CONTROL_LINE_MAX + 1];
    size_t len;
    bool discarding; /* inside an over-long line, until its newline */
};

/* ------------------------------------------------------------------------
 * Numbers and words
 * ------------------------------------------------------------------------ */

int control_parse_long(const char *text, long min, long max, long *out)
{
    if (!text || !*text)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Splits line in place on blanks.  Returns the word count, or -1 when there
 * are more than max words. */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return n;
        if (n == max)
            return -1;
        words[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
    }
}

/* 1 when code is an error librdkafka knows (it has a name). */
static int err_code_known(long code)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if ((long)descs[i].code == code && descs[i].name)
            return 1;
    }
    return 0;
}

static int reply_err(char *reply, size_t size, rd_kafka_resp_err_t err)
{
    if (!err) {
        snprintf(reply, size, "ok");
        return 0;
    }
    snprintf(reply, size, "error %s: %s", rd_kafka_err2name(err), rd_kafka_err2str(err));
    return -1;
}

/* Parses a broker id: 1..BROKER_MAX_BROKERS, or -1 (all) when allowed. */
static int parse_broker_id(const char *text, bool allow_all, int32_t *id)
{
    long v;
    if (control_parse_long(text, allow_all ? -1 : 1, BROKER_MAX_BROKERS, &v) != 0 || v == 0)
        return -1;
    *id = (int32_t)v;
    return 0;
}

/* Kafka api keys in use today are below 70; 0..99 leaves room and still
 * catches a typo. */
static int parse_api_key(const char *text, int16_t *key)
{
    long v;
    if (control_parse_long(text, 0, 99, &v) != 0)
        return -1;
    *key = (int16_t)v;
    return 0;
}

/* ------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------ */

typedef int (*cmd_fn)(struct control *ctl, int argc, char **argv, char *reply, size_t size);

static int cmd_ping(struct control *ctl, int argc, char **argv, char *reply, size_t size)
{
    snprintf(reply, size, "ok");
    return 0;
}

static int cmd_topic_create(struct control *ctl, int argc, char **argv, char *reply, size_t size)
{
    long partitions;
    if (control_parse_long(argv[2], 1, BROKER_MAX_PARTITIONS, &partitions) != 0) {
        snprintf(reply, size, "error bad partition count '%s' (1..%d)", argv[2],
                 BROKER_MAX_PARTITIONS);
        return -1;
    }
    char errstr[256];
    if (broker_cluster_topic_create(ctl->bc, argv[1], (int)partitions, errstr, sizeof(errstr)) !=
        0) {
        snprintf(reply, size, "error %s", errstr);
        return -1;
    }
    snprintf(reply, size, "ok");
    return 0;
}

static int cmd_broker_updown(struct control *ctl, int argc, char **argv, char *reply, size_t size)
{
    int32_t id;
    if (parse_broker_id(argv[1], true, &id) != 0) {
        snprintf(reply, size, "error bad broker id '%s'", argv[1]);
        return -1;
    }
    rd_kafka_mock_cluster_t *mc = broker_cluster_mock(ctl->bc);
    bool down = strcmp(argv[0], "broker-down") == 0;
    return reply_err(reply, size,
                     down ? rd_kafka_mock_broker_set_down(mc, id)
                          : rd_kafka_mock_broker_set_up(mc, id));
}

static int cmd_push_errors(struct control *ctl, int argc, char **argv, char *reply, size_t size)
{
    int16_t key;
    if (parse_api_key(argv[1], &key) != 0) {
        snprintf(reply, size, "error bad api key '%s'", argv[1]);
        return -1;
    }
    rd_kafka_resp_err_t errs[MAX_WORDS];
    size_t cnt = 0;
    for (int i = 2; i < argc; i++) {
        long code;
        if (control_parse_long(argv[i], RD_KAFKA_RESP_ERR__BEGIN, RD_KAFKA_RESP_ERR_END_ALL,
                               &code) != 0 ||
            code == 0 || !err_code_known(code)) {
            snprintf(reply, size, "error unknown error code '%s'", argv[i]);
            return -1;
        }
        errs[cnt++] = (rd_kafka_resp_err_t)code;
    }
    rd_kafka_mock_push_request_errors_array(broker_cluster_mock(ctl->bc), key, cnt, errs);
    snprintf(reply, size, "ok");
    return 0;
}

static int cmd_clear_errors(struct control *ctl, int argc, char **argv, char *reply, size_t size)
{
    int16_t key;
    if (parse_api_key(argv[1], &key) != 0) {
        snprintf(reply, size, "error bad api key '%s'", argv[1]);
        return -1;
    }
    rd_kafka_mock_clear_request_errors(broker_cluster_mock(ctl->bc), key);
    snprintf(reply, size, "ok");
    return 0;
}

static int cmd_coordinator(struct control *ctl, int argc, char **argv, char *reply, size_t size)
{
    if (strcmp(argv[1], "group") != 0 && strcmp(argv[1], "transaction") != 0) {
        snprintf(reply, size, "error coordinator type must be group or transaction");
        return -1;
    }
    int32_t id;
    if (parse_broker_id(argv[3], false, &id) != 0) {
        snprintf(reply, size, "error bad broker id '%s'", argv[3]);
        return -1;
    }
    return reply_err(
        reply, size,
        rd_kafka_mock_coordinator_set(broker_cluster_mock(ctl->bc), argv[1], argv[2], id));
}

static int cmd_partition_leader(struct control *ctl, int argc, char **argv, char *reply,
                                size_t size)
{
    long partition;
    int32_t id;
    if (!broker_topic_name_valid(argv[1])) {
        snprintf(reply, size, "error invalid topic name '%s'", argv[1]);
        return -1;
    }
    if (control_parse_long(argv[2], 0, BROKER_MAX_PARTITIONS - 1, &partition) != 0) {
        snprintf(reply, size, "error bad partition '%s'", argv[2]);
        return -1;
    }
    if (parse_broker_id(argv[3], true, &id) != 0) {
        snprintf(reply, size, "error bad broker id '%s'", argv[3]);
        return -1;
    }
    return reply_err(reply, size,
                     rd_kafka_mock_partition_set_leader(broker_cluster_mock(ctl->bc), argv[1],
                                                        (int32_t)partition, id));
}

static int cmd_rtt(struct control *ctl, int argc, char **argv, char *reply, size_t size)
{
    int32_t id;
    long ms;
    if (parse_broker_id(argv[1], true, &id) != 0) {
        snprintf(reply, size, "error bad broker id '%s'", argv[1]);
        return -1;
    }
    if (control_parse_long(argv[2], 0, 600000, &ms) != 0) {
        snprintf(reply, size, "error bad rtt '%s' (0..600000 ms)", argv[2]);
        return -1;
    }
    return reply_err(reply, size,
                     rd_kafka_mock_broker_set_rtt(broker_cluster_mock(ctl->bc), id, (int)ms));
}

static const struct {
    const char *name;
    int min_args, max_args; /* not counting the command word */
    cmd_fn fn;
    const char *usage;
} commands[] = {
    {"ping", 0, 0, cmd_ping, "ping"},
    {"topic-create", 2, 2, cmd_topic_create, "topic-create NAME PARTITIONS"},
    {"broker-down", 1, 1, cmd_broker_updown, "broker-down ID"},
    {"broker-up", 1, 1, cmd_broker_updown, "broker-up ID"},
    {"push-errors", 2, MAX_WORDS - 2, cmd_push_errors, "push-errors APIKEY ERR [ERR...]"},
    {"clear-errors", 1, 1, cmd_clear_errors, "clear-errors APIKEY"},
    {"coordinator", 3, 3, cmd_coordinator, "coordinator group|transaction KEY BROKER_ID"},
    {"partition-leader", 3, 3, cmd_partition_leader, "partition-leader TOPIC PARTITION BROKER_ID"},
    {"rtt", 2, 2, cmd_rtt, "rtt BROKER_ID MS"},
};

int control_exec(struct control *ctl, char *line, char *reply, size_t reply_size)
{
    char *words[MAX_WORDS];
    int n = split_words(line, words, MAX_WORDS);
    if (n < 0) {
        snprintf(reply, reply_size, "error too many words");
        return -1;
    }
    if (n == 0) {
        snprintf(reply, reply_size, "error empty command");
        return -1;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(words[0], commands[i].name) != 0)
            continue;
        int args = n - 1;
        if (args < commands[i].min_args || args > commands[i].max_args) {
            snprintf(reply, reply_size, "error usage: %s", commands[i].usage);
            return -1;
        }
        return commands[i].fn(ctl, n, words, reply, reply_size);
    }
    snprintf(reply, reply_size, "error unknown command '%.64s'", words[0]);
    return -1;
}

/* ------------------------------------------------------------------------
 * Framing
 * ------------------------------------------------------------------------ */

struct control *control_new(struct broker_cluster *bc, struct cf_log *lg, FILE *out)
{
    struct control *ctl = calloc(1, sizeof(*ctl));
    if (!ctl)
        return NULL;
    ctl->bc = bc;
    ctl->lg = lg;
    ctl->out = out;
    return ctl;
}

void control_destroy(struct control *ctl)
{
    free(ctl);
}

static void send_reply(struct control *ctl, const char *reply)
{
    /* A reader that went away is not the broker's problem: SIGPIPE is
     * ignored by main.c and the error is dropped. */
    fputs(reply, ctl->out);
    fputc('\n', ctl->out);
    fflush(ctl->out);
}

/* Executes the line in line[0..len) (not terminated yet; room for it). */
static void run_line(struct control *ctl, char *line, size_t len)
{
    line[len] = '\0';
    if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
    char copy[CONTROL_LINE_MAX + 1];
    memcpy(copy, line, strlen(line) + 1); /* control_exec cuts line into words */
    char reply[512];
    int rc = control_exec(ctl, line, reply, sizeof(reply));
    cf_log_emit(ctl->lg, rc == 0 ? CF_LOG_INFO : CF_LOG_WARN, "control command",
                CF_LS("command", copy), CF_LS("reply", reply), CF_LEND);
    send_reply(ctl, reply);
}

int control_read(struct control *ctl, int fd)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (n == 0) {
        if (ctl->len > 0 && !ctl->discarding)
            run_line(ctl, ctl->buf, ctl->len);
        ctl->len = 0;
        ctl->discarding = false;
        return 1;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = chunk[i];
        if (c == '\n') {
            if (ctl->discarding)
                ctl->discarding = false;
            else
                run_line(ctl, ctl->buf, ctl->len);
            ctl->len = 0;
        } else if (ctl->discarding) {
            continue;
        } else if (ctl->len == CONTROL_LINE_MAX) {
            send_reply(ctl, "error line too long");
            cf_log_emit(ctl->lg, CF_LOG_WARN, "control line too long",
                        CF_LU("max", CONTROL_LINE_MAX), CF_LEND);
            ctl->discarding = true;
            ctl->len = 0;
        } else {
            ctl->buf[ctl->len++] = c;
        }
    }
    return 0;
}
