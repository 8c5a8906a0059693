/* test_top_parse.c - cachefleet-top's Prometheus text parser (tools/top/prom.h)
 * and the rows it computes from two scrapes (tools/top/view.h).
 *
 * The parser is fed text as cachefleet's consumers render it and text
 * they never render but the format allows (escapes, +Inf, NaN,
 * timestamps, CRLF, no final newline), and lines it must skip without
 * losing the rest.  The rows are computed from two hand-written pages a
 * known interval apart.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"
#include "scrape.h"
#include "testutil.h"
#include "view.h"

static struct top_prom *parse(const char *text)
{
    struct top_prom *p = top_prom_parse(text, strlen(text));
    assert_non_null(p);
    return p;
}

/* ------------------------------------------------------------------------
 * The format
 * ------------------------------------------------------------------------ */

static void test_samples_labels_and_comments(void **state)
{
    (void)state;
    struct top_prom *p = parse("# HELP cachefleet_batches_total Batches applied.\n"
                               "# TYPE cachefleet_batches_total counter\n"
                               "cachefleet_batches_total{consumer=\"stock\"} 42\n"
                               "\n"
                               "up 1\n"
                               "  spaced_metric { a = \"1\" , b=\"2\", } \t 3.5e2  \n"
                               "ns:rule:rate5m{job=\"x\"} -0.25\n");
    assert_int_equal(p->n, 4);
    assert_int_equal(p->bad_lines, 0);
    assert_string_equal(p->samples[0].name, "cachefleet_batches_total");
    assert_int_equal(p->samples[0].nlabels, 1);
    assert_string_equal(top_prom_label(&p->samples[0], "consumer"), "stock");
    assert_null(top_prom_label(&p->samples[0], "type"));
    assert_true(p->samples[0].value == 42);
    assert_string_equal(p->samples[1].name, "up");
    assert_int_equal(p->samples[1].nlabels, 0);
    assert_string_equal(p->samples[2].name, "spaced_metric");
    assert_int_equal(p->samples[2].nlabels, 2);
    assert_string_equal(top_prom_label(&p->samples[2], "b"), "2");
    assert_true(p->samples[2].value == 350);
    assert_string_equal(p->samples[3].name, "ns:rule:rate5m");
    assert_true(p->samples[3].value == -0.25);
    top_prom_destroy(p);
}

static void test_escapes(void **state)
{
    (void)state;
    struct top_prom *p = parse("m{path=\"C:\\\\dir\\\\\",quote=\"say \\\"hi\\\"\","
                               "nl=\"a\\nb\",other=\"x\\ty\",brace=\"}{,= \"} 1\n");
    assert_int_equal(p->n, 1);
    const struct top_prom_sample *s = &p->samples[0];
    assert_string_equal(top_prom_label(s, "path"), "C:\\dir\\");
    assert_string_equal(top_prom_label(s, "quote"), "say \"hi\"");
    assert_string_equal(top_prom_label(s, "nl"), "a\nb");
    assert_string_equal(top_prom_label(s, "other"), "x\\ty"); /* not an escape: kept */
    assert_string_equal(top_prom_label(s, "brace"), "}{,= ");
    top_prom_destroy(p);
}

static void test_special_values_and_timestamps(void **state)
{
    (void)state;
    struct top_prom *p = parse("a +Inf\n"
                               "b -Inf\n"
                               "c NaN\n"
                               "d nan\n"
                               "e Inf\n"
                               "f 1e-3 1700000000000\n"
                               "g 7 -5\n"
                               "h 0\r\n"
                               "i 12"); /* no final newline */
    assert_int_equal(p->bad_lines, 0);
    assert_int_equal(p->n, 9);
    assert_true(isinf(p->samples[0].value) && p->samples[0].value > 0);
    assert_true(isinf(p->samples[1].value) && p->samples[1].value < 0);
    assert_true(isnan(p->samples[2].value));
    assert_true(isnan(p->samples[3].value));
    assert_true(isinf(p->samples[4].value) && p->samples[4].value > 0);
    assert_true(p->samples[5].value == 1e-3);
    assert_int_equal(p->samples[5].has_timestamp, 1);
    assert_true(p->samples[5].timestamp_ms == 1700000000000LL);
    assert_true(p->samples[6].timestamp_ms == -5);
    assert_int_equal(p->samples[7].has_timestamp, 0);
    assert_true(p->samples[7].value == 0);
    assert_string_equal(p->samples[8].name, "i");
    assert_true(p->samples[8].value == 12);
    top_prom_destroy(p);
}

