/* main.c - cachefleet-sim: plays a shop's traffic as Avro events into Kafka.
 *
 * What it owns: flags, the run loop (generate, encode, produce, log),
 * pacing, progress, the exit summary, and signals.  What it does not: the
 * shop (shop.c and its modules), Avro (encode.c), Kafka (producer.c), the
 * event log (eventlog.c).
 *
 * DESIGN
 * One thread.  The loop takes the model's next event (of any topic handed
 * out: --topics), encodes it with its topic's encoder, produces it to its
 * topic (retrying while librdkafka's queue is full) with the entity id as
 * the key, then writes its event-log line.  The initial sync goes out as
 * fast as the broker takes it, like a catalog import; the changes after it
 * (of every topic together) are paced by --rate against an
 * absolute schedule (change k is due at start + k / rate), sleeping with
 * clock_nanosleep(TIMER_ABSTIME) for at least 1 ms at a time, so high
 * rates go out in small bursts and the average stays exact however late a
 * wake-up is.  Sleeps last at most 100 ms so delivery reports, progress and
 * the stop flag are served.  SIGINT/SIGTERM set the stop flag (the
 * program's only global); the loop then stops generating, flushes for up to
 * 30 s, prints the summary and exits 0 unless a delivery failed.
 *
 * Exit status: 0 all delivered, 1 a delivery failed or a runtime error,
 * 2 bad flags.
 *
 * Thread: main only (librdkafka runs its own threads inside producer.c).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "encode.h"
#include "eventlog.h"
#include "log.h"
#include "producer.h"
#include "shop.h"

#define PROGRAM              "cachefleet-sim"
#define FLUSH_TIMEOUT_MS     30000
#define METADATA_TIMEOUT_MS  10000
#define BROKERS_FILE_WAIT_MS 10000
#define PROGRESS_EVERY_NS    500000000LL
#define MAX_RATE             10000000ULL
#define MAX_CATEGORIES       100000ULL
#define MAX_PRODUCTS         10000000ULL
#define MAX_USERS            10000000ULL

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct options {
    const char *brokers;
    const char *brokers_file;
    const char *schemas;
    const char *topic_names[SHOP_TOPIC_COUNT]; /* Kafka topics */
    uint32_t topics;                           /* SHOP_TOPIC_BIT()s handed out */
    const char *log_events;
    uint64_t seed;
    uint64_t events; /* 0: until stopped */
    uint64_t rate;   /* 0: as fast as possible */
    uint64_t categories;
    uint64_t products;
    uint64_t users;
    enum sim_framing framing;
    bool initial;
    bool progress;
    bool quiet;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: " PROGRAM " (--brokers HOST:PORT | --brokers-file PATH) [options]\n"
        "Plays a shop's traffic as Avro events into Kafka.\n"
        "\n"
        "  --brokers LIST        bootstrap servers, e.g. 127.0.0.1:9092\n"
        "  --brokers-file PATH   read the bootstrap servers from the first line of PATH\n"
        "                        (waits up to 10 s for it to appear)\n"
        "  --schemas DIR         folder of the .avsc files (default: schemas)\n"
        "  --topics LIST         the topics to play, comma-separated, of products, carts,\n"
        "                        orders, access, stock (default: all five); the shop also\n"
        "                        runs, unseen, what they depend on\n"
        "  --products-topic NAME topic of product and category events (default: shop.products)\n"
        "  --carts-topic NAME    topic of cart events (default: shop.carts)\n"
        "  --orders-topic NAME   topic of order events (default: shop.orders)\n"
        "  --access-topic NAME   topic of user, role and session events (default: shop.access)\n"
        "  --stock-topic NAME    topic of stock movements (default: shop.stock)\n"
        "  --seed N              seed of the shop and its changes (default: 1)\n"
        "  --events N            changes after the initial sync, of all topics together;\n"
        "                        0: until SIGINT/SIGTERM (default: 0)\n"
        "  --rate N              changes per second; 0: as fast as possible (default: 100)\n"
        "  --categories N        categories in the initial tree (default: 60)\n"
        "  --products N          products in the initial catalog (default: 5000)\n"
        "  --users N             users at the start (default: 2000)\n"
        "  --framing MODE        confluent (0x00, schema id, datum) or plain (default: confluent)\n"
        "  --no-initial          skip the initial sync (categories, products, SKUs' stock,\n"
        "                        roles, users)\n"
        "  --log-events PATH     write every produced event as one JSON line (\"-\": stdout,\n"
        "                        where the summary line follows the events)\n"
        "  --progress            show a progress line on stderr\n"
        "  --quiet               log warnings and errors only\n"
        "  --help                show this help\n"
        "\n"
        "Prints a JSON summary on stdout at exit (totals, and per topic its Kafka topic,\n"
        "events and deliveries).  Each event's key is its entity's id.\n"
        "Exit status: 0 all delivered, 1 a delivery failed or a runtime error, 2 bad flags.\n");
}

