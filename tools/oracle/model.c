/* model.c - the cache the fleet's operations must produce, in memory.
 *
 * DESIGN
 * The key space is an array of entries (one per key ever touched, in the
 * order of first touch) and an open-addressing table of their indexes.
 * An entry holds everything Redis would hold under its name (a string, a
 * set or a hash: one type at a time, as in Redis) and its marker, which in
 * Redis is the separate key {<name>}:v.  Operations are applied by
 * functions named and ordered as in common/functions.lua; each Lua line
 * that reads or writes Redis is quoted (in a "lua:" comment) next to the
 * C that stands for it, so a change to the Lua can be carried over line by
 * line.
 *
 * A set's membership hash {<set>}:m (versioned A, R and P) is a key of its
 * own here, as in Redis: a HASH entry whose fields hold versions, touched
 * through touch_members().
 *
 * Where the Lua would raise a Redis error (WRONGTYPE, an invalid expire
 * time, an empty member) the model stops with -1 at the same operation.  Where the Lua would
 * compare marker strings of different shapes (a set's "ts" marker read as
 * a guard that turns out to be a value's "V W T" marker, a tag whose key
 * has a value's marker), which the fleet's key layout never produces, the
 * model stops with -1 too instead of guessing.
 *
 * Thread: the caller's (see model.h).
 */
#include "model.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Operations per chunk in F (lua: "for j = 1, #members, 512"). */
#define LUA_CHUNK 512
/* The menu's depth limit (lua: "depth > 32"). */
#define MENU_MAX_DEPTH 32

struct bytes {
    char *p;
    size_t n;
};

/* A sorted set of byte strings. */
struct strs {
    struct bytes *items;
    size_t n, cap;
};

/* A field of a hash: its name and its value (the category hash: the
 * record "ver|ts|payload"; a membership hash {<set>}:m: a version). */
struct field {
    struct bytes name;
    struct bytes record;
};

struct entry {
    struct bytes key;
    enum cf_model_type type;
    /* STRING */
    struct bytes value;
    int64_t ttl_ms;
    /* STRING, SET and a membership HASH: when it expires (0: never) */
    int64_t expires_us;
    /* SET */
    struct strs members;
    /* HASH, sorted by name */
    struct field *fields;
    size_t nfields, fields_cap;
    /* {<key>}:v */
    struct cf_model_marker marker;
    /* history */
    int64_t written_us, last_us;
};

struct cf_model {
    struct entry **entries;
    size_t n, cap;
    uint32_t *slots; /* index + 1; 0: empty */
    size_t slots_cap;
    int64_t now_us;  /* the time of the apply in progress */
    int64_t tomb_ms; /* the tombstone TTL (apply.c's tombstone_ttl_ms) */
    char *err;       /* the caller's errstr during an apply */
    size_t err_size;
};

/* ------------------------------------------------------------------------
 * Memory and byte strings
 * ------------------------------------------------------------------------ */

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fprintf(stderr, "cachefleet-audit: out of memory (%zu bytes)\n", size);
        abort();
    }
    return q;
}

static struct bytes bytes_copy(const char *p, size_t n)
{
    struct bytes b = {xrealloc(NULL, n + 1), n};
    if (n)
        memcpy(b.p, p, n);
    b.p[n] = '\0';
    return b;
}

static void bytes_set(struct bytes *b, const char *p, size_t n)
{
    b->p = xrealloc(b->p, n + 1);
    if (n)
        memmove(b->p, p, n);
    b->p[n] = '\0';
    b->n = n;
}

static void bytes_free(struct bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

/* Byte order, a prefix first: Lua's string "<" under the C locale, and
 * Redis's order of nothing in particular made deterministic. */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Index of s in set, or where it belongs (*found says which). */
static size_t strs_find(const struct strs *set, const char *s, size_t n, bool *found)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = bytes_cmp(set->items[mid].p, set->items[mid].n, s, n);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Adds s; returns 1 when it was not there. */
static int strs_add(struct strs *set, const char *s, size_t n)
{
    bool found;
    size_t i = strs_find(set, s, n, &found);
    if (found)
        return 0;
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 4;
        set->items = xrealloc(set->items, set->cap * sizeof(*set->items));
    }
    memmove(set->items + i + 1, set->items + i, (set->n - i) * sizeof(*set->items));
    set->items[i] = bytes_copy(s, n);
    set->n++;
    return 1;
}

/* Removes s; returns 1 when it was there. */
static int strs_remove(struct strs *set, const char *s, size_t n)
{
    bool found;
    size_t i = strs_find(set, s, n, &found);
    if (!found)
        return 0;
    bytes_free(&set->items[i]);
    memmove(set->items + i, set->items + i + 1, (set->n - i - 1) * sizeof(*set->items));
    set->n--;
    return 1;
}

static void strs_clear(struct strs *set)
{
    for (size_t i = 0; i < set->n; i++)
        bytes_free(&set->items[i]);
    set->n = 0;
}

static void strs_free(struct strs *set)
{
    strs_clear(set);
    free(set->items);
    set->items = NULL;
    set->cap = 0;
}

/* A copy of a set's members (the Lua's SMEMBERS reply: later writes to the
 * set do not change it). */
static struct strs strs_dup(const struct strs *set)
{
    struct strs copy = {NULL, 0, 0};
    if (set->n) {
        copy.items = xrealloc(NULL, set->n * sizeof(*copy.items));
        copy.cap = set->n;
        for (size_t i = 0; i < set->n; i++)
            copy.items[i] = bytes_copy(set->items[i].p, set->items[i].n);
        copy.n = set->n;
    }
    return copy;
}

