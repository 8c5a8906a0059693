/* model.h - the cache the fleet's operations must produce, in memory.
 *
 * What it owns: an in-memory reimplementation of common/functions.lua's
 * cachefleet_apply, over a small key space of its own: per key what Redis
 * would hold there (a string with its TTL, a set, the category hash, or a
 * set's membership hash {<set>}:m of versions), its companion marker
 * {<key>}:v, and a little history (when and by which event time the key
 * last changed) so that the oracle can explain an absence (a TTL that ran
 * out, a Redis restarted empty).  The model is fed
 * the operations of a cf_plan (plan.h), the same operations the consumers
 * send to Redis.
 *
 * What it does not own: Kafka, decoding, planning (the oracle, oracle.h,
 * feeds it), or any Redis connection: it never does I/O.
 *
 * The rules are the Lua's, operation by operation (model.c mirrors
 * functions.lua line by line and says which lines).  Markers are held as
 * numbers: "V W T" as an unsigned 64-bit version and two int64 times, and a
 * set's or tag's marker ("ts", written by F and G) as one int64 time.  The
 * Lua compares the same canonical decimal strings by length and then
 * bytewise, which orders them exactly as the numbers.  As apply.c does,
 * a negative time or TTL in an operation is taken as 0.
 *
 * Time: the model has no clock.  Every cf_model_apply() call gets the time
 * at which its operations happen (the oracle passes the event's
 * occurred_at); a string's TTL is recorded with that time, and a set's or
 * a membership hash's expiry (extend_ttl's PTTL/PEXPIRE, the tombstone TTL
 * a membership hash made by R or P gets, A's PERSIST when its TTL is 0) is
 * computed against it.  Nothing
 * is ever expired inside the model: expiry is the checker's call, which
 * knows the check time.  So markers and membership versions never expire
 * here either (in Redis a tombstone lives cache.tombstone_ttl_s).
 *
 * Membership: A, R and P are versioned by the version of the entity the
 * event is about (functions.lua's header): the model keeps {<set>}:m, the
 * version of each member's last add or remove and of the set's last purge
 * (field ""), refuses an older add, remove or purge, and a purge spares
 * the members added after it.  In the time order the model applies
 * events, a replayed older membership change loses as it does in Redis.
 *
 * Fan-out: F acts on the members a set has when it runs, and invalidates
 * each member's key as X does: deleted, its marker's T raised to the
 * fan-out's time, unless the value was written by an event newer than the
 * fan-out (W > ts), which already reflects it and stays.  In the fleet, a
 * role's fan-out and its members' permissions come from different
 * partitions and may be applied in either order; with this rule a value
 * newer than the fan-out survives it in either order, as in the model's
 * time order, and a guarded warm (T) from before it is gone in either
 * order (refused by the set's marker when the fan-out ran first, deleted
 * by it otherwise).  A guarded warm checks its guards, not the key's own T:
 * permissions computed after the user left a role (not a guard) survive
 * that role's later fan-out in either order (the user is no member when
 * the fan-out runs after; when it runs first and raises T, the warm is
 * still applied).  So a fan-out explains no absence: a value the model
 * holds and Redis lacks is expired, lost before since, or missing
 * (oracle.h).
 *
 * Memory: keys, values and members are copied into the model; lookups go
 * through an open-addressing table; a set's members are a sorted array.
 * Allocation failure aborts, as in plan.c.
 *
 * Thread: a model belongs to the thread that uses it.
 */
#ifndef CF_MODEL_H
#define CF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"

struct cf_model;

/* What Redis holds at a key. */
enum cf_model_type {
    CF_MODEL_ABSENT, /* nothing (a known absence when the key was touched) */
    CF_MODEL_STRING,
    CF_MODEL_SET,
    CF_MODEL_HASH,
};

/* The companion key {<key>}:v. */
enum cf_model_marker_kind {
    CF_MARKER_NONE,
    CF_MARKER_VWT,  /* "V W T": a value key's marker (W, D, X, T, F's members) */
    CF_MARKER_TIME, /* "ts": a set's or a tag's marker (F, G) */
};

struct cf_model_marker {
    enum cf_model_marker_kind kind;
    uint64_t v; /* VWT */
    int64_t w;  /* VWT */
    int64_t t;  /* VWT: T; TIME: the time */
};

/* One key's expected state; the pointers are the model's, valid until the
 * next cf_model_apply() or cf_model_destroy(). */
struct cf_model_key {
    const char *key;
    size_t key_len;
    enum cf_model_type type;
    const char *value; /* STRING: the bytes */
    size_t value_len;
    int64_t ttl_ms;     /* STRING: the TTL it was written with */
    int64_t written_us; /* when the content last changed (a write, a delete, a
                         * membership change): the time given to the apply */
    int64_t expires_us; /* STRING: written_us + ttl; SET, membership HASH: its
                         * expiry; 0: none */
    int64_t last_us;    /* the time of the last operation that addressed the key,
                         * whether or not it changed it */
    size_t nmembers;    /* SET: members; HASH: fields */
    struct cf_model_marker marker;
    const void *entry_; /* private: for cf_model_key_member() and _field() */
};

/* Counts of one apply, as cachefleet_apply returns them. */
struct cf_model_result {
    uint64_t applied;
    uint64_t refused;
};

/* The tombstone TTL a new model assumes: cache.tombstone_ttl_s's default. */
#define CF_MODEL_TOMBSTONE_TTL_MS 3600000

/* A new, empty model (an empty Redis), with the tombstone TTL above.
 * Never returns NULL. */
struct cf_model *cf_model_new(void);

/* The tombstone TTL (apply.c's tombstone_ttl_ms) the Lua gives a
 * membership hash that an R or a P creates. */
void cf_model_set_tombstone_ttl(struct cf_model *m, int64_t tomb_ms);
void cf_model_destroy(struct cf_model *m);

/* Applies the live operations (dead ones, coalesced away, are skipped) of
 * plan[first, end) in order, as one cachefleet_apply call per operation
 * would, at time at_us.  Adds the counts to *res (may be NULL).  Returns 0,
 * or -1 with errstr when an operation is one Redis would fail (a SADD on a
 * string key, a TTL of 0 for SET PX, ...): the operations before it stay
 * applied, as in Redis, and the rest of the range is not applied. */
int cf_model_apply(struct cf_model *m, const struct cf_plan *plan, size_t first, size_t end,
                   int64_t at_us, struct cf_model_result *res, char *errstr, size_t errstr_size);

/* The number of keys ever touched, and key i of them (0 <= i < count;
 * order: first touch). */
size_t cf_model_count(const struct cf_model *m);
void cf_model_key_at(const struct cf_model *m, size_t i, struct cf_model_key *out);

/* The state of key[0..len).  Returns 0, or -1 when no operation ever
 * touched it (out is then an absent key without history). */
int cf_model_get(const struct cf_model *m, const char *key, size_t len, struct cf_model_key *out);

/* Member i (0 <= i < nmembers) of a SET key, in byte order. */
const char *cf_model_key_member(const struct cf_model_key *k, size_t i, size_t *len);

/* Field i (0 <= i < nmembers) of a HASH key, in byte order of the field
 * names: its name and its value as Redis holds it (the category hash:
 * "ver|ts|payload"; a membership hash: a version). */
void cf_model_key_field(const struct cf_model_key *k, size_t i, const char **name, size_t *name_len,
                        const char **record, size_t *record_len);

/* The marker as Redis holds it ("5 100 0", "200"; "" for none), into buf.
 * Returns buf. */
char *cf_model_marker_text(const struct cf_model_marker *mk, char *buf, size_t size);

#endif
