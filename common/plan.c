/* plan.c - the cache operations of one batch, and their coalescing.
 *
 * DESIGN
 * Operations are fixed-size structs in one array; their variable bytes
 * (keys, values, members) are appended to one byte arena and referred to by
 * offset, so growing the arena never invalidates an operation.  Both arrays
 * only grow, and are reused by the next batch.
 *
 * Coalescing runs once per batch, after planning, over an open-addressing
 * table (also reused) keyed by the operation's identity: its class and key,
 * plus the member for index operations and the id for category records.
 * Planning appends raw operations and coalescing happens later, so that a
 * rejected event can be rolled back by truncating the arrays.
 */
#include "plan.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t hash;
    uint32_t op;  /* index + 1; 0: empty */
    uint8_t sealed; /* membership changed since: the next F/P starts a new group */
};

struct cf_plan {
    char *prefix;
    size_t prefix_len;

    struct cf_op *ops;
    size_t nops, ops_cap;

    char *bytes;
    size_t nbytes, bytes_cap;

    struct slot *slots;
    size_t slots_cap;   /* a power of two */
};

/* ------------------------------------------------------------------------
 * Memory
 * ------------------------------------------------------------------------ */

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (!q) {
        fprintf(stderr, "cachefleet: out of memory (%zu bytes)\n", size);
        abort();
    }
    return q;
}

static void bytes_reserve(struct cf_plan *plan, size_t more)
{
    if (plan->nbytes + more <= plan->bytes_cap)
        return;
    size_t cap = plan->bytes_cap ? plan->bytes_cap : 4096;
    while (cap < plan->nbytes + more)
        cap *= 2;
    if (cap > UINT32_MAX) {
        fprintf(stderr, "cachefleet: a batch's operations exceed 4 GiB\n");
        abort();
    }
    plan->bytes = xrealloc(plan->bytes, cap);
    plan->bytes_cap = cap;
}

static struct cf_span put(struct cf_plan *plan, const char *s, size_t len)
{
    bytes_reserve(plan, len);
    struct cf_span span = {(uint32_t)plan->nbytes, (uint32_t)len};
    if (len)
        memcpy(plan->bytes + plan->nbytes, s, len);
    plan->nbytes += len;
    return span;
}

/* <prefix><a><b><c> as one span. */
static struct cf_span put_key(struct cf_plan *plan, const char *a, const char *b, const char *c,
                              size_t c_len)
{
    size_t a_len = a ? strlen(a) : 0, b_len = b ? strlen(b) : 0;
    bytes_reserve(plan, plan->prefix_len + a_len + b_len + c_len);
    struct cf_span span = put(plan, plan->prefix, plan->prefix_len);
    put(plan, a, a_len);
    put(plan, b, b_len);
    put(plan, c, c_len);
    span.len = (uint32_t)(plan->nbytes - span.off);
    return span;
}

static struct cf_op *op_new(struct cf_plan *plan, char code)
{
    if (plan->nops == plan->ops_cap) {
        plan->ops_cap = plan->ops_cap ? plan->ops_cap * 2 : 256;
        plan->ops = xrealloc(plan->ops, plan->ops_cap * sizeof(*plan->ops));
    }
    struct cf_op *op = &plan->ops[plan->nops++];
    memset(op, 0, sizeof(*op));
    op->code = code;
    return op;
}

struct cf_plan *cf_plan_new(const char *prefix)
{
    struct cf_plan *plan = xrealloc(NULL, sizeof(*plan));
    memset(plan, 0, sizeof(*plan));
    plan->prefix_len = strlen(prefix);
    plan->prefix = xrealloc(NULL, plan->prefix_len + 1);
    memcpy(plan->prefix, prefix, plan->prefix_len + 1);
    return plan;
}

void cf_plan_destroy(struct cf_plan *plan)
{
    if (!plan)
        return;
    free(plan->prefix);
    free(plan->ops);
    free(plan->bytes);
    free(plan->slots);
    free(plan);
}

