/* apply.c - the apply stage: a batch's operations into Redis, one round trip.
 *
 * DESIGN
 * One pipelined round trip per batch: every FCALL of the batch is written
 * before the first reply is read.  Operations are packed, ops_per_call at a
 * time, into FCALL cachefleet_apply (the format is in functions.lua's
 * header): measured on the development machine, one Lua call per event caps
 * Redis near 56k to 86k calls per second, while a call carrying hundreds of
 * operations costs Redis a few microseconds per operation.
 *
 * The commands are formatted as RESP by this file straight into one buffer
 * that is reused from batch to batch, and handed to hiredis with
 * redisAppendFormattedCommand: no per-argument allocation, and the event
 * payloads are copied once on their way out.
 *
 * A context with err set is dropped, never reused (hiredis' rule); so is
 * one whose replies did not all come back.  Any error reply also drops the
 * connection: "function not found" after a Redis restart is then cured by
 * the reload that reconnecting does.
 */
#include "apply.h"

#include "clock.h"
#include "decimal.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cf_apply {
    struct cf_apply_settings s;
    char *host, *unix_socket, *user, *password, *client_name; /* owned copies */
    struct cf_log *lg;
    redisContext *ctx;
    char errstr[512];

    char *buf; /* RESP of the batch being sent */
    size_t len, cap;
    uint64_t generation; /* connections made */

    /* A batch sent whose replies are not read yet (cf_apply_send). */
    int in_flight;
    size_t flight_calls;
    int64_t flight_sent_us;
    uint64_t flight_ops;
};

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (!d)
        abort();
    memcpy(d, s ? s : "", n);
    return d;
}

/* errstr = "<what>: <detail>" */
static void set_error(struct cf_apply *ap, const char *what, const char *detail)
{
    snprintf(ap->errstr, sizeof(ap->errstr), "%s: %s", what, detail ? detail : "");
}

static void reserve(struct cf_apply *ap, size_t more)
{
    if (ap->len + more <= ap->cap)
        return;
    size_t cap = ap->cap ? ap->cap : 65536;
    while (cap < ap->len + more)
        cap *= 2;
    char *b = realloc(ap->buf, cap);
    if (!b)
        abort();
    ap->buf = b;
    ap->cap = cap;
}

static void put_raw(struct cf_apply *ap, const char *s, size_t n)
{
    reserve(ap, n);
    memcpy(ap->buf + ap->len, s, n);
    ap->len += n;
}

/* "*<n>\r\n" */
static void put_array(struct cf_apply *ap, size_t n)
{
    reserve(ap, 32);
    ap->buf[ap->len++] = '*';
    ap->len += cf_fmt_u64(ap->buf + ap->len, n);
    ap->buf[ap->len++] = '\r';
    ap->buf[ap->len++] = '\n';
}

/* "$<len>\r\n<bytes>\r\n" */
static void put_bulk(struct cf_apply *ap, const char *s, size_t n)
{
    reserve(ap, n + 32);
    ap->buf[ap->len++] = '$';
    ap->len += cf_fmt_u64(ap->buf + ap->len, n);
    ap->buf[ap->len++] = '\r';
    ap->buf[ap->len++] = '\n';
    memcpy(ap->buf + ap->len, s, n);
    ap->len += n;
    ap->buf[ap->len++] = '\r';
    ap->buf[ap->len++] = '\n';
}

static void put_str(struct cf_apply *ap, const char *s)
{
    put_bulk(ap, s, strlen(s));
}

static void put_u64(struct cf_apply *ap, uint64_t n)
{
    char num[CF_DECIMAL_MAX];
    put_bulk(ap, num, cf_fmt_u64(num, n));
}

/* Times and TTLs are validated non-negative by the planners. */
static void put_i64(struct cf_apply *ap, int64_t n)
{
    put_u64(ap, n < 0 ? 0 : (uint64_t)n);
}

static void put_span(struct cf_apply *ap, const struct cf_plan *plan, struct cf_span sp)
{
    put_bulk(ap, cf_plan_bytes(plan, sp), sp.len);
}

/* ------------------------------------------------------------------------
 * Connection
 * ------------------------------------------------------------------------ */

