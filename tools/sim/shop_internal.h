/* shop_internal.h - what the parts of the shop model say to each other.
 * Not a public header: only the model's files (shop.c, shop_names.c,
 * shop_stock.c, shop_carts.c, shop_access.c) include it.
 *
 * What it owns: the contracts between the catalog and the core of the
 * model (shop.c) and the three modules of the other topics - stock
 * (shop_stock.c: SKUs and on-hand quantities, shop.stock), carts
 * (shop_carts.c: carts and the orders placed from them, shop.carts and
 * shop.orders) and access (shop_access.c: users, roles, sessions,
 * shop.access).  What it does not: any state; each module keeps its own
 * behind an opaque struct.
 *
 * DESIGN
 * shop.c owns struct shop: the catalog, the event being built, the queue
 * of steps, the topic mix, the initial sync and shop_next().  A module
 * never touches another module's state: it asks through the functions
 * below (carts ask stock whether a SKU has stock and access whether a user
 * is online; access asks carts for a visitor's cart to merge at a login).
 * Each module draws its decisions from its own generator, seeded from the
 * shop's seed and a stream number of its own, and event ids from the
 * topic's own id stream (shop_event_start()), so one topic's decisions do
 * not shift when another topic is added, and the initial sync (which draws
 * ids only) changes no decision.
 *
 * Every "activity" function plays one change of its topic and emits its
 * first event into the shop's event (shop_event_start()); further events
 * of the same change are pushed as steps (shop_step_push()), which
 * shop_next() plays before anything else.  They return 1 when an event was
 * emitted, 0 when nothing could change (each has fallbacks, so only a shop
 * with nothing to sell gets there) and -1 when out of memory.  The event
 * emitted may be of another topic than the activity's: a checkout that
 * first has to fix its cart emits a cart event.
 *
 * Thread: the thread of the struct shop.
 */
#ifndef CF_SIM_SHOP_INTERNAL_H
#define CF_SIM_SHOP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "shop.h"

#define SHOP_NO_SKU UINT32_MAX

struct shop_stock;
struct shop_carts;
struct shop_access;

/* Generator streams (sim_rng_seed's stream argument).  1 and 2 are the
 * catalog's decisions and ids, as they were before the other topics. */
enum shop_stream {
    SHOP_STREAM_CATALOG = 1,
    SHOP_STREAM_PRODUCT_IDS = 2,
    SHOP_STREAM_MIX = 3,
    SHOP_STREAM_CARTS = 4,
    SHOP_STREAM_ACCESS = 5,
    SHOP_STREAM_STOCK = 6,
    SHOP_STREAM_TOPIC_IDS = 10, /* + topic, for every topic but products */
};

/* ------------------------------------------------------------------------
 * shop.c: the event, steps, topics
 * ------------------------------------------------------------------------ */

/* Starts the shop's event: clears it, sets its topic (from type), type,
 * change, version, occurred_at, the initial flag and a new event id from
 * the topic's id stream.  The caller fills the key and the type's members.
 * Returns the event (owned by the shop). */
struct shop_event *shop_event_start(struct shop *shop, enum shop_event_type type,
                                    enum shop_change change, int64_t version, int64_t now_us);

/* Hands a text the event points to (a cart's JSON) to the shop, which
 * frees it before the next event.  Takes ownership of text (NULL: none). */
void shop_event_keep_text(struct shop *shop, char *text);

/* Is topic handed out by shop_next()?  Is it run at all? */
bool shop_topic_emitted(const struct shop *shop, enum shop_topic topic);
bool shop_topic_running(const struct shop *shop, enum shop_topic topic);

enum shop_step_kind {
    SHOP_STEP_CART_MERGE,     /* a: the visitor's cart id, b: the user who logged in */
    SHOP_STEP_STOCK_PURCHASE, /* a: sku index, b: quantity bought */
    SHOP_STEP_STOCK_RESTOCK,  /* a: sku index, b: quantity delivered */
};

/* Queues a step, played by shop_next() before any new change.
 * Returns 0, or -1 when out of memory. */
int shop_step_push(struct shop *shop, enum shop_step_kind kind, uint32_t a, uint32_t b);

/* The modules (NULL when the topic does not run). */
struct shop_stock *shop_get_stock(struct shop *shop);
struct shop_carts *shop_get_carts(struct shop *shop);
struct shop_access *shop_get_access(struct shop *shop);

/* ------------------------------------------------------------------------
 * shop.c: the catalog, read by the other modules
 * ------------------------------------------------------------------------ */

/* A live, published product, favouring a popular few (half the picks go
 * to the first 2 % of the live list, at least 8 products), drawn with rng;
 * 0 when there is none. */
uint32_t shop_catalog_pick(struct shop *shop, struct sim_rng *rng);

/* Can product id be put in a cart or ordered (it exists, is live and
 * published)?  id 0 or out of range is not. */
bool shop_catalog_sellable(const struct shop *shop, uint32_t id);

/* The product's display name and current price in cents. */
void shop_catalog_name(const struct shop *shop, uint32_t id, char *out, size_t size);
int64_t shop_catalog_price(const struct shop *shop, uint32_t id);

/* The shop's ISO 4217 currency (static string). */
const char *shop_catalog_currency(const struct shop *shop);

