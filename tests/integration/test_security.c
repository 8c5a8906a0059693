/* test_security.c - "nobody in who does not belong": the fleet under the
 * Redis ACL of docker/redis-acl.conf, secrets and payloads kept out of
 * logs and printouts.
 *
 * One redis-server runs with an aclfile made of the lines of
 * docker/redis-acl.conf (the default user disabled, the fleet's user
 * "cachefleet", the web tier's user "django"; no password in the file),
 * each user's password appended to its line as docker/compose.yaml appends
 * the hash of its secret, and one line of the test's own: an admin user for
 * the test's reads.  The harness waits for redis with a PING that
 * names no user, so redis starts with a bootstrap aclfile that lets the
 * default user in; the real file is then written over it and loaded with
 * ACL LOAD before anything else connects, and the first case checks that
 * the default user is locked out.
 *
 * Four consumers run as user cachefleet, for the whole program (a new group
 * member waits ~3 s in the loopback broker): products and carts read the
 * password from a file (CACHEFLEET_REDIS_PASSWORD_FILE), stock and access
 * from the environment (CACHEFLEET_REDIS_PASSWORD).  A fifth, a stock
 * consumer in a group of its own, has a wrong password: it must say so
 * (AUTH), keep retrying, stay healthy and not ready.
 *
 * Every password of the test and a payload marker carried by the events
 * are recognisable strings; the last case stops every consumer and reads
 * every line each one wrote (at log.level=debug, as the harness starts
 * them) for them.
 *
 * Cases run in order; each uses its own ids.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "encode.h"
#include "fleet.h"
#include "httpget.h"

/* Recognisable, so a leak cannot hide.  No spaces: aclfile passwords. */
#define FLEET_PW  "fleet-Pw-Kq2x-NOT-IN-LOGS"
#define DJANGO_PW "django-Pw-7Lm3-NOT-IN-LOGS"
#define ADMIN_PW  "admin-Pw-4Rt8-NOT-IN-LOGS"
#define WRONG_PW  "wrong-Pw-1Ab6-NOT-IN-LOGS"
#define KAFKA_PW  "kafka-Pw-5Tt0-NOT-IN-LOGS"
#define TLS_PW    "tlskey-Pw-8Uu2-NOT-IN-LOGS"
#define MARKER    "PAYLOAD-MARKER-9f3"

#define ACL_SOURCE     CF_SOURCE_DIR "/docker/redis-acl.conf"
#define SESSION_PREFIX ":1:django.contrib.sessions.cache"
#define WAIT_MS        20000
#define MAX_ARGS       16
#define MAX_SESSIONS   8

enum { C_PRODUCTS, C_CARTS, C_STOCK, C_ACCESS, C_WRONG, NCONSUMERS };
#define NWORKING C_WRONG /* the consumers with the right password */