/* Parses a decimal unsigned integer in [min, max] for flag. */
static int parse_u64(const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *text == '-' || *text == '+' || *text == ' ' || errno != 0 || *end != '\0' ||
        v < min || v > max) {
        fprintf(stderr, PROGRAM ": %s: \"%s\" is not an integer in %" PRIu64 "..%" PRIu64 "\n",
                flag, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns 0, 1 when --help was asked, or -1 on a bad flag (reported). */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        OPT_BROKERS = 256,
        OPT_BROKERS_FILE,
        OPT_SCHEMAS,
        OPT_TOPICS,
        /* One per topic, in enum shop_topic order. */
        OPT_PRODUCTS_TOPIC,
        OPT_CARTS_TOPIC,
        OPT_ORDERS_TOPIC,
        OPT_ACCESS_TOPIC,
        OPT_STOCK_TOPIC,
        OPT_SEED,
        OPT_EVENTS,
        OPT_RATE,
        OPT_CATEGORIES,
        OPT_PRODUCTS,
        OPT_USERS,
        OPT_FRAMING,
        OPT_NO_INITIAL,
        OPT_LOG_EVENTS,
        OPT_PROGRESS,
        OPT_QUIET,
        OPT_HELP,
    };
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"brokers-file", required_argument, NULL, OPT_BROKERS_FILE},
        {"schemas", required_argument, NULL, OPT_SCHEMAS},
        {"topics", required_argument, NULL, OPT_TOPICS},
        {"products-topic", required_argument, NULL, OPT_PRODUCTS_TOPIC},
        {"carts-topic", required_argument, NULL, OPT_CARTS_TOPIC},
        {"orders-topic", required_argument, NULL, OPT_ORDERS_TOPIC},
        {"access-topic", required_argument, NULL, OPT_ACCESS_TOPIC},
        {"stock-topic", required_argument, NULL, OPT_STOCK_TOPIC},
        {"seed", required_argument, NULL, OPT_SEED},
        {"events", required_argument, NULL, OPT_EVENTS},
        {"rate", required_argument, NULL, OPT_RATE},
        {"categories", required_argument, NULL, OPT_CATEGORIES},
        {"products", required_argument, NULL, OPT_PRODUCTS},
        {"users", required_argument, NULL, OPT_USERS},
        {"framing", required_argument, NULL, OPT_FRAMING},
        {"no-initial", no_argument, NULL, OPT_NO_INITIAL},
        {"log-events", required_argument, NULL, OPT_LOG_EVENTS},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){
        .schemas = "schemas",
        .topic_names = {"shop.products", "shop.carts", "shop.orders", "shop.access", "shop.stock"},
        .topics = SHOP_TOPICS_ALL,
        .seed = 1,
        .events = 0,
        .rate = 100,
        .categories = 60,
        .products = 5000,
        .users = SHOP_DEFAULT_USERS,
        .framing = SIM_FRAMING_CONFLUENT,
        .initial = true,
    };
    char why[256];
    int c;
    opterr = 0;
    /* A leading ':' makes a missing value come back as ':' rather than '?'. */
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BROKERS:
            o->brokers = optarg;
            break;
        case OPT_BROKERS_FILE:
            o->brokers_file = optarg;
            break;
        case OPT_SCHEMAS:
            o->schemas = optarg;
            break;
        case OPT_TOPICS:
            if (shop_topics_parse(optarg, &o->topics, why, sizeof(why)) < 0) {
                fprintf(stderr, PROGRAM ": --topics: %s\n", why);
                return -1;
            }
            break;
        case OPT_PRODUCTS_TOPIC:
        case OPT_CARTS_TOPIC:
        case OPT_ORDERS_TOPIC:
        case OPT_ACCESS_TOPIC:
        case OPT_STOCK_TOPIC:
            o->topic_names[c - OPT_PRODUCTS_TOPIC] = optarg;
            break;
        case OPT_SEED:
            if (parse_u64("--seed", optarg, 0, UINT64_MAX, &o->seed) < 0)
                return -1;
            break;
        case OPT_EVENTS:
            if (parse_u64("--events", optarg, 0, UINT64_MAX, &o->events) < 0)
                return -1;
            break;
        case OPT_RATE:
            if (parse_u64("--rate", optarg, 0, MAX_RATE, &o->rate) < 0)
                return -1;
            break;
        case OPT_CATEGORIES:
            if (parse_u64("--categories", optarg, 1, MAX_CATEGORIES, &o->categories) < 0)
                return -1;
            break;
        case OPT_PRODUCTS:
            if (parse_u64("--products", optarg, 0, MAX_PRODUCTS, &o->products) < 0)
                return -1;
            break;
        case OPT_USERS:
            if (parse_u64("--users", optarg, 1, MAX_USERS, &o->users) < 0)
                return -1;
            break;
        case OPT_FRAMING:
            if (sim_framing_parse(optarg, &o->framing) < 0) {
                fprintf(stderr, PROGRAM ": --framing: \"%s\" is not confluent or plain\n", optarg);
                return -1;
            }
            break;
        case OPT_NO_INITIAL:
            o->initial = false;
            break;
        case OPT_LOG_EVENTS:
            o->log_events = optarg;
            break;
        case OPT_PROGRESS:
            o->progress = true;
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_HELP:
            return 1;
        case ':':
            fprintf(stderr, PROGRAM ": %s needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, PROGRAM ": unknown option %s\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (!o->brokers == !o->brokers_file) {
        fprintf(stderr, PROGRAM ": give exactly one of --brokers and --brokers-file\n");
        return -1;
    }
    if (o->brokers && !*o->brokers) {
        fprintf(stderr, PROGRAM ": --brokers: empty\n");
        return -1;
    }
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        if (!*o->topic_names[t]) {
            fprintf(stderr, PROGRAM ": --%s-topic: empty\n", shop_topic_name((enum shop_topic)t));
            return -1;
        }
        for (int u = 0; u < t; u++) {
            if ((o->topics & SHOP_TOPIC_BIT(t)) && (o->topics & SHOP_TOPIC_BIT(u)) &&
                strcmp(o->topic_names[t], o->topic_names[u]) == 0) {
                fprintf(stderr, PROGRAM ": --%s-topic and --%s-topic are both %s\n",
                        shop_topic_name((enum shop_topic)u), shop_topic_name((enum shop_topic)t),
                        o->topic_names[t]);
                return -1;
            }
        }
    }
    uint32_t sellers = SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS) | SHOP_TOPIC_BIT(SHOP_TOPIC_ORDERS) |
                       SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK);
    if (o->products == 0 && (o->topics & sellers) &&
        !(o->topics & SHOP_TOPIC_BIT(SHOP_TOPIC_PRODUCTS))) {
        fprintf(stderr, PROGRAM ": --products 0: carts, orders and stock need products to sell "
                                "when products is not one of the --topics\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------ */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Sleeps until the monotonic time at_ns, or a signal. */
static void sleep_until(int64_t at_ns)
{
    struct timespec ts = {.tv_sec = at_ns / 1000000000LL, .tv_nsec = at_ns % 1000000000LL};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* ------------------------------------------------------------------------
 * Brokers file
 * ------------------------------------------------------------------------ */

/* Reads the first line of path into buf, waiting up to BROKERS_FILE_WAIT_MS
 * for the file to exist and hold one.  Returns 0, or -1 (reported). */
static int read_brokers_file(const char *path, char *buf, size_t size)
{
    int64_t deadline = mono_ns() + (int64_t)BROKERS_FILE_WAIT_MS * 1000000LL;
    int last_errno = 0;
    for (;;) {
        FILE *f = fopen(path, "r");
        if (f) {
            bool got = fgets(buf, (int)size, f) != NULL;
            fclose(f);
            if (got) {
                size_t n = strlen(buf);
                while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                                 buf[n - 1] == '\t'))
                    buf[--n] = '\0';
                if (n > 0)
                    return 0;
            }
            last_errno = 0;
        } else {
            last_errno = errno;
        }
        if (mono_ns() >= deadline || stop_requested)
            break;
        sleep_until(mono_ns() + 100000000LL);
    }
    fprintf(stderr, PROGRAM ": --brokers-file %s: %s\n", path,
            last_errno ? strerror(last_errno) : "no bootstrap servers in it");
    return -1;
}

/* ------------------------------------------------------------------------
 * Progress and summary
 * ------------------------------------------------------------------------ */

struct run {
    uint64_t events;  /* produced (accepted by librdkafka) */
    uint64_t initial; /* of which initial sync */
    uint64_t changes; /* of which changes */
    uint64_t by_type[SHOP_EVENT_TYPE_COUNT];
    uint64_t by_change[SHOP_CHANGE_COUNT];
    uint64_t topic_events[SHOP_TOPIC_COUNT];
    uint64_t topic_initial[SHOP_TOPIC_COUNT];
    int64_t start_ns;
    int64_t last_progress_ns;
    uint64_t last_progress_events;
    bool progress_tty;
    bool progress_shown;
};

/* The rate is over the last interval, or over the whole run when final. */
static void show_progress(struct run *run, struct sim_producer *producer, int64_t now, bool final)
{
    struct sim_producer_stats st;
    sim_producer_get_stats(producer, &st);
    int64_t since = final ? run->start_ns : run->last_progress_ns;
    uint64_t base = final ? 0 : run->last_progress_events;
    double dt = (double)(now - since) / 1e9;
    double rate = dt > 0 ? (double)(run->events - base) / dt : 0.0;
    fprintf(stderr,
            "%sevents %" PRIu64 "  rate %.0f/s  delivered %" PRIu64 "  errors %" PRIu64 "%s",
            run->progress_tty ? "\r" : "", run->events, rate, st.delivered, st.failed,
            run->progress_tty ? "   " : "\n");
    fflush(stderr);
    run->last_progress_ns = now;
    run->last_progress_events = run->events;
    run->progress_shown = true;
}

/* The summary's "topics": per topic handed out, its Kafka topic, events
 * produced (initial sync and changes) and the producer's delivery counts. */
static json_t *topics_summary(const struct run *run, const struct options *o,
                              struct sim_producer *producer, const int *handles)
{
    json_t *topics = json_object();
    if (!topics)
        return NULL;
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        if (!(o->topics & SHOP_TOPIC_BIT(t)))
            continue;
        struct sim_producer_stats ts;
        sim_producer_get_topic_stats(producer, handles[t], &ts);
        json_t *one = json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:I}", "topic", o->topic_names[t], "events",
            (json_int_t)run->topic_events[t], "initial", (json_int_t)run->topic_initial[t],
            "changes", (json_int_t)(run->topic_events[t] - run->topic_initial[t]), "delivered",
            (json_int_t)ts.delivered, "failed", (json_int_t)ts.failed);
        if (json_object_set_new(topics, shop_topic_name((enum shop_topic)t), one) < 0) {
            json_decref(topics);
            return NULL;
        }
    }
    return topics;
}