/* Malformed lines are skipped and counted; the lines around them stay. */
static void test_malformed_lines_skipped(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "novalue\n",     "m{a=\"1\"}\n",  "m{a=\"unterminated} 1\n",
        "m{a=1} 1\n",    "m{=\"x\"} 1\n", "m{a=\"1\" b=\"2\"} 1\n",
        "m{a=\"1\"}1\n", "m 1 2 3\n",     "m 0x10\n",
        "m nan(123)\n",  "m one\n",       "m 1 1.5\n",
        "9m 1\n",        "m{a=\"1\"\n",   "{a=\"1\"} 1\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "first 1\n%slast 2\n", bad[i]);
        struct top_prom *p = parse(text);
        if (p->n != 2 || p->bad_lines != 1)
            fail_msg("\"%s\": %zu samples, %zu bad lines", bad[i], p->n, p->bad_lines);
        assert_string_equal(p->samples[0].name, "first");
        assert_string_equal(p->samples[1].name, "last");
        top_prom_destroy(p);
    }
    /* Not NUL-terminated: read by length only. */
    const char cut[] = "x 1\ny 2XXXX";
    struct top_prom *p = top_prom_parse(cut, 7);
    assert_non_null(p);
    assert_int_equal(p->n, 2);
    assert_true(p->samples[1].value == 2);
    top_prom_destroy(p);
    p = top_prom_parse(NULL, 0);
    assert_non_null(p);
    assert_int_equal(p->n, 0);
    top_prom_destroy(p);
}

static void test_sum_and_match(void **state)
{
    (void)state;
    struct top_prom *p = parse(
        "cachefleet_events_applied_total{consumer=\"stock\",type=\"StockMoved\"} 10\n"
        "cachefleet_events_applied_total{consumer=\"stock\",type=\"unknown\"} 2\n"
        "cachefleet_events_applied_total_other{consumer=\"stock\"} 100\n"
        "cachefleet_consumer_lag{consumer=\"stock\",topic=\"shop.stock\",partition=\"0\"} 3\n"
        "cachefleet_consumer_lag{consumer=\"stock\",topic=\"shop.stock\",partition=\"1\"} 4\n");
    size_t found;
    assert_true(top_prom_sum(p, "cachefleet_events_applied_total", NULL, &found) == 12);
    assert_int_equal(found, 2);
    const char *const m[] = {"type", "StockMoved", "consumer", "stock", NULL};
    assert_true(top_prom_sum(p, "cachefleet_events_applied_total", m, &found) == 10);
    assert_int_equal(found, 1);
    const char *const part[] = {"partition", "1", NULL};
    assert_true(top_prom_sum(p, "cachefleet_consumer_lag", part, NULL) == 4);
    assert_true(top_prom_sum(p, "absent", NULL, &found) == 0);
    assert_int_equal(found, 0);
    top_prom_destroy(p);
}

/* ------------------------------------------------------------------------
 * Histograms
 * ------------------------------------------------------------------------ */

#define RTT_PAGE(b1, b2, b3, inf, sum)                                                             \
    "cachefleet_redis_round_trip_seconds_bucket{consumer=\"c\",le=\"0.001\"} " #b1 "\n"            \
    "cachefleet_redis_round_trip_seconds_bucket{consumer=\"c\",le=\"0.002\"} " #b2 "\n"            \
    "cachefleet_redis_round_trip_seconds_bucket{consumer=\"c\",le=\"0.01\"} " #b3 "\n"             \
    "cachefleet_redis_round_trip_seconds_bucket{consumer=\"c\",le=\"+Inf\"} " #inf "\n"            \
    "cachefleet_redis_round_trip_seconds_sum{consumer=\"c\"} " #sum "\n"                           \
    "cachefleet_redis_round_trip_seconds_count{consumer=\"c\"} " #inf "\n"

