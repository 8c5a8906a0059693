/* main.c - cachefleet-audit: checks a Redis against the events in Kafka.
 *
 * What it owns: flags, the connections' set-up (the brokers' address,
 * Redis with its optional AUTH), the output (the report's lines, or one
 * JSON object with --json) and the exit status.  What it does not: the
 * reading, the model and the check (oracle.h).
 *
 * DESIGN
 * An audit: read every event in the topics up to now, compute what the
 * cache must hold, compare.  Read-only on both sides: the Kafka reader
 * never joins a group or commits, and Redis sees GET, SMEMBERS and SCAN.
 * Any host given is used (an operator's audit runs against production);
 * the tests use loopback.
 *
 * Exit status: 0 nothing missing and nothing stale, 1 something missing or
 * stale, 2 bad flags or an error (Kafka, Redis, schemas).
 *
 * Thread: main only (librdkafka runs its own threads inside the reader).
 * No signal handling: every wait is bounded by --timeout-ms.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "oracle.h"

#define PROGRAM    "cachefleet-audit"
#define MAX_TOPICS 16

struct options {
    const char *brokers;
    const char *brokers_file;
    const char *redis_host;
    long long redis_port;
    const char *redis_password_file;
    const char *redis_user;
    const char *schemas;
    const char *prefix;
    const char *topics;
    long long since_us;
    long long timeout_ms;
    int json;
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: " PROGRAM " (--brokers HOST:PORT | --brokers-file PATH) [options]\n"
            "Reads the fleet's topics from the beginning, computes what the Redis cache must\n"
            "hold after the last event, and compares it with Redis.\n"
            "\n"
            "  --brokers LIST             bootstrap servers, e.g. 127.0.0.1:9092\n"
            "  --brokers-file PATH        the bootstrap servers: the first line of PATH\n"
            "  --redis-host HOST          (default 127.0.0.1)\n"
            "  --redis-port PORT          (default 6379)\n"
            "  --redis-password-file PATH AUTH with the password in PATH (one line)\n"
            "  --redis-user USER          AUTH as USER (with --redis-password-file)\n"
            "  --schemas DIR              folder of the .avsc files (default: schemas)\n"
            "  --prefix PREFIX            the keys' prefix (default :1:)\n"
            "  --topics LIST              comma-separated topics to read (default: the five\n"
            "                             consumers' topics); CONSUMER=TOPIC reads TOPIC for\n"
            "                             that consumer (products, carts, orders, access, stock)\n"
            "  --since-us N               Redis started empty at N (microseconds since the\n"
            "                             epoch): keys whose last event is older are counted\n"
            "                             as lost before since, not missing\n"
            "  --timeout-ms N             give up reading Kafka after N ms (default 60000)\n"
            "  --json                     print the report as one JSON object\n"
            "  --help                     show this help\n"
            "\n"
            "Exit status: 0 nothing missing or stale, 1 something missing or stale,\n"
            "2 bad flags or an error.\n");
}

static int parse_int(const char *flag, const char *text, long long min, long long max,
                     long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*text || errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, PROGRAM ": %s: \"%s\" is not an integer in %lld..%lld\n", flag, text, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns 0, 1 after --help, -1 on a bad flag (reported). */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        OPT_BROKERS = 256,
        OPT_BROKERS_FILE,
        OPT_REDIS_HOST,
        OPT_REDIS_PORT,
        OPT_REDIS_PASSWORD_FILE,
        OPT_REDIS_USER,
        OPT_SCHEMAS,
        OPT_PREFIX,
        OPT_TOPICS,
        OPT_SINCE_US,
        OPT_TIMEOUT_MS,
        OPT_JSON,
        OPT_HELP,
    };
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"brokers-file", required_argument, NULL, OPT_BROKERS_FILE},
        {"redis-host", required_argument, NULL, OPT_REDIS_HOST},
        {"redis-port", required_argument, NULL, OPT_REDIS_PORT},
        {"redis-password-file", required_argument, NULL, OPT_REDIS_PASSWORD_FILE},
        {"redis-user", required_argument, NULL, OPT_REDIS_USER},
        {"schemas", required_argument, NULL, OPT_SCHEMAS},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"topics", required_argument, NULL, OPT_TOPICS},
        {"since-us", required_argument, NULL, OPT_SINCE_US},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){
        .redis_host = "127.0.0.1",
        .redis_port = 6379,
        .schemas = "schemas",
        .prefix = ":1:",
        .timeout_ms = 60000,
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BROKERS:
            o->brokers = optarg;
            break;
        case OPT_BROKERS_FILE:
            o->brokers_file = optarg;
            break;
        case OPT_REDIS_HOST:
            o->redis_host = optarg;
            break;
        case OPT_REDIS_PORT:
            if (parse_int("--redis-port", optarg, 1, 65535, &o->redis_port) < 0)
                return -1;
            break;
        case OPT_REDIS_PASSWORD_FILE:
            o->redis_password_file = optarg;
            break;
        case OPT_REDIS_USER:
            o->redis_user = optarg;
            break;
        case OPT_SCHEMAS:
            o->schemas = optarg;
            break;
        case OPT_PREFIX:
            o->prefix = optarg;
            break;
        case OPT_TOPICS:
            o->topics = optarg;
            break;
        case OPT_SINCE_US:
            if (parse_int("--since-us", optarg, 0, INT64_MAX, &o->since_us) < 0)
                return -1;
            break;
        case OPT_TIMEOUT_MS:
            if (parse_int("--timeout-ms", optarg, 1, 86400000, &o->timeout_ms) < 0)
                return -1;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!o->brokers == !o->brokers_file) {
        fprintf(stderr, PROGRAM ": give one of --brokers and --brokers-file\n");
        return -1;
    }
    if (o->redis_user && !o->redis_password_file) {
        fprintf(stderr, PROGRAM ": --redis-user needs --redis-password-file\n");
        return -1;
    }
    return 0;
}

