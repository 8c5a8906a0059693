/* shop.h - the simulated shop: its state and the events that describe every
 * change to it, on the five topics of the fleet.
 *
 * What it owns: one coherent shop held in memory - a category tree and a
 * product catalog (shop.c), the SKUs of the products and their on-hand
 * quantities (shop_stock.c), visitors' and users' carts and the orders
 * placed from them (shop_carts.c), users, roles and sessions
 * (shop_access.c) - the choice of what happens next (the topic mix in
 * shop.c, each topic's own mix in its module), and one event per change
 * carrying the entity's state before and after.  What it does not: Avro,
 * Kafka, clocks or pacing.  The caller passes the wall-clock time of each
 * event in, so the model is a pure function of its seed, its settings and
 * the times it is given: the same seed and the same times give the same
 * events, byte for byte.
 *
 * DESIGN
 * Entities of the catalog live in arrays indexed by id - 1; ids are plain
 * decimal numbers, like Django primary keys, separately for products,
 * categories, carts, orders and users, and are never reused (a deleted
 * product that comes back gets a new id).  SKUs are "SKU-<product>-<n>",
 * roles are named ("customer", "staff", ...).  Every entity has a version
 * that starts at 1 and grows by exactly 1 per event about it; the initial
 * sync publishes version 1 of everything it covers, so an entity's first
 * change is version 2 whether the sync was published or skipped.  Entities
 * born later (a new product, cart, user, a new product's SKU) start at 1.
 *
 * shop_next() returns one event at a time.  A change that touches several
 * entities (deleting a category first moves its products and its children;
 * a checkout is an order and one stock movement per line; a login may be
 * followed by the merge of the visitor's cart) is planned as a queue of
 * steps, and each step is applied to the state only when its event is
 * taken: the events handed out always describe the state exactly, even
 * when the caller stops in the middle of such a cascade.
 *
 * Topics: config.topics names the topics whose events shop_next() hands
 * out.  The shop also runs, without handing their events out, what those
 * topics depend on (stock moves with orders, orders come from carts, carts
 * are merged at logins), so a subset of topics is the same coherent shop
 * seen through fewer topics.  With products alone nothing else runs and
 * the stream is exactly the one of the products-only simulator.
 *
 * Lists in a product event: categories are a product's category ids in
 * ascending order; search terms are the normalised words of its name plus
 * its normalised brand, sorted and without duplicates (words.h).  Before
 * and after lists are the model's real state around the change; an
 * unpublished product keeps its categories and terms (its representation
 * is null).
 *
 * Thread: one thread per struct shop.
 */
#ifndef CF_SIM_SHOP_H
#define CF_SIM_SHOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

#define SHOP_MAX_PRODUCT_CATEGORIES 3
#define SHOP_MAX_TERMS              8
#define SHOP_TERM_SIZE              32 /* one search term, NUL included */
#define SHOP_ID_SIZE                12 /* a decimal uint32 and its NUL */
#define SHOP_KEY_SIZE               32 /* any entity id (SKUs and role ids too), NUL included */
#define SHOP_TEXT_SIZE              96 /* names and slugs, NUL included */
#define SHOP_MAX_ROLES              8  /* roles in one list */
#define SHOP_MAX_PERMISSIONS        64 /* permission codenames in one list */
#define SHOP_SESSION_KEY_LEN        32 /* Django's session keys: [a-z0-9]{32} */
#define SHOP_MONEY_SIZE             24 /* a decimal amount "129.90" and its NUL */
#define SHOP_DEFAULT_USERS          2000

/* The fleet's topics, in the order of the flags and the summary. */
enum shop_topic {
    SHOP_TOPIC_PRODUCTS,
    SHOP_TOPIC_CARTS,
    SHOP_TOPIC_ORDERS,
    SHOP_TOPIC_ACCESS,
    SHOP_TOPIC_STOCK,
    SHOP_TOPIC_COUNT
};

#define SHOP_TOPIC_BIT(t) (1u << (unsigned)(t))
#define SHOP_TOPICS_ALL   ((1u << SHOP_TOPIC_COUNT) - 1u)