static void test_histogram_and_quantile(void **state)
{
    (void)state;
    /* Out of order on purpose: the reader sorts by bound. */
    struct top_prom *p = parse("h_bucket{le=\"+Inf\"} 100\n"
                               "h_bucket{le=\"1\"} 50\n"
                               "h_bucket{le=\"2\"} 90\n"
                               "h_bucket{le=\"4\"} 100\n"
                               "h_bucket{le=\"NaN\"} 5\n"
                               "h_sum 130\n"
                               "h_count 100\n");
    struct top_hist h;
    assert_int_equal(top_prom_histogram(p, "h", &h), 0);
    assert_int_equal(h.n, 4);
    assert_true(h.le[0] == 1 && h.le[2] == 4 && isinf(h.le[3]));
    assert_true(h.count == 100 && h.sum == 130);
    assert_true(fabs(top_hist_quantile(&h, 0.5) - 1.0) < 1e-9);
    assert_true(fabs(top_hist_quantile(&h, 0.25) - 0.5) < 1e-9); /* first bucket from 0 */
    assert_true(fabs(top_hist_quantile(&h, 0.7) - 1.5) < 1e-9);  /* 20 of 40 into (1, 2] */
    assert_true(fabs(top_hist_quantile(&h, 0.99) - 3.8) < 1e-9);
    assert_int_equal(top_prom_histogram(p, "absent", &h), -1);
    top_prom_destroy(p);

    /* Everything beyond the last finite bound: that bound. */
    p = parse("h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 3\nh_count 3\n");
    assert_int_equal(top_prom_histogram(p, "h", &h), 0);
    assert_true(top_hist_quantile(&h, 0.99) == 1);
    top_prom_destroy(p);
    /* Empty: no quantile. */
    p = parse("h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_count 0\n");
    assert_int_equal(top_prom_histogram(p, "h", &h), 0);
    assert_true(top_hist_quantile(&h, 0.99) == -1);
    top_prom_destroy(p);

    /* Two label sets of one histogram are summed bucket by bucket. */
    p = parse("h_bucket{c=\"a\",le=\"1\"} 1\nh_bucket{c=\"a\",le=\"+Inf\"} 2\n"
              "h_bucket{c=\"b\",le=\"1\"} 3\nh_bucket{c=\"b\",le=\"+Inf\"} 4\n");
    assert_int_equal(top_prom_histogram(p, "h", &h), 0);
    assert_int_equal(h.n, 2);
    assert_true(h.cum[0] == 4 && h.cum[1] == 6);
    top_prom_destroy(p);
}

static void test_histogram_delta(void **state)
{
    (void)state;
    struct top_prom *a = parse(RTT_PAGE(10, 20, 30, 30, 0.03));
    struct top_prom *b = parse(RTT_PAGE(10, 20, 130, 130, 0.83));
    struct top_hist ha, hb, d;
    assert_int_equal(top_prom_histogram(a, "cachefleet_redis_round_trip_seconds", &ha), 0);
    assert_int_equal(top_prom_histogram(b, "cachefleet_redis_round_trip_seconds", &hb), 0);
    top_hist_delta(&hb, &ha, &d);
    assert_true(d.count == 100);
    assert_true(fabs(d.sum - 0.8) < 1e-9);
    assert_true(d.cum[0] == 0 && d.cum[1] == 0 && d.cum[2] == 100);
    /* All 100 in (0.002, 0.01]: p99 at 99 % of the way. */
    assert_true(fabs(top_hist_quantile(&d, 0.99) - (0.002 + 0.008 * 0.99)) < 1e-9);
    /* A restart (counts went down): the newer page counts from zero. */
    top_hist_delta(&ha, &hb, &d);
    assert_true(d.count == 30 && d.cum[2] == 30);
    top_prom_destroy(a);
    top_prom_destroy(b);
}