/* The first line of path (its newline removed) into buf.  Returns 0, or -1
 * (reported). */
static int read_line(const char *what, const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, PROGRAM ": %s %s: %s\n", what, path, strerror(errno));
        return -1;
    }
    if (!fgets(buf, (int)size, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) {
        fprintf(stderr, PROGRAM ": %s %s is empty\n", what, path);
        return -1;
    }
    return 0;
}

/* Connects and authenticates.  Returns a context, or NULL (reported). */
static redisContext *redis_open(const struct options *o)
{
    struct timeval ctv = {5, 0}, ttv = {60, 0};
    char password[1024] = "";
    redisContext *rc = redisConnectWithTimeout(o->redis_host, (int)o->redis_port, ctv);
    if (!rc || rc->err) {
        fprintf(stderr, PROGRAM ": redis %s:%lld: %s\n", o->redis_host, o->redis_port,
                rc ? rc->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(rc, ttv) != REDIS_OK) {
        fprintf(stderr, PROGRAM ": redis: %s\n", rc->errstr);
        goto fail;
    }
    if (o->redis_password_file) {
        if (read_line("--redis-password-file", o->redis_password_file, password, sizeof(password)) <
            0)
            goto fail;
        const char *argv[3] = {"AUTH", o->redis_user ? o->redis_user : password, password};
        redisReply *r = redisCommandArgv(rc, o->redis_user ? 3 : 2, argv, NULL);
        memset(password, 0, sizeof(password));
        if (!r || r->type == REDIS_REPLY_ERROR) {
            /* An AUTH error reply does not echo the password. */
            fprintf(stderr, PROGRAM ": redis AUTH: %s\n", r ? r->str : rc->errstr);
            freeReplyObject(r);
            goto fail;
        }
        freeReplyObject(r);
    }
    return rc;

fail:
    if (rc)
        redisFree(rc);
    return NULL;
}

/* Splits --topics: "a,b" and "consumer=topic" entries.  Fills topics
 * (NULL-terminated, pointing into buf).  Returns 0, or -1 (reported). */
static int parse_topics(struct cf_oracle *o, char *buf, const char **topics, size_t max)
{
    char err[256];
    size_t n = 0;
    for (char *p = buf; p && *p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        char *eq = strchr(p, '=');
        if (eq) {
            *eq = '\0';
            if (cf_oracle_set_topic(o, p, eq + 1, err, sizeof(err)) < 0) {
                fprintf(stderr, PROGRAM ": --topics: %s\n", err);
                return -1;
            }
            p = eq + 1;
        }
        if (!*p) {
            fprintf(stderr, PROGRAM ": --topics: an empty topic name\n");
            return -1;
        }
        if (n + 1 >= max) {
            fprintf(stderr, PROGRAM ": --topics: more than %zu topics\n", max - 1);
            return -1;
        }
        topics[n++] = p;
        p = comma ? comma + 1 : NULL;
    }
    topics[n] = NULL;
    return 0;
}

/* ------------------------------------------------------------------------
 * JSON output
 * ------------------------------------------------------------------------ */

/* bytes as a JSON string; bytes that are not UTF-8 are shown escaped. */
static json_t *json_bytes(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    char *esc = malloc(n * 4 + 1);
    if (!esc)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch < 0x7f) {
            esc[k++] = (char)ch;
        } else {
            snprintf(esc + k, 5, "\\x%02x", ch);
            k += 4;
        }
    }
    s = json_stringn(esc, k);
    free(esc);
    return s;
}