/* ------------------------------------------------------------------------
 * shop_names.c: text formats
 * ------------------------------------------------------------------------ */

/* Writes a decimal amount of cents >= 0 ("129.90") into out. */
void shop_money_text(int64_t cents, char *out, size_t size);

/* Writes an ISO 8601 UTC time with microseconds into out (48 bytes do). */
void shop_time_text(int64_t us, char *out, size_t size);

/* ------------------------------------------------------------------------
 * shop_stock.c: SKUs and on-hand quantities (shop.stock)
 * ------------------------------------------------------------------------ */

/* A new stock for the products the shop has so far (shop_stock_product_added
 * is called for each) - 1 to 3 SKUs per product, quantities drawn from
 * seed's stock stream.  Returns NULL when out of memory. */
struct shop_stock *shop_stock_new(uint64_t seed);
void shop_stock_destroy(struct shop_stock *stock);

/* Product id (the next id of the catalog) was created, in stock or not.
 * When announce is true (the stock topic runs and the product came after
 * the start), its SKUs start at 0 and the first delivery is queued as
 * RESTOCK steps on shop; otherwise the quantities are set silently (the
 * initial catalog, which the sync publishes).  Returns 0, or -1 when out
 * of memory. */
int shop_stock_product_added(struct shop_stock *stock, struct shop *shop, uint32_t id,
                             bool in_stock, bool announce);

/* Product id was deleted: its SKUs never move again. */
void shop_stock_product_deleted(struct shop_stock *stock, uint32_t id);

/* Has one of the product's SKUs stock (on_hand > 0)? */
bool shop_stock_product_in_stock(const struct shop_stock *stock, uint32_t id);

/* A SKU of product id with on_hand > 0, chosen with rng; SHOP_NO_SKU when
 * there is none. */
uint32_t shop_stock_pick_sku(const struct shop_stock *stock, struct sim_rng *rng, uint32_t id);

int64_t shop_stock_on_hand(const struct shop_stock *stock, uint32_t sku);

/* The SKU's name ("SKU-42-2") into out (SHOP_KEY_SIZE bytes do). */
void shop_stock_sku_name(const struct shop_stock *stock, uint32_t sku, char *out, size_t size);

/* SKUs, and SKUs of live products that are sold out (on_hand == 0). */
uint32_t shop_stock_skus(const struct shop_stock *stock);
uint32_t shop_stock_sold_out(const struct shop_stock *stock);

/* Emits the sync event of SKU sku (an ADJUSTMENT from 0, version 1). */
void shop_stock_emit_sync(struct shop_stock *stock, struct shop *shop, uint32_t sku,
                          int64_t now_us);

/* Plays one stock change: a restock, a return or an adjustment. */
int shop_stock_change(struct shop_stock *stock, struct shop *shop, int64_t now_us);

/* Plays a queued movement (SHOP_STEP_STOCK_PURCHASE or _RESTOCK). */
int shop_stock_step(struct shop_stock *stock, struct shop *shop, enum shop_step_kind kind,
                    uint32_t sku, uint32_t quantity, int64_t now_us);

/* ------------------------------------------------------------------------
 * shop_carts.c: carts (shop.carts) and orders (shop.orders)
 * ------------------------------------------------------------------------ */

struct shop_carts *shop_carts_new(uint64_t seed, uint32_t users);
void shop_carts_destroy(struct shop_carts *carts);

/* Plays one cart change. */
int shop_carts_change(struct shop_carts *carts, struct shop *shop, int64_t now_us);

/* Plays one checkout: OrderCompleted and the purchases as steps; or, when
 * the cart chosen holds a line that cannot be sold as it is, the fix of
 * that line (a cart event). */
int shop_carts_checkout(struct shop_carts *carts, struct shop *shop, int64_t now_us);

/* An anonymous cart holding a sellable line, chosen with rng, to merge at
 * a login: its id, or 0 when there is none. */
uint32_t shop_carts_pick_visitor(struct shop_carts *carts, struct shop *shop, struct sim_rng *rng);

/* Plays SHOP_STEP_CART_MERGE: cart source_id into the cart of user. */
int shop_carts_merge(struct shop_carts *carts, struct shop *shop, uint32_t source_id, uint32_t user,
                     int64_t now_us);

uint32_t shop_carts_live(const struct shop_carts *carts);

/* ------------------------------------------------------------------------
 * shop_access.c: users, roles, sessions (shop.access)
 * ------------------------------------------------------------------------ */

struct shop_access *shop_access_new(uint64_t seed, uint32_t users);
void shop_access_destroy(struct shop_access *access);

/* Events of the initial sync: one per role, then one per user. */
uint32_t shop_access_sync_count(const struct shop_access *access);
void shop_access_emit_sync(struct shop_access *access, struct shop *shop, uint32_t i,
                           int64_t now_us);

/* Plays one access change (a login may queue the merge of a cart). */
int shop_access_change(struct shop_access *access, struct shop *shop, int64_t now_us);

/* A user with a live session, chosen with rng; 0 when nobody is. */
uint32_t shop_access_pick_online(const struct shop_access *access, struct sim_rng *rng);

/* Has user a live session (and so is active)? */
bool shop_access_online(const struct shop_access *access, uint32_t user);

uint32_t shop_access_users(const struct shop_access *access);

#endif