void cf_plan_clear(struct cf_plan *plan)
{
    plan->nops = 0;
    plan->nbytes = 0;
}

size_t cf_plan_mark(const struct cf_plan *plan)
{
    return plan->nops;
}

void cf_plan_rollback(struct cf_plan *plan, size_t mark)
{
    assert(mark <= plan->nops);
    if (mark == plan->nops)
        return;
    /* Bytes are appended in operation order: the first dropped operation's
     * key starts where the kept bytes end. */
    plan->nbytes = plan->ops[mark].key.off;
    plan->nops = mark;
}

/* ------------------------------------------------------------------------
 * Appending
 * ------------------------------------------------------------------------ */

void cf_plan_warm(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                  uint64_t version, int64_t ts_us, int64_t ttl_ms, const char *value,
                  size_t value_len)
{
    struct cf_op *op = op_new(plan, CF_OP_WARM);
    op->key = put_key(plan, kind, NULL, id, id_len);
    op->a = put(plan, value, value_len);
    op->version = version;
    op->ts_us = ts_us;
    op->ttl_ms = ttl_ms;
    op->slice = kind;
}

void cf_plan_warm_guarded(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                          uint64_t version, int64_t ts_us, int64_t ttl_ms, const char *value,
                          size_t value_len)
{
    cf_plan_warm(plan, kind, id, id_len, version, ts_us, ttl_ms, value, value_len);
    struct cf_op *op = &plan->ops[plan->nops - 1];
    op->code = CF_OP_WARM_GUARDED;
    op->b.off = (uint32_t)plan->nbytes;
    op->b.len = 0;
}

void cf_plan_guard(struct cf_plan *plan, const char *kind, const char *id, size_t id_len)
{
    assert(plan->nops > 0);
    struct cf_op *op = &plan->ops[plan->nops - 1];
    assert(op->code == CF_OP_WARM_GUARDED && op->b.off + op->b.len == plan->nbytes);
    uint32_t len = (uint32_t)(plan->prefix_len + strlen(kind) + id_len);
    char head[4];
    memcpy(head, &len, 4);
    put(plan, head, 4);
    put_key(plan, kind, NULL, id, id_len);
    op->b.len = (uint32_t)(plan->nbytes - op->b.off);
    op->nguards++;
}

const char *cf_plan_guard_key(const struct cf_plan *plan, const struct cf_op *op, uint32_t i,
                              size_t *len)
{
    const char *p = plan->bytes + op->b.off;
    for (uint32_t j = 0;; j++) {
        uint32_t n;
        memcpy(&n, p, 4);
        if (j == i) {
            *len = n;
            return p + 4;
        }
        p += 4 + n;
    }
}

void cf_plan_invalidate(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                        uint64_t version, int64_t ts_us)
{
    struct cf_op *op = op_new(plan, CF_OP_INVALIDATE);
    op->key = put_key(plan, kind, NULL, id, id_len);
    op->version = version;
    op->ts_us = ts_us;
    op->slice = kind;
}

void cf_plan_xinval(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                    int64_t ts_us)
{
    struct cf_op *op = op_new(plan, CF_OP_XINVAL);
    op->key = put_key(plan, kind, NULL, id, id_len);
    op->ts_us = ts_us;
    op->slice = kind;
}

void cf_plan_tag(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                 int64_t ts_us)
{
    struct cf_op *op = op_new(plan, CF_OP_TAG);
    op->key = put_key(plan, "tag:", kind, id, id_len);
    op->ts_us = ts_us;
    op->slice = kind;
}

void cf_plan_index_add(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                       const char *member, size_t member_len, uint64_t version, int64_t ttl_ms)
{
    assert(member_len > 0); /* "" is the purge's field in {<set>}:m */
    struct cf_op *op = op_new(plan, CF_OP_INDEX_ADD);
    op->key = put_key(plan, kind, NULL, id, id_len);
    op->a = put(plan, member, member_len);
    op->version = version;
    op->ttl_ms = ttl_ms;
    op->slice = kind;
}

