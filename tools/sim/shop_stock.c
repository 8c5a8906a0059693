/* shop_stock.c - the shop's SKUs and their on-hand quantities: the
 * shop.stock topic (see shop_internal.h).
 *
 * What it owns: every product's 1 to 3 SKUs ("SKU-<product>-<n>"), their
 * on-hand quantities and ledger versions, which SKUs are sold out, the
 * recent purchases a return can come from, and the StockMoved events.
 * What it does not: deciding what is bought (a checkout in shop_carts.c
 * queues one PURCHASE step per order line) or when a product comes and
 * goes (the catalog in shop.c tells this module).
 *
 * DESIGN
 * SKUs live in one array in product order, so a product's SKUs are
 * `count` consecutive entries from `first[product - 1]`.  SKUs of a deleted
 * product stay in place, dead: they never move again.  Two index lists are
 * kept with swap-removal for O(1) random choice: the live SKUs and the
 * sold-out ones (live and on_hand == 0).  A quantity never goes below 0:
 * a checkout only sells what is on hand, and adjustments stop at 0.
 *
 * Initial quantities, per SKU of a product created in stock: 1 to 3
 * (15 %), 4 to 30 (50 %), 31 to 150 (35 %); each SKU but the first is sold
 * out 1 time in 10.  A product created out of stock has every SKU at 0.
 * SKUs per product: 1 (50 %), 2 (30 %), 3 (20 %).
 *
 * THE STOCK MIX, per 1000 stock changes (purchases come from checkouts,
 * outside this mix):
 *   500 restock     RESTOCK of 10 to 40: a sold-out SKU with probability
 *                   z / (z + 500), z the sold-out SKUs (deliveries take
 *                   a while), else the SKU lowest in stock of 8 random
 *                   ones
 *   150 return      RETURN of 1 to q units of one of 256 recent
 *                   purchases (of q units), each returned at most once;
 *                   none left, or its product is gone: a restock
 *   350 adjustment  ADJUSTMENT after a count: +1 to 3, or -1 to 3 stopping
 *                   at 0 (55 %); 1 in 5 writes off a SKU holding 1 to 3
 *                   units (to exactly 0)
 * Half the cart picks go to a few popular products (shop_catalog_pick), so
 * their SKUs sell out, stay at 0 for a while and come back with a restock;
 * write-offs take others to 0.  The SKUs sold out at the start (products
 * created out of stock) come back over the first tens of thousands of
 * changes; after that, with the default shop, ten or so are sold out at
 * any time.
 *
 * Thread: the thread of the struct shop.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop_internal.h"

#define MAX_SKUS_PER_PRODUCT 3
#define RECENT_PURCHASES     256
#define NOT_LISTED           UINT32_MAX
#define SOLD_OUT_WAIT        500 /* see the restock in THE STOCK MIX */

struct sku {
    int64_t on_hand;
    int64_t version;
    uint32_t product;
    uint32_t live_pos; /* index in live while alive */
    uint32_t zero_pos; /* index in zero while sold out and alive; NOT_LISTED */
    uint8_t n;         /* 1..3 within its product */
    bool alive;
};

struct recent {
    uint32_t sku;
    uint32_t quantity;
};

struct shop_stock {
    struct sim_rng rng;
    struct sku *skus;
    uint32_t nskus, cap_skus;
    uint32_t *live; /* sku indexes; capacity cap_skus */
    uint32_t nlive;
    uint32_t *zero; /* sku indexes; capacity cap_skus */
    uint32_t nzero;
    uint32_t *first; /* [product - 1]: index of its first SKU */
    uint8_t *count;  /* [product - 1]: its number of SKUs */
    uint32_t nproducts, cap_products;
    struct recent recent[RECENT_PURCHASES];
    uint32_t nrecent, recent_next;
};

/* ------------------------------------------------------------------------
 * Storage
 * ------------------------------------------------------------------------ */

struct shop_stock *shop_stock_new(uint64_t seed)
{
    struct shop_stock *stock = calloc(1, sizeof(*stock));
    if (!stock)
        return NULL;
    sim_rng_seed(&stock->rng, seed, SHOP_STREAM_STOCK);
    return stock;
}

void shop_stock_destroy(struct shop_stock *stock)
{
    if (!stock)
        return;
    free(stock->skus);
    free(stock->live);
    free(stock->zero);
    free(stock->first);
    free(stock->count);
    free(stock);
}