/* ------------------------------------------------------------------------
 * The key space
 * ------------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint32_t *slot_of(const struct cf_model *m, const char *key, size_t len)
{
    size_t mask = m->slots_cap - 1;
    for (size_t i = hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
        uint32_t *s = &m->slots[i];
        if (!*s)
            return s;
        const struct entry *e = m->entries[*s - 1];
        if (e->key.n == len && memcmp(e->key.p, key, len) == 0)
            return s;
    }
}

static struct entry *find(const struct cf_model *m, const char *key, size_t len)
{
    if (!m->slots_cap)
        return NULL;
    uint32_t *s = slot_of(m, key, len);
    return *s ? m->entries[*s - 1] : NULL;
}

static void rehash(struct cf_model *m, size_t cap)
{
    free(m->slots);
    m->slots = xrealloc(NULL, cap * sizeof(*m->slots));
    memset(m->slots, 0, cap * sizeof(*m->slots));
    m->slots_cap = cap;
    for (size_t i = 0; i < m->n; i++)
        *slot_of(m, m->entries[i]->key.p, m->entries[i]->key.n) = (uint32_t)(i + 1);
}

/* The entry of key, made if the key was never touched; an operation
 * addresses it now. */
static struct entry *touch(struct cf_model *m, const char *key, size_t len)
{
    struct entry *e = find(m, key, len);
    if (!e) {
        if ((m->n + 1) * 2 > m->slots_cap)
            rehash(m, m->slots_cap ? m->slots_cap * 2 : 1024);
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 1024;
            m->entries = xrealloc(m->entries, m->cap * sizeof(*m->entries));
        }
        if (m->n >= UINT32_MAX - 1) {
            fprintf(stderr, "cachefleet-audit: more than 4G keys\n");
            abort();
        }
        e = xrealloc(NULL, sizeof(*e));
        memset(e, 0, sizeof(*e));
        e->key = bytes_copy(key, len);
        m->entries[m->n] = e;
        *slot_of(m, key, len) = (uint32_t)(m->n + 1);
        m->n++;
    }
    e->last_us = m->now_us;
    return e;
}

static void fields_clear(struct entry *e)
{
    for (size_t i = 0; i < e->nfields; i++) {
        bytes_free(&e->fields[i].name);
        bytes_free(&e->fields[i].record);
    }
    e->nfields = 0;
}

/* lua: redis.call('DEL', key) - whatever type the key holds. */
static void del_key(struct cf_model *m, struct entry *e)
{
    if (e->type == CF_MODEL_ABSENT)
        return;
    bytes_free(&e->value);
    strs_clear(&e->members);
    fields_clear(e);
    e->type = CF_MODEL_ABSENT;
    e->ttl_ms = 0;
    e->expires_us = 0;
    e->written_us = m->now_us;
}

/* lua: redis.call('SET', key, value, 'PX', ttl) */
static void set_string(struct cf_model *m, struct entry *e, const char *value, size_t len,
                       int64_t ttl_ms)
{
    if (e->type != CF_MODEL_STRING)
        del_key(m, e);
    bytes_set(&e->value, value, len);
    e->type = CF_MODEL_STRING;
    e->ttl_ms = ttl_ms;
    e->expires_us = m->now_us + ttl_ms * 1000;
    e->written_us = m->now_us;
}

/* ------------------------------------------------------------------------
 * Errors (the operation Redis would fail)
 * ------------------------------------------------------------------------ */

static int fail(struct cf_model *m, const char *what, const struct entry *e)
{
    if (m->err && m->err_size)
        snprintf(m->err, m->err_size, "%s: %.*s", what, (int)(e ? e->key.n : 0), e ? e->key.p : "");
    return -1;
}

/* A key an S-command (SMEMBERS, SADD, SREM) may address. */
static int check_set(struct cf_model *m, const struct entry *e)
{
    if (e && e->type != CF_MODEL_ABSENT && e->type != CF_MODEL_SET)
        return fail(m, "WRONGTYPE: a set operation on a key of another type", e);
    return 0;
}

static int check_hash(struct cf_model *m, const struct entry *e)
{
    if (e && e->type != CF_MODEL_ABSENT && e->type != CF_MODEL_HASH)
        return fail(m, "WRONGTYPE: a hash operation on a key of another type", e);
    return 0;
}

/* SET PX 0 (or less): "invalid expire time". */
static int check_px(struct cf_model *m, int64_t ttl_ms, const struct entry *e)
{
    if (ttl_ms <= 0)
        return fail(m, "ERR invalid expire time in SET", e);
    return 0;
}

/* ------------------------------------------------------------------------
 * Markers (lua: newer, max_str, marker_key, read_marker)
 * ------------------------------------------------------------------------ */

static struct cf_model_marker vwt(uint64_t v, int64_t w, int64_t t)
{
    struct cf_model_marker mk = {CF_MARKER_VWT, v, w, t};
    return mk;
}

static struct cf_model_marker time_marker(int64_t t)
{
    struct cf_model_marker mk = {CF_MARKER_TIME, 0, 0, t};
    return mk;
}

char *cf_model_marker_text(const struct cf_model_marker *mk, char *buf, size_t size)
{
    switch (mk->kind) {
    case CF_MARKER_VWT:
        snprintf(buf, size, "%" PRIu64 " %" PRId64 " %" PRId64, mk->v, mk->w, mk->t);
        break;
    case CF_MARKER_TIME:
        snprintf(buf, size, "%" PRId64, mk->t);
        break;
    default:
        if (size)
            buf[0] = '\0';
        break;
    }
    return buf;
}

/* lua: local v, w, t = read_marker(vkey) - a marker matching
 * '^(%d+) (%d+) (%d+)$', or nothing (none, or a set's "ts" marker). */
static bool parse_vwt(const struct cf_model_marker *mk)
{
    return mk->kind == CF_MARKER_VWT;
}

static int64_t max_time(int64_t a, int64_t b)
{
    return a > b ? a : b; /* lua: max_str(a, b) */
}

/* ------------------------------------------------------------------------
 * Hash fields (lua: HGET, HMGET, HSET, HDEL, HGETALL)
 * ------------------------------------------------------------------------ */

