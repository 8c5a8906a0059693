/* shop_carts.c - visitors' and users' carts and the orders placed from
 * them: the shop.carts and shop.orders topics (see shop_internal.h).
 *
 * What it owns: the live carts and their lines, which user owns which
 * cart, cart and order ids, the cart JSON the web tier serves, and the
 * CartUpdated, CartDeleted, CartMerged and OrderCompleted events.  What it
 * does not: the catalog (shop.c says what is sellable and at what price),
 * stock (shop_stock.c says what is on hand, and moves it when a checkout's
 * PURCHASE steps are played), or sessions (shop_access.c says who is
 * online, and decides when a login merges a visitor's cart).
 *
 * DESIGN
 * Only live carts are kept, in an array with swap-removal; a cart that is
 * ordered, deleted or merged away is dropped and its id is never used
 * again (a user's next cart is a new one).  A live cart always holds 1 to
 * 8 lines, one per SKU: removing the last line deletes the cart.  A user
 * has at most one live cart; a visitor's (anonymous) cart has no user.
 * Lines keep the unit price of the moment they were added.
 *
 * The catalog changes under the carts: a line whose product was deleted or
 * unpublished is removed (CartUpdated ITEM_REMOVED, change "cart_fix") the
 * next time its cart is touched, before anything else happens to it, and
 * no line of such a product is ever added.  At checkout a line holding
 * more than is on hand is cut to what is (QUANTITY_CHANGED, "cart_fix"),
 * or removed when nothing is: an order only sells live products, within
 * stock, so the purchases never take a SKU below 0.
 *
 * A user's cart is only touched by its user while online (a live
 * session), a visitor's by the visitor at any time.  A cart JSON:
 *   {"id":"17","user_id":"42","items":[{"product_id":"7","sku":"SKU-7-2",
 *    "name":"Classic Boots","quantity":2,"unit_price":"59.99"}],
 *   "total":"119.98","currency":"EUR","updated_at":"2025-...Z"}
 * user_id is null for a visitor.  It is only built when shop.carts is
 * handed out.
 *
 * THE CART MIX, per 1000 cart changes:
 *   280 item added      a SKU with stock of a popular or random product
 *                       (shop_catalog_pick), quantity 1 (70 %), 2 (20 %),
 *                       3 to 5, at most what is on hand; a full cart (8
 *                       lines) changes a quantity instead
 *   170 quantity        a line's quantity up (60 %, within stock, at most
 *                       10) or down; when neither is possible, a removal
 *   100 item removed    a random line; the last one deletes the cart
 *                       (CartDeleted, "cart_emptied")
 *   400 new cart        CartUpdated CREATED with its first item: an
 *                       online user without a cart 45 % of the time (one
 *                       with a cart adds an item to it), else a visitor;
 *                       with as many live carts as users / 2 (at least
 *                       100), an abandonment instead
 *    50 abandoned       CartDeleted of the oldest of 4 random carts
 * Each of the first three picks a random cart its shopper can touch.
 * New carts outrun the carts that leave (orders, merges, abandonment), so
 * the live carts grow to the cap and stay there, many of them old.
 * Checkouts are the orders topic's share of the topic mix: a random cart
 * whose shopper can touch it is fixed if needed (see above) or ordered:
 * OrderCompleted (version 1; user null for a visitor, a guest checkout),
 * the cart dropped, and one PURCHASE step per line when stock runs.
 *
 * Thread: the thread of the struct shop.
 */
#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop_internal.h"

#define MAX_LINES    8
#define MAX_QUANTITY 10
#define MIN_CARTS    100 /* the cap on live carts is users / 2, at least this */
#define PICK_TRIES   8
#define NO_SLOT      UINT32_MAX

struct line {
    uint32_t product;
    uint32_t sku;
    uint32_t quantity;
    int64_t unit_price; /* cents */
};

struct cart {
    uint32_t id;
    uint32_t user; /* 0: a visitor's */
    int64_t version;
    uint32_t nlines;
    struct line lines[MAX_LINES];
};

struct shop_carts {
    struct sim_rng rng;
    struct cart *live;
    uint32_t nlive, cap;
    uint32_t *user_cart; /* [user]: slot + 1 of the user's live cart, 0: none */
    uint32_t nusers_cap;
    uint32_t next_cart_id, next_order_id;
    uint32_t users; /* at the start, for the cap on live carts */
};