/* Makes room for `more` SKUs and one product.  Returns 0 or -1. */
static int reserve(struct shop_stock *stock, uint32_t more)
{
    if (stock->nskus + more > stock->cap_skus) {
        uint32_t cap = stock->cap_skus ? stock->cap_skus * 2 : 256;
        while (cap < stock->nskus + more)
            cap *= 2;
        struct sku *skus = realloc(stock->skus, cap * sizeof(*skus));
        if (!skus)
            return -1;
        stock->skus = skus;
        uint32_t *live = realloc(stock->live, cap * sizeof(*live));
        if (!live)
            return -1;
        stock->live = live;
        uint32_t *zero = realloc(stock->zero, cap * sizeof(*zero));
        if (!zero)
            return -1;
        stock->zero = zero;
        stock->cap_skus = cap;
    }
    if (stock->nproducts == stock->cap_products) {
        uint32_t cap = stock->cap_products ? stock->cap_products * 2 : 128;
        uint32_t *first = realloc(stock->first, cap * sizeof(*first));
        if (!first)
            return -1;
        stock->first = first;
        uint8_t *count = realloc(stock->count, cap * sizeof(*count));
        if (!count)
            return -1;
        stock->count = count;
        stock->cap_products = cap;
    }
    return 0;
}

static void zero_add(struct shop_stock *stock, uint32_t i)
{
    stock->skus[i].zero_pos = stock->nzero;
    stock->zero[stock->nzero++] = i;
}

static void zero_remove(struct shop_stock *stock, uint32_t i)
{
    uint32_t pos = stock->skus[i].zero_pos;
    assert(pos < stock->nzero && stock->zero[pos] == i);
    uint32_t last = stock->zero[--stock->nzero];
    stock->zero[pos] = last;
    stock->skus[last].zero_pos = pos;
    stock->skus[i].zero_pos = NOT_LISTED;
}

/* Sets a live SKU's quantity, keeping the sold-out list. */
static void set_on_hand(struct shop_stock *stock, uint32_t i, int64_t on_hand)
{
    struct sku *s = &stock->skus[i];
    assert(s->alive && on_hand >= 0);
    bool was_zero = s->on_hand == 0, is_zero = on_hand == 0;
    s->on_hand = on_hand;
    if (was_zero && !is_zero)
        zero_remove(stock, i);
    else if (!was_zero && is_zero)
        zero_add(stock, i);
}

/* ------------------------------------------------------------------------
 * The catalog's news
 * ------------------------------------------------------------------------ */

static int64_t initial_quantity(struct shop_stock *stock)
{
    uint32_t r = sim_rng_below(&stock->rng, 100);
    if (r < 15)
        return sim_rng_range(&stock->rng, 1, 3);
    if (r < 65)
        return sim_rng_range(&stock->rng, 4, 30);
    return sim_rng_range(&stock->rng, 31, 150);
}

int shop_stock_product_added(struct shop_stock *stock, struct shop *shop, uint32_t id,
                             bool in_stock, bool announce)
{
    assert(id == stock->nproducts + 1);
    if (reserve(stock, MAX_SKUS_PER_PRODUCT) < 0)
        return -1;
    uint32_t r = sim_rng_below(&stock->rng, 10);
    uint8_t n = r < 5 ? 1 : r < 8 ? 2 : 3;
    stock->first[id - 1] = stock->nskus;
    stock->count[id - 1] = n;
    stock->nproducts++;
    for (uint8_t k = 1; k <= n; k++) {
        int64_t quantity = 0;
        if (in_stock && (k == 1 || !sim_rng_chance(&stock->rng, 100)))
            quantity = initial_quantity(stock);
        uint32_t i = stock->nskus++;
        struct sku *s = &stock->skus[i];
        memset(s, 0, sizeof(*s));
        s->product = id;
        s->n = k;
        s->alive = true;
        s->live_pos = stock->nlive;
        stock->live[stock->nlive++] = i;
        s->zero_pos = NOT_LISTED;
        zero_add(stock, i); /* on_hand 0 for now */
        if (announce) {
            /* Unknown to the topic so far: the first delivery says it. */
            if (quantity > 0 &&
                shop_step_push(shop, SHOP_STEP_STOCK_RESTOCK, i, (uint32_t)quantity) < 0)
                return -1;
        } else {
            /* The initial catalog: the sync publishes version 1. */
            s->version = 1;
            set_on_hand(stock, i, quantity);
        }
    }
    return 0;
}