struct cf_apply *cf_apply_new(const struct cf_apply_settings *settings, struct cf_log *lg)
{
    struct cf_apply *ap = calloc(1, sizeof(*ap));
    if (!ap)
        abort();
    ap->s = *settings;
    ap->host = xstrdup(settings->host);
    ap->unix_socket = xstrdup(settings->unix_socket);
    ap->user = xstrdup(settings->user);
    ap->password = xstrdup(settings->password);
    ap->client_name = xstrdup(settings->client_name);
    ap->s.host = ap->host;
    ap->s.unix_socket = ap->unix_socket;
    ap->s.user = ap->user;
    ap->s.password = ap->password;
    ap->s.client_name = ap->client_name;
    if (ap->s.ops_per_call < 1)
        ap->s.ops_per_call = 1;
    ap->lg = lg;
    return ap;
}

void cf_apply_disconnect(struct cf_apply *ap)
{
    ap->in_flight = 0; /* its replies go with the connection */
    if (ap->ctx) {
        redisFree(ap->ctx);
        ap->ctx = NULL;
    }
}

void cf_apply_destroy(struct cf_apply *ap)
{
    if (!ap)
        return;
    cf_apply_disconnect(ap);
    if (ap->password[0])
        memset(ap->password, 0, strlen(ap->password));
    free(ap->host);
    free(ap->unix_socket);
    free(ap->user);
    free(ap->password);
    free(ap->client_name);
    free(ap->buf);
    free(ap);
}

int cf_apply_connected(const struct cf_apply *ap)
{
    return ap->ctx != NULL;
}

const char *cf_apply_error(const struct cf_apply *ap)
{
    return ap->errstr;
}

/* Runs one command during connection set-up; the reply must not be an
 * error.  what names the step in the error message. */
static int setup_command(struct cf_apply *ap, const char *what, int argc, const char **argv,
                         const size_t *argvlen)
{
    redisReply *reply = redisCommandArgv(ap->ctx, argc, argv, argvlen);
    if (!reply) {
        snprintf(ap->errstr, sizeof(ap->errstr), "%s: %s", what, ap->ctx->errstr);
        return -1;
    }
    int rc = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* An AUTH error reply does not echo the password. */
        snprintf(ap->errstr, sizeof(ap->errstr), "%s: %.*s", what, (int)reply->len, reply->str);
        rc = -1;
    }
    freeReplyObject(reply);
    return rc;
}

/* The library's code, from a FUNCTION LIST reply (RESP2: a flat array of
 * name, value pairs per library). */
static const redisReply *library_code(const redisReply *list)
{
    if (list->type != REDIS_REPLY_ARRAY || list->elements != 1)
        return NULL;
    const redisReply *lib = list->element[0];
    if (lib->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < lib->elements; i += 2) {
        const redisReply *k = lib->element[i];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, "library_code") == 0)
            return lib->element[i + 1];
    }
    return NULL;
}

/* With redis.load_functions off, an operator loads the library (and the
 * fleet's ACL user may lack FUNCTION LOAD): it must be byte for byte the
 * one this program was built with. */