static int print_summary(const struct run *run, const struct options *o,
                         struct sim_producer *producer, const int *handles, int64_t end_ns)
{
    struct sim_producer_stats st;
    sim_producer_get_stats(producer, &st);
    double seconds = (double)(end_ns - run->start_ns) / 1e9;
    json_t *by_type = json_object(), *by_change = json_object(), *root = NULL;
    json_t *topics = topics_summary(run, o, producer, handles);
    char *text = NULL;
    int rc = -1;
    if (!by_type || !by_change || !topics)
        goto fail;
    for (int t = 0; t < SHOP_EVENT_TYPE_COUNT; t++) {
        if (run->by_type[t] &&
            json_object_set_new(by_type, shop_event_type_name((enum shop_event_type)t),
                                json_integer((json_int_t)run->by_type[t])) < 0)
            goto fail;
    }
    for (int c = 0; c < SHOP_CHANGE_COUNT; c++) {
        if (run->by_change[c] &&
            json_object_set_new(by_change, shop_change_name((enum shop_change)c),
                                json_integer((json_int_t)run->by_change[c])) < 0)
            goto fail;
    }
    root = json_pack("{s:I,s:I,s:I,s:O,s:O,s:O,s:I,s:I,s:f,s:f}", "events", (json_int_t)run->events,
                     "initial", (json_int_t)run->initial, "changes", (json_int_t)run->changes,
                     "topics", topics, "by_type", by_type, "by_change", by_change, "delivered",
                     (json_int_t)st.delivered, "failed", (json_int_t)st.failed, "seconds", seconds,
                     "rate", seconds > 0 ? (double)run->events / seconds : 0.0);
    if (!root)
        goto fail;
    text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (!text)
        goto fail;
    printf("%s\n", text);
    fflush(stdout);
    rc = 0;

fail:
    free(text);
    json_decref(root);
    json_decref(topics);
    json_decref(by_type);
    json_decref(by_change);
    return rc;
}

