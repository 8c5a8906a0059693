/* test_top.c - cachefleet-top against a running fleet.
 *
 * Two real consumer programs (products and stock) against a real
 * redis-server and the project's broker, events produced to both, then the
 * program cachefleet-top of this build run as an operator runs it:
 * `--plain --iterations 3` against both metrics endpoints and one port
 * nothing listens on.  The assertions read its output: a block per
 * refresh, a row naming each consumer (products by the name given on the
 * command line, stock by its metrics' consumer label) with its applied
 * count and lag, the dead port shown "unreachable" while the view goes on,
 * and a rate above zero while events flow.  A second case stops an
 * unbounded view with SIGTERM and expects a clean exit.
 *
 * The consumers report lag from librdkafka's statistics every 200 ms here
 * (the default is 5 s) so the lag column has figures within the test.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "encode.h"
#include "fleet.h"
#include "httpget.h"

enum { PURCHASE = 0 }; /* MovementKind's first symbol in schemas/stock.avsc */

struct fixture {
    struct cf_fleet fleet;
    struct cf_consumer_proc products, stock;
    struct sim_encoder *products_enc, *stock_enc;
    int seq;
    int runs; /* cachefleet-top runs, to name their outputs */
};

/* ------------------------------------------------------------------------
 * Producing events
 * ------------------------------------------------------------------------ */