void cf_plan_index_remove(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                          const char *member, size_t member_len, uint64_t version)
{
    assert(member_len > 0);
    struct cf_op *op = op_new(plan, CF_OP_INDEX_REM);
    op->key = put_key(plan, kind, NULL, id, id_len);
    op->a = put(plan, member, member_len);
    op->version = version;
    op->slice = kind;
}

void cf_plan_fanout(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                    const char *member_kind, int64_t ts_us)
{
    struct cf_op *op = op_new(plan, CF_OP_FANOUT);
    op->key = put_key(plan, kind, NULL, id, id_len);
    op->a = put_key(plan, member_kind, NULL, NULL, 0);
    op->ts_us = ts_us;
    op->slice = member_kind;
}

void cf_plan_purge(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                   const char *member_kind, uint64_t version)
{
    struct cf_op *op = op_new(plan, CF_OP_PURGE);
    op->key = put_key(plan, kind, NULL, id, id_len);
    op->a = put_key(plan, member_kind, NULL, NULL, 0);
    op->version = version;
    op->slice = member_kind;
}

void cf_plan_category(struct cf_plan *plan, const char *hash_kind, const char *id, size_t id_len,
                      uint64_t version, int64_t ts_us, const char *payload, size_t payload_len)
{
    struct cf_op *op = op_new(plan, CF_OP_CATEGORY);
    op->key = put_key(plan, hash_kind, NULL, NULL, 0);
    op->a = put(plan, id, id_len);
    op->b = put(plan, payload, payload_len);
    op->version = version;
    op->ts_us = ts_us;
    op->slice = hash_kind;
}

void cf_plan_menu(struct cf_plan *plan, const char *kind, const char *name,
                  const char *hash_kind, int64_t ttl_ms)
{
    struct cf_op *op = op_new(plan, CF_OP_MENU);
    op->key = put_key(plan, kind, NULL, name, strlen(name));
    op->a = put_key(plan, hash_kind, NULL, NULL, 0);
    op->ttl_ms = ttl_ms;
    op->slice = kind;
}

/* ------------------------------------------------------------------------
 * Coalescing
 * ------------------------------------------------------------------------ */

char cf_op_class(char code)
{
    switch (code) {
    case CF_OP_WARM:
    case CF_OP_WARM_GUARDED:
    case CF_OP_INVALIDATE:
        return 'V';
    case CF_OP_INDEX_ADD:
    case CF_OP_INDEX_REM:
        return 'S';
    default:
        return code;
    }
}

/* The second part of the identity: the member of an index operation, the
 * id of a category record. */
static struct cf_span op_extra(const struct cf_op *op)
{
    if (op->code == CF_OP_INDEX_ADD || op->code == CF_OP_INDEX_REM || op->code == CF_OP_CATEGORY)
        return op->a;
    struct cf_span none = {0, 0};
    return none;
}

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t identity_hash(const struct cf_plan *plan, char cls, struct cf_span key,
                              struct cf_span extra)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, &cls, 1);
    h = fnv1a(h, plan->bytes + key.off, key.len);
    h = fnv1a(h, "\0", 1);
    h = fnv1a(h, plan->bytes + extra.off, extra.len);
    return h;
}

static bool span_eq(const struct cf_plan *plan, struct cf_span a, struct cf_span b)
{
    return a.len == b.len && memcmp(plan->bytes + a.off, plan->bytes + b.off, a.len) == 0;
}

static bool same_identity(const struct cf_plan *plan, const struct cf_op *a, const struct cf_op *b)
{
    return cf_op_class(a->code) == cf_op_class(b->code) && span_eq(plan, a->key, b->key) &&
           span_eq(plan, op_extra(a), op_extra(b));
}

/* Finds the slot of an identity: the one holding it, or the empty one where
 * it belongs. */