/* ------------------------------------------------------------------------
 * Storage
 * ------------------------------------------------------------------------ */

struct shop_carts *shop_carts_new(uint64_t seed, uint32_t users)
{
    struct shop_carts *carts = calloc(1, sizeof(*carts));
    if (!carts)
        return NULL;
    sim_rng_seed(&carts->rng, seed, SHOP_STREAM_CARTS);
    carts->next_cart_id = 1;
    carts->next_order_id = 1;
    carts->users = users;
    return carts;
}

void shop_carts_destroy(struct shop_carts *carts)
{
    if (!carts)
        return;
    free(carts->live);
    free(carts->user_cart);
    free(carts);
}

uint32_t shop_carts_live(const struct shop_carts *carts)
{
    return carts->nlive;
}

static uint32_t cart_cap(const struct shop_carts *carts)
{
    return carts->users / 2 > MIN_CARTS ? carts->users / 2 : MIN_CARTS;
}

/* The slot of user's live cart, or NO_SLOT. */
static uint32_t user_slot(const struct shop_carts *carts, uint32_t user)
{
    if (user == 0 || user >= carts->nusers_cap || carts->user_cart[user] == 0)
        return NO_SLOT;
    return carts->user_cart[user] - 1;
}

/* Records that user's cart is at slot (NO_SLOT: none).  Returns 0 or -1. */
static int set_user_slot(struct shop_carts *carts, uint32_t user, uint32_t slot)
{
    if (user >= carts->nusers_cap) {
        uint32_t cap = carts->nusers_cap ? carts->nusers_cap : 1024;
        while (cap <= user)
            cap *= 2;
        uint32_t *uc = realloc(carts->user_cart, cap * sizeof(*uc));
        if (!uc)
            return -1;
        memset(uc + carts->nusers_cap, 0, (cap - carts->nusers_cap) * sizeof(*uc));
        carts->user_cart = uc;
        carts->nusers_cap = cap;
    }
    carts->user_cart[user] = slot == NO_SLOT ? 0 : slot + 1;
    return 0;
}

/* Appends a new empty cart for user (0: a visitor).  Returns its slot, or
 * NO_SLOT when out of memory. */
static uint32_t cart_add(struct shop_carts *carts, uint32_t user)
{
    if (carts->nlive == carts->cap) {
        uint32_t cap = carts->cap ? carts->cap * 2 : 256;
        struct cart *live = realloc(carts->live, cap * sizeof(*live));
        if (!live)
            return NO_SLOT;
        carts->live = live;
        carts->cap = cap;
    }
    uint32_t slot = carts->nlive;
    if (user && set_user_slot(carts, user, slot) < 0)
        return NO_SLOT;
    struct cart *c = &carts->live[slot];
    memset(c, 0, sizeof(*c));
    c->id = carts->next_cart_id++;
    c->user = user;
    carts->nlive++;
    return slot;
}

/* Drops the cart at slot (ordered, deleted or merged away). */
static void cart_drop(struct shop_carts *carts, uint32_t slot)
{
    assert(slot < carts->nlive);
    if (carts->live[slot].user)
        carts->user_cart[carts->live[slot].user] = 0;
    uint32_t last = --carts->nlive;
    if (slot != last) {
        carts->live[slot] = carts->live[last];
        if (carts->live[slot].user)
            carts->user_cart[carts->live[slot].user] = slot + 1;
    }
}

static uint32_t find_slot(const struct shop_carts *carts, uint32_t id)
{
    for (uint32_t i = 0; i < carts->nlive; i++) {
        if (carts->live[i].id == id)
            return i;
    }
    return NO_SLOT;
}

static void line_remove(struct cart *c, uint32_t k)
{
    assert(k < c->nlines);
    memmove(&c->lines[k], &c->lines[k + 1], (c->nlines - k - 1) * sizeof(c->lines[0]));
    c->nlines--;
}

static int64_t cart_total(const struct cart *c)
{
    int64_t total = 0;
    for (uint32_t k = 0; k < c->nlines; k++)
        total += c->lines[k].unit_price * (int64_t)c->lines[k].quantity;
    return total;
}