static json_t *json_samples(const struct cf_oracle_sample *s, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *one = json_object();
        json_object_set_new(one, "key", json_string(s[i].key));
        json_object_set_new(one, "expected",
                            s[i].expected_present ? json_bytes(s[i].expected, s[i].expected_len)
                                                  : json_null());
        json_object_set_new(one, "expected_bytes",
                            json_integer((json_int_t)s[i].expected_full_len));
        json_object_set_new(one, "actual",
                            s[i].actual_present ? json_bytes(s[i].actual, s[i].actual_len)
                                                : json_null());
        json_object_set_new(one, "actual_bytes", json_integer((json_int_t)s[i].actual_full_len));
        json_array_append_new(arr, one);
    }
    return arr;
}

static void print_json(const struct cf_oracle_report *r)
{
    char summary[512];
    json_t *root =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:s}", "events",
                  (json_int_t)r->events, "dead_lettered", (json_int_t)r->dead_lettered, "ops",
                  (json_int_t)r->ops, "broker_truncated", (json_int_t)r->broker_truncated,
                  "keys_checked", (json_int_t)r->keys_checked, "right", (json_int_t)r->right,
                  "missing", (json_int_t)r->missing, "stale", (json_int_t)r->stale, "extra",
                  (json_int_t)r->extra, "expired", (json_int_t)r->expired, "lost_before_since",
                  (json_int_t)r->lost_before_since, "ok", cf_oracle_report_ok(r), "summary",
                  cf_oracle_report_summary(r, summary, sizeof(summary)));
    if (!root)
        abort();
    json_object_set_new(root, "missing_samples",
                        json_samples(r->missing_samples, r->nmissing_samples));
    json_object_set_new(root, "stale_samples", json_samples(r->stale_samples, r->nstale_samples));
    json_object_set_new(root, "extra_samples", json_samples(r->extra_samples, r->nextra_samples));
    char *text = json_dumps(root, JSON_COMPACT);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(root);
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 2 : 0;

    char brokers[1024], err[1024], *topics_buf = NULL;
    const char *topics[MAX_TOPICS];
    struct cf_oracle *oracle = NULL;
    redisContext *redis = NULL;
    int status = 2;

    if (o.brokers_file) {
        if (read_line("--brokers-file", o.brokers_file, brokers, sizeof(brokers)) < 0)
            goto out;
    } else {
        snprintf(brokers, sizeof(brokers), "%s", o.brokers);
    }
    oracle = cf_oracle_new(o.schemas, o.prefix, err, sizeof(err));
    if (!oracle) {
        fprintf(stderr, PROGRAM ": %s\n", err);
        goto out;
    }
    if (o.topics) {
        topics_buf = strdup(o.topics);
        if (!topics_buf)
            abort();
        if (parse_topics(oracle, topics_buf, topics, MAX_TOPICS) < 0)
            goto out;
    }
    redis = redis_open(&o);
    if (!redis)
        goto out;
    if (cf_oracle_read_kafka(oracle, brokers, o.topics ? topics : NULL, (int)o.timeout_ms, err,
                             sizeof(err)) < 0) {
        fprintf(stderr, PROGRAM ": kafka: %s\n", err);
        goto out;
    }
    struct cf_oracle_report report;
    if (cf_oracle_check(oracle, redis, cf_wall_us(), (int64_t)o.since_us, &report, err,
                        sizeof(err)) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err);
        goto out;
    }
    if (o.json)
        print_json(&report);
    else
        cf_oracle_report_print(&report, stdout);
    status = cf_oracle_report_ok(&report) ? 0 : 1;

out:
    if (redis)
        redisFree(redis);
    cf_oracle_destroy(oracle);
    free(topics_buf);
    return status;
}