struct fixture {
    struct cf_fleet fleet; /* fleet.rc is the test's admin connection */
    redisContext *django;  /* the web tier's user */
    struct cf_consumer_proc c[NCONSUMERS];
    bool stopped[NCONSUMERS];
    struct sim_encoder *products, *carts, *stock, *access;
    int seq;
    char pw_file[PATH_MAX + 96];
    char sessions[MAX_SESSIONS][33]; /* Django session keys: bearer secrets, audited */
    int nsessions;
    int runs; /* programs run for their printout */
};

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* The whole file as a string (free it), or NULL when it cannot be read. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (cap - len < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Appends " <rule>" to the one line of *text (malloc'd) that starts with
 * "user <name> ", as docker/compose.yaml appends the password's hash. */
static void append_to_user_line(char **text, const char *name, const char *rule)
{
    char head[64];
    snprintf(head, sizeof(head), "user %s ", name);
    char *line = NULL;
    for (char *p = *text; p && *p;) {
        if (strncmp(p, head, strlen(head)) == 0) {
            if (line)
                fail_msg("%s: two lines for user %s", ACL_SOURCE, name);
            line = p;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!line)
        fail_msg("%s: no line for user %s", ACL_SOURCE, name);
    size_t at = (size_t)(line - *text) + strcspn(line, "\n");
    size_t len = strlen(*text), rlen = strlen(rule);
    char *out = malloc(len + rlen + 2);
    assert_non_null(out);
    memcpy(out, *text, at);
    out[at] = ' ';
    memcpy(out + at + 1, rule, rlen);
    memcpy(out + at + 1 + rlen, *text + at, len - at + 1);
    free(*text);
    *text = out;
}

/* ------------------------------------------------------------------------
 * Redis commands
 * ------------------------------------------------------------------------ */

/* "GET :1:x" for messages. */
static const char *describe(const char *const *argv, int argc, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < argc && len + 1 < size; i++) {
        int n = snprintf(buf + len, size - len, "%s%.40s", i ? " " : "", argv[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    return buf;
}

/* Runs argv[0..argc) on c; fails the test when the connection broke.
 * Returns the reply (free it). */
static redisReply *run_argv(redisContext *c, const char *const *argv, int argc)
{
    const char *a[MAX_ARGS];
    size_t lens[MAX_ARGS];
    if (argc > MAX_ARGS)
        fail_msg("too many arguments");
    for (int i = 0; i < argc; i++) {
        a[i] = argv[i];
        lens[i] = strlen(argv[i]);
    }
    redisReply *r = redisCommandArgv(c, argc, a, lens);
    if (!r) {
        char what[256];
        fail_msg("%s: connection error: %s", describe(argv, argc, what, sizeof(what)), c->errstr);
    }
    return r;
}

/* Runs the command whose arguments end at a NULL. */
static redisReply *cmd(redisContext *c, const char *first, ...)
{
    const char *argv[MAX_ARGS];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    const char *a = first;
    while (a && argc < MAX_ARGS) {
        argv[argc++] = a;
        a = va_arg(ap, const char *);
    }
    va_end(ap);
    if (a)
        fail_msg("%s: too many arguments", first);
    return run_argv(c, argv, argc);
}

/* A NULL-terminated command: argc. */
static int count_args(const char *const *argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

/* Asserts the command is refused with an error starting with prefix. */
static void expect_error(redisContext *c, const char *who, const char *prefix,
                         const char *const *argv)
{
    int argc = count_args(argv);
    char what[512];
    redisReply *r = run_argv(c, argv, argc);
    if (r->type != REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        fail_msg("user %s may run \"%s\"; the ACL must refuse it", who,
                 describe(argv, argc, what, sizeof(what)));
    }
    if (strncmp(r->str, prefix, strlen(prefix)) != 0) {
        char got[256];
        snprintf(got, sizeof(got), "%s", r->str);
        freeReplyObject(r);
        fail_msg("user %s, \"%s\": error \"%s\", expected one starting with %s", who,
                 describe(argv, argc, what, sizeof(what)), got, prefix);
    }
    freeReplyObject(r);
}

/* Asserts the command is not refused (any reply but an error). */
static void expect_allowed(redisContext *c, const char *who, const char *const *argv)
{
    int argc = count_args(argv);
    char what[512];
    redisReply *r = run_argv(c, argv, argc);
    if (r->type == REDIS_REPLY_ERROR) {
        char got[256];
        snprintf(got, sizeof(got), "%s", r->str);
        freeReplyObject(r);
        fail_msg("user %s, \"%s\": refused (%s); the ACL must allow it", who,
                 describe(argv, argc, what, sizeof(what)), got);
    }
    freeReplyObject(r);
}

/* A new connection authenticated as user (5 s command timeout). */
static redisContext *connect_as(struct fixture *fx, const char *user, const char *password)
{
    redisContext *c = cf_redis_connect(&fx->fleet.redis);
    if (!c)
        fail_msg("cannot connect to redis");
    struct timeval tv = {5, 0};
    assert_int_equal(redisSetTimeout(c, tv), REDIS_OK);
    redisReply *r = cmd(c, "AUTH", user, password, NULL);
    if (r->type != REDIS_REPLY_STATUS) {
        char got[256];
        snprintf(got, sizeof(got), "%s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
        redisFree(c);
        fail_msg("AUTH %s: %s", user, got);
    }
    freeReplyObject(r);
    return c;
}

static long long integer_reply(redisContext *c, const char *first, const char *arg)
{
    redisReply *r = cmd(c, first, arg, NULL);
    if (r->type != REDIS_REPLY_INTEGER) {
        char got[256];
        snprintf(got, sizeof(got), "%s", r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
        freeReplyObject(r);
        fail_msg("%s %s: %s", first, arg, got);
    }
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static bool key_exists(struct fixture *fx, const char *key)
{
    return integer_reply(fx->fleet.rc, "EXISTS", key) == 1;
}

/* The web tier's fill as django code calls it (cachefleet_django.fill),
 * as user django: 1 stored, 0 refused. */
static long long django_fill(struct fixture *fx, const char *key, const char *tag,
                             const char *value, const char *version, int64_t read_us)
{
    char read[32];
    snprintf(read, sizeof(read), "%" PRId64, read_us);
    const char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = "FCALL";
    argv[argc++] = "cachefleet_fill";
    argv[argc++] = tag ? "2" : "1";
    argv[argc++] = key;
    if (tag)
        argv[argc++] = tag;
    argv[argc++] = value;
    argv[argc++] = "60000"; /* ttl_ms */
    argv[argc++] = version;
    argv[argc++] = read;
    argv[argc] = NULL;
    redisReply *r = run_argv(fx->django, argv, count_args(argv));
    if (r->type != REDIS_REPLY_INTEGER) {
        char got[256];
        snprintf(got, sizeof(got), "%s", r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
        freeReplyObject(r);
        fail_msg("django's fill of %s: %s", key, got);
    }
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

static void produce(struct fixture *fx, struct sim_encoder *enc, const char *topic, const char *key)
{
    const void *data;
    size_t len;
    char err[256];
    if (sim_encoder_finish(enc, &data, &len, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    cf_fleet_produce(&fx->fleet, topic, key, data, len);
}

static avro_value_t begin(struct fixture *fx, struct sim_encoder *enc, const char *type,
                          int64_t version)
{
    char event_id[32], err[256];
    avro_value_t body;
    snprintf(event_id, sizeof(event_id), "sec-%d", ++fx->seq);
    if (sim_encoder_begin(enc, event_id, version, cf_wall_us(), type, &body, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    return body;
}

static void set_str(avro_value_t *body, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_string(body, field, s, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_opt_str(avro_value_t *body, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_optional_string(body, field, s, s ? strlen(s) : 0, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

/* An array of zero or one string (item NULL: empty). */
static void set_one(avro_value_t *body, const char *field, const char *item)
{
    char err[256];
    const char *const items[] = {item};
    if (sim_avro_set_string_array(body, field, items, item ? 1 : 0, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_enum(avro_value_t *body, const char *field, const char *symbol)
{
    char err[256];
    if (sim_avro_set_enum(body, field, symbol, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_long(avro_value_t *body, const char *field, int64_t v)
{
    char err[256];
    if (sim_avro_set_long(body, field, v, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void product_upserted(struct fixture *fx, const char *id, int64_t version,
                             const char *category, const char *term, const char *repr)
{
    avro_value_t body = begin(fx, fx->products, "ProductUpserted", version);
    set_str(&body, "product_id", id);
    set_one(&body, "categories_before", NULL);
    set_one(&body, "categories_after", category);
    set_one(&body, "search_terms_before", NULL);
    set_one(&body, "search_terms_after", term);
    set_opt_str(&body, "representation", repr);
    produce(fx, fx->products, "shop.products", id);
}

static void product_deleted(struct fixture *fx, const char *id, int64_t version,
                            const char *category)
{
    avro_value_t body = begin(fx, fx->products, "ProductDeleted", version);
    set_str(&body, "product_id", id);
    set_one(&body, "categories_before", category);
    set_one(&body, "search_terms_before", NULL);
    produce(fx, fx->products, "shop.products", id);
}

static void category_upserted(struct fixture *fx, const char *id, int64_t version,
                              const char *parent, const char *name, int32_t position)
{
    avro_value_t body = begin(fx, fx->products, "CategoryUpserted", version);
    avro_value_t f;
    set_str(&body, "category_id", id);
    set_opt_str(&body, "parent_id", parent);
    set_str(&body, "name", name);
    set_str(&body, "slug", id);
    assert_int_equal(avro_value_get_by_name(&body, "position", &f, NULL), 0);
    assert_int_equal(avro_value_set_int(&f, position), 0);
    assert_int_equal(avro_value_get_by_name(&body, "visible", &f, NULL), 0);
    assert_int_equal(avro_value_set_boolean(&f, 1), 0);
    produce(fx, fx->products, "shop.products", id);
}

static void cart_updated(struct fixture *fx, const char *id, int64_t version, const char *cart)
{
    avro_value_t body = begin(fx, fx->carts, "CartUpdated", version);
    set_str(&body, "cart_id", id);
    set_opt_str(&body, "user_id", "sec-u9");
    set_enum(&body, "change", version == 1 ? "CREATED" : "ITEM_ADDED");
    set_str(&body, "cart", cart);
    produce(fx, fx->carts, "shop.carts", id);
}

static void cart_deleted(struct fixture *fx, const char *id, int64_t version)
{
    avro_value_t body = begin(fx, fx->carts, "CartDeleted", version);
    set_str(&body, "cart_id", id);
    produce(fx, fx->carts, "shop.carts", id);
}

static void stock_moved(struct fixture *fx, const char *sku, const char *product, const char *kind,
                        int64_t version, int64_t delta, int64_t on_hand)
{
    avro_value_t body = begin(fx, fx->stock, "StockMoved", version);
    set_str(&body, "sku", sku);
    set_str(&body, "product_id", product);
    set_enum(&body, "kind", kind);
    set_long(&body, "quantity_delta", delta);
    set_long(&body, "on_hand", on_hand);
    produce(fx, fx->stock, "shop.stock", sku);
}

static void roles_changed(struct fixture *fx, const char *user, int64_t version, const char *role,
                          const char *permission)
{
    char err[256];
    avro_value_t body = begin(fx, fx->access, "UserRolesChanged", version);
    const char *const perms[] = {permission};
    set_str(&body, "user_id", user);
    set_one(&body, "roles_before", NULL);
    set_one(&body, "roles_after", role);
    if (sim_avro_set_optional_string_array(&body, "permissions", true, perms, 1, err, sizeof(err)) <
        0)
        fail_msg("encode: %s", err);
    produce(fx, fx->access, "shop.access", user);
}

static void role_permissions_changed(struct fixture *fx, const char *role, int64_t version,
                                     const char *permission)
{
    avro_value_t body = begin(fx, fx->access, "RolePermissionsChanged", version);
    set_str(&body, "role_id", role);
    set_one(&body, "permissions", permission);
    produce(fx, fx->access, "shop.access", role);
}

static void logged_in(struct fixture *fx, const char *user, int64_t version,
                      const char *session_key)
{
    avro_value_t body = begin(fx, fx->access, "UserLoggedIn", version);
    set_str(&body, "user_id", user);
    set_str(&body, "session_key", session_key);
    produce(fx, fx->access, "shop.access", user);
}

static void user_deactivated(struct fixture *fx, const char *user, int64_t version)
{
    avro_value_t body = begin(fx, fx->access, "UserDeactivated", version);
    set_str(&body, "user_id", user);
    produce(fx, fx->access, "shop.access", user);
}

static void wait_handled(struct fixture *fx)
{
    struct cf_consumer_proc *const working[NWORKING] = {&fx->c[C_PRODUCTS], &fx->c[C_CARTS],
                                                        &fx->c[C_STOCK], &fx->c[C_ACCESS]};
    cf_fleet_wait_handled(&fx->fleet, working, NWORKING);
}

/* ------------------------------------------------------------------------
 * Logs
 * ------------------------------------------------------------------------ */

/* Lines of the file holding needle (0 when it cannot be read). */
static int lines_with(const char *path, const char *needle)
{
    char *text = read_text(path);
    if (!text)
        return 0;
    int n = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        n += strstr(line, needle) != NULL;
        if (!nl)
            break;
        line = nl + 1;
    }
    free(text);
    return n;
}

/* Lines of the file holding both a and b. */
static int lines_with_both(const char *path, const char *a, const char *b)
{
    char *text = read_text(path);
    if (!text)
        return 0;
    int n = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        n += strstr(line, a) && strstr(line, b);
        if (!nl)
            break;
        line = nl + 1;
    }
    free(text);
    return n;
}

/* Fails, naming the file and line, when any line of text holds one of the
 * test's secrets or the payload marker. */
static void audit_text(const struct fixture *fx, const char *what, char *text)
{
    const char *const forbidden[] = {FLEET_PW, DJANGO_PW, ADMIN_PW, WRONG_PW,
                                     KAFKA_PW, TLS_PW,    MARKER};
    int lineno = 1;
    for (char *line = text; *line; lineno++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
            if (strstr(line, forbidden[i]))
                fail_msg("%s:%d holds \"%s\": %.300s", what, lineno, forbidden[i], line);
        }
        for (int i = 0; i < fx->nsessions; i++) {
            if (strstr(line, fx->sessions[i]))
                fail_msg("%s:%d holds the session key %s: %.300s", what, lineno, fx->sessions[i],
                         line);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
}

/* Runs cachefleet-products with args and extra environment; returns its
 * exit status and its stdout and stderr (free them), audited. */
static int run_program(struct fixture *fx, const char *flag, char *const env[], char **out)
{
    char prog[PATH_MAX], log[PATH_MAX + 64], flagbuf[64];
    snprintf(log, sizeof(log), "%s/program-%d.log", fx->fleet.dir, ++fx->runs);
    snprintf(flagbuf, sizeof(flagbuf), "%s", flag);
    char *const argv[] = {cf_test_program("cachefleet-products", prog, sizeof(prog)), flagbuf,
                          NULL};
    struct cf_proc p;
    if (cf_proc_spawn(&p, argv, env, log) < 0)
        fail_msg("cannot start %s", prog);
    int status = -1;
    if (cf_proc_wait(&p, 10000, &status) < 0) {
        cf_proc_stop(&p, 1000);
        fail_msg("%s %s did not exit within 10 s", prog, flag);
    }
    *out = read_text(log);
    assert_non_null(*out);
    char *copy = strdup(*out);
    assert_non_null(copy);
    audit_text(fx, log, copy);
    free(copy);
    return status;
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

/* Starts redis with the ACL: a bootstrap aclfile for the harness's PING,
 * then docker/redis-acl.conf (passwords filled in) and the admin user,
 * loaded with ACL LOAD. */
static void start_redis_with_acl(struct fixture *fx)
{
    struct cf_fleet *f = &fx->fleet;
    char acl[PATH_MAX + 32], acl_new[PATH_MAX + 32], extra[PATH_MAX + 64];
    snprintf(acl, sizeof(acl), "%s/users.acl", f->dir);
    snprintf(acl_new, sizeof(acl_new), "%s/users.acl.new", f->dir);
    snprintf(extra, sizeof(extra), "aclfile \"%s\"", acl);
    write_text(acl, "user default on nopass ~* &* +@all\n", 0600);
    if (cf_redis_start(&f->redis, f->dir, extra) < 0)
        fail_msg("redis did not start");

    char *text = read_text(ACL_SOURCE);
    if (!text)
        fail_msg("cannot read %s", ACL_SOURCE);
    /* The file holds no password: nobody logs in until one is added. */
    if (strchr(text, '>') || strstr(text, " #") || strstr(text, "nopass"))
        fail_msg("%s must not hold a password (or nopass)", ACL_SOURCE);
    append_to_user_line(&text, "cachefleet", ">" FLEET_PW);
    append_to_user_line(&text, "django", ">" DJANGO_PW);
    size_t len = strlen(text);
    char *full = malloc(len + 128);
    assert_non_null(full);
    snprintf(full, len + 128, "%s%suser admin on >%s ~* &* +@all\n", text,
             len && text[len - 1] != '\n' ? "\n" : "", ADMIN_PW);
    free(text);
    write_text(acl_new, full, 0600);
    free(full);
    assert_int_equal(rename(acl_new, acl), 0);

    redisContext *c = cf_redis_connect(&f->redis);
    if (!c)
        fail_msg("cannot connect to redis");
    redisReply *r = cmd(c, "ACL", "LOAD", NULL);
    if (r->type != REDIS_REPLY_STATUS) {
        char got[1024];
        snprintf(got, sizeof(got), "%s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
        redisFree(c);
        fail_msg("ACL LOAD of %s: %s", ACL_SOURCE, got);
    }
    freeReplyObject(r);
    redisFree(c);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    assert_non_null(fx);
    struct cf_fleet *f = &fx->fleet;
    cf_test_tmpdir("security", f->dir, sizeof(f->dir));
    start_redis_with_acl(fx);
    f->rc = connect_as(fx, "admin", ADMIN_PW);
    fx->django = connect_as(fx, "django", DJANGO_PW);
    if (cf_broker_start(&f->broker, f->dir, 1, 4, NULL) < 0)
        fail_msg("the broker did not start");
    f->tp = cf_test_producer_new(f->broker.bootstrap);

    fx->products = sim_encoder_new(cf_test_schemas_dir(), "products.avsc", SIM_FRAMING_CONFLUENT,
                                   err, sizeof(err));
    fx->carts = sim_encoder_new(cf_test_schemas_dir(), "carts.avsc", SIM_FRAMING_CONFLUENT, err,
                                sizeof(err));
    fx->stock = sim_encoder_new(cf_test_schemas_dir(), "stock.avsc", SIM_FRAMING_CONFLUENT, err,
                                sizeof(err));
    fx->access = sim_encoder_new(cf_test_schemas_dir(), "access.avsc", SIM_FRAMING_CONFLUENT, err,
                                 sizeof(err));
    if (!fx->products || !fx->carts || !fx->stock || !fx->access)
        fail_msg("encoder: %s", err);

    /* The password as a mounted secret: a file, 0600, with a newline. */
    char pw_path[PATH_MAX + 32];
    snprintf(pw_path, sizeof(pw_path), "%s/cachefleet.password", f->dir);
    write_text(pw_path, FLEET_PW "\n", 0600);
    snprintf(fx->pw_file, sizeof(fx->pw_file), "CACHEFLEET_REDIS_PASSWORD_FILE=%s", pw_path);

    char *const by_file[] = {"CACHEFLEET_REDIS_USER=cachefleet", fx->pw_file,
                             "CACHEFLEET_REDIS_RETRY_MAX_MS=1000", NULL};
    char *const by_env[] = {"CACHEFLEET_REDIS_USER=cachefleet",
                            "CACHEFLEET_REDIS_PASSWORD=" FLEET_PW,
                            "CACHEFLEET_REDIS_RETRY_MAX_MS=1000", NULL};
    char *const wrong[] = {"CACHEFLEET_REDIS_USER=cachefleet",
                           "CACHEFLEET_REDIS_PASSWORD=" WRONG_PW,
                           "CACHEFLEET_REDIS_RETRY_MAX_MS=1000",
                           "CACHEFLEET_KAFKA_GROUP_ID=cachefleet-security-wrong-password",
                           "CACHEFLEET_SHUTDOWN_TIMEOUT_MS=1000",
                           NULL};
    cf_consumer_spawn(&fx->c[C_PRODUCTS], f, "products", by_file);
    cf_consumer_spawn(&fx->c[C_CARTS], f, "carts", by_file);
    cf_consumer_spawn(&fx->c[C_STOCK], f, "stock", by_env);
    cf_consumer_spawn(&fx->c[C_ACCESS], f, "access", by_env);
    cf_consumer_spawn(&fx->c[C_WRONG], f, "stock", wrong);
    for (int i = 0; i < NWORKING; i++)
        cf_consumer_wait_ready(&fx->c[i]);
    *state = fx;
    return 0;
}

/* SIGTERM, exit 0 expected (cf_consumer_stop), for each consumer still
 * running. */
static void stop_consumers(struct fixture *fx)
{
    for (int i = 0; i < NCONSUMERS; i++) {
        if (fx->stopped[i])
            continue;
        fx->stopped[i] = true;
        cf_consumer_stop(&fx->c[i]);
    }
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    stop_consumers(fx);
    sim_encoder_destroy(fx->products);
    sim_encoder_destroy(fx->carts);
    sim_encoder_destroy(fx->stock);
    sim_encoder_destroy(fx->access);
    redisFree(fx->django);
    cf_fleet_stop(&fx->fleet);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------
 * The ACL itself
 * ------------------------------------------------------------------------ */

/* Nobody gets in without a user: the default user is off. */
static void test_default_user_locked_out(void **state)
{
    struct fixture *fx = *state;
    redisContext *c = cf_redis_connect(&fx->fleet.redis);
    assert_non_null(c);
    const char *const ping[] = {"PING", NULL};
    const char *const get[] = {"GET", ":1:product:1", NULL};
    expect_error(c, "(none)", "NOAUTH", ping);
    expect_error(c, "(none)", "NOAUTH", get);
    const char *const auth_default[] = {"AUTH", "default", "", NULL};
    expect_error(c, "default", "WRONGPASS", auth_default);
    const char *const auth_old[] = {"AUTH", "anything", NULL}; /* requirepass style */
    expect_error(c, "default", "WRONGPASS", auth_old);
    const char *const auth_wrong[] = {"AUTH", "cachefleet", WRONG_PW, NULL};
    expect_error(c, "cachefleet", "WRONGPASS", auth_wrong);
    redisFree(c);

    redisReply *r = cmd(fx->fleet.rc, "ACL", "GETUSER", "default", NULL);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_true(r->elements >= 2);
    assert_string_equal(r->element[0]->str, "flags");
    bool off = false;
    for (size_t i = 0; i < r->element[1]->elements; i++)
        off |= strcmp(r->element[1]->element[i]->str, "off") == 0;
    freeReplyObject(r);
    assert_true(off);
}

/* The fleet's user cannot do what the fleet never does, and a function
 * call is no way around the ACL (Redis 7 runs a function's redis.call()
 * with the caller's ACL). */
static void test_fleet_user_refused_outside_its_job(void **state)
{
    struct fixture *fx = *state;
    redisContext *c = connect_as(fx, "cachefleet", FLEET_PW);
    redisReply *r = cmd(fx->fleet.rc, "SET", ":1:secret", "classified", NULL);
    freeReplyObject(r);
    r = cmd(fx->fleet.rc, "SET", SESSION_PREFIX "sec0victim", "{\"_auth_user_id\":\"1\"}", NULL);
    freeReplyObject(r);

    static const char *const refused[][12] = {
        {"FLUSHALL", NULL},
        {"FLUSHDB", NULL},
        {"CONFIG", "SET", "maxmemory", "1", NULL},
        {"CONFIG", "GET", "*", NULL},
        {"KEYS", "*", NULL},
        {"SCAN", "0", NULL},
        {"GET", ":1:secret", NULL},
        {"SET", ":1:secret", "overwritten", NULL},
        {"DEL", ":1:secret", NULL},
        {"EVAL", "return 1", "0", NULL},
        {"EVAL", "return redis.call('GET', KEYS[1])", "1", ":1:secret", NULL},
        {"FUNCTION", "FLUSH", NULL},
        {"FUNCTION", "DELETE", "cachefleet", NULL},
        {"ACL", "SETUSER", "cachefleet", "+@all", NULL},
        {"ACL", "LIST", NULL},
        {"CLIENT", "LIST", NULL},
        {"INFO", NULL},
        {"PUBLISH", "anything", "x", NULL},
        /* Django's sessions: deleted on purge, never read or forged. */
        {"GET", SESSION_PREFIX "sec0victim", NULL},
        {"SET", SESSION_PREFIX "sec0victim", "{\"_auth_user_id\":\"0\"}", NULL},
        /* Listing keys: deleted on invalidation, never read or written. */
        {"GET", ":1:listing:category:1:page:1", NULL},
        {"SET", ":1:listing:category:1:page:1", "[]", NULL},
        {"SET", "{:1:listing:category:1:page:1}:v", "9 9 9", NULL},
        /* A function call naming a key outside the patterns. */
        {"FCALL", "cachefleet_apply", "1", ":1:secret", "1", "3600000", "7200000", "D", "9", "9",
         NULL},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        expect_error(c, "cachefleet", "NOPERM", refused[i]);

    /* A key outside the patterns reached inside the function (a tag's
     * member): the function may not delete it; it is skipped and counted
     * as denied (the third figure of the reply), and the key stays. */
    r = cmd(fx->fleet.rc, "SADD", ":1:tag:category:sec-escape", ":1:secret", NULL);
    freeReplyObject(r);
    const char *const escape[] = {"FCALL",   "cachefleet_apply",
                                  "1",       ":1:tag:category:sec-escape",
                                  "1",       "3600000",
                                  "7200000", "G",
                                  "1",       NULL};
    r = run_argv(c, escape, count_args(escape));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[2]->type != REDIS_REPLY_INTEGER || r->element[2]->integer != 1)
        fail_msg("a tag member outside the ACL was not reported as denied");
    freeReplyObject(r);
    assert_true(key_exists(fx, ":1:secret"));
    assert_true(key_exists(fx, SESSION_PREFIX "sec0victim"));
    r = cmd(fx->fleet.rc, "DEL", ":1:tag:category:sec-escape", NULL);
    freeReplyObject(r);

    /* Under the ACL a tag invalidation reads its listings' markers: a
     * listing the web tier filled from data read after the change stays,
     * one read before goes. */
    const char *fresh = ":1:listing:category:sec-fresh:page:1";
    assert_int_equal(django_fill(fx, fresh, ":1:tag:category:sec-fresh", "[1]", "0", 5000000), 1);
    /* Beside it, a member whose marker the fleet may not read: only that
     * one counts as unread (and is denied); the fresh listing stays. */
    r = cmd(fx->fleet.rc, "SADD", ":1:tag:category:sec-fresh", ":1:secret", NULL);
    freeReplyObject(r);
    const char *const older[] = {"FCALL", "cachefleet_apply", "1", ":1:tag:category:sec-fresh",
                                 "1", "3600000", "7200000", "G", "4000000", NULL};
    r = run_argv(c, older, count_args(older));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    assert_int_equal(r->element[2]->integer, 1);
    freeReplyObject(r);
    assert_true(key_exists(fx, fresh));
    assert_true(key_exists(fx, ":1:secret"));
    const char *const newer[] = {"FCALL", "cachefleet_apply", "1", ":1:tag:category:sec-fresh",
                                 "1", "3600000", "7200000", "G", "6000000", NULL};
    r = run_argv(c, newer, count_args(newer));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    assert_false(key_exists(fx, fresh));

    /* What the fleet does need. */
    static const char *const allowed[][10] = {
        {"FCALL", "cachefleet_version", "0", NULL},
        {"DEL", ":1:listing:category:1:page:1", NULL},
        {"DEL", SESSION_PREFIX "sec0other", NULL},
        {"CLIENT", "SETNAME", "cachefleet-test", NULL},
        {"SELECT", "0", NULL},
        {"GET", ":1:product:sec-nothing", NULL},
        {"MGET", ":1:cf:epoch:x", "{:1:cf:role:x}:v", NULL},
        /* A listing's marker: read, to leave a listing filled after a
         * replayed tag invalidation. */
        {"MGET", "{:1:listing:category:1:page:1}:v", NULL},
    };
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        expect_allowed(c, "cachefleet", allowed[i]);
    redisFree(c);
}

/* The web tier's user: its sessions, its listings, the fleet's slices
 * (read, and filled through cachefleet_fill); not the fleet's own state,
 * not the menu it never writes, nothing dangerous. */
static void test_django_user(void **state)
{
    struct fixture *fx = *state;
    redisContext *c = fx->django;
    static const char *const refused[][10] = {
        {"FLUSHDB", NULL},
        {"FLUSHALL", NULL},
        {"KEYS", "*", NULL},
        {"EVAL", "return 1", "0", NULL},
        {"FUNCTION", "LOAD", "REPLACE", "#!lua name=x\n", NULL},
        {"CONFIG", "GET", "*", NULL},
        {"GET", ":1:secret", NULL},
        {"GET", ":1:cf:categories", NULL},
        {"DEL", ":1:cf:sessions:sec-u1", NULL},
        {"SADD", ":1:cf:role:sec-r1", "sec-u1", NULL},
        {"SET", ":1:menu:main", "[]", NULL},
        {"SET", "{:1:tag:category:1}:v", "0", NULL},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        expect_error(c, "django", "NOPERM", refused[i]);
    static const char *const allowed[][10] = {
        {"SET", SESSION_PREFIX "sec1django", "{}", "PX", "1209600000", "NX", NULL},
        {"GET", SESSION_PREFIX "sec1django", NULL},
        {"EXISTS", SESSION_PREFIX "sec1django", NULL},
        {"EXPIRE", SESSION_PREFIX "sec1django", "1209600", NULL},
        {"MGET", ":1:product:1", ":1:menu:main", ":1:perms:1", NULL},
        {"DEL", SESSION_PREFIX "sec1django", NULL},
        {"PING", NULL},
    };
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        expect_allowed(c, "django", allowed[i]);
}

/* ------------------------------------------------------------------------
 * The fleet at work under the ACL
 * ------------------------------------------------------------------------ */

static void test_products_under_acl(void **state)
{
    struct fixture *fx = *state;
    const char *listing = ":1:listing:category:sec-7:page:1";
    const char *repr = "{\"id\":\"sec-100\",\"name\":\"" MARKER "\"}";
    /* The web tier fills a listing, as user django. */
    assert_int_equal(django_fill(fx, listing, ":1:tag:category:sec-7", "[1,2]", "0", cf_wall_us()),
                     1);
    product_upserted(fx, "sec-100", 1, "sec-7", NULL, repr);
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:product:sec-100", repr); /* warmed */
    long long ttl = cf_fleet_ttl(&fx->fleet, ":1:product:sec-100");
    assert_true(ttl > 3500 && ttl <= 3600);
    cf_fleet_expect(&fx->fleet, listing, NULL); /* the fleet's DEL-only selector */
    assert_false(key_exists(fx, ":1:tag:category:sec-7"));
    /* The web tier reads it. */
    redisReply *r = cmd(fx->django, "GET", ":1:product:sec-100", NULL);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, repr);
    freeReplyObject(r);

    product_deleted(fx, "sec-100", 2, "sec-7");
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:product:sec-100", NULL); /* invalidated */
    assert_true(key_exists(fx, "{:1:product:sec-100}:v"));   /* its tombstone */

    category_upserted(fx, "sec-c1", 1, NULL, "Garden " MARKER, 1);
    category_upserted(fx, "sec-c2", 1, "sec-c1", "Tools", 0);
    wait_handled(fx);
    char *menu = cf_fleet_get(&fx->fleet, ":1:menu:main"); /* rebuilt */
    assert_non_null(menu);
    if (!strstr(menu, "{\"id\":\"sec-c1\",\"name\":\"Garden " MARKER "\"") ||
        !strstr(menu, "\"children\":[{\"id\":\"sec-c2\",\"name\":\"Tools\""))
        fail_msg("menu: %s", menu);
    free(menu);

    /* A representation that is not JSON, carrying the marker: dead-lettered
     * (the audit at the end checks the rejection is logged without it). */
    double lettered =
        cf_consumer_metric(&fx->c[C_PRODUCTS], "cachefleet_events_deadlettered_total{");
    product_upserted(fx, "sec-101", 1, NULL, NULL, "{\"name\":\"" MARKER "\" not json");
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:product:sec-101", NULL);
    assert_true(cf_consumer_metric(&fx->c[C_PRODUCTS], "cachefleet_events_deadlettered_total{") >=
                lettered + 1);
}

static void test_carts_under_acl(void **state)
{
    struct fixture *fx = *state;
    const char *cart1 = "{\"items\":[{\"sku\":\"" MARKER "\",\"qty\":1}]}";
    const char *cart2 = "{\"items\":[{\"sku\":\"" MARKER "\",\"qty\":2}]}";
    cart_updated(fx, "sec-cart-1", 1, cart1);
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:cart:sec-cart-1", cart1);
    cart_updated(fx, "sec-cart-1", 2, cart2);
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:cart:sec-cart-1", cart2);
    cart_deleted(fx, "sec-cart-1", 3);
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:cart:sec-cart-1", NULL);
    assert_true(key_exists(fx, "{:1:cart:sec-cart-1}:v"));
}

/* Stock counts, and an availability flip invalidating the product the web
 * tier filled (a cross-entity invalidation inside the function). */
static void test_stock_under_acl(void **state)
{
    struct fixture *fx = *state;
    const char *product = ":1:product:sec-p200";
    stock_moved(fx, "SEC-SKU-200", "sec-p200", "RESTOCK", 1, 5, 5);
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:stock:SEC-SKU-200", "5");
    assert_int_equal(django_fill(fx, product, NULL, "{\"in_stock\":true}", "1", cf_wall_us()), 1);
    stock_moved(fx, "SEC-SKU-200", "sec-p200", "PURCHASE", 2, -5, 0);
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:stock:SEC-SKU-200", "0");
    cf_fleet_expect(&fx->fleet, product, NULL);
}

/* Permissions warmed, fanned out by a role change, sessions purged when
 * the user is deactivated (the fleet may delete Django's sessions). */
static void test_access_under_acl(void **state)
{
    struct fixture *fx = *state;
    roles_changed(fx, "sec-u1", 1, "sec-r1", "shop." MARKER);
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:perms:sec-u1", "[\"shop." MARKER "\"]");
    role_permissions_changed(fx, "sec-r1", 2, "shop.view");
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:perms:sec-u1", NULL); /* fan-out */
    assert_true(key_exists(fx, "{:1:cf:role:sec-r1}:v"));

    /* Two logins: Django saves each session (as user django), the event
     * follows. */
    char keys[2][128];
    for (int i = 0; i < 2; i++) {
        assert_true(fx->nsessions < MAX_SESSIONS);
        char *k = fx->sessions[fx->nsessions++];
        snprintf(k, 33, "sec%029d", 42 + i);
        snprintf(keys[i], sizeof(keys[i]), "%s%s", SESSION_PREFIX, k);
        const char *const save[] = {"SET", keys[i],      "{\"_auth_user_id\":\"sec-u1\"}",
                                    "PX",  "1209600000", NULL};
        expect_allowed(fx->django, "django", save);
        logged_in(fx, "sec-u1", 3 + i, k);
    }
    wait_handled(fx);
    assert_int_equal(integer_reply(fx->fleet.rc, "SCARD", ":1:cf:sessions:sec-u1"), 2);
    roles_changed(fx, "sec-u1", 5, "sec-r1", "shop.view");
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:perms:sec-u1", "[\"shop.view\"]");

    user_deactivated(fx, "sec-u1", 6);
    wait_handled(fx);
    if (key_exists(fx, keys[0]) || key_exists(fx, keys[1])) {
        cf_print_log_tail(fx->c[C_ACCESS].name, fx->c[C_ACCESS].log, 3000);
        fail_msg("the sessions of a deactivated user are still there (index %s, perms %s, "
                 "user_deactivated applied %.0f)",
                 key_exists(fx, ":1:cf:sessions:sec-u1") ? "kept" : "gone",
                 key_exists(fx, ":1:perms:sec-u1") ? "kept" : "gone",
                 cf_consumer_metric(&fx->c[C_ACCESS], "cachefleet_events_applied_total{consumer="
                                                      "\"access\",type=\"user_deactivated\"}"));
    }
    assert_false(key_exists(fx, ":1:cf:sessions:sec-u1"));
    cf_fleet_expect(&fx->fleet, ":1:perms:sec-u1", NULL);
}

/* A key the web tier tags must be named listing:*: the fleet may delete
 * nothing else of the web tier's.  One outside (here ":1:search:...", the
 * name tests/integration/test_products.c uses) makes the batch's FCALL
 * fail when it reaches the tag (operations before it in the call are
 * applied already: a function is not rolled back), the batch is neither
 * acknowledged nor committed, and the products consumer retries, saying
 * why, until the member is gone.  That listing is never invalidated by the
 * fleet.  The member is removed before anything is asserted, so a failure
 * here does not leave the consumer stuck for the cases after it. */
/* A key the web tier registered under a tag outside listing:*: the ACL
 * keeps the fleet from deleting it.  The batch still goes through (one
 * foreign key must not hold the stream), the key is counted as denied,
 * a warning names the problem, and the rest of the tag is invalidated. */
static void test_tag_member_outside_acl_is_counted_not_blocking(void **state)
{
    struct fixture *fx = *state;
    struct cf_consumer_proc *p = &fx->c[C_PRODUCTS];
    const char *outside = ":1:search:sec-boot", *inside = ":1:listing:search:sec-boot",
               *tag = ":1:tag:search:sec-boot";
    redisReply *r = cmd(fx->fleet.rc, "SET", outside, "[]", NULL);
    freeReplyObject(r);
    r = cmd(fx->fleet.rc, "SET", inside, "[]", NULL);
    freeReplyObject(r);
    r = cmd(fx->fleet.rc, "SADD", tag, outside, inside, NULL);
    freeReplyObject(r);
    double denied = cf_consumer_metric(p, "cachefleet_keys_denied_total{");
    product_upserted(fx, "sec-600", 1, NULL, "sec-boot", "{\"id\":\"sec-600\"}");
    wait_handled(fx);
    cf_fleet_expect(&fx->fleet, ":1:product:sec-600", "{\"id\":\"sec-600\"}");
    assert_false(key_exists(fx, tag));
    assert_false(key_exists(fx, inside));        /* the rest of the tag went */
    cf_fleet_expect(&fx->fleet, outside, "[]");  /* the fleet may not delete it */
    assert_true(cf_consumer_metric(p, "cachefleet_keys_denied_total{") == denied + 1);
    assert_true(lines_with(p->log, "refused to delete web-tier keys") >= 1);
    assert_true(cf_proc_alive(&p->proc));
    r = cmd(fx->fleet.rc, "DEL", outside, NULL);
    freeReplyObject(r);
}

/* ------------------------------------------------------------------------
 * Wrong password, printouts, logs
 * ------------------------------------------------------------------------ */

static void test_wrong_password(void **state)
{
    struct fixture *fx = *state;
    struct cf_consumer_proc *w = &fx->c[C_WRONG];
    /* Events for it to hold while it retries (its own group). */
    stock_moved(fx, "SEC-SKU-300", "sec-p300", "RESTOCK", 1, 1, 1);
    wait_handled(fx); /* by the stock consumer with the right password */

    /* It says AUTH failed, at warn or error level, and retries. */
    int64_t deadline = cf_mono_ms() + WAIT_MS;
    int named = 0, loud = 0;
    for (;;) {
        named = lines_with(w->log, "AUTH: WRONGPASS");
        loud = lines_with_both(w->log, "AUTH: WRONGPASS", "\"level\":\"warn\"") +
               lines_with_both(w->log, "AUTH: WRONGPASS", "\"level\":\"error\"");
        if ((named >= 3 && loud >= 1) || cf_mono_ms() > deadline)
            break;
        usleep(100000);
    }
    if (named < 3 || loud < 1) {
        cf_print_log_tail(w->name, w->log, 4000);
        fail_msg("wrong password: %d lines name AUTH: WRONGPASS (%d at warn or error); expected "
                 "a warning and at least 3 attempts",
                 named, loud);
    }
    /* Alive and healthy, not ready; still so a few seconds later. */
    char body[512];
    for (int round = 0; round < 2; round++) {
        if (round)
            sleep(2);
        assert_true(cf_proc_alive(&w->proc));
        assert_int_equal(cf_http_get(w->http_port, "/healthz", body, sizeof(body), 2000), 200);
        assert_int_equal(cf_http_get(w->http_port, "/readyz", body, sizeof(body), 2000), 503);
        assert_true(cf_consumer_metric(w, "cachefleet_redis_up{") == 0);
    }
    assert_true(lines_with(w->log, "AUTH: WRONGPASS") > named); /* still trying */
    assert_int_equal(lines_with(w->log, WRONG_PW), 0);
    assert_int_equal(lines_with(w->log, FLEET_PW), 0);
    static char metrics[1 << 17];
    assert_int_equal(cf_http_get(w->http_port, "/metrics", metrics, sizeof(metrics), 2000), 200);
    audit_text(fx, "/metrics of the wrong-password consumer", metrics);
}

/* SIGTERM to the consumer that cannot authenticate, with events in hand:
 * it gives the batch up after shutdown.timeout_ms (1 s here) and exits 0
 * (DESIGN.md: "SIGTERM: finish the batch in hand, commit, leave the group,
 * exit 0"; the batch is redelivered). */
static void test_wrong_password_consumer_stops_on_sigterm(void **state)
{
    struct fixture *fx = *state;
    struct cf_consumer_proc *w = &fx->c[C_WRONG];
    fx->stopped[C_WRONG] = true;
    assert_int_equal(cf_proc_signal(&w->proc, SIGTERM), 0);
    int status = -1;
    if (cf_proc_wait(&w->proc, 15000, &status) < 0) {
        int killed = cf_proc_stop(&w->proc, 1000); /* SIGKILL: leave nothing running */
        cf_print_log_tail(w->name, w->log, 1500);
        /* A consumer stopping with a batch it could not apply must still
         * exit: librdkafka's destroy waits for every message it handed out,
         * so the runtime destroys the batch after leaving the group and
         * before destroying the handle (runtime.c, drop_held_messages). */
        fail_msg("the consumer with the wrong password did not exit within 15 s of SIGTERM "
                 "(shutdown.timeout_ms is 1000); killed, status %d",
                 killed);
    }
    assert_int_equal(status, 0);
    assert_true(lines_with(w->log, "stopping with a batch not applied") >= 1);
}

/* --print-config and --check-config show each secret as "(set)", from the
 * environment or from a file; a configuration error shows none. */
static void test_secrets_not_printed(void **state)
{
    struct fixture *fx = *state;
    char kafka_pw[PATH_MAX + 32], kafka_pw_env[PATH_MAX + 96], schemas[PATH_MAX + 64];
    snprintf(kafka_pw, sizeof(kafka_pw), "%s/kafka.password", fx->fleet.dir);
    write_text(kafka_pw, KAFKA_PW "\n", 0600);
    snprintf(kafka_pw_env, sizeof(kafka_pw_env), "CACHEFLEET_KAFKA_SASL_PASSWORD_FILE=%s",
             kafka_pw);
    snprintf(schemas, sizeof(schemas), "CACHEFLEET_SCHEMAS_DIR=%s", cf_test_schemas_dir());
    char *const flags[] = {"--print-config", "--check-config"};
    for (int via_file = 0; via_file < 2; via_file++) {
        for (size_t i = 0; i < 2; i++) {
            char *const env[] = {schemas,
                                 "CACHEFLEET_REDIS_USER=cachefleet",
                                 via_file ? fx->pw_file : "CACHEFLEET_REDIS_PASSWORD=" FLEET_PW,
                                 "CACHEFLEET_KAFKA_SECURITY_PROTOCOL=sasl_ssl",
                                 "CACHEFLEET_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
                                 "CACHEFLEET_KAFKA_SASL_USERNAME=cachefleet-products",
                                 kafka_pw_env,
                                 "CACHEFLEET_KAFKA_SSL_KEY_PASSWORD=" TLS_PW,
                                 "CACHEFLEET_KAFKA_PROPERTY_SSL_KEYSTORE_PASSWORD=" TLS_PW,
                                 NULL};
            char *out = NULL;
            int status = run_program(fx, flags[i], env, &out); /* audited inside */
            if (status != 0)
                fail_msg("%s exited %d: %s", flags[i], status, out);
            const char *const want[] = {"redis.user = \"cachefleet\";\n",
                                        "redis.password = (set);\n",
                                        "kafka.sasl_password = (set);\n",
                                        "kafka.ssl_key_password = (set);\n",
                                        "kafka.property.ssl.keystore.password = (set);\n",
                                        "kafka.sasl_username = \"cachefleet-products\";\n"};
            for (size_t j = 0; j < sizeof(want) / sizeof(want[0]); j++) {
                if (!strstr(out, want[j]))
                    fail_msg("%s: \"%s\" not printed: %s", flags[i], want[j], out);
            }
            free(out);
        }
    }
    /* Errors while secrets are set. */
    char *const both[] = {fx->pw_file, "CACHEFLEET_REDIS_PASSWORD=" FLEET_PW, NULL};
    char *const bad_port[] = {"CACHEFLEET_REDIS_PASSWORD=" FLEET_PW, kafka_pw_env,
                              "CACHEFLEET_REDIS_PORT=99999", NULL};
    char *out = NULL;
    assert_int_equal(run_program(fx, "--print-config", both, &out), 2);
    if (!strstr(out, "CACHEFLEET_REDIS_PASSWORD_FILE") || !strstr(out, "setting redis.password"))
        fail_msg("both set: %s", out);
    free(out);
    assert_int_equal(run_program(fx, "--check-config", bad_port, &out), 2);
    if (!strstr(out, "setting redis.port"))
        fail_msg("bad port: %s", out);
    free(out);
}

/* Every consumer stopped, every line each wrote read: no password of the
 * test, no session key, no payload marker.  The consumers ran at
 * log.level=debug, so debug lines are covered too. */
static void test_logs_hold_no_secret_or_payload(void **state)
{
    struct fixture *fx = *state;
    /* Nothing secret on the metrics endpoints either. */
    static char body[1 << 17];
    for (int i = 0; i < NCONSUMERS; i++) {
        if (fx->stopped[i])
            continue;
        assert_int_equal(cf_http_get(fx->c[i].http_port, "/metrics", body, sizeof(body), 2000),
                         200);
        audit_text(fx, "/metrics", body);
    }
    stop_consumers(fx);
    int debug_lines = 0;
    for (int i = 0; i < NCONSUMERS; i++) {
        char *text = read_text(fx->c[i].log);
        if (!text)
            fail_msg("cannot read %s", fx->c[i].log);
        if (!strstr(text, "\"msg\":\"started\""))
            fail_msg("%s: no \"started\" line; is this the consumer's log?", fx->c[i].log);
        audit_text(fx, fx->c[i].log, text);
        free(text);
        debug_lines += lines_with(fx->c[i].log, "\"level\":\"debug\"");
    }
    /* The audit covered debug output (the wrong-password consumer's
     * retries are logged at debug level). */
    assert_true(debug_lines > 0);
    /* And the marker did flow through the consumers into Redis: the audit
     * looked for a string they handled. */
    char *menu = cf_fleet_get(&fx->fleet, ":1:menu:main");
    assert_non_null(menu);
    assert_non_null(strstr(menu, MARKER));
    free(menu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_user_locked_out),
        cmocka_unit_test(test_fleet_user_refused_outside_its_job),
        cmocka_unit_test(test_django_user),
        cmocka_unit_test(test_products_under_acl),
        cmocka_unit_test(test_carts_under_acl),
        cmocka_unit_test(test_stock_under_acl),
        cmocka_unit_test(test_access_under_acl),
        cmocka_unit_test(test_tag_member_outside_acl_is_counted_not_blocking),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_wrong_password_consumer_stops_on_sigterm),
        cmocka_unit_test(test_secrets_not_printed),
        cmocka_unit_test(test_logs_hold_no_secret_or_payload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