/* ------------------------------------------------------------------------
 * The run
 * ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    struct options o;
    int prc = parse_options(argc, argv, &o);
    if (prc > 0) {
        usage(stdout);
        return 0;
    }
    if (prc < 0) {
        fprintf(stderr, "Try '" PROGRAM " --help'.\n");
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a signal cuts a sleep short */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char errstr[512];
    char brokers[1024];
    int exit_code = 1;
    struct cf_log *lg = NULL;
    struct shop *shop = NULL;
    struct sim_encoder *enc[SHOP_TOPIC_COUNT] = {NULL};
    int handles[SHOP_TOPIC_COUNT]; /* producer topic handles, -1: not handed out */
    struct sim_producer *producer = NULL;
    struct sim_eventlog *evlog = NULL;
    struct run run;
    memset(&run, 0, sizeof(run));

    lg = cf_log_new("sim", o.quiet ? CF_LOG_WARN : CF_LOG_INFO, stderr);
    if (!lg) {
        fprintf(stderr, PROGRAM ": out of memory\n");
        return 1;
    }
    if (o.brokers) {
        snprintf(brokers, sizeof(brokers), "%s", o.brokers);
    } else if (read_brokers_file(o.brokers_file, brokers, sizeof(brokers)) < 0) {
        exit_code = 2;
        goto done;
    }

    for (int t = 0; t < SHOP_TOPIC_COUNT; t++)
        handles[t] = -1;
    struct shop_config cfg = {
        .seed = o.seed,
        .categories = (uint32_t)o.categories,
        .products = (uint32_t)o.products,
        .initial_sync = o.initial,
        .topics = o.topics,
        .users = (uint32_t)o.users,
    };
    shop = shop_new(&cfg, errstr, sizeof(errstr));
    if (!shop) {
        cf_log_emit(lg, CF_LOG_ERROR, "cannot build the shop", CF_LS("error", errstr), CF_LEND);
        goto done;
    }
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        if (!(o.topics & SHOP_TOPIC_BIT(t)))
            continue;
        enc[t] = sim_encoder_new(o.schemas, sim_topic_schema_file((enum shop_topic)t), o.framing,
                                 errstr, sizeof(errstr));
        if (!enc[t]) {
            cf_log_emit(lg, CF_LOG_ERROR, "cannot load the schema", CF_LS("error", errstr),
                        CF_LEND);
            exit_code = 2;
            goto done;
        }
    }
    if (o.log_events) {
        evlog = sim_eventlog_open(o.log_events, errstr, sizeof(errstr));
        if (!evlog) {
            cf_log_emit(lg, CF_LOG_ERROR, "cannot open the event log", CF_LS("error", errstr),
                        CF_LEND);
            exit_code = 2;
            goto done;
        }
    }
    producer = sim_producer_new(brokers, lg, errstr, sizeof(errstr));
    if (!producer) {
        cf_log_emit(lg, CF_LOG_ERROR, "cannot create the producer", CF_LS("error", errstr),
                    CF_LEND);
        goto done;
    }
    char topic_list[1024] = "";
    size_t used = 0;
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        if (!(o.topics & SHOP_TOPIC_BIT(t)))
            continue;
        handles[t] = sim_producer_topic(producer, o.topic_names[t], METADATA_TIMEOUT_MS, errstr,
                                        sizeof(errstr));
        if (handles[t] < 0) {
            cf_log_emit(lg, CF_LOG_ERROR, "cannot use the topic", CF_LS("topic", o.topic_names[t]),
                        CF_LS("error", errstr), CF_LEND);
            goto done;
        }
        int n = snprintf(topic_list + used, sizeof(topic_list) - used, "%s%s", used ? "," : "",
                         o.topic_names[t]);
        if (n > 0 && (size_t)n < sizeof(topic_list) - used)
            used += (size_t)n;
    }
    cf_log_emit(
        lg, CF_LOG_INFO, "simulating", CF_LS("brokers", brokers), CF_LS("topics", topic_list),
        CF_LU("seed", o.seed), CF_LU("categories", o.categories), CF_LU("products", o.products),
        CF_LU("users", o.users), CF_LU("events", o.events), CF_LU("rate", o.rate),
        CF_LB("initial_sync", o.initial),
        CF_LS("framing", o.framing == SIM_FRAMING_CONFLUENT ? "confluent" : "plain"), CF_LEND);

    run.progress_tty = isatty(STDERR_FILENO);
    run.start_ns = mono_ns();
    run.last_progress_ns = run.start_ns;
    int64_t changes_start_ns = 0;
    bool failed = false;

    while (!stop_requested) {
        bool initial = shop_in_initial_sync(shop);
        if (!initial && o.events && run.changes >= o.events)
            break;
        if (sim_producer_fatal(producer)) {
            failed = true;
            break;
        }
        int64_t now = mono_ns();
        if (o.progress && now - run.last_progress_ns >= PROGRESS_EVERY_NS)
            show_progress(&run, producer, now, false);

        /* Pacing of the changes (see DESIGN). */
        if (!initial && o.rate) {
            if (!changes_start_ns)
                changes_start_ns = now;
            int64_t due = changes_start_ns + (int64_t)((double)run.changes * 1e9 / (double)o.rate);
            if (now < due) {
                int64_t wake = due;
                if (wake < now + 1000000LL)
                    wake = now + 1000000LL;
                if (wake > now + 100000000LL)
                    wake = now + 100000000LL;
                sim_producer_poll(producer, 0);
                sleep_until(wake);
                continue;
            }
        }

        const struct shop_event *ev;
        if (shop_next(shop, wall_us(), &ev) < 0) {
            cf_log_emit(lg, CF_LOG_ERROR,
                        "the shop model failed (out of memory, or nothing left to change)",
                        CF_LEND);
            failed = true;
            break;
        }
        const void *data;
        size_t len;
        if (sim_encode_event(enc[ev->topic], ev, &data, &len, errstr, sizeof(errstr)) < 0) {
            cf_log_emit(lg, CF_LOG_ERROR, "cannot encode an event", CF_LS("error", errstr),
                        CF_LS("type", shop_event_type_name(ev->type)), CF_LS("key", ev->key),
                        CF_LEND);
            failed = true;
            break;
        }
        int32_t partition;
        if (sim_producer_send(producer, handles[ev->topic], ev->key, strlen(ev->key), data, len,
                              &partition, &stop_requested, errstr, sizeof(errstr)) < 0) {
            cf_log_emit(lg, CF_LOG_ERROR, "cannot produce", CF_LS("error", errstr), CF_LEND);
            failed = true;
            break;
        }
        if (evlog &&
            sim_eventlog_write(evlog, o.topic_names[ev->topic], ev->key, partition,
                               sim_encoder_value(enc[ev->topic]), errstr, sizeof(errstr)) < 0) {
            cf_log_emit(lg, CF_LOG_ERROR, "cannot write the event log", CF_LS("error", errstr),
                        CF_LEND);
            failed = true;
            break;
        }
        run.events++;
        if (ev->initial)
            run.initial++;
        else
            run.changes++;
        run.by_type[ev->type]++;
        run.by_change[ev->change]++;
        run.topic_events[ev->topic]++;
        if (ev->initial)
            run.topic_initial[ev->topic]++;
        if ((run.events & 63) == 0)
            sim_producer_poll(producer, 0);
    }

    if (stop_requested)
        cf_log_emit(lg, CF_LOG_INFO, "stopping on signal", CF_LU("events", run.events), CF_LEND);
    uint64_t left = sim_producer_flush(producer, FLUSH_TIMEOUT_MS);
    if (o.progress) {
        show_progress(&run, producer, mono_ns(), true);
        if (run.progress_tty)
            fputc('\n', stderr);
    }
    int64_t end_ns = mono_ns();
    if (sim_eventlog_close(evlog, errstr, sizeof(errstr)) < 0) {
        cf_log_emit(lg, CF_LOG_ERROR, "event log", CF_LS("error", errstr), CF_LEND);
        failed = true;
    }
    evlog = NULL; /* closed */
    struct sim_producer_stats st;
    sim_producer_get_stats(producer, &st);
    if (print_summary(&run, &o, producer, handles, end_ns) < 0)
        failed = true;
    if (st.failed > 0 || left > 0)
        failed = true;
    exit_code = failed ? 1 : 0;

done:
    if (evlog)
        sim_eventlog_close(evlog, errstr, sizeof(errstr));
    sim_producer_destroy(producer);
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++)
        sim_encoder_destroy(enc[t]);
    shop_destroy(shop);
    cf_log_destroy(lg);
    return exit_code;
}