/* Index of the field name in a hash entry, or where it belongs. */
static size_t field_find(const struct entry *e, const char *name, size_t n, bool *found)
{
    size_t lo = 0, hi = e->nfields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = bytes_cmp(e->fields[mid].name.p, e->fields[mid].name.n, name, n);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* lua: redis.call('HGET', key, name) - the value, or NULL (no field, or no
 * hash: check_hash() first). */
static const struct bytes *field_get(const struct entry *e, const char *name, size_t n)
{
    if (e->type != CF_MODEL_HASH)
        return NULL;
    bool found;
    size_t i = field_find(e, name, n, &found);
    return found ? &e->fields[i].record : NULL;
}

/* lua: redis.call('HSET', key, name, value) - the hash made if absent
 * (without an expiry, as a new key in Redis). */
static void field_put(struct cf_model *m, struct entry *e, const char *name, size_t n,
                      const char *value, size_t value_len)
{
    if (e->type != CF_MODEL_HASH) {
        e->type = CF_MODEL_HASH;
        e->expires_us = 0;
    }
    bool found;
    size_t i = field_find(e, name, n, &found);
    if (!found) {
        if (e->nfields == e->fields_cap) {
            e->fields_cap = e->fields_cap ? e->fields_cap * 2 : 16;
            e->fields = xrealloc(e->fields, e->fields_cap * sizeof(*e->fields));
        }
        memmove(e->fields + i + 1, e->fields + i, (e->nfields - i) * sizeof(*e->fields));
        e->fields[i].name = bytes_copy(name, n);
        e->fields[i].record = bytes_copy(value, value_len);
        e->nfields++;
    } else {
        bytes_set(&e->fields[i].record, value, value_len);
    }
    e->written_us = m->now_us;
}

/* lua: redis.call('HDEL', key, name) - a hash left without fields is
 * deleted. */
static void field_del(struct cf_model *m, struct entry *e, const char *name, size_t n)
{
    bool found;
    if (e->type != CF_MODEL_HASH)
        return;
    size_t i = field_find(e, name, n, &found);
    if (!found)
        return;
    bytes_free(&e->fields[i].name);
    bytes_free(&e->fields[i].record);
    memmove(e->fields + i, e->fields + i + 1, (e->nfields - i - 1) * sizeof(*e->fields));
    e->nfields--;
    e->written_us = m->now_us;
    if (e->nfields == 0) {
        e->type = CF_MODEL_ABSENT;
        e->expires_us = 0;
    }
}

/* lua: string.match(cur, '^(%d+)|') - the digits before the first '|'
 * (their count into *digits).  False when the record does not start so. */
static bool leading_version(const char *p, size_t n, size_t *digits)
{
    size_t i = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    *digits = i;
    return i > 0 && i < n && p[i] == '|';
}

/* lua: newer(a, b) for canonical decimal strings a (bytes) and b (u64). */
static bool newer_text_u64(const char *a, size_t an, uint64_t b)
{
    char bt[24];
    int bn = snprintf(bt, sizeof(bt), "%" PRIu64, b);
    if (an != (size_t)bn)
        return an > (size_t)bn;
    return memcmp(a, bt, an) > 0;
}

/* ------------------------------------------------------------------------
 * The operations (lua: xinval, warm, and the branches of apply)
 * ------------------------------------------------------------------------ */

/* lua: local function xinval(key, ts, tomb_ms) */
static bool xinval(struct cf_model *m, const char *key, size_t len, int64_t ts)
{
    struct entry *e = touch(m, key, len);
    /* lua: local v, w, t = read_marker(vkey) */
    bool v = parse_vwt(&e->marker);
    /* lua: if v and newer(w, ts) then return false end */
    if (v && e->marker.w > ts)
        return false;
    /* lua: redis.call('DEL', key) */
    del_key(m, e);
    if (v) /* lua: SET vkey v .. ' ' .. w .. ' ' .. max_str(t, ts) */
        e->marker = vwt(e->marker.v, e->marker.w, max_time(e->marker.t, ts));
    else /* lua: SET vkey '0 0 ' .. ts */
        e->marker = vwt(0, 0, ts);
    return true;
}

/* lua: local function warm(key, ver, ts, ttl, value, tomb, keep, check_t)
 * Returns 1 applied, 0 refused, -1 a Redis error. */
static int warm(struct cf_model *m, const char *key, size_t len, uint64_t ver, int64_t ts,
                int64_t ttl_ms, const char *value, size_t value_len, bool check_t)
{
    struct entry *e = touch(m, key, len);
    /* lua: local old = redis.call('SET', vkey, ver .. ' ' .. ts .. ' 0', 'PX', ttl + tomb, 'GET')
     */
    struct cf_model_marker old = e->marker;
    e->marker = vwt(ver, ts, 0);
    /* lua: v, w, t = string.match(old, '^(%d+) (%d+) (%d+)$') */
    bool v = parse_vwt(&old);
    /* lua: if v and (newer(v, ver) or (check_t and newer(t, ts))) then
     *          SET vkey old; return false */
    if (v && (old.v > ver || (check_t && old.t > ts))) {
        e->marker = old;
        return 0;
    }
    /* lua: if t and t ~= '0' then SET vkey ver .. ' ' .. ts .. ' ' .. t */
    if (v && old.t != 0)
        e->marker = vwt(ver, ts, old.t);
    /* lua: redis.call('SET', key, value, 'PX', ttl) */
    if (check_px(m, ttl_ms, e) < 0)
        return -1;
    set_string(m, e, value, value_len, ttl_ms);
    return 1;
}

/* lua: local function extend_ttl(key, ttl_ms) */
static void extend_ttl(struct cf_model *m, struct entry *e, int64_t ttl_ms)
{
    if (ttl_ms <= 0)
        return;
    /* lua: local p = redis.call('PTTL', key) - -1 without an expiry */
    int64_t p = -1;
    if (e->expires_us) {
        p = (e->expires_us - m->now_us) / 1000;
        if (p < 0)
            p = 0;
    }
    /* lua: if p < ttl_ms then redis.call('PEXPIRE', key, ttl_ms) end */
    if (p < ttl_ms)
        e->expires_us = m->now_us + ttl_ms * 1000;
}

/* The T branch: a warm refused when a guard set changed after ts; the
 * key's own T is not checked (lua: warm(..., false)). */
static int op_guarded_warm(struct cf_model *m, const struct cf_plan *plan, const struct cf_op *op,
                           const char *key, int64_t ts, int64_t ttl_ms, struct cf_model_result *res)
{
    /* lua: local changed = '0' */
    int64_t changed = 0;
    for (uint32_t j = 0; j < op->nguards; j++) {
        size_t glen;
        const char *guard = cf_plan_guard_key(plan, op, j, &glen);
        /* lua: local g = redis.call('GET', marker_key(keys[j])) */
        const struct entry *g = find(m, guard, glen);
        if (!g || g->marker.kind == CF_MARKER_NONE)
            continue;
        if (g->marker.kind != CF_MARKER_TIME)
            return fail(m, "a guard key holds a value's marker (outside the model)", g);
        /* lua: if g and newer(g, changed) then changed = g end */
        if (g->marker.t > changed)
            changed = g->marker.t;
    }
    /* lua: if newer(changed, ts) then xinval(key, changed, tomb); refused */
    if (changed > ts) {
        xinval(m, key, op->key.len, changed);
        res->refused++;
        return 0;
    }
    /* lua: elseif warm(key, ver, ts, ttl, value, tomb, keep, false) then */
    int rc = warm(m, key, op->key.len, op->version, ts, ttl_ms, cf_plan_bytes(plan, op->a),
                  op->a.len, false);
    if (rc < 0)
        return -1;
    if (rc)
        res->applied++;
    else
        res->refused++;
    return 0;
}

/* The D branch: a versioned invalidation, leaving a tombstone. */
static void op_invalidate(struct cf_model *m, const char *key, size_t len, uint64_t ver, int64_t ts,
                          struct cf_model_result *res)
{
    struct entry *e = touch(m, key, len);
    /* lua: local old = redis.call('SET', vkey, ver .. ' ' .. ts .. ' 0', 'PX', tomb, 'GET') */
    struct cf_model_marker old = e->marker;
    e->marker = vwt(ver, ts, 0);
    bool v = parse_vwt(&old);
    /* lua: if v and newer(v, ver) then SET vkey old; refused */
    if (v && old.v > ver) {
        e->marker = old;
        res->refused++;
        return;
    }
    /* lua: if t and t ~= '0' then SET vkey ver .. ' ' .. ts .. ' ' .. t */
    if (v && old.t != 0)
        e->marker = vwt(ver, ts, old.t);
    /* lua: redis.call('DEL', key) */
    del_key(m, e);
    res->applied++;
}

/* Records ts in a set's or a tag's marker, unless it holds a newer time
 * (lua: local cur = GET vkey; if not cur or newer(ts, cur) then SET vkey ts). */
static int raise_set_marker(struct cf_model *m, struct entry *e, int64_t ts)
{
    if (e->marker.kind == CF_MARKER_VWT)
        return fail(m, "a set or tag key holds a value's marker (outside the model)", e);
    if (e->marker.kind == CF_MARKER_NONE || ts > e->marker.t)
        e->marker = time_marker(ts);
    return 0;
}

/* The G branch: every member key deleted, then the tag; its time kept. */
static int op_tag(struct cf_model *m, const char *key, size_t len, int64_t ts,
                  struct cf_model_result *res)
{
    struct entry *e = touch(m, key, len);
    if (check_set(m, e) < 0)
        return -1;
    /* lua: local members = redis.call('SMEMBERS', key) */
    struct strs members = strs_dup(&e->members);
    /* lua: local dels = fresh_members(members, ts); del_foreign(dels) */
    size_t ndels = 0;
    bool *del = calloc(members.n ? members.n : 1, sizeof(*del));
    if (!del)
        abort();
    for (size_t j = 0; j < members.n; j++) {
        struct entry *me = touch(m, members.items[j].p, members.items[j].n);
        /* lua: local w = m and string.match(m, '^%d+ (%d+) %d+$') */
        if (parse_vwt(&me->marker) && me->marker.w > ts)
            continue; /* lua: if not (w and newer(w, ts)) then ... end */
        del[j] = true;
        ndels++;
        del_key(m, me);
    }
    e = touch(m, key, len);
    if (ndels == members.n) {
        /* lua: redis.call('DEL', key) */
        del_key(m, e);
    } else {
        /* lua: call_chunked('SREM', key, dels) */
        for (size_t j = 0; j < members.n; j++)
            if (del[j])
                strs_remove(&e->members, members.items[j].p, members.items[j].n);
    }
    free(del);
    strs_free(&members);
    if (raise_set_marker(m, e, ts) < 0)
        return -1;
    res->applied++;
    return 0;
}

/* The entry of {<set>}:m (lua: members_key(key)). */
static struct entry *touch_members(struct cf_model *m, const char *key, size_t len)
{
    struct cf_buf b = {NULL, 0, 0};
    cf_buf_put(&b, "{", 1);
    cf_buf_put(&b, key, len);
    cf_buf_put(&b, "}:m", 3);
    struct entry *h = touch(m, b.data, b.len);
    cf_buf_free(&b);
    return h;
}

/* lua: local function membership_newer(mkey, member, ver) */
static bool membership_newer(const struct entry *h, const char *member, size_t member_len,
                             uint64_t ver)
{
    /* lua: local f = redis.call('HMGET', mkey, member, '') */
    const struct bytes *f1 = field_get(h, member, member_len), *f2 = field_get(h, "", 0);
    /* lua: return (f[1] and newer(f[1], ver)) or (f[2] and newer(f[2], ver)) */
    return (f1 && newer_text_u64(f1->p, f1->n, ver)) || (f2 && newer_text_u64(f2->p, f2->n, ver));
}

/* A version as the Lua writes it into a field (canonical decimal). */
static size_t version_text(char *buf, size_t size, uint64_t ver)
{
    return (size_t)snprintf(buf, size, "%" PRIu64, ver);
}

/* The A and R branches: a versioned add (ttl_ms: A's) or remove. */
static int op_index_member(struct cf_model *m, char code, const char *key, size_t len,
                           const char *member, size_t member_len, uint64_t ver, int64_t ttl_ms,
                           struct cf_model_result *res)
{
    struct entry *e = touch(m, key, len);
    /* lua: if member == '' then return redis.error_reply(...) end */
    if (member_len == 0)
        return fail(m, "ERR cachefleet_apply: an empty member", e);
    /* lua: local mkey = members_key(key) */
    struct entry *h = touch_members(m, key, len);
    if (check_hash(m, h) < 0)
        return -1;
    /* lua: if membership_newer(mkey, member, ver) then refused */
    if (membership_newer(h, member, member_len, ver)) {
        res->refused++;
        return 0;
    }
    char vt[24];
    size_t vn = version_text(vt, sizeof(vt), ver);
    if (code == CF_OP_INDEX_ADD) {
        if (check_set(m, e) < 0)
            return -1;
        /* lua: redis.call('SADD', key, member) */
        if (e->type == CF_MODEL_ABSENT) {
            e->type = CF_MODEL_SET;
            e->expires_us = 0;
        }
        if (strs_add(&e->members, member, member_len))
            e->written_us = m->now_us;
        /* lua: redis.call('HSET', mkey, member, ver) */
        field_put(m, h, member, member_len, vt, vn);
        /* lua: extend_ttl(key, ttl) */
        extend_ttl(m, e, ttl_ms);
        if (ttl_ms > 0)
            extend_ttl(m, h, ttl_ms); /* lua: extend_ttl(mkey, ttl) */
        else
            h->expires_us = 0; /* lua: redis.call('PERSIST', mkey) */
    } else {
        /* lua: local fresh = redis.call('PTTL', mkey) == -2 */
        bool fresh = h->type == CF_MODEL_ABSENT;
        if (check_set(m, e) < 0)
            return -1;
        /* lua: redis.call('SREM', key, member) - an emptied set is deleted */
        if (strs_remove(&e->members, member, member_len)) {
            e->written_us = m->now_us;
            if (e->members.n == 0) {
                e->type = CF_MODEL_ABSENT;
                e->expires_us = 0;
            }
        }
        /* lua: redis.call('HSET', mkey, member, ver) */
        field_put(m, h, member, member_len, vt, vn);
        /* lua: if fresh then redis.call('PEXPIRE', mkey, tomb) end */
        if (fresh)
            h->expires_us = m->now_us + m->tomb_ms * 1000;
    }
    res->applied++;
    return 0;
}

/* <prefix><member> into b (emptied first). */
static void member_key(struct cf_buf *b, const char *prefix, size_t prefix_len,
                       const struct bytes *member)
{
    b->len = 0;
    cf_buf_put(b, prefix, prefix_len);
    cf_buf_put(b, member->p, member->n);
}

/* The F branch: every member's key invalidated at ts as by X (a value
 * written by a newer event stays), the set's time recorded. */
static int op_fanout(struct cf_model *m, const char *key, size_t len, int64_t ts,
                     const char *prefix, size_t prefix_len, struct cf_model_result *res)
{
    struct entry *e = touch(m, key, len);
    if (check_set(m, e) < 0)
        return -1;
    /* lua: local members = redis.call('SMEMBERS', key) */
    struct strs members = strs_dup(&e->members);
    struct cf_buf kb = {NULL, 0, 0};
    struct cf_model_marker markers[LUA_CHUNK];
    for (size_t j = 0; j < members.n; j += LUA_CHUNK) {
        size_t end = j + LUA_CHUNK < members.n ? j + LUA_CHUNK : members.n;
        /* lua: local markers = redis.call('MGET', unpack(vkeys)) */
        for (size_t i = j; i < end; i++) {
            member_key(&kb, prefix, prefix_len, &members.items[i]);
            const struct entry *me = find(m, kb.data, kb.len);
            markers[i - j] = me ? me->marker : (struct cf_model_marker){CF_MARKER_NONE, 0, 0, 0};
        }
        for (size_t i = j; i < end; i++) {
            const struct cf_model_marker *mk = &markers[i - j];
            /* lua: if not (v and newer(w, ts)) then: a newer value stays */
            if (parse_vwt(mk) && mk->w > ts)
                continue;
            member_key(&kb, prefix, prefix_len, &members.items[i]);
            struct entry *me = touch(m, kb.data, kb.len);
            del_key(m, me);    /* lua: redis.call('DEL', unpack(dels)) */
            if (parse_vwt(mk)) /* lua: SET vkeys[m] v .. ' ' .. w .. ' ' .. max_str(t, ts) */
                me->marker = vwt(mk->v, mk->w, max_time(mk->t, ts));
            else /* lua: SET vkeys[m] '0 0 ' .. ts */
                me->marker = vwt(0, 0, ts);
        }
    }
    cf_buf_free(&kb);
    strs_free(&members);
    /* lua: local cur = redis.call('GET', vkey); if not cur or newer(ts, cur) ... */
    e = touch(m, key, len);
    if (raise_set_marker(m, e, ts) < 0)
        return -1;
    res->applied++;
    return 0;
}

/* The P branch: every member not added after ver removed and its key
 * deleted, every field not newer than ver dropped, ver recorded. */
static int op_purge(struct cf_model *m, const char *key, size_t len, const char *prefix,
                    size_t prefix_len, uint64_t ver, struct cf_model_result *res)
{
    struct entry *e = touch(m, key, len);
    /* lua: local mkey = members_key(key) */
    struct entry *h = touch_members(m, key, len);
    if (check_hash(m, h) < 0)
        return -1;
    /* lua: local purged = redis.call('HGET', mkey, '') */
    const struct bytes *purged = field_get(h, "", 0);
    /* lua: if purged and newer(purged, ver) then refused */
    if (purged && newer_text_u64(purged->p, purged->n, ver)) {
        res->refused++;
        return 0;
    }
    /* lua: local all = redis.call('HGETALL', mkey) */
    bool fresh = h->type == CF_MODEL_ABSENT; /* lua: #all == 0 */
    /* lua: if all[j] ~= '' and not newer(all[j + 1], ver) then drop ... */
    struct strs drop = {NULL, 0, 0};
    for (size_t j = 0; j < h->nfields; j++) {
        const struct field *f = &h->fields[j];
        if (f->name.n && !newer_text_u64(f->record.p, f->record.n, ver))
            strs_add(&drop, f->name.p, f->name.n);
    }
    if (check_set(m, e) < 0) {
        strs_free(&drop);
        return -1;
    }
    /* lua: local members = redis.call('SMEMBERS', key) */
    struct strs members = strs_dup(&e->members), gone = {NULL, 0, 0};
    struct cf_buf kb = {NULL, 0, 0};
    for (size_t j = 0; j < members.n; j++) {
        /* lua: local f = fields[m]; if not (f and newer(f, ver)) then */
        const struct bytes *f = field_get(h, members.items[j].p, members.items[j].n);
        if (f && newer_text_u64(f->p, f->n, ver))
            continue; /* lua: a member added by an event newer than the purge stays */
        strs_add(&gone, members.items[j].p, members.items[j].n);
        /* lua: denied = denied + del_foreign(dels) - prefix .. m */
        member_key(&kb, prefix, prefix_len, &members.items[j]);
        del_key(m, touch(m, kb.data, kb.len));
    }
    cf_buf_free(&kb);
    strs_free(&members);
    /* lua: call_chunked('SREM', key, gone) - SREM of the last member removes the set */
    for (size_t j = 0; j < gone.n; j++) {
        if (e->type == CF_MODEL_SET && strs_remove(&e->members, gone.items[j].p, gone.items[j].n)) {
            e->written_us = m->now_us;
            if (e->members.n == 0) {
                e->type = CF_MODEL_ABSENT;
                e->expires_us = 0;
            }
        }
    }
    strs_free(&gone);
    /* lua: redis.call('HSET', mkey, '', ver) */
    char vt[24];
    size_t vn = version_text(vt, sizeof(vt), ver);
    field_put(m, h, "", 0, vt, vn);
    /* lua: call_chunked('HDEL', mkey, drop) */
    for (size_t j = 0; j < drop.n; j++)
        field_del(m, h, drop.items[j].p, drop.items[j].n);
    strs_free(&drop);
    /* lua: if #all == 0 then redis.call('PEXPIRE', mkey, tomb) end */
    if (fresh)
        h->expires_us = m->now_us + m->tomb_ms * 1000;
    res->applied++;
    return 0;
}

/* The C branch: a versioned record in the category hash. */
static int op_category(struct cf_model *m, const char *key, size_t len, const char *id,
                       size_t id_len, uint64_t ver, int64_t ts, const char *payload,
                       size_t payload_len, struct cf_model_result *res)
{
    struct entry *e = touch(m, key, len);
    if (check_hash(m, e) < 0)
        return -1;
    /* lua: local cur = redis.call('HGET', key, id) */
    const struct bytes *cur = field_get(e, id, id_len);
    if (cur) {
        /* lua: local curver = cur and string.match(cur, '^(%d+)|') */
        size_t digits;
        if (leading_version(cur->p, cur->n, &digits) && newer_text_u64(cur->p, digits, ver)) {
            res->refused++; /* lua: if curver and newer(curver, ver) */
            return 0;
        }
    }
    /* lua: redis.call('HSET', key, id, ver .. '|' .. ts .. '|' .. payload) */
    char head[64];
    int hn = snprintf(head, sizeof(head), "%" PRIu64 "|%" PRId64 "|", ver, ts);
    struct cf_buf rec = {NULL, 0, 0};
    cf_buf_put(&rec, head, (size_t)hn);
    cf_buf_put(&rec, payload, payload_len);
    field_put(m, e, id, id_len, rec.data, rec.len);
    cf_buf_free(&rec);
    res->applied++;
    return 0;
}

/* ------------------------------------------------------------------------
 * The menu (lua: menu_build)
 * ------------------------------------------------------------------------ */

struct node {
    const char *id;
    size_t id_len;
    const char *parent;
    size_t parent_len;
    double pos;
    const char *frag;
    size_t frag_len;
    size_t *children; /* node indexes */
    size_t nchildren, children_cap;
};

struct menu {
    struct node *nodes; /* in field order, so sorted by id */
    size_t n;
    size_t *roots;
    size_t nroots, roots_cap;
};

static void push_child(size_t **list, size_t *n, size_t *cap, size_t child)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *list = xrealloc(*list, *cap * sizeof(**list));
    }
    (*list)[(*n)++] = child;
}