enum shop_event_type {
    /* shop.products */
    SHOP_PRODUCT_UPSERTED,
    SHOP_PRODUCT_DELETED,
    SHOP_PRODUCT_RELATED_CHANGED,
    SHOP_CATEGORY_UPSERTED,
    SHOP_CATEGORY_DELETED,
    /* shop.carts */
    SHOP_CART_UPDATED,
    SHOP_CART_DELETED,
    SHOP_CART_MERGED,
    /* shop.orders */
    SHOP_ORDER_COMPLETED,
    /* shop.access */
    SHOP_USER_ROLES_CHANGED,
    SHOP_ROLE_PERMISSIONS_CHANGED,
    SHOP_USER_LOGGED_IN,
    SHOP_USER_LOGGED_OUT,
    SHOP_USER_LOGGED_OUT_EVERYWHERE,
    SHOP_USER_PASSWORD_CHANGED,
    SHOP_USER_DEACTIVATED,
    /* shop.stock */
    SHOP_STOCK_MOVED,
    SHOP_EVENT_TYPE_COUNT
};

/* Why an event was produced (for statistics and tests). */
enum shop_change {
    SHOP_CHANGE_SYNC_CATEGORY, /* initial sync */
    SHOP_CHANGE_SYNC_PRODUCT,  /* initial sync */
    SHOP_CHANGE_PRICE,
    SHOP_CHANGE_IMAGE,
    SHOP_CHANGE_NAME,
    SHOP_CHANGE_PRODUCT_MOVE,
    SHOP_CHANGE_PRODUCT_CREATE,
    SHOP_CHANGE_PRODUCT_DELETE,
    SHOP_CHANGE_UNPUBLISH,
    SHOP_CHANGE_REPUBLISH,
    SHOP_CHANGE_CATEGORY_REORDER,
    SHOP_CHANGE_CATEGORY_RENAME,
    SHOP_CHANGE_CATEGORY_CREATE,
    SHOP_CHANGE_CATEGORY_MOVE,
    SHOP_CHANGE_CATEGORY_VISIBILITY,
    SHOP_CHANGE_CATEGORY_DELETE,
    SHOP_CHANGE_CASCADE_PRODUCT,  /* a product moved off a category being deleted */
    SHOP_CHANGE_CASCADE_CATEGORY, /* a child moved up from a category being deleted */
    /* shop.carts */
    SHOP_CHANGE_CART_CREATE,   /* CartUpdated CREATED: a new cart with its first item */
    SHOP_CHANGE_CART_ADD,      /* CartUpdated ITEM_ADDED */
    SHOP_CHANGE_CART_REMOVE,   /* CartUpdated ITEM_REMOVED by the shopper */
    SHOP_CHANGE_CART_QUANTITY, /* CartUpdated QUANTITY_CHANGED by the shopper */
    SHOP_CHANGE_CART_FIX,      /* CartUpdated: a line of a product gone from the catalog
                                  removed, or a quantity cut to the stock at checkout */
    SHOP_CHANGE_CART_EMPTIED,  /* CartDeleted: its last item removed */
    SHOP_CHANGE_CART_ABANDON,  /* CartDeleted: abandoned and purged */
    SHOP_CHANGE_CART_MERGE,    /* CartMerged at a login */
    /* shop.orders */
    SHOP_CHANGE_CHECKOUT, /* OrderCompleted */
    /* shop.access */
    SHOP_CHANGE_SYNC_ROLE, /* initial sync: RolePermissionsChanged */
    SHOP_CHANGE_SYNC_USER, /* initial sync: UserRolesChanged from no roles */
    SHOP_CHANGE_SIGNUP,    /* UserRolesChanged of a new user, from no roles */
    SHOP_CHANGE_ROLE_GRANT,
    SHOP_CHANGE_ROLE_REVOKE,
    SHOP_CHANGE_ROLE_PERMISSIONS,
    SHOP_CHANGE_LOGIN,
    SHOP_CHANGE_LOGOUT,
    SHOP_CHANGE_LOGOUT_EVERYWHERE,
    SHOP_CHANGE_PASSWORD,
    SHOP_CHANGE_DEACTIVATE,
    /* shop.stock */
    SHOP_CHANGE_SYNC_STOCK, /* initial sync: ADJUSTMENT from 0 */
    SHOP_CHANGE_PURCHASE,   /* PURCHASE, one per line of an order */
    SHOP_CHANGE_RESTOCK,    /* RESTOCK, a delivery (also a new product's first one) */
    SHOP_CHANGE_RETURN,     /* RETURN of part of a recent purchase */
    SHOP_CHANGE_ADJUSTMENT, /* ADJUSTMENT after a count, or goods written off */
    SHOP_CHANGE_COUNT
};