static struct slot *slot_find(struct cf_plan *plan, uint64_t hash, const struct cf_op *op,
                              char cls, struct cf_span key, struct cf_span extra)
{
    size_t mask = plan->slots_cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct slot *s = &plan->slots[i];
        if (!s->op)
            return s;
        if (s->hash != hash)
            continue;
        const struct cf_op *other = &plan->ops[s->op - 1];
        if (op) {
            if (same_identity(plan, other, op))
                return s;
        } else if (cf_op_class(other->code) == cls && span_eq(plan, other->key, key) &&
                   span_eq(plan, op_extra(other), extra)) {
            return s;
        }
    }
}

/* Merges two operations of one identity, prev earlier in the batch than
 * cur.  Returns the survivor; the other is marked dead. */
static struct cf_op *merge(struct cf_op *prev, struct cf_op *cur)
{
    switch (cf_op_class(cur->code)) {
    case 'V':
    case 'S':
        if (prev->version > cur->version)
            *cur = *prev; /* the newer state wins, at the later position */
        break;
    case CF_OP_CATEGORY:
        /* A record stays at its first position: every menu rebuild of the
         * batch survives only as the last one, which must read it. */
        if (cur->version >= prev->version)
            *prev = *cur;
        cur->dead = 1;
        return prev;
    case CF_OP_XINVAL:
    case CF_OP_TAG:
    case CF_OP_FANOUT:
        if (prev->ts_us > cur->ts_us)
            cur->ts_us = prev->ts_us;
        break;
    case CF_OP_PURGE:
        /* The same prefix (mergeable), nothing in between: the newer
         * purge removes every member the older one would. */
        if (prev->version > cur->version)
            cur->version = prev->version;
        break;
    default: /* M: the later one */
        break;
    }
    prev->dead = 1;
    return cur;
}

size_t cf_plan_coalesce(struct cf_plan *plan)
{
    size_t need = 16;
    while (need < plan->nops * 2)
        need *= 2;
    if (need > plan->slots_cap) {
        free(plan->slots);
        plan->slots = xrealloc(NULL, need * sizeof(*plan->slots));
        plan->slots_cap = need;
    }
    memset(plan->slots, 0, plan->slots_cap * sizeof(*plan->slots));

    size_t live = 0;
    struct cf_span none = {0, 0};
    for (size_t i = 0; i < plan->nops; i++) {
        struct cf_op *op = &plan->ops[i];
        op->dead = 0;
        char cls = cf_op_class(op->code);
        uint64_t h = identity_hash(plan, cls, op->key, op_extra(op));
        struct slot *s = slot_find(plan, h, op, 0, none, none);
        live++;
        if (!s->op) {
            s->hash = h;
            s->op = (uint32_t)(i + 1);
        } else {
            struct cf_op *prev = &plan->ops[s->op - 1];
            bool mergeable = !s->sealed &&
                             (op->code != CF_OP_FANOUT || span_eq(plan, prev->a, op->a)) &&
                             (op->code != CF_OP_PURGE || span_eq(plan, prev->a, op->a));
            if (mergeable) {
                struct cf_op *kept = merge(prev, op);
                s->op = (uint32_t)(kept - plan->ops + 1);
                live--;
            } else {
                s->op = (uint32_t)(i + 1);
            }
            s->sealed = 0;
        }
        if (cls == 'S') {
            /* Membership of this set changed: a later F or P must not absorb
             * an earlier one, which ran against the older membership. */
            const char seal[] = {CF_OP_FANOUT, CF_OP_PURGE};
            for (size_t j = 0; j < sizeof(seal); j++) {
                uint64_t sh = identity_hash(plan, seal[j], op->key, none);
                struct slot *ss = slot_find(plan, sh, NULL, seal[j], op->key, none);
                if (ss->op)
                    ss->sealed = 1;
            }
        }
    }
    return live;
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

size_t cf_plan_count(const struct cf_plan *plan)
{
    return plan->nops;
}

const struct cf_op *cf_plan_op(const struct cf_plan *plan, size_t i)
{
    assert(i < plan->nops);
    return &plan->ops[i];
}

const char *cf_plan_bytes(const struct cf_plan *plan, struct cf_span span)
{
    return plan->bytes + span.off;
}

const char *cf_plan_prefix(const struct cf_plan *plan)
{
    return plan->prefix;
}