void shop_stock_product_deleted(struct shop_stock *stock, uint32_t id)
{
    assert(id >= 1 && id <= stock->nproducts);
    for (uint32_t i = stock->first[id - 1]; i < stock->first[id - 1] + stock->count[id - 1]; i++) {
        struct sku *s = &stock->skus[i];
        if (!s->alive)
            continue;
        if (s->zero_pos != NOT_LISTED)
            zero_remove(stock, i);
        uint32_t last = stock->live[--stock->nlive];
        stock->live[s->live_pos] = last;
        stock->skus[last].live_pos = s->live_pos;
        s->alive = false;
    }
}

/* ------------------------------------------------------------------------
 * Questions from the other modules
 * ------------------------------------------------------------------------ */

bool shop_stock_product_in_stock(const struct shop_stock *stock, uint32_t id)
{
    if (id == 0 || id > stock->nproducts)
        return false;
    for (uint32_t i = stock->first[id - 1]; i < stock->first[id - 1] + stock->count[id - 1]; i++) {
        if (stock->skus[i].on_hand > 0)
            return true;
    }
    return false;
}

uint32_t shop_stock_pick_sku(const struct shop_stock *stock, struct sim_rng *rng, uint32_t id)
{
    if (id == 0 || id > stock->nproducts)
        return SHOP_NO_SKU;
    uint32_t first = stock->first[id - 1], n = stock->count[id - 1];
    uint32_t start = sim_rng_below(rng, n);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = first + (start + k) % n;
        if (stock->skus[i].alive && stock->skus[i].on_hand > 0)
            return i;
    }
    return SHOP_NO_SKU;
}

int64_t shop_stock_on_hand(const struct shop_stock *stock, uint32_t sku)
{
    assert(sku < stock->nskus);
    return stock->skus[sku].on_hand;
}

void shop_stock_sku_name(const struct shop_stock *stock, uint32_t sku, char *out, size_t size)
{
    assert(sku < stock->nskus);
    snprintf(out, size, "SKU-%" PRIu32 "-%u", stock->skus[sku].product,
             (unsigned)stock->skus[sku].n);
}

uint32_t shop_stock_skus(const struct shop_stock *stock)
{
    return stock->nskus;
}