/* lua: string.match(payload, '^([^|]*)|(%-?%d+)|([01])|(.*)$') */
static bool parse_payload(const char *p, size_t n, struct node *node, char *visible)
{
    size_t i = 0;
    while (i < n && p[i] != '|')
        i++;
    if (i == n)
        return false;
    node->parent = p;
    node->parent_len = i;
    size_t pos_start = ++i;
    if (i < n && p[i] == '-')
        i++;
    size_t digits_start = i;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == digits_start || i == n || p[i] != '|')
        return false;
    /* lua: tonumber(pos) - Lua 5.1 converts with strtod */
    char num[64];
    size_t num_len = i - pos_start;
    if (num_len >= sizeof(num)) {
        /* More digits than a double resolves: strtod still reads them. */
        char *big = xrealloc(NULL, num_len + 1);
        memcpy(big, p + pos_start, num_len);
        big[num_len] = '\0';
        node->pos = strtod(big, NULL);
        free(big);
    } else {
        memcpy(num, p + pos_start, num_len);
        num[num_len] = '\0';
        node->pos = strtod(num, NULL);
    }
    i++;
    if (i + 1 >= n || (p[i] != '0' && p[i] != '1') || p[i + 1] != '|')
        return false;
    *visible = p[i];
    node->frag = p + i + 2;
    node->frag_len = n - (i + 2);
    return true;
}

