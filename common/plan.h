/* plan.h - the cache operations of one batch, and their coalescing.
 *
 * What it owns: the vocabulary between the planners (consumers/<name>/,
 * pure) and the apply stage (apply.c, Redis).  A planner turns one decoded
 * event into a few operations appended here; the runtime collects the
 * operations of a whole batch, coalesces them, and apply.c sends what is
 * left to Redis in one round trip.  Every operation maps one to one onto an
 * operation of the Redis function library (functions.lua, whose header
 * states the rules each one follows).
 *
 * What it does not own: key naming policy (the planners choose the kinds,
 * e.g. "product:"), validation of ids (keys.h), or any I/O.
 *
 * Keys: every key is <prefix><kind><id>, e.g. ":1:" "product:" "42".  The
 * prefix is django-redis's (":1:" by default), so the web tier reads
 * ":1:product:42" as cache.get("product:42").
 *
 * Memory: operations and their bytes live in arrays owned by the plan,
 * reused from batch to batch (cf_plan_clear keeps the capacity), so a
 * planner appending operations allocates nothing once the plan has grown
 * to the batch's size.  Allocation failure aborts the program: a consumer
 * that cannot hold one batch cannot do anything useful.
 *
 * Thread: a plan belongs to the thread that fills it.
 */
#ifndef CF_PLAN_H
#define CF_PLAN_H

#include <stddef.h>
#include <stdint.h>

/* The codes are the operation letters of functions.lua. */
enum cf_op_code {
    CF_OP_WARM = 'W',       /* versioned set with TTL */
    CF_OP_WARM_GUARDED = 'T', /* W, refused when a guard set changed after the event
                               * (checks the guards instead of the marker's T) */
    CF_OP_INVALIDATE = 'D', /* versioned delete, leaves a tombstone */
    CF_OP_XINVAL = 'X',     /* delete caused by another entity, ordered by time */
    CF_OP_TAG = 'G',        /* delete every key registered under a tag, and the tag */
    CF_OP_INDEX_ADD = 'A',  /* add a member to an index set (versioned) */
    CF_OP_INDEX_REM = 'R',  /* remove a member from an index set (versioned) */
    CF_OP_FANOUT = 'F',     /* invalidate <prefix><kind><member> for every member of a set
                             * (as X), and record the time in the set's marker (for T) */
    CF_OP_PURGE = 'P',      /* delete <prefix><kind><member> for every member not added
                             * after the purge, and remove it (versioned) */
    CF_OP_CATEGORY = 'C',   /* versioned record in the category hash */
    CF_OP_MENU = 'M',       /* rebuild a menu from the category hash */
};

/* Bytes of an operation: an offset and length into the plan's byte arena. */
struct cf_span {
    uint32_t off;
    uint32_t len;
};

struct cf_op {
    char code;            /* enum cf_op_code */
    uint8_t dead;         /* set by coalescing: superseded, not sent */
    struct cf_span key;   /* the full key, prefix included */
    struct cf_span a;     /* W: value; A/R: member; F/P: the member key prefix;
                           * C: category id; M: the category hash key */
    struct cf_span b;     /* C: the record payload ("" for a deleted category);
                           * T: the guard keys, each a 4-byte length then the bytes */
    uint32_t nguards;     /* T: how many guard keys b holds */
    uint64_t version;     /* W, T, D, C; A, R, P: of the entity the event is about */
    int64_t ts_us;        /* W, D, X, G, F, C: when the change happened upstream */
    int64_t ttl_ms;       /* W, A (0: no expiry), M */
    const char *slice;    /* the kind the operation touches ("product:"; F, P: the members'
                           * kind; G: the tagged kind), for the per-slice counters;
                           * borrowed from the planner: a literal or a setting */
};

struct cf_plan;

/* Creates an empty plan whose keys start with prefix (copied).  Never
 * returns NULL (aborts when out of memory). */
struct cf_plan *cf_plan_new(const char *prefix);
void cf_plan_destroy(struct cf_plan *plan);

/* Empties the plan, keeping its capacity. */
void cf_plan_clear(struct cf_plan *plan);

/* Marks the current end of the plan; cf_plan_rollback() drops every
 * operation appended after the mark (a planner that rejects an event
 * half-way leaves nothing behind: the runtime rolls back to the mark it took
 * before calling the planner). */
size_t cf_plan_mark(const struct cf_plan *plan);
void cf_plan_rollback(struct cf_plan *plan, size_t mark);

/* --- Appending (planners) ------------------------------------------------
 * kind is a literal such as "product:"; id is a validated key part. */

void cf_plan_warm(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                  uint64_t version, int64_t ts_us, int64_t ttl_ms, const char *value,
                  size_t value_len);