uint32_t shop_stock_sold_out(const struct shop_stock *stock)
{
    return stock->nzero;
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

static struct shop_event *start_event(struct shop_stock *stock, struct shop *shop, uint32_t i,
                                      enum shop_change change, enum shop_movement movement,
                                      int64_t now_us)
{
    const struct sku *s = &stock->skus[i];
    struct shop_event *ev = shop_event_start(shop, SHOP_STOCK_MOVED, change, s->version, now_us);
    shop_stock_sku_name(stock, i, ev->key, sizeof(ev->key));
    snprintf(ev->product_id, sizeof(ev->product_id), "%" PRIu32, s->product);
    ev->movement = movement;
    return ev;
}

void shop_stock_emit_sync(struct shop_stock *stock, struct shop *shop, uint32_t i, int64_t now_us)
{
    assert(i < stock->nskus && stock->skus[i].version == 1);
    struct shop_event *ev =
        start_event(stock, shop, i, SHOP_CHANGE_SYNC_STOCK, SHOP_MOVEMENT_ADJUSTMENT, now_us);
    ev->quantity_delta = stock->skus[i].on_hand;
    ev->on_hand = stock->skus[i].on_hand;
}

/* Applies a movement of delta to live SKU i and emits it. */
static void move(struct shop_stock *stock, struct shop *shop, uint32_t i, enum shop_change change,
                 enum shop_movement movement, int64_t delta, int64_t now_us)
{
    struct sku *s = &stock->skus[i];
    assert(s->alive && delta != 0 && s->on_hand + delta >= 0);
    s->version++;
    set_on_hand(stock, i, s->on_hand + delta);
    struct shop_event *ev = start_event(stock, shop, i, change, movement, now_us);
    ev->quantity_delta = delta;
    ev->on_hand = s->on_hand;
}

/* ------------------------------------------------------------------------
 * Changes
 * ------------------------------------------------------------------------ */

/* A random live SKU, or SHOP_NO_SKU when there is none. */
static uint32_t random_live(struct shop_stock *stock)
{
    if (stock->nlive == 0)
        return SHOP_NO_SKU;
    return stock->live[sim_rng_below(&stock->rng, stock->nlive)];
}

static int adjustment(struct shop_stock *stock, struct shop *shop, int64_t now_us)
{
    uint32_t i = random_live(stock);
    if (i == SHOP_NO_SKU)
        return 0;
    int64_t on_hand = stock->skus[i].on_hand;
    int64_t delta;
    if (sim_rng_chance(&stock->rng, 200) && on_hand >= 1 && on_hand <= 3) {
        delta = -on_hand; /* written off: damaged or lost */
    } else {
        delta = sim_rng_range(&stock->rng, 1, 3);
        if (on_hand > 0 && sim_rng_chance(&stock->rng, 550))
            delta = delta > on_hand ? -on_hand : -delta;
    }
    move(stock, shop, i, SHOP_CHANGE_ADJUSTMENT, SHOP_MOVEMENT_ADJUSTMENT, delta, now_us);
    return 1;
}

static int restock(struct shop_stock *stock, struct shop *shop, int64_t now_us)
{
    uint32_t i = SHOP_NO_SKU;
    if (stock->nzero > 0 &&
        sim_rng_below(&stock->rng, stock->nzero + SOLD_OUT_WAIT) < stock->nzero) {
        i = stock->zero[sim_rng_below(&stock->rng, stock->nzero)];
    } else {
        for (int k = 0; k < 8; k++) {
            uint32_t c = random_live(stock);
            if (c != SHOP_NO_SKU &&
                (i == SHOP_NO_SKU || stock->skus[c].on_hand < stock->skus[i].on_hand))
                i = c;
        }
    }
    if (i == SHOP_NO_SKU)
        return adjustment(stock, shop, now_us);
    move(stock, shop, i, SHOP_CHANGE_RESTOCK, SHOP_MOVEMENT_RESTOCK,
         sim_rng_range(&stock->rng, 10, 40), now_us);
    return 1;
}

static int customer_return(struct shop_stock *stock, struct shop *shop, int64_t now_us)
{
    if (stock->nrecent == 0)
        return restock(stock, shop, now_us);
    uint32_t k = sim_rng_below(&stock->rng, stock->nrecent);
    struct recent r = stock->recent[k];
    stock->recent[k] = stock->recent[--stock->nrecent]; /* returned at most once */
    if (!stock->skus[r.sku].alive)
        return restock(stock, shop, now_us);
    move(stock, shop, r.sku, SHOP_CHANGE_RETURN, SHOP_MOVEMENT_RETURN,
         sim_rng_range(&stock->rng, 1, r.quantity), now_us);
    return 1;
}

int shop_stock_change(struct shop_stock *stock, struct shop *shop, int64_t now_us)
{
    uint32_t r = sim_rng_below(&stock->rng, 1000);
    if (r < 500)
        return restock(stock, shop, now_us);
    if (r < 650)
        return customer_return(stock, shop, now_us);
    return adjustment(stock, shop, now_us);
}

int shop_stock_step(struct shop_stock *stock, struct shop *shop, enum shop_step_kind kind,
                    uint32_t sku, uint32_t quantity, int64_t now_us)
{
    assert(sku < stock->nskus && quantity > 0);
    if (kind == SHOP_STEP_STOCK_RESTOCK) {
        move(stock, shop, sku, SHOP_CHANGE_RESTOCK, SHOP_MOVEMENT_RESTOCK, quantity, now_us);
        return 1;
    }
    assert(kind == SHOP_STEP_STOCK_PURCHASE);
    move(stock, shop, sku, SHOP_CHANGE_PURCHASE, SHOP_MOVEMENT_PURCHASE, -(int64_t)quantity,
         now_us);
    /* Remember it for a return; when the list is full, new purchases take
     * its slots in turn. */
    if (stock->nrecent < RECENT_PURCHASES) {
        stock->recent[stock->nrecent++] = (struct recent){sku, quantity};
    } else {
        stock->recent[stock->recent_next] = (struct recent){sku, quantity};
        stock->recent_next = (stock->recent_next + 1) % RECENT_PURCHASES;
    }
    return 1;
}
