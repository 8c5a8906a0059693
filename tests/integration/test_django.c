/* test_django.c - the web tier reads what the fleet writes: a real Django
 * (Debian's python3-django and python3-django-redis, django-redis with its
 * JSONSerializer, Django's cache session backend) against the same
 * redis-server the fleet's consumers write to.
 *
 * The C side produces events to the project's broker and runs the real
 * consumer programs; each web-tier step runs tests/django/webtier.py with
 * /usr/bin/python3 (the interpreter Debian's Django is installed for) and
 * reads its one line of JSON.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "encode.h"
#include "fleet.h"

#ifndef CF_PYTHON
#define CF_PYTHON "/usr/bin/python3"
#endif

enum { PRODUCTS, CARTS, ACCESS, STOCK, NCONSUMERS };
static const char *const consumer_names[NCONSUMERS] = {"products", "carts", "access", "stock"};

struct fixture {
    struct cf_fleet fleet;
    struct cf_consumer_proc consumers[NCONSUMERS];
    struct sim_encoder *enc[NCONSUMERS];
    int seq;
};

/* ------------------------------------------------------------------------
 * The web tier
 * ------------------------------------------------------------------------ */

/* Runs webtier.py with args; returns its JSON output (json_decref it). */
static json_t *webtier(struct fixture *fx, const char *const *args)
{
    char url[128], pythonpath[2 * PATH_MAX + 64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", fx->fleet.redis.port);
    snprintf(pythonpath, sizeof(pythonpath), "%s/tools/django:%s/tests/django", CF_SOURCE_DIR,
             CF_SOURCE_DIR);
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[16];
        size_t n = 0;
        argv[n++] = CF_PYTHON;
        argv[n++] = CF_SOURCE_DIR "/tests/django/webtier.py";
        for (size_t i = 0; args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        setenv("CACHEFLEET_TEST_REDIS_URL", url, 1);
        setenv("PYTHONPATH", pythonpath, 1);
        setenv("DJANGO_SETTINGS_MODULE", "settings", 1);
        execv(CF_PYTHON, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(out[1]);
    char buf[65536];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(out[0], buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(out[0]);
    buf[len] = '\0';
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("webtier.py %s failed (status %d): %s", args[0], status, buf);
    json_error_t err;
    json_t *j = json_loads(buf, 0, &err);
    if (!j)
        fail_msg("webtier.py %s printed no JSON: %s", args[0], buf);
    return j;
}

/* cache.get(key) from Django: the type name and the value. */
static json_t *django_get(struct fixture *fx, const char *key, const char *want_type)
{
    const char *args[] = {"get", key, NULL};
    json_t *j = webtier(fx, args);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type || strcmp(type, want_type) != 0)
        fail_msg("cache.get(\"%s\") returned a %s, expected a %s", key, type ? type : "?",
                 want_type);
    return j;
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

static avro_value_t begin(struct fixture *fx, int consumer, const char *type, int64_t version)
{
    char event_id[32], err[256];
    avro_value_t body;
    snprintf(event_id, sizeof(event_id), "django-%d", ++fx->seq);
    if (sim_encoder_begin(fx->enc[consumer], event_id, version, cf_wall_us(), type, &body, err,
                          sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    return body;
}

static void send_event(struct fixture *fx, int consumer, const char *key)
{
    const void *data;
    size_t len;
    char err[256], topic[64];
    if (sim_encoder_finish(fx->enc[consumer], &data, &len, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    snprintf(topic, sizeof(topic), "shop.%s", consumer_names[consumer]);
    cf_fleet_produce(&fx->fleet, topic, key, data, len);
}

static void set_str(avro_value_t *rec, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_string(rec, field, s, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_list(avro_value_t *rec, const char *field, const char *const *items, size_t n)
{
    char err[256];
    if (sim_avro_set_string_array(rec, field, items, n, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_opt(avro_value_t *rec, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_optional_string(rec, field, s, s ? strlen(s) : 0, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_long(avro_value_t *rec, const char *field, int64_t v)
{
    avro_value_t f;
    assert_int_equal(avro_value_get_by_name(rec, field, &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, v), 0);
}

static void set_enum(avro_value_t *rec, const char *field, int v)
{
    avro_value_t f;
    assert_int_equal(avro_value_get_by_name(rec, field, &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, v), 0);
}

static void wait_handled(struct fixture *fx)
{
    struct cf_consumer_proc *const all[] = {&fx->consumers[0], &fx->consumers[1],
                                            &fx->consumers[2], &fx->consumers[3]};
    cf_fleet_wait_handled(&fx->fleet, all, NCONSUMERS);
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256], file[64];
    cf_fleet_start(&fx->fleet, "django", 1, 4);
    for (int i = 0; i < NCONSUMERS; i++) {
        snprintf(file, sizeof(file), "%s.avsc", consumer_names[i]);
        fx->enc[i] = sim_encoder_new(cf_test_schemas_dir(), file, SIM_FRAMING_CONFLUENT, err,
                                     sizeof(err));
        if (!fx->enc[i])
            fail_msg("encoder %s: %s", file, err);
        cf_consumer_spawn(&fx->consumers[i], &fx->fleet, consumer_names[i], NULL);
    }
    for (int i = 0; i < NCONSUMERS; i++)
        cf_consumer_wait_ready(&fx->consumers[i]);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < NCONSUMERS; i++) {
        cf_consumer_stop(&fx->consumers[i]);
        sim_encoder_destroy(fx->enc[i]);
    }
    cf_fleet_stop(&fx->fleet);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

static void test_product_detail_is_a_dict(void **state)
{
    struct fixture *fx = *state;
    avro_value_t b = begin(fx, PRODUCTS, "ProductUpserted", 3);
    set_str(&b, "product_id", "42");
    set_list(&b, "categories_before", NULL, 0);
    const char *const cats[] = {"7"};
    set_list(&b, "categories_after", cats, 1);
    set_list(&b, "search_terms_before", NULL, 0);
    set_list(&b, "search_terms_after", NULL, 0);
    set_opt(&b, "representation",
            "{\"id\":42,\"name\":\"Caf\xc3\xa9 mug\",\"price\":\"9.90\",\"in_stock\":true}");
    send_event(fx, PRODUCTS, "42");
    wait_handled(fx);

    json_t *j = django_get(fx, "product:42", "dict");
    json_t *v = json_object_get(j, "value");
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 42);
    assert_string_equal(json_string_value(json_object_get(v, "name")), "Caf\xc3\xa9 mug");
    assert_true(json_is_true(json_object_get(v, "in_stock")));
    json_decref(j);
}

static void test_stock_is_an_int(void **state)
{
    struct fixture *fx = *state;
    avro_value_t b = begin(fx, STOCK, "StockMoved", 11);
    set_str(&b, "sku", "SKU-1");
    set_str(&b, "product_id", "42");
    set_enum(&b, "kind", 1); /* RESTOCK */
    set_long(&b, "quantity_delta", 5);
    set_long(&b, "on_hand", 17);
    send_event(fx, STOCK, "SKU-1");
    wait_handled(fx);
    json_t *j = django_get(fx, "stock:SKU-1", "int");
    assert_int_equal(json_integer_value(json_object_get(j, "value")), 17);
    json_decref(j);
}

static void test_cart_is_read_by_django(void **state)
{
    struct fixture *fx = *state;
    avro_value_t b = begin(fx, CARTS, "CartUpdated", 2);
    set_str(&b, "cart_id", "c-9f2");
    set_opt(&b, "user_id", "u-1");
    set_enum(&b, "change", 1); /* ITEM_ADDED */
    set_str(&b, "cart",
            "{\"id\":\"c-9f2\",\"items\":[{\"product_id\":42,\"quantity\":2}],\"total\":\"19.80\"}");
    send_event(fx, CARTS, "c-9f2");
    wait_handled(fx);
    json_t *j = django_get(fx, "cart:c-9f2", "dict");
    json_t *items = json_object_get(json_object_get(j, "value"), "items");
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "quantity")), 2);
    json_decref(j);
}

static void test_session_gone_after_deactivation(void **state)
{
    struct fixture *fx = *state;
    const char *create[] = {"session-create", NULL};
    json_t *s = webtier(fx, create);
    const char *key = json_string_value(json_object_get(s, "session_key"));
    assert_non_null(key);
    const char *exists[] = {"session-exists", key, NULL};
    json_t *e = webtier(fx, exists);
    assert_true(json_is_true(json_object_get(e, "exists")));
    json_decref(e);

    avro_value_t b = begin(fx, ACCESS, "UserLoggedIn", 5);
    set_str(&b, "user_id", "77");
    set_str(&b, "session_key", key);
    send_event(fx, ACCESS, "77");
    b = begin(fx, ACCESS, "UserDeactivated", 6);
    set_str(&b, "user_id", "77");
    send_event(fx, ACCESS, "77");
    wait_handled(fx);

    e = webtier(fx, exists);
    assert_true(json_is_false(json_object_get(e, "exists")));
    json_decref(e);
    json_decref(s);
}

static void test_listing_filled_by_django_is_invalidated(void **state)
{
    struct fixture *fx = *state;
    const char *fill[] = {"fill", "listing:category:8:page:1", "[{\"id\":5}]", "category:8", NULL};
    json_t *f = webtier(fx, fill);
    assert_true(json_is_true(json_object_get(f, "stored")));
    json_decref(f);
    json_t *j = django_get(fx, "listing:category:8:page:1", "list");
    json_decref(j);

    /* A product in category 8 changes. */
    avro_value_t b = begin(fx, PRODUCTS, "ProductUpserted", 2);
    set_str(&b, "product_id", "5");
    const char *const cats[] = {"8"};
    set_list(&b, "categories_before", cats, 1);
    set_list(&b, "categories_after", cats, 1);
    set_list(&b, "search_terms_before", NULL, 0);
    set_list(&b, "search_terms_after", NULL, 0);
    set_opt(&b, "representation", "{\"id\":5,\"price\":\"1.00\"}");
    send_event(fx, PRODUCTS, "5");
    wait_handled(fx);
    j = django_get(fx, "listing:category:8:page:1", "NoneType");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_product_detail_is_a_dict),
        cmocka_unit_test(test_stock_is_an_int),
        cmocka_unit_test(test_cart_is_read_by_django),
        cmocka_unit_test(test_session_gone_after_deactivation),
        cmocka_unit_test(test_listing_filled_by_django_is_invalidated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