/* A guarded warm: like cf_plan_warm(), and refused (the key invalidated
 * instead) if any guard set, added with cf_plan_guard() right after, was
 * fanned out after ts_us.  Used for a value derived from sets the entity
 * belongs to: a user's permissions, guarded by the roles the user holds
 * after the event.  Unlike cf_plan_warm(), the key's own cross-entity
 * time (raised by fan-outs) is not checked: it may come from a set the
 * entity has left, and the guards are the sets that matter. */
void cf_plan_warm_guarded(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                          uint64_t version, int64_t ts_us, int64_t ttl_ms, const char *value,
                          size_t value_len);
/* Adds the guard set <prefix><kind><id> to the guarded warm appended last. */
void cf_plan_guard(struct cf_plan *plan, const char *kind, const char *id, size_t id_len);
/* Guard key i of a guarded warm (into *len). */
const char *cf_plan_guard_key(const struct cf_plan *plan, const struct cf_op *op, uint32_t i,
                              size_t *len);
void cf_plan_invalidate(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                        uint64_t version, int64_t ts_us);
void cf_plan_xinval(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                    int64_t ts_us);
/* Tag key: <prefix>tag:<kind><id>, e.g. ":1:tag:category:7". */
void cf_plan_tag(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                 int64_t ts_us);
/* Index sets <prefix><kind><id> (a role's members, a user's sessions).
 * Membership is versioned (functions.lua: the hash {<set>}:m records the
 * version of each member's last add or remove, and of the set's last
 * purge): an add or a remove at version is refused when the member was
 * added or removed, or the set purged, at a newer version.  version is
 * that of the entity the event is about (for access, the user's: every
 * event of a user shares its sequence).  member is not empty (the empty
 * field holds the purge's version); ttl_ms 0: no expiry, else the set's
 * TTL is extended to at least ttl_ms. */
void cf_plan_index_add(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                       const char *member, size_t member_len, uint64_t version, int64_t ttl_ms);
void cf_plan_index_remove(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                          const char *member, size_t member_len, uint64_t version);
/* For every member m of the set <prefix><kind><id>: invalidate
 * <prefix><member_kind>m at ts_us, as cf_plan_xinval does (a value written
 * by an event newer than ts_us stays); the set's marker records ts_us, so
 * a guarded warm of a member's key carrying an older time is refused even
 * if the member joined the set after. */
void cf_plan_fanout(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                    const char *member_kind, int64_t ts_us);
/* For every member m of the set <prefix><kind><id> that was not added at a
 * version newer than version: delete <prefix><member_kind>m and remove m
 * (the set goes when it ends up empty).  Refused as a whole when the set
 * was purged at a newer version; versions as for cf_plan_index_add(). */
void cf_plan_purge(struct cf_plan *plan, const char *kind, const char *id, size_t id_len,
                   const char *member_kind, uint64_t version);
/* The record of category id in the hash <prefix><hash_kind>. */
void cf_plan_category(struct cf_plan *plan, const char *hash_kind, const char *id, size_t id_len,
                      uint64_t version, int64_t ts_us, const char *payload, size_t payload_len);
/* Rebuilds <prefix><kind><name> from the hash <prefix><hash_kind>. */
void cf_plan_menu(struct cf_plan *plan, const char *kind, const char *name,
                  const char *hash_kind, int64_t ttl_ms);

/* --- Coalescing (runtime) --------------------------------------------------
 * Marks superseded operations dead, so several updates of one key in one
 * batch cost one write:
 *   W/T/D on one key: the highest version wins (the later one on a tie);
 *   X on one key, G on one tag: one, with the latest time;
 *   A/R of one member of one set: the highest version wins (the later
 *     one on a tie);
 *   F or P of one set: one, unless an A/R on that set came in between
 *     (membership changed, so the earlier run must stay); F keeps the
 *     latest time, P the highest version;
 *   C of one category: the highest version; M of one menu: one.
 * The survivor takes the position of the last occurrence, so it still runs
 * after the operations it followed; except a category record, which keeps
 * its first position, so that the one surviving menu rebuild (the last)
 * runs after every record of the batch.
 * Returns the number of live operations. */
size_t cf_plan_coalesce(struct cf_plan *plan);

/* The coalescing class of an operation code: operations of one class and
 * identity supersede each other ('V' for W, T and D; 'S' for A and R; the
 * code itself for the others). */
char cf_op_class(char code);

/* --- Reading (apply.c, tests) --------------------------------------------- */

size_t cf_plan_count(const struct cf_plan *plan);           /* appended, dead included */
const struct cf_op *cf_plan_op(const struct cf_plan *plan, size_t i);
const char *cf_plan_bytes(const struct cf_plan *plan, struct cf_span span);
const char *cf_plan_prefix(const struct cf_plan *plan);

#endif