static int check_library(struct cf_apply *ap)
{
    redisReply *r = redisCommand(ap->ctx, "FUNCTION LIST LIBRARYNAME cachefleet WITHCODE");
    if (!r) {
        set_error(ap, "FUNCTION LIST", ap->ctx->errstr);
        return -1;
    }
    int rc = 0;
    const redisReply *code = r->type == REDIS_REPLY_ERROR ? NULL : library_code(r);
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(ap->errstr, sizeof(ap->errstr), "FUNCTION LIST: %.*s", (int)r->len, r->str);
        rc = -1;
    } else if (!code || code->type != REDIS_REPLY_STRING) {
        set_error(ap, "functions", "the cachefleet library is not loaded in Redis (setting "
                                   "redis.load_functions is off: load share/cachefleet/"
                                   "functions.lua with FUNCTION LOAD REPLACE)");
        rc = -1;
    } else if (code->len != cf_functions_lua_len ||
               memcmp(code->str, cf_functions_lua, code->len) != 0) {
        set_error(ap, "functions", "the cachefleet library loaded in Redis is not this "
                                   "program's (load its share/cachefleet/functions.lua)");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

int cf_apply_connect(struct cf_apply *ap)
{
    if (ap->ctx)
        return 0;
    ap->errstr[0] = '\0';

    struct timeval ctv = {ap->s.connect_timeout_ms / 1000, (ap->s.connect_timeout_ms % 1000) * 1000};
    if (ap->unix_socket[0])
        ap->ctx = redisConnectUnixWithTimeout(ap->unix_socket, ctv);
    else
        ap->ctx = redisConnectWithTimeout(ap->host, ap->s.port, ctv);
    if (!ap->ctx) {
        set_error(ap, "connect", "out of memory");
        return -1;
    }
    if (ap->ctx->err) {
        set_error(ap, "connect", ap->ctx->errstr);
        goto fail;
    }
    struct timeval ttv = {ap->s.command_timeout_ms / 1000, (ap->s.command_timeout_ms % 1000) * 1000};
    /* Keep-alive is TCP's (on a unix socket hiredis fails with EOPNOTSUPP). */
    if (redisSetTimeout(ap->ctx, ttv) != REDIS_OK ||
        (!ap->unix_socket[0] && redisEnableKeepAlive(ap->ctx) != REDIS_OK)) {
        set_error(ap, "connect", ap->ctx->errstr);
        goto fail;
    }

    if (ap->password[0]) {
        if (ap->user[0]) {
            const char *argv[] = {"AUTH", ap->user, ap->password};
            size_t lens[] = {4, strlen(ap->user), strlen(ap->password)};
            if (setup_command(ap, "AUTH", 3, argv, lens) < 0)
                goto fail;
        } else {
            const char *argv[] = {"AUTH", ap->password};
            size_t lens[] = {4, strlen(ap->password)};
            if (setup_command(ap, "AUTH", 2, argv, lens) < 0)
                goto fail;
        }
    }
    if (ap->s.db != 0) {
        char db[24];
        size_t n = cf_fmt_u64(db, (uint64_t)ap->s.db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, n};
        if (setup_command(ap, "SELECT", 2, argv, lens) < 0)
            goto fail;
    }
    if (ap->client_name[0]) {
        const char *argv[] = {"CLIENT", "SETNAME", ap->client_name};
        size_t lens[] = {6, 7, strlen(ap->client_name)};
        if (setup_command(ap, "CLIENT SETNAME", 3, argv, lens) < 0)
            goto fail;
    }
    if (ap->s.load_functions) {
        const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", cf_functions_lua};
        size_t lens[] = {8, 4, 7, cf_functions_lua_len};
        if (setup_command(ap, "FUNCTION LOAD", 4, argv, lens) < 0)
            goto fail;
    } else if (check_library(ap) < 0) {
        goto fail;
    }
    ap->generation++;
    return 0;

fail:
    cf_apply_disconnect(ap);
    return -1;
}

uint64_t cf_apply_generation(const struct cf_apply *ap)
{
    return ap->generation;
}

int cf_apply_exists(struct cf_apply *ap, const char *const *keys, size_t n, int *exists)
{
    if (n == 0)
        return 0;
    if (ap->in_flight)
        abort(); /* the caller must read the batch's replies first */
    if (cf_apply_connect(ap) < 0)
        return -1;
    ap->len = 0;
    put_array(ap, n + 1);
    put_str(ap, "MGET");
    for (size_t i = 0; i < n; i++)
        put_str(ap, keys[i]);
    void *r = NULL;
    if (redisAppendFormattedCommand(ap->ctx, ap->buf, ap->len) != REDIS_OK ||
        redisGetReply(ap->ctx, &r) != REDIS_OK || !r) {
        set_error(ap, "MGET", ap->ctx->errstr[0] ? ap->ctx->errstr : "connection lost");
        goto fail;
    }
    redisReply *reply = r;
    int ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == n;
    if (ok) {
        for (size_t i = 0; i < n; i++)
            exists[i] = reply->element[i]->type != REDIS_REPLY_NIL;
    } else {
        set_error(ap, "MGET", reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    }
    freeReplyObject(reply);
    if (!ok)
        goto fail;
    return 0;
fail:
    cf_apply_disconnect(ap);
    return -1;
}

int cf_apply_mark(struct cf_apply *ap, const char *const *keys, size_t n)
{
    if (n == 0)
        return 0;
    if (ap->in_flight)
        abort(); /* the caller must read the batch's replies first */
    if (cf_apply_connect(ap) < 0)
        return -1;
    ap->len = 0;
    for (size_t i = 0; i < n; i++) {
        put_array(ap, 3);
        put_str(ap, "SET");
        put_str(ap, keys[i]);
        put_str(ap, "1");
    }
    if (redisAppendFormattedCommand(ap->ctx, ap->buf, ap->len) != REDIS_OK) {
        set_error(ap, "SET", ap->ctx->errstr);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(ap->ctx, &r) != REDIS_OK || !r) {
            set_error(ap, "SET", ap->ctx->errstr[0] ? ap->ctx->errstr : "connection lost");
            goto fail;
        }
        redisReply *reply = r;
        int ok = reply->type == REDIS_REPLY_STATUS;
        if (!ok)
            set_error(ap, "SET", reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        freeReplyObject(reply);
        if (!ok)
            goto fail;
    }
    return 0;
fail:
    cf_apply_disconnect(ap);
    return -1;
}

/* ------------------------------------------------------------------------
 * Apply
 * ------------------------------------------------------------------------ */

/* ARGV entries an operation takes, its code included. */
static size_t op_argc(char code)
{
    switch (code) {
    case CF_OP_WARM_GUARDED:
        return 6;
    case CF_OP_WARM:
    case CF_OP_CATEGORY:
        return 5;
    case CF_OP_INDEX_ADD:
        return 4;
    case CF_OP_INVALIDATE:
    case CF_OP_INDEX_REM:
    case CF_OP_FANOUT:
    case CF_OP_PURGE:
        return 3;
    default: /* X G M */
        return 2;
    }
}

static size_t op_keys(const struct cf_op *op)
{
    return op->code == CF_OP_MENU ? 2 : op->code == CF_OP_WARM_GUARDED ? 1 + op->nguards : 1;
}

/* Formats one FCALL for the live operations ops[from..to). */
static void format_call(struct cf_apply *ap, const struct cf_plan *plan, size_t from, size_t to)
{
    size_t nkeys = 0, nargs = 3;
    for (size_t i = from; i < to; i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        if (op->dead)
            continue;
        nkeys += op_keys(op);
        nargs += op_argc(op->code);
    }
    put_array(ap, 3 + nkeys + nargs);
    static const char head[] = "$5\r\nFCALL\r\n$16\r\ncachefleet_apply\r\n";
    put_raw(ap, head, sizeof(head) - 1);
    put_u64(ap, nkeys);
    for (size_t i = from; i < to; i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        if (op->dead)
            continue;
        put_span(ap, plan, op->key);
        if (op->code == CF_OP_MENU)
            put_span(ap, plan, op->a);
        for (uint32_t g = 0; op->code == CF_OP_WARM_GUARDED && g < op->nguards; g++) {
            size_t len;
            const char *guard = cf_plan_guard_key(plan, op, g, &len);
            put_bulk(ap, guard, len);
        }
    }
    put_str(ap, "1");
    put_i64(ap, ap->s.tombstone_ttl_ms);
    put_i64(ap, ap->s.max_value_ttl_ms + ap->s.tombstone_ttl_ms);
    for (size_t i = from; i < to; i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        if (op->dead)
            continue;
        char code = op->code;
        put_bulk(ap, &code, 1);
        switch (op->code) {
        case CF_OP_WARM_GUARDED:
            put_u64(ap, op->nguards);
            /* fall through */
        case CF_OP_WARM:
            put_u64(ap, op->version);
            put_i64(ap, op->ts_us);
            put_i64(ap, op->ttl_ms);
            put_span(ap, plan, op->a);
            break;
        case CF_OP_INVALIDATE:
            put_u64(ap, op->version);
            put_i64(ap, op->ts_us);
            break;
        case CF_OP_XINVAL:
        case CF_OP_TAG:
            put_i64(ap, op->ts_us);
            break;
        case CF_OP_INDEX_ADD:
            put_span(ap, plan, op->a);
            put_u64(ap, op->version);
            put_i64(ap, op->ttl_ms);
            break;
        case CF_OP_INDEX_REM:
        case CF_OP_PURGE:
            put_span(ap, plan, op->a);
            put_u64(ap, op->version);
            break;
        case CF_OP_FANOUT:
            put_i64(ap, op->ts_us);
            put_span(ap, plan, op->a);
            break;
        case CF_OP_CATEGORY:
            put_span(ap, plan, op->a);
            put_u64(ap, op->version);
            put_i64(ap, op->ts_us);
            put_span(ap, plan, op->b);
            break;
        case CF_OP_MENU:
            put_i64(ap, op->ttl_ms);
            break;
        default:
            abort(); /* plan.c only makes the codes above */
        }
    }
}

int cf_apply_send(struct cf_apply *ap, const struct cf_plan *plan)
{
    if (ap->in_flight)
        abort(); /* one batch in flight at a time */
    ap->errstr[0] = '\0';

    /* Format first: nothing is sent unless the whole batch is ready. */
    ap->len = 0;
    size_t n = cf_plan_count(plan), calls = 0, live = 0;
    for (size_t from = 0; from < n;) {
        size_t to = from, in_call = 0;
        while (to < n && in_call < (size_t)ap->s.ops_per_call) {
            if (!cf_plan_op(plan, to)->dead)
                in_call++;
            to++;
        }
        if (in_call) {
            format_call(ap, plan, from, to);
            calls++;
            live += in_call;
        }
        from = to;
    }
    ap->flight_calls = calls;
    ap->flight_ops = live;
    ap->flight_sent_us = cf_mono_us();
    if (calls == 0) {
        ap->in_flight = 1;
        return 0;
    }
    if (cf_apply_connect(ap) < 0)
        return -1;

    ap->flight_sent_us = cf_mono_us();
    if (redisAppendFormattedCommand(ap->ctx, ap->buf, ap->len) != REDIS_OK) {
        set_error(ap, "write", ap->ctx->errstr);
        goto fail;
    }
    /* Write it all now (Redis reads while it runs the first calls); the
     * replies are read by cf_apply_receive(). */
    for (int done = 0; !done;) {
        if (redisBufferWrite(ap->ctx, &done) != REDIS_OK) {
            set_error(ap, "write", ap->ctx->errstr[0] ? ap->ctx->errstr : "connection lost");
            goto fail;
        }
    }
    ap->in_flight = 1;
    return 0;

fail:
    cf_apply_disconnect(ap);
    return -1;
}

int cf_apply_in_flight(const struct cf_apply *ap)
{
    return ap->in_flight;
}

int cf_apply_receive(struct cf_apply *ap, struct cf_apply_result *res)
{
    memset(res, 0, sizeof(*res));
    if (!ap->in_flight) {
        set_error(ap, "read", "no batch in flight (the connection was lost)");
        return -1;
    }
    res->ops = ap->flight_ops;
    size_t calls = ap->flight_calls;
    if (calls == 0) {
        ap->in_flight = 0;
        return 0;
    }
    for (size_t i = 0; i < calls; i++) {
        void *r = NULL;
        if (redisGetReply(ap->ctx, &r) != REDIS_OK || !r) {
            set_error(ap, "read", ap->ctx->errstr[0] ? ap->ctx->errstr : "connection lost");
            goto fail;
        }
        redisReply *reply = r;
        bool ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
                  reply->element[0]->type == REDIS_REPLY_INTEGER &&
                  reply->element[1]->type == REDIS_REPLY_INTEGER &&
                  reply->element[2]->type == REDIS_REPLY_INTEGER;
        if (ok) {
            res->applied += (uint64_t)reply->element[0]->integer;
            res->refused += (uint64_t)reply->element[1]->integer;
            res->denied += (uint64_t)reply->element[2]->integer;
        } else if (reply->type == REDIS_REPLY_ERROR) {
            snprintf(ap->errstr, sizeof(ap->errstr), "FCALL cachefleet_apply: %.*s",
                     (int)(reply->len > 300 ? 300 : reply->len), reply->str);
        } else {
            set_error(ap, "FCALL cachefleet_apply", "unexpected reply");
        }
        freeReplyObject(reply);
        if (!ok)
            goto fail; /* the rest of the pipeline goes with the connection */
        res->calls++;
    }
    res->round_trip_us = cf_mono_us() - ap->flight_sent_us;
    ap->in_flight = 0;
    return 0;

fail:
    cf_apply_disconnect(ap);
    return -1;
}

int cf_apply_plan(struct cf_apply *ap, const struct cf_plan *plan, struct cf_apply_result *res)
{
    if (cf_apply_send(ap, plan) < 0) {
        memset(res, 0, sizeof(*res));
        return -1;
    }
    return cf_apply_receive(ap, res);
}