static void set_str(avro_value_t *body, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_string(body, field, s, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void send_event(struct fixture *fx, struct sim_encoder *enc, const char *topic,
                       const char *key)
{
    const void *data;
    size_t len;
    char err[256];
    if (sim_encoder_finish(enc, &data, &len, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    cf_fleet_produce(&fx->fleet, topic, key, data, len);
}

static void product(struct fixture *fx, int id)
{
    char pid[32], event_id[32], repr[64], err[256];
    avro_value_t body;
    snprintf(pid, sizeof(pid), "%d", id);
    snprintf(event_id, sizeof(event_id), "top-%d", ++fx->seq);
    snprintf(repr, sizeof(repr), "{\"id\":%d}", id);
    if (sim_encoder_begin(fx->products_enc, event_id, fx->seq, cf_wall_us(), "ProductUpserted",
                          &body, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    set_str(&body, "product_id", pid);
    static const char *const cats[] = {"7"};
    if (sim_avro_set_string_array(&body, "categories_before", NULL, 0, err, sizeof(err)) < 0 ||
        sim_avro_set_string_array(&body, "categories_after", cats, 1, err, sizeof(err)) < 0 ||
        sim_avro_set_string_array(&body, "search_terms_before", NULL, 0, err, sizeof(err)) < 0 ||
        sim_avro_set_string_array(&body, "search_terms_after", NULL, 0, err, sizeof(err)) < 0 ||
        sim_avro_set_optional_string(&body, "representation", repr, strlen(repr), err,
                                     sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    send_event(fx, fx->products_enc, "shop.products", pid);
}

static void stock(struct fixture *fx, int n)
{
    char sku[32], pid[32], event_id[32], err[256];
    avro_value_t body, f;
    snprintf(sku, sizeof(sku), "SKU-TOP-%d", n);
    snprintf(pid, sizeof(pid), "%d", 9000 + n);
    snprintf(event_id, sizeof(event_id), "top-%d", ++fx->seq);
    if (sim_encoder_begin(fx->stock_enc, event_id, fx->seq, cf_wall_us(), "StockMoved", &body, err,
                          sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    set_str(&body, "sku", sku);
    set_str(&body, "product_id", pid);
    assert_int_equal(avro_value_get_by_name(&body, "kind", &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, PURCHASE), 0);
    assert_int_equal(avro_value_get_by_name(&body, "quantity_delta", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, -1), 0);
    assert_int_equal(avro_value_get_by_name(&body, "on_hand", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, 10 + n), 0);
    send_event(fx, fx->stock_enc, "shop.stock", sku);
}

/* ------------------------------------------------------------------------
 * Running cachefleet-top
 * ------------------------------------------------------------------------ */

/* Starts cachefleet-top with args (NULL-terminated), its output in out. */
static void top_spawn(struct fixture *fx, struct cf_proc *proc, char *const *args, char *out,
                      size_t out_size)
{
    char path[PATH_MAX];
    char *argv[16];
    size_t n = 0;
    argv[n++] = cf_test_program("cachefleet-top", path, sizeof(path));
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(out, out_size, "%s/top-%d.out", fx->fleet.dir, ++fx->runs);
    if (cf_proc_spawn(proc, argv, NULL, out) < 0)
        fail_msg("cannot start %s", path);
}

/* The whole file at path: a new string. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            text = realloc(text, cap);
            assert_non_null(text);
        }
        size_t r = fread(text + len, 1, cap - len - 1, f);
        if (r == 0)
            break;
        len += r;
    }
    fclose(f);
    text[len] = '\0';
    return text;
}

/* One row of the view, split into its columns. */
struct row {
    char name[64], addr[128], rate[32], applied[32], lag[32], dlq[32], rtt[32], age[32];
    char state[48];
    const char *slices; /* the rest of the line, in the output text */
};

static int is_number(const char *s)
{
    char *end = NULL;
    strtod(s, &end);
    return end != s && *end == '\0';
}

/* The row named name in the refresh block number `block` (1-based) of
 * out.  Returns 0, or -1 when there is none. */
static int find_row(const char *out, int block, const char *name, struct row *r)
{
    int seen = 0;
    for (const char *line = out; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, "CONSUMER ", 9) == 0)
            seen++;
        else if (seen == block && strncmp(line, name, strlen(name)) == 0 &&
                 line[strlen(name)] == ' ') {
            char copy[1024];
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            if (n >= sizeof(copy))
                n = sizeof(copy) - 1;
            memcpy(copy, line, n);
            copy[n] = '\0';
            int used = 0;
            if (sscanf(copy, "%63s %127s %31s %31s %31s %31s %31s %31s %47s %n", r->name, r->addr,
                       r->rate, r->applied, r->lag, r->dlq, r->rtt, r->age, r->state, &used) < 9)
                fail_msg("malformed row: %s", copy);
            r->slices = line + used;
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

static int count_blocks(const char *out)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, "\nCONSUMER ")) != NULL; p++)
        n++;
    return n;
}

/* Waits (10 s at most) until both consumers' pages carry a lag figure. */
static void wait_lag_reported(struct fixture *fx)
{
    static char body[1 << 17];
    struct cf_consumer_proc *cs[] = {&fx->products, &fx->stock};
    int64_t deadline = cf_mono_ms() + 10000;
    for (size_t i = 0; i < 2; i++) {
        while (cf_http_get(cs[i]->http_port, "/metrics", body, sizeof(body), 2000) != 200 ||
               !strstr(body, "cachefleet_consumer_lag{")) {
            if (cf_mono_ms() > deadline)
                fail_msg("%s reports no consumer lag", cs[i]->name);
            usleep(50000);
        }
    }
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    assert_non_null(fx);
    cf_fleet_start(&fx->fleet, "top", 1, 2);
    fx->products_enc = sim_encoder_new(cf_test_schemas_dir(), "products.avsc",
                                       SIM_FRAMING_CONFLUENT, err, sizeof(err));
    fx->stock_enc = sim_encoder_new(cf_test_schemas_dir(), "stock.avsc", SIM_FRAMING_CONFLUENT, err,
                                    sizeof(err));
    assert_non_null(fx->products_enc);
    assert_non_null(fx->stock_enc);
    char *const env[] = {"CACHEFLEET_KAFKA_STATISTICS_INTERVAL_MS=200", NULL};
    /* Both join their groups at once (a join takes about 3 s). */
    cf_consumer_spawn(&fx->products, &fx->fleet, "products", env);
    cf_consumer_spawn(&fx->stock, &fx->fleet, "stock", env);
    cf_consumer_wait_ready(&fx->products);
    cf_consumer_wait_ready(&fx->stock);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cf_consumer_stop(&fx->products);
    cf_consumer_stop(&fx->stock);
    sim_encoder_destroy(fx->products_enc);
    sim_encoder_destroy(fx->stock_enc);
    cf_fleet_stop(&fx->fleet);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

static void test_view_of_two_consumers_and_a_dead_port(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 20; i++) {
        product(fx, 100 + i);
        stock(fx, i);
    }
    struct cf_consumer_proc *both[] = {&fx->products, &fx->stock};
    cf_fleet_wait_handled(&fx->fleet, both, 2);
    wait_lag_reported(fx);

    char products_arg[64], stock_arg[64], dead_arg[64], out[PATH_MAX + 32];
    int dead_port = cf_free_port();
    assert_true(dead_port > 0);
    snprintf(products_arg, sizeof(products_arg), "products=127.0.0.1:%d", fx->products.http_port);
    snprintf(stock_arg, sizeof(stock_arg), "127.0.0.1:%d", fx->stock.http_port);
    snprintf(dead_arg, sizeof(dead_arg), "ghost=127.0.0.1:%d", dead_port);
    char *const args[] = {"--plain",    "--iterations", "3",      "--interval", "1",
                          products_arg, stock_arg,      dead_arg, NULL};
    struct cf_proc top;
    int64_t started = cf_mono_ms();
    top_spawn(fx, &top, args, out, sizeof(out));
    /* Events flow while the view runs: its rates see them. */
    for (int i = 0; i < 20; i++) {
        product(fx, 200 + i);
        cf_test_producer_poll(fx->fleet.tp, 0);
        usleep(80000);
    }
    cf_test_producer_flush(fx->fleet.tp, 10000);
    int status = -1;
    if (cf_proc_wait(&top, 15000, &status) < 0) {
        cf_proc_stop(&top, 1000);
        fail_msg("cachefleet-top --iterations 3 did not end within 15 s");
    }
    int64_t took = cf_mono_ms() - started;
    char *text = slurp(out);
    if (status != 0)
        fail_msg("cachefleet-top exited %d:\n%s", status, text);
    /* Three refreshes a second apart: about 2 s, never 3 x the fetch timeout. */
    if (took < 1800 || took > 8000)
        fail_msg("3 refreshes at 1 s took %lld ms", (long long)took);
    if (count_blocks(text) != 3)
        fail_msg("expected 3 refreshes:\n%s", text);

    char want_addr[64];
    struct row r;
    double products_rate = 0;
    for (int block = 1; block <= 3; block++) {
        if (find_row(text, block, "products", &r) < 0 || find_row(text, block, "stock", &r) < 0 ||
            find_row(text, block, "ghost", &r) < 0)
            fail_msg("refresh %d lacks a row:\n%s", block, text);
        /* products, by the name given. */
        assert_int_equal(find_row(text, block, "products", &r), 0);
        snprintf(want_addr, sizeof(want_addr), "127.0.0.1:%d", fx->products.http_port);
        assert_string_equal(r.addr, want_addr);
        if (!is_number(r.applied) || strtod(r.applied, NULL) < 20 || !is_number(r.lag) ||
            strcmp(r.state, "ok") != 0 || strcmp(r.dlq, "0") != 0)
            fail_msg("refresh %d, products: applied %s lag %s dlq %s state %s:\n%s", block,
                     r.applied, r.lag, r.dlq, r.state, text);
        if (block == 1 && strcmp(r.rate, "-") != 0)
            fail_msg("the first refresh has no rate yet, shows %s", r.rate);
        if (block > 1 && is_number(r.rate))
            products_rate += strtod(r.rate, NULL);
        /* stock, by its metrics' consumer label. */
        assert_int_equal(find_row(text, block, "stock", &r), 0);
        snprintf(want_addr, sizeof(want_addr), "127.0.0.1:%d", fx->stock.http_port);
        assert_string_equal(r.addr, want_addr);
        if (strtod(r.applied, NULL) != 20 || !is_number(r.lag) || strcmp(r.state, "ok") != 0)
            fail_msg("refresh %d, stock: applied %s lag %s state %s:\n%s", block, r.applied, r.lag,
                     r.state, text);
        if (!strchr(r.rtt, '/'))
            fail_msg("stock: round trip %s", r.rtt);
        /* Nothing listens on the dead port: unreachable, the reason shown. */
        assert_int_equal(find_row(text, block, "ghost", &r), 0);
        assert_string_equal(r.state, "unreachable");
        assert_string_equal(r.applied, "-");
        assert_non_null(strstr(r.slices, "refused"));
    }
    if (!(products_rate > 0))
        fail_msg("no products rate while 20 events flowed:\n%s", text);

    /* The slices, when the consumers count them (cachefleet_slice_ops_total). */
    static char body[1 << 17];
    assert_int_equal(cf_http_get(fx->products.http_port, "/metrics", body, sizeof(body), 2000),
                     200);
    if (strstr(body, "cachefleet_slice_ops_total{")) {
        int named = 0;
        for (int block = 2; block <= 3; block++) {
            assert_int_equal(find_row(text, block, "products", &r), 0);
            named += strncmp(r.slices, "product ", 8) == 0 || strstr(r.slices, " product ");
        }
        if (!named)
            fail_msg("the product slice is not shown:\n%s", text);
    } else {
        assert_int_equal(find_row(text, 3, "products", &r), 0);
        assert_true(strncmp(r.slices, "-", 1) == 0);
    }
    free(text);
}

static void test_sigterm_stops_the_view(void **state)
{
    struct fixture *fx = *state;
    char arg[64], out[PATH_MAX + 32];
    snprintf(arg, sizeof(arg), "127.0.0.1:%d", fx->stock.http_port);
    char *const args[] = {"--interval", "0.2", arg, NULL};
    struct cf_proc top;
    top_spawn(fx, &top, args, out, sizeof(out));
    usleep(1000000);
    assert_true(cf_proc_alive(&top)); /* no --iterations: it runs until told */
    assert_int_equal(cf_proc_signal(&top, SIGTERM), 0);
    int status = -1;
    if (cf_proc_wait(&top, 3000, &status) < 0) {
        cf_proc_stop(&top, 1000);
        fail_msg("cachefleet-top did not stop within 3 s of SIGTERM");
    }
    assert_int_equal(status, 0);
    char *text = slurp(out);
    /* Not a terminal: plain lines, several refreshes, no escape sequence. */
    assert_true(count_blocks(text) >= 2);
    assert_null(strchr(text, '\033'));
    free(text);

    /* Bad flags: status 2, nothing fetched. */
    char *const bad[] = {"--interval", "0", arg, NULL};
    top_spawn(fx, &top, bad, out, sizeof(out));
    assert_int_equal(cf_proc_wait(&top, 5000, &status), 0);
    assert_int_equal(status, 2);
    char *const noport[] = {"127.0.0.1", NULL};
    top_spawn(fx, &top, noport, out, sizeof(out));
    assert_int_equal(cf_proc_wait(&top, 5000, &status), 0);
    assert_int_equal(status, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_of_two_consumers_and_a_dead_port),
        cmocka_unit_test(test_sigterm_stops_the_view),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