/* ------------------------------------------------------------------------
 * The cart JSON and the events
 * ------------------------------------------------------------------------ */

/* The cart as the web tier serves it (see the top): a new string from
 * json_dumps, or NULL when out of memory. */
static char *cart_json(struct shop *shop, const struct cart *c, int64_t now_us)
{
    struct shop_stock *stock = shop_get_stock(shop);
    char id[SHOP_ID_SIZE], user[SHOP_ID_SIZE], money[SHOP_MONEY_SIZE], when[48];
    json_t *items = json_array(), *root = NULL;
    char *text = NULL;
    if (!items)
        goto done;
    for (uint32_t k = 0; k < c->nlines; k++) {
        const struct line *l = &c->lines[k];
        char pid[SHOP_ID_SIZE], sku[SHOP_KEY_SIZE], name[SHOP_TEXT_SIZE];
        snprintf(pid, sizeof(pid), "%" PRIu32, l->product);
        shop_stock_sku_name(stock, l->sku, sku, sizeof(sku));
        shop_catalog_name(shop, l->product, name, sizeof(name));
        shop_money_text(l->unit_price, money, sizeof(money));
        if (json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:I,s:s}", "product_id", pid,
                                                   "sku", sku, "name", name, "quantity",
                                                   (json_int_t)l->quantity, "unit_price", money)) <
            0)
            goto done;
    }
    snprintf(id, sizeof(id), "%" PRIu32, c->id);
    snprintf(user, sizeof(user), "%" PRIu32, c->user);
    shop_money_text(cart_total(c), money, sizeof(money));
    shop_time_text(now_us, when, sizeof(when));
    root = json_pack("{s:s,s:o,s:O,s:s,s:s,s:s}", "id", id, "user_id",
                     c->user ? json_string(user) : json_null(), "items", items, "total", money,
                     "currency", shop_catalog_currency(shop), "updated_at", when);
    if (root)
        text = json_dumps(root, JSON_COMPACT);

done:
    json_decref(root);
    json_decref(items);
    return text;
}

/* Fills the event's cart and user from c.  Returns 0, or -1 when out of
 * memory. */
static int event_cart(struct shop *shop, struct shop_event *ev, const struct cart *c,
                      int64_t now_us)
{
    if (c->user) {
        ev->has_user = true;
        snprintf(ev->user_id, sizeof(ev->user_id), "%" PRIu32, c->user);
    }
    if (!shop_topic_emitted(shop, SHOP_TOPIC_CARTS))
        return 0; /* nobody reads it */
    char *text = cart_json(shop, c, now_us);
    if (!text)
        return -1;
    shop_event_keep_text(shop, text);
    ev->cart = text;
    ev->cart_len = strlen(text);
    return 0;
}

/* Emits CartUpdated for the cart at slot after a change. */
static int emit_updated(struct shop_carts *carts, struct shop *shop, uint32_t slot,
                        enum shop_change change, enum shop_cart_change kind, int64_t now_us)
{
    struct cart *c = &carts->live[slot];
    assert(c->nlines > 0);
    c->version++;
    struct shop_event *ev = shop_event_start(shop, SHOP_CART_UPDATED, change, c->version, now_us);
    snprintf(ev->key, sizeof(ev->key), "%" PRIu32, c->id);
    ev->cart_change = kind;
    return event_cart(shop, ev, c, now_us) < 0 ? -1 : 1;
}

/* Emits CartDeleted for the cart at slot and drops it. */
static int emit_deleted(struct shop_carts *carts, struct shop *shop, uint32_t slot,
                        enum shop_change change, int64_t now_us)
{
    struct cart *c = &carts->live[slot];
    c->version++;
    struct shop_event *ev = shop_event_start(shop, SHOP_CART_DELETED, change, c->version, now_us);
    snprintf(ev->key, sizeof(ev->key), "%" PRIu32, c->id);
    cart_drop(carts, slot);
    return 1;
}

/* Removes line k of the cart at slot: ITEM_REMOVED, or the cart deleted
 * when it was the last line. */
static int remove_line(struct shop_carts *carts, struct shop *shop, uint32_t slot, uint32_t k,
                       enum shop_change change, int64_t now_us)
{
    struct cart *c = &carts->live[slot];
    if (c->nlines == 1)
        return emit_deleted(carts, shop, slot, SHOP_CHANGE_CART_EMPTIED, now_us);
    line_remove(c, k);
    return emit_updated(carts, shop, slot, change, SHOP_CART_ITEM_REMOVED, now_us);
}