/* The CartChange symbols of schemas/carts.avsc. */
enum shop_cart_change {
    SHOP_CART_CREATED,
    SHOP_CART_ITEM_ADDED,
    SHOP_CART_ITEM_REMOVED,
    SHOP_CART_QUANTITY_CHANGED,
    SHOP_CART_OTHER,
};

/* The MovementKind symbols of schemas/stock.avsc. */
enum shop_movement {
    SHOP_MOVEMENT_PURCHASE,
    SHOP_MOVEMENT_RESTOCK,
    SHOP_MOVEMENT_RETURN,
    SHOP_MOVEMENT_ADJUSTMENT,
    SHOP_MOVEMENT_OTHER,
};

struct shop_id_list {
    uint32_t count;
    char ids[SHOP_MAX_PRODUCT_CATEGORIES][SHOP_ID_SIZE];
};

struct shop_term_list {
    uint32_t count;
    char terms[SHOP_MAX_TERMS][SHOP_TERM_SIZE];
};

/* Role ids or permission codenames: static strings. */
struct shop_name_list {
    uint32_t count;
    const char *names[SHOP_MAX_PERMISSIONS];
};

/* One event.  Which members are meaningful depends on type (key is always
 * the Kafka key, the id of the entity the event is about):
 *   PRODUCT_UPSERTED        key = product_id, categories_*, terms_*, representation
 *   PRODUCT_DELETED         key = product_id, categories_before, terms_before
 *   PRODUCT_RELATED_CHANGED key = product_id, related_model, related_id
 *   CATEGORY_UPSERTED       key = category_id, has_parent, parent_id, name, slug,
 *                           position, visible
 *   CATEGORY_DELETED        key = category_id
 *   CART_UPDATED            key = cart_id, has_user, user_id, cart_change, cart
 *   CART_DELETED            key = cart_id
 *   CART_MERGED             key = the target cart, source_cart_id, has_user,
 *                           user_id, cart (the merged target)
 *   ORDER_COMPLETED         key = order_id, cart_id, has_user, user_id, total,
 *                           currency
 *   USER_ROLES_CHANGED      key = user_id, roles_before, roles_after,
 *                           has_permissions, permissions
 *   ROLE_PERMISSIONS_CHANGED key = role_id, permissions (has_permissions true)
 *   USER_LOGGED_IN/OUT      key = user_id, session_key
 *   USER_LOGGED_OUT_EVERYWHERE, USER_PASSWORD_CHANGED, USER_DEACTIVATED
 *                           key = user_id
 *   STOCK_MOVED             key = sku, product_id, movement, quantity_delta,
 *                           on_hand (after the movement)
 * Unused lists are empty, unused strings are "" and unused pointers NULL. */
struct shop_event {
    enum shop_topic topic;
    enum shop_event_type type;
    enum shop_change change;
    bool initial; /* part of the initial sync */
    char event_id[SIM_UUID_LEN + 1];
    int64_t version;
    int64_t occurred_at; /* microseconds since the epoch, as given to shop_next() */
    char key[SHOP_KEY_SIZE];

    /* shop.products */
    struct shop_id_list categories_before;
    struct shop_id_list categories_after;
    struct shop_term_list terms_before;
    struct shop_term_list terms_after;
    const char *representation; /* UTF-8 JSON, or NULL for null; owned by the shop */
    size_t representation_len;

    const char *related_model; /* static string */
    char related_id[SHOP_ID_SIZE];