/* ------------------------------------------------------------------------
 * Rows
 * ------------------------------------------------------------------------ */

static char *page(double applied, double dead, double product_warm, double category_inv,
                  int with_slices, int redis_up, int paused)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fprintf(f, "# TYPE cachefleet_events_applied_total counter\n");
    fprintf(f,
            "cachefleet_events_applied_total{consumer=\"products\",type=\"ProductUpserted\"} "
            "%.0f\n",
            applied);
    fprintf(f, "cachefleet_events_applied_total{consumer=\"products\",type=\"unknown\"} 0\n");
    fprintf(f,
            "cachefleet_events_deadlettered_total{consumer=\"products\",type=\"unknown\"} "
            "%.0f\n",
            dead);
    fprintf(f, "cachefleet_redis_up{consumer=\"products\"} %d\n", redis_up);
    fprintf(f, "cachefleet_broker_up{consumer=\"products\"} 1\n");
    fprintf(f, "cachefleet_paused{consumer=\"products\"} %d\n", paused);
    fprintf(f, "cachefleet_consumer_lag{consumer=\"products\",topic=\"t\",partition=\"0\"} 5\n");
    fprintf(f, "cachefleet_consumer_lag{consumer=\"products\",topic=\"t\",partition=\"1\"} 7\n");
    fprintf(f, RTT_PAGE(10, 20, 30, 30, 0.03));
    if (with_slices) {
        fprintf(f,
                "cachefleet_slice_ops_total{consumer=\"products\",slice=\"product\","
                "kind=\"warm\"} %.0f\n",
                product_warm);
        fprintf(f, "cachefleet_slice_ops_total{consumer=\"products\",slice=\"product\","
                   "kind=\"invalidate\"} 4\n");
        fprintf(f,
                "cachefleet_slice_ops_total{consumer=\"products\",slice=\"category\","
                "kind=\"invalidate\"} %.0f\n",
                category_inv);
        fprintf(f, "cachefleet_slice_ops_total{consumer=\"products\",slice=\"menu\","
                   "kind=\"warm\"} 9\n");
    }
    fclose(f);
    return text;
}

static void figures(const char *text, struct top_figures *f)
{
    struct top_prom *p = parse(text);
    top_figures_read(p, f);
    top_prom_destroy(p);
}

static void test_rows(void **state)
{
    (void)state;
    char *t1 = page(100, 1, 10, 2, 1, 1, 0);
    char *t2 = page(300, 3, 250, 8, 1, 1, 0);
    struct top_figures *f1 = calloc(2, sizeof(*f1)), *f2 = f1 + 1;
    assert_non_null(f1);
    figures(t1, f1);
    figures(t2, f2);
    assert_string_equal(f1->consumer, "products");
    assert_true(f2->has_lag && f2->lag == 12);
    assert_true(f2->has_slices);

    struct top_row row;
    /* First refresh: totals, no rates. */
    top_row_compute(&row, NULL, "127.0.0.1:1", f1, NULL, 0);
    assert_string_equal(row.name, "products");
    assert_string_equal(row.rate, "-");
    assert_string_equal(row.applied, "100");
    assert_string_equal(row.lag, "12");
    assert_string_equal(row.dlq, "1");
    assert_string_equal(row.state, "ok");
    assert_string_equal(row.slices, "-");
    assert_true(fabs(row.rtt_mean_s - 0.001) < 1e-9);

    /* Two seconds later: (200 applied + 2 dead-lettered) / 2 s. */
    top_row_compute(&row, "prod", "127.0.0.1:1", f2, f1, 2.0);
    assert_string_equal(row.name, "prod");
    assert_true(fabs(row.rate_value - 101) < 1e-9);
    assert_string_equal(row.rate, "101");
    assert_string_equal(row.applied, "300");
    /* product: 240 warms / 2 s; category: 6 invalidations / 2 s; menu idle. */
    assert_string_equal(row.slices, "product 120/s, category 3.0/s");
    assert_string_equal(row.rtt, "-/-"); /* no round trip in the interval */

    /* A restart: counters went down, counted from zero. */
    top_row_compute(&row, NULL, "a", f1, f2, 1.0);
    assert_true(fabs(row.rate_value - 101) < 1e-9);

    /* No slice counter (an older consumer): "-", the rest as before. */
    free(t2);
    t2 = page(300, 3, 0, 0, 0, 0, 1);
    figures(t2, f2);
    assert_false(f2->has_slices);
    top_row_compute(&row, NULL, "a", f2, f1, 1.0);
    assert_string_equal(row.slices, "-");
    assert_string_equal(row.state, "redis-down,paused");

    /* Unchanged slices: idle. */
    top_row_compute(&row, NULL, "a", f1, f1, 1.0);
    assert_string_equal(row.slices, "idle");
    assert_string_equal(row.rate, "0.0");

    top_row_unreachable(&row, NULL, "127.0.0.1:9", "connect: Connection refused");
    assert_string_equal(row.name, "127.0.0.1:9");
    assert_string_equal(row.state, "unreachable");
    free(t1);
    free(t2);
    free(f1);
}