/* ------------------------------------------------------------------------
 * Choices
 * ------------------------------------------------------------------------ */

/* May the cart's shopper touch it now (a visitor, or an online user)? */
static bool touchable(struct shop *shop, const struct cart *c)
{
    return c->user == 0 || shop_access_online(shop_get_access(shop), c->user);
}

/* A random cart its shopper can touch, or NO_SLOT. */
static uint32_t pick_touchable(struct shop_carts *carts, struct shop *shop)
{
    for (int tries = 0; tries < PICK_TRIES && carts->nlive > 0; tries++) {
        uint32_t slot = sim_rng_below(&carts->rng, carts->nlive);
        if (touchable(shop, &carts->live[slot]))
            return slot;
    }
    return NO_SLOT;
}

static bool cart_has_sku(const struct cart *c, uint32_t sku)
{
    for (uint32_t k = 0; k < c->nlines; k++) {
        if (c->lines[k].sku == sku)
            return true;
    }
    return false;
}

/* A new line for c (NULL: a new cart): a sellable product, one of its SKUs
 * with stock that c does not hold yet.  Returns false when none is found. */
static bool pick_line(struct shop_carts *carts, struct shop *shop, const struct cart *c,
                      struct line *out)
{
    struct shop_stock *stock = shop_get_stock(shop);
    for (int tries = 0; tries < PICK_TRIES; tries++) {
        uint32_t product = shop_catalog_pick(shop, &carts->rng);
        if (!product)
            continue;
        uint32_t sku = shop_stock_pick_sku(stock, &carts->rng, product);
        if (sku == SHOP_NO_SKU || (c && cart_has_sku(c, sku)))
            continue;
        int64_t on_hand = shop_stock_on_hand(stock, sku);
        uint32_t r = sim_rng_below(&carts->rng, 100);
        int64_t quantity = r < 70 ? 1 : r < 90 ? 2 : sim_rng_range(&carts->rng, 3, 5);
        if (quantity > on_hand)
            quantity = on_hand;
        *out = (struct line){product, sku, (uint32_t)quantity, shop_catalog_price(shop, product)};
        return true;
    }
    return false;
}

/* Removes the first line of the cart at slot that cannot stay: its product
 * gone from the catalog, or (at checkout, stock_too) more than is on hand,
 * which is cut to the stock.  Returns 1 when it emitted that fix, 0 when
 * the cart is fine, -1 when out of memory. */