    bool has_parent;
    char parent_id[SHOP_ID_SIZE];
    char name[SHOP_TEXT_SIZE];
    char slug[SHOP_TEXT_SIZE];
    int32_t position;
    bool visible;

    /* shop.carts and shop.orders */
    enum shop_cart_change cart_change;
    bool has_user; /* false: an anonymous cart, a guest checkout */
    char user_id[SHOP_KEY_SIZE];
    char source_cart_id[SHOP_KEY_SIZE];
    char cart_id[SHOP_KEY_SIZE]; /* ORDER_COMPLETED: the cart the order came from */
    const char *cart;            /* UTF-8 JSON, owned by the shop */
    size_t cart_len;
    char total[SHOP_MONEY_SIZE];
    char currency[4];

    /* shop.access */
    struct shop_name_list roles_before;
    struct shop_name_list roles_after;
    bool has_permissions;
    struct shop_name_list permissions;
    char session_key[SHOP_SESSION_KEY_LEN + 1];

    /* shop.stock */
    char product_id[SHOP_ID_SIZE];
    enum shop_movement movement;
    int64_t quantity_delta;
    int64_t on_hand;
};

struct shop_config {
    uint64_t seed;
    uint32_t categories; /* initial categories, >= 1 */
    uint32_t products;   /* initial products, >= 0 */
    bool initial_sync;   /* start with the snapshot of every topic handed out */
    uint32_t topics;     /* SHOP_TOPIC_BIT()s of the topics handed out; 0: products
                            only (what a config written before the other topics means) */
    uint32_t users;      /* initial users (shop.access, carts); 0: SHOP_DEFAULT_USERS */
};

struct shop;

/* Builds the initial shop from cfg (copied).  Returns NULL with a reason in
 * errstr on bad settings or when out of memory. */
struct shop *shop_new(const struct shop_config *cfg, char *errstr, size_t errstr_size);

void shop_destroy(struct shop *shop);

/* Produces the next event of the topics handed out, applying its change
 * (and those of the events of hidden topics run before it) to the model.
 * now_us is the event's occurred_at (and the updated-at of what changes).
 * *out points into the shop and stays valid until the next call of
 * shop_next() or shop_destroy().  Returns 0, or -1 when out of memory or
 * when a million changes in a row gave no event of the topics handed out
 * (a shop left with nothing to sell); the shop is then unusable. */
int shop_next(struct shop *shop, int64_t now_us, const struct shop_event **out);

/* True while events of the initial sync remain. */
bool shop_in_initial_sync(const struct shop *shop);

/* Counts of live entities (for logs and tests). */
uint32_t shop_live_products(const struct shop *shop);
uint32_t shop_live_categories(const struct shop *shop);
uint32_t shop_live_carts(const struct shop *shop);    /* 0 when carts do not run */
uint32_t shop_users(const struct shop *shop);         /* 0 when access does not run */
uint32_t shop_sold_out_skus(const struct shop *shop); /* 0 when stock does not run */

/* The topics whose events shop_next() hands out, and the ones the shop
 * runs (a superset: what those depend on). */
uint32_t shop_topics(const struct shop *shop);
uint32_t shop_topics_running(const struct shop *shop);

/* Avro record names ("ProductUpserted", ...), change names ("price", ...),
 * topic names ("products", ..., as in the --topics flag). */
const char *shop_event_type_name(enum shop_event_type type);
const char *shop_change_name(enum shop_change change);
const char *shop_topic_name(enum shop_topic topic);
enum shop_topic shop_event_type_topic(enum shop_event_type type);

/* The Avro enum symbols ("ITEM_ADDED", "PURCHASE", ...). */
const char *shop_cart_change_symbol(enum shop_cart_change change);
const char *shop_movement_symbol(enum shop_movement movement);

/* Parses a comma-separated list of topic names ("products,carts"; spaces
 * around names allowed, no duplicates, at least one) into a mask of
 * SHOP_TOPIC_BIT()s.  Returns 0, or -1 with a reason in errstr. */
int shop_topics_parse(const char *list, uint32_t *mask, char *errstr, size_t errstr_size);

#endif