static void test_render(void **state)
{
    (void)state;
    struct top_row rows[2];
    struct top_figures f;
    char *t = page(100, 1, 10, 2, 1, 1, 0);
    figures(t, &f);
    free(t);
    top_row_compute(&rows[0], NULL, "127.0.0.1:9101", &f, NULL, 0);
    top_row_unreachable(&rows[1], "stock", "127.0.0.1:9", "connect: Connection refused");
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    assert_non_null(fp);
    struct top_view_opts opts = {0, 0, 1.0, 1};
    top_view_render(fp, rows, 2, &opts);
    opts.ansi = 1;
    opts.width = 40;
    top_view_render(fp, rows, 2, &opts);
    fclose(fp);
    /* Plain: no escape sequence in the first block. */
    const char *second = strstr(out, "\033[H\033[2J");
    assert_non_null(second);
    assert_null(memchr(out, '\033', (size_t)(second - out)));
    assert_non_null(strstr(out, "\nproducts   127.0.0.1:9101"));
    assert_non_null(strstr(out, "\nstock      127.0.0.1:9"));
    assert_non_null(strstr(out, "unreachable  connect: Connection refused\n"));
    /* On the terminal, lines are cut to its width. */
    for (const char *line = second + 7; *line;) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        size_t n = 0; /* visible characters: escape sequences aside */
        for (const char *c = line; c < nl; c++) {
            if (*c == '\033') {
                while (c < nl && !(*c >= 'A' && *c <= 'Z') && !(*c >= 'a' && *c <= 'z'))
                    c++;
                continue;
            }
            n++;
        }
        assert_true(n <= 40);
        line = nl + 1;
    }
    free(out);
}

static void test_addresses(void **state)
{
    (void)state;
    char host[64], port[16];
    assert_int_equal(top_addr_split("127.0.0.1:9101", host, sizeof(host), port, sizeof(port)), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(port, "9101");
    assert_int_equal(top_addr_split("[::1]:80", host, sizeof(host), port, sizeof(port)), 0);
    assert_string_equal(host, "::1");
    assert_string_equal(port, "80");
    assert_int_equal(top_addr_split("localhost:1", host, sizeof(host), port, sizeof(port)), 0);
    assert_int_equal(top_addr_split("127.0.0.1", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(top_addr_split(":9101", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(top_addr_split("h:", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(top_addr_split("h:9x", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(top_addr_split("::1:80", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(top_addr_split("[::1]80", host, sizeof(host), port, sizeof(port)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_labels_and_comments),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_special_values_and_timestamps),
        cmocka_unit_test(test_malformed_lines_skipped),
        cmocka_unit_test(test_sum_and_match),
        cmocka_unit_test(test_histogram_and_quantile),
        cmocka_unit_test(test_histogram_delta),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