static int fix_cart(struct shop_carts *carts, struct shop *shop, uint32_t slot, bool stock_too,
                    int64_t now_us)
{
    struct cart *c = &carts->live[slot];
    for (uint32_t k = 0; k < c->nlines; k++) {
        if (!shop_catalog_sellable(shop, c->lines[k].product))
            return remove_line(carts, shop, slot, k, SHOP_CHANGE_CART_FIX, now_us);
    }
    if (!stock_too)
        return 0;
    struct shop_stock *stock = shop_get_stock(shop);
    for (uint32_t k = 0; k < c->nlines; k++) {
        int64_t on_hand = shop_stock_on_hand(stock, c->lines[k].sku);
        if (on_hand >= (int64_t)c->lines[k].quantity)
            continue;
        if (on_hand <= 0)
            return remove_line(carts, shop, slot, k, SHOP_CHANGE_CART_FIX, now_us);
        c->lines[k].quantity = (uint32_t)on_hand;
        return emit_updated(carts, shop, slot, SHOP_CHANGE_CART_FIX, SHOP_CART_QUANTITY_CHANGED,
                            now_us);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Cart changes: each returns 1 when it emitted an event, 0 when nothing
 * applied, -1 when out of memory.
 * ------------------------------------------------------------------------ */

static int change_remove(struct shop_carts *carts, struct shop *shop, uint32_t slot, int64_t now_us)
{
    uint32_t k = sim_rng_below(&carts->rng, carts->live[slot].nlines);
    return remove_line(carts, shop, slot, k, SHOP_CHANGE_CART_REMOVE, now_us);
}

static int change_quantity(struct shop_carts *carts, struct shop *shop, uint32_t slot,
                           int64_t now_us)
{
    struct cart *c = &carts->live[slot];
    uint32_t k = sim_rng_below(&carts->rng, c->nlines);
    struct line *l = &c->lines[k];
    int64_t most = shop_stock_on_hand(shop_get_stock(shop), l->sku);
    if (most > MAX_QUANTITY)
        most = MAX_QUANTITY;
    int64_t q = l->quantity;
    bool up = most > q, down = q > 1;
    if (up && down)
        up = sim_rng_chance(&carts->rng, 600);
    if (up)
        l->quantity = (uint32_t)(q + sim_rng_range(&carts->rng, 1, most - q < 3 ? most - q : 3));
    else if (down)
        l->quantity = (uint32_t)sim_rng_range(&carts->rng, 1, q - 1);
    else
        return change_remove(carts, shop, slot, now_us);
    return emit_updated(carts, shop, slot, SHOP_CHANGE_CART_QUANTITY, SHOP_CART_QUANTITY_CHANGED,
                        now_us);
}

static int change_add(struct shop_carts *carts, struct shop *shop, uint32_t slot, int64_t now_us)
{
    struct cart *c = &carts->live[slot];
    struct line l;
    if (c->nlines == MAX_LINES || !pick_line(carts, shop, c, &l))
        return change_quantity(carts, shop, slot, now_us);
    c->lines[c->nlines++] = l;
    return emit_updated(carts, shop, slot, SHOP_CHANGE_CART_ADD, SHOP_CART_ITEM_ADDED, now_us);
}

static int change_abandon(struct shop_carts *carts, struct shop *shop, int64_t now_us)
{
    if (carts->nlive == 0)
        return 0;
    uint32_t oldest = sim_rng_below(&carts->rng, carts->nlive);
    for (int k = 1; k < 4; k++) {
        uint32_t slot = sim_rng_below(&carts->rng, carts->nlive);
        if (carts->live[slot].id < carts->live[oldest].id)
            oldest = slot;
    }
    return emit_deleted(carts, shop, oldest, SHOP_CHANGE_CART_ABANDON, now_us);
}

static int change_new(struct shop_carts *carts, struct shop *shop, int64_t now_us)
{
    if (carts->nlive >= cart_cap(carts))
        return change_abandon(carts, shop, now_us);
    uint32_t user = 0;
    if (sim_rng_chance(&carts->rng, 450)) {
        user = shop_access_pick_online(shop_get_access(shop), &carts->rng);
        uint32_t slot = user_slot(carts, user);
        if (slot != NO_SLOT) {
            /* Already has a cart: shops keep one per user. */
            int rc = fix_cart(carts, shop, slot, false, now_us);
            return rc != 0 ? rc : change_add(carts, shop, slot, now_us);
        }
    }
    struct line l;
    if (!pick_line(carts, shop, NULL, &l))
        return change_abandon(carts, shop, now_us); /* nothing to sell */
    uint32_t slot = cart_add(carts, user);
    if (slot == NO_SLOT)
        return -1;
    carts->live[slot].lines[0] = l;
    carts->live[slot].nlines = 1;
    return emit_updated(carts, shop, slot, SHOP_CHANGE_CART_CREATE, SHOP_CART_CREATED, now_us);
}

int shop_carts_change(struct shop_carts *carts, struct shop *shop, int64_t now_us)
{
    uint32_t r = sim_rng_below(&carts->rng, 1000);
    if (r >= 550 && r < 950)
        return change_new(carts, shop, now_us);
    if (r >= 950)
        return change_abandon(carts, shop, now_us);
    uint32_t slot = pick_touchable(carts, shop);
    if (slot == NO_SLOT)
        return change_new(carts, shop, now_us);
    int rc = fix_cart(carts, shop, slot, false, now_us);
    if (rc != 0)
        return rc;
    if (r < 280)
        return change_add(carts, shop, slot, now_us);
    if (r < 450)
        return change_quantity(carts, shop, slot, now_us);
    return change_remove(carts, shop, slot, now_us);
}

/* ------------------------------------------------------------------------
 * Checkouts and merges
 * ------------------------------------------------------------------------ */

int shop_carts_checkout(struct shop_carts *carts, struct shop *shop, int64_t now_us)
{
    uint32_t slot = pick_touchable(carts, shop);
    if (slot == NO_SLOT)
        return shop_carts_change(carts, shop, now_us); /* nobody can check out */
    int rc = fix_cart(carts, shop, slot, true, now_us);
    if (rc != 0)
        return rc;
    const struct cart *c = &carts->live[slot];
    struct shop_event *ev =
        shop_event_start(shop, SHOP_ORDER_COMPLETED, SHOP_CHANGE_CHECKOUT, 1, now_us);
    snprintf(ev->key, sizeof(ev->key), "%" PRIu32, carts->next_order_id++);
    snprintf(ev->cart_id, sizeof(ev->cart_id), "%" PRIu32, c->id);
    if (c->user) {
        ev->has_user = true;
        snprintf(ev->user_id, sizeof(ev->user_id), "%" PRIu32, c->user);
    }
    shop_money_text(cart_total(c), ev->total, sizeof(ev->total));
    snprintf(ev->currency, sizeof(ev->currency), "%s", shop_catalog_currency(shop));
    if (shop_topic_running(shop, SHOP_TOPIC_STOCK)) {
        for (uint32_t k = 0; k < c->nlines; k++) {
            if (shop_step_push(shop, SHOP_STEP_STOCK_PURCHASE, c->lines[k].sku,
                               c->lines[k].quantity) < 0)
                return -1;
        }
    }
    cart_drop(carts, slot); /* emptied: its id is not used again */
    return 1;
}

uint32_t shop_carts_pick_visitor(struct shop_carts *carts, struct shop *shop, struct sim_rng *rng)
{
    for (int tries = 0; tries < PICK_TRIES && carts->nlive > 0; tries++) {
        const struct cart *c = &carts->live[sim_rng_below(rng, carts->nlive)];
        if (c->user != 0)
            continue;
        for (uint32_t k = 0; k < c->nlines; k++) {
            if (shop_catalog_sellable(shop, c->lines[k].product))
                return c->id;
        }
    }
    return 0;
}

/* Merges line l into c: the quantities of one SKU add up (at most
 * MAX_QUANTITY); a line that does not fit is dropped. */
static void merge_line(struct cart *c, const struct line *l)
{
    for (uint32_t k = 0; k < c->nlines; k++) {
        if (c->lines[k].sku == l->sku) {
            uint32_t q = c->lines[k].quantity + l->quantity;
            c->lines[k].quantity = q > MAX_QUANTITY ? MAX_QUANTITY : q;
            return;
        }
    }
    if (c->nlines < MAX_LINES)
        c->lines[c->nlines++] = *l;
}

int shop_carts_merge(struct shop_carts *carts, struct shop *shop, uint32_t source_id, uint32_t user,
                     int64_t now_us)
{
    uint32_t source = find_slot(carts, source_id);
    assert(source != NO_SLOT && carts->live[source].user == 0 && user != 0);
    uint32_t target = user_slot(carts, user);
    if (target == NO_SLOT) {
        /* The user had no cart: the merge creates it (version 1). */
        target = cart_add(carts, user);
        if (target == NO_SLOT)
            return -1;
    }
    struct cart *t = &carts->live[target];
    const struct cart *s = &carts->live[source];
    /* The cart service drops lines of products gone from the catalog. */
    for (uint32_t k = t->nlines; k-- > 0;) {
        if (!shop_catalog_sellable(shop, t->lines[k].product))
            line_remove(t, k);
    }
    for (uint32_t k = 0; k < s->nlines; k++) {
        if (shop_catalog_sellable(shop, s->lines[k].product))
            merge_line(t, &s->lines[k]);
    }
    assert(t->nlines > 0); /* the source was chosen with a sellable line */
    t->version++;
    struct shop_event *ev =
        shop_event_start(shop, SHOP_CART_MERGED, SHOP_CHANGE_CART_MERGE, t->version, now_us);
    snprintf(ev->key, sizeof(ev->key), "%" PRIu32, t->id);
    snprintf(ev->source_cart_id, sizeof(ev->source_cart_id), "%" PRIu32, s->id);
    if (event_cart(shop, ev, t, now_us) < 0)
        return -1;
    cart_drop(carts, source); /* gone: never used again */
    return 1;
}