/* lua: local function order(a, b) - position, then id. */
static int node_order(const struct node *na, const struct node *nb)
{
    if (na->pos != nb->pos)
        return na->pos < nb->pos ? -1 : 1;
    return bytes_cmp(na->id, na->id_len, nb->id, nb->id_len);
}

/* Insertion sort of a child list (lists are short; no qsort context). */
static void sort_children(const struct menu *menu, size_t *list, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        size_t x = list[i], j = i;
        while (j > 0 && node_order(&menu->nodes[x], &menu->nodes[list[j - 1]]) < 0) {
            list[j] = list[j - 1];
            j--;
        }
        list[j] = x;
    }
}

/* lua: local function render(parent, depth) */
static void render(const struct menu *menu, size_t *list, size_t n, int depth, struct cf_buf *out)
{
    /* lua: if not list or depth > 32 then return '[]' end */
    if (n == 0 || depth > MENU_MAX_DEPTH) {
        cf_buf_puts(out, "[]");
        return;
    }
    /* lua: table.sort(list, order) */
    sort_children(menu, list, n);
    cf_buf_puts(out, "[");
    for (size_t i = 0; i < n; i++) {
        const struct node *node = &menu->nodes[list[i]];
        if (i)
            cf_buf_puts(out, ",");
        /* lua: '{' .. nodes[id].frag .. ',"children":' .. render(id, depth + 1) .. '}' */
        cf_buf_puts(out, "{");
        cf_buf_put(out, node->frag, node->frag_len);
        cf_buf_puts(out, ",\"children\":");
        /* lua: render(id, ...) reads children[id]; for an id of '' (no
         * planner makes one) that is the roots' list. */
        if (node->id_len == 0)
            render(menu, menu->roots, menu->nroots, depth + 1, out);
        else
            render(menu, node->children, node->nchildren, depth + 1, out);
        cf_buf_puts(out, "}");
    }
    cf_buf_puts(out, "]");
}

