/* apply.h - the apply stage: a batch's operations into Redis, one round trip.
 *
 * What it owns: the connection to Redis (hiredis), authentication, loading
 * the fleet's function library (functions.lua, embedded at build time), and
 * sending the live operations of a plan as pipelined FCALL cachefleet_apply
 * calls, each packing up to ops_per_call operations, then reading back and
 * checking every reply.
 *
 * What it does not own: retrying.  A failed apply drops the connection and
 * returns -1; the runtime decides when to try again (cf_apply_plan()
 * reconnects, and reloads the library, by itself on the next call).
 *
 * Thread: the runtime's thread only.
 */
#ifndef CF_APPLY_H
#define CF_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "plan.h"

struct cf_apply_settings {
    const char *host;          /* used when unix_socket is empty */
    int port;
    const char *unix_socket;   /* path, or "" */
    int db;
    const char *user;          /* "" : AUTH with the password only (or no AUTH) */
    const char *password;      /* "" : no AUTH */
    const char *client_name;   /* CLIENT SETNAME, e.g. "cachefleet-products" */
    int connect_timeout_ms;
    int command_timeout_ms;
    int ops_per_call;          /* operations packed into one FCALL */
    int64_t tombstone_ttl_ms;  /* lifetime of a tombstone marker */
    int64_t max_value_ttl_ms;  /* the longest TTL any operation uses */
    int load_functions;        /* 1: FUNCTION LOAD REPLACE on connect; 0: only check that
                                * the library in Redis is exactly this program's */
};

struct cf_apply_result {
    uint64_t ops;          /* live operations sent */
    uint64_t calls;        /* FCALLs sent */
    uint64_t applied;      /* operations that changed Redis */
    uint64_t refused;      /* operations that lost to a newer state in Redis */
    uint64_t denied;       /* web-tier keys the ACL did not let the fleet delete */
    int64_t round_trip_us; /* first byte sent to last reply read */
};

struct cf_apply;

/* Copies the settings.  Does not connect.  Never returns NULL. */
struct cf_apply *cf_apply_new(const struct cf_apply_settings *settings, struct cf_log *lg);
void cf_apply_destroy(struct cf_apply *ap);

/* Connects if not connected: connect, AUTH, SELECT, CLIENT SETNAME, then
 * FUNCTION LOAD REPLACE, or (load_functions 0) FUNCTION LIST ... WITHCODE
 * to check the library an operator loaded is this program's.  Returns 0,
 * or -1 (cf_apply_error() tells why). */
int cf_apply_connect(struct cf_apply *ap);

/* True while a connection with the library loaded is held. */
int cf_apply_connected(const struct cf_apply *ap);

/* Drops the connection (the next call reconnects). */
void cf_apply_disconnect(struct cf_apply *ap);

/* Applies the live operations of plan (coalesced by the caller) in one
 * pipelined round trip.  Connects first if needed.  Returns 0 when Redis
 * acknowledged every call; -1 otherwise, with the connection dropped and
 * the reason in cf_apply_error().  Operations are idempotent, so applying
 * the same plan again after a failure is correct. */
int cf_apply_plan(struct cf_apply *ap, const struct cf_plan *plan, struct cf_apply_result *res);

/* The same in two halves, so that the caller can work while Redis runs
 * the batch: cf_apply_send() formats the plan's live operations and writes
 * them all (the plan may change or go once it returns); cf_apply_receive()
 * reads and checks the replies (round_trip_us: from the send to the last
 * reply read, so it includes the caller's work in between).  One batch in
 * flight at a time; cf_apply_exists() and cf_apply_mark() must not be
 * called while one is (they abort).  Either returns -1 with the connection
 * dropped and the reason in cf_apply_error(); a batch whose send or
 * receive failed must be applied again. */
int cf_apply_send(struct cf_apply *ap, const struct cf_plan *plan);
int cf_apply_receive(struct cf_apply *ap, struct cf_apply_result *res);

/* True between a cf_apply_send() and its cf_apply_receive() (false once
 * the connection is dropped). */
int cf_apply_in_flight(const struct cf_apply *ap);

/* Incremented by every new connection: what was checked on an earlier
 * connection (see the runtime's epochs) must be checked again. */
uint64_t cf_apply_generation(const struct cf_apply *ap);

/* exists[i] = 1 when keys[i] exists (one MGET).  Connects if needed.
 * Returns 0, or -1 with the connection dropped. */
int cf_apply_exists(struct cf_apply *ap, const char *const *keys, size_t n, int *exists);

/* SET keys[i] "1" without expiry, for every i (one pipelined round trip).
 * Returns 0, or -1 with the connection dropped. */
int cf_apply_mark(struct cf_apply *ap, const char *const *keys, size_t n);

/* The last error, "" when none.  Valid until the next call. */
const char *cf_apply_error(const struct cf_apply *ap);

/* The Redis function library's source (functions.lua). */
extern const char cf_functions_lua[];
extern const size_t cf_functions_lua_len;

#endif