/* Index of the node with id, or -1. */
static long node_find(const struct menu *menu, const char *id, size_t len)
{
    size_t lo = 0, hi = menu->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = bytes_cmp(menu->nodes[mid].id, menu->nodes[mid].id_len, id, len);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* lua: local function menu_build(hash) - the JSON into out (emptied). */
static void menu_build(const struct entry *hash, struct cf_buf *out)
{
    struct menu menu = {NULL, 0, NULL, 0, 0};
    /* lua: local all = redis.call('HGETALL', hash) */
    size_t nfields = hash && hash->type == CF_MODEL_HASH ? hash->nfields : 0;
    menu.nodes = xrealloc(NULL, (nfields ? nfields : 1) * sizeof(*menu.nodes));
    for (size_t i = 0; i < nfields; i++) {
        const struct field *f = &hash->fields[i];
        /* lua: local payload = string.match(all[i + 1], '^%d+|%d+|(.*)$') */
        const char *r = f->record.p;
        size_t rn = f->record.n, k = 0, d0;
        d0 = k;
        while (k < rn && r[k] >= '0' && r[k] <= '9')
            k++;
        if (k == d0 || k == rn || r[k] != '|')
            continue;
        d0 = ++k;
        while (k < rn && r[k] >= '0' && r[k] <= '9')
            k++;
        if (k == d0 || k == rn || r[k] != '|')
            continue;
        k++;
        /* lua: if payload and payload ~= '' then */
        if (k == rn)
            continue;
        struct node node;
        memset(&node, 0, sizeof(node));
        char visible = 0;
        /* lua: if parent and visible == '1' then nodes[id] = {...} */
        if (!parse_payload(r + k, rn - k, &node, &visible) || visible != '1')
            continue;
        node.id = f->name.p;
        node.id_len = f->name.n;
        menu.nodes[menu.n++] = node;
    }
    /* lua: for id, n in pairs(nodes) do ... children[p] ... end */
    for (size_t i = 0; i < menu.n; i++) {
        struct node *node = &menu.nodes[i];
        if (node->parent_len == 0) {
            push_child(&menu.roots, &menu.nroots, &menu.roots_cap, i);
            continue;
        }
        long p = node_find(&menu, node->parent, node->parent_len);
        if (p < 0)
            continue; /* lua: orphan: its parent is deleted or hidden */
        struct node *parent = &menu.nodes[p];
        push_child(&parent->children, &parent->nchildren, &parent->children_cap, i);
    }
    /* lua: return render('', 0) */
    out->len = 0;
    render(&menu, menu.roots, menu.nroots, 0, out);
    for (size_t i = 0; i < menu.n; i++)
        free(menu.nodes[i].children);
    free(menu.nodes);
    free(menu.roots);
}

/* The M branch: the menu rebuilt from the category hash. */
static int op_menu(struct cf_model *m, const char *key, size_t len, const char *hash_key,
                   size_t hash_len, int64_t ttl_ms, struct cf_model_result *res)
{
    const struct entry *hash = find(m, hash_key, hash_len);
    if (check_hash(m, hash) < 0)
        return -1;
    struct cf_buf json = {NULL, 0, 0};
    menu_build(hash, &json);
    struct entry *e = touch(m, key, len);
    /* lua: redis.call('SET', key, menu_build(hash), 'PX', ttl) */
    if (check_px(m, ttl_ms, e) < 0) {
        cf_buf_free(&json);
        return -1;
    }
    set_string(m, e, json.data ? json.data : "", json.len, ttl_ms);
    cf_buf_free(&json);
    res->applied++;
    return 0;
}

/* ------------------------------------------------------------------------
 * cachefleet_apply (lua: local function apply(keys, argv))
 * ------------------------------------------------------------------------ */

struct cf_model *cf_model_new(void)
{
    struct cf_model *m = xrealloc(NULL, sizeof(*m));
    memset(m, 0, sizeof(*m));
    m->tomb_ms = CF_MODEL_TOMBSTONE_TTL_MS;
    return m;
}

void cf_model_set_tombstone_ttl(struct cf_model *m, int64_t tomb_ms)
{
    m->tomb_ms = tomb_ms;
}

static void entry_free(struct entry *e)
{
    bytes_free(&e->key);
    bytes_free(&e->value);
    strs_free(&e->members);
    fields_clear(e);
    free(e->fields);
    free(e);
}

void cf_model_destroy(struct cf_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        entry_free(m->entries[i]);
    free(m->entries);
    free(m->slots);
    free(m);
}

/* As apply.c sends them: a negative time or TTL goes out as 0. */
static int64_t non_negative(int64_t x)
{
    return x < 0 ? 0 : x;
}

/* One operation.  Returns 0, or -1 (errstr set). */
static int apply_op(struct cf_model *m, const struct cf_plan *plan, const struct cf_op *op,
                    struct cf_model_result *res)
{
    const char *key = cf_plan_bytes(plan, op->key);
    size_t len = op->key.len;
    int64_t ts = non_negative(op->ts_us), ttl = non_negative(op->ttl_ms);
    const char *a = cf_plan_bytes(plan, op->a);

    switch (op->code) {
    case CF_OP_WARM: { /* lua: if op == 'W' then */
        int rc = warm(m, key, len, op->version, ts, ttl, a, op->a.len, true);
        if (rc < 0)
            return -1;
        if (rc)
            res->applied++;
        else
            res->refused++;
        return 0;
    }
    case CF_OP_WARM_GUARDED: /* lua: elseif op == 'T' then */
        return op_guarded_warm(m, plan, op, key, ts, ttl, res);
    case CF_OP_INVALIDATE: /* lua: elseif op == 'D' then */
        op_invalidate(m, key, len, op->version, ts, res);
        return 0;
    case CF_OP_XINVAL: /* lua: elseif op == 'X' then */
        if (xinval(m, key, len, ts))
            res->applied++;
        else
            res->refused++;
        return 0;
    case CF_OP_TAG: /* lua: elseif op == 'G' then */
        return op_tag(m, key, len, ts, res);
    case CF_OP_INDEX_ADD: /* lua: elseif op == 'A' or op == 'R' then */
    case CF_OP_INDEX_REM:
        return op_index_member(m, op->code, key, len, a, op->a.len, op->version, ttl, res);
    case CF_OP_FANOUT: /* lua: elseif op == 'F' then */
        return op_fanout(m, key, len, ts, a, op->a.len, res);
    case CF_OP_PURGE: /* lua: elseif op == 'P' then */
        return op_purge(m, key, len, a, op->a.len, op->version, res);
    case CF_OP_CATEGORY: /* lua: elseif op == 'C' then */
        return op_category(m, key, len, a, op->a.len, op->version, ts, cf_plan_bytes(plan, op->b),
                           op->b.len, res);
    case CF_OP_MENU: /* lua: elseif op == 'M' then */
        return op_menu(m, key, len, a, op->a.len, ttl, res);
    default:
        if (m->err && m->err_size)
            snprintf(m->err, m->err_size, "ERR cachefleet_apply: unknown operation %c", op->code);
        return -1;
    }
}

int cf_model_apply(struct cf_model *m, const struct cf_plan *plan, size_t first, size_t end,
                   int64_t at_us, struct cf_model_result *res, char *errstr, size_t errstr_size)
{
    struct cf_model_result local = {0, 0};
    if (!res)
        res = &local;
    assert(first <= end && end <= cf_plan_count(plan));
    m->now_us = at_us;
    m->err = errstr;
    m->err_size = errstr_size;
    for (size_t i = first; i < end; i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        if (op->dead)
            continue;
        if (apply_op(m, plan, op, res) < 0) {
            m->err = NULL;
            return -1;
        }
    }
    m->err = NULL;
    return 0;
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

static void describe(const struct entry *e, struct cf_model_key *out)
{
    memset(out, 0, sizeof(*out));
    out->key = e->key.p;
    out->key_len = e->key.n;
    out->type = e->type;
    if (e->type == CF_MODEL_STRING) {
        out->value = e->value.p;
        out->value_len = e->value.n;
        out->ttl_ms = e->ttl_ms;
    }
    out->written_us = e->written_us;
    out->expires_us = e->type == CF_MODEL_ABSENT ? 0 : e->expires_us;
    out->last_us = e->last_us;
    out->nmembers = e->type == CF_MODEL_SET    ? e->members.n
                    : e->type == CF_MODEL_HASH ? e->nfields
                                               : 0;
    out->marker = e->marker;
    out->entry_ = e;
}

size_t cf_model_count(const struct cf_model *m)
{
    return m->n;
}

void cf_model_key_at(const struct cf_model *m, size_t i, struct cf_model_key *out)
{
    assert(i < m->n);
    describe(m->entries[i], out);
}

int cf_model_get(const struct cf_model *m, const char *key, size_t len, struct cf_model_key *out)
{
    const struct entry *e = find(m, key, len);
    if (!e) {
        memset(out, 0, sizeof(*out));
        out->key = key;
        out->key_len = len;
        return -1;
    }
    describe(e, out);
    return 0;
}

const char *cf_model_key_member(const struct cf_model_key *k, size_t i, size_t *len)
{
    const struct entry *e = k->entry_;
    assert(e && e->type == CF_MODEL_SET && i < e->members.n);
    *len = e->members.items[i].n;
    return e->members.items[i].p;
}

void cf_model_key_field(const struct cf_model_key *k, size_t i, const char **name, size_t *name_len,
                        const char **record, size_t *record_len)
{
    const struct entry *e = k->entry_;
    assert(e && e->type == CF_MODEL_HASH && i < e->nfields);
    *name = e->fields[i].name.p;
    *name_len = e->fields[i].name.n;
    *record = e->fields[i].record.p;
    *record_len = e->fields[i].record.n;
}
