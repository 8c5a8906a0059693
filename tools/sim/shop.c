/* shop.c - the simulated shop's core and its catalog (see shop.h).
 *
 * What it owns: struct shop, the category tree and the product catalog
 * (shop.products), the topic mix, the initial sync of every topic, the
 * queue of steps and shop_next().  What it does not: stock, carts and
 * orders, users and sessions: shop_stock.c, shop_carts.c and shop_access.c
 * own those (shop_internal.h says how the parts talk); names and text
 * formats are in shop_names.c.
 *
 * DESIGN
 * Generators: `rng` takes every decision about the catalog, `mix` chooses
 * which topic changes next, each module has its own, and `ids[topic]` only
 * draw event ids, so publishing or skipping the initial sync (which draws
 * ids but decides nothing) leaves the change stream's decisions identical,
 * and the catalog's decisions do not depend on which other topics run.
 * The products' streams are the ones of the products-only simulator, so
 * --topics products plays exactly its stream.
 *
 * THE TOPIC MIX (after the initial sync), per 1000 changes, over the
 * topics that run (a topic that does not run leaves the others their
 * weights, so with products alone every change is a catalog change):
 *   120 products   a catalog change (THE CHANGE MIX below)
 *   460 carts      a cart change (shop_carts.c): items added, removed,
 *                  quantities, new carts, abandoned carts
 *    80 orders     a checkout (shop_carts.c): OrderCompleted, then one
 *                  StockMoved PURCHASE per line (2 on average)
 *   170 access     logins (a third of them followed by a CartMerged),
 *                  logouts, role and permission changes, password
 *                  changes, sign-ups, deactivations (shop_access.c)
 *   170 stock      a restock, a return or an adjustment (shop_stock.c)
 * Measured over 100,000 events with every topic on (seed 1, the default
 * shop): carts 41 %, stock 28 %, access 14 %, products 10 %, orders 6.5 %;
 * tests/unit/test_sim_model.c checks that order.
 *
 * The initial sync, for the topics handed out: every category (parents
 * first), every product, every SKU (an ADJUSTMENT from 0 to its quantity),
 * every role (RolePermissionsChanged), every user (UserRolesChanged from no
 * roles, with the permissions).
 *
 * Products and categories are arrays indexed by id - 1 that only grow;
 * a deleted entity stays in its slot with alive = false.  Live products are
 * also listed in `live_products` (swap-remove, O(1) random choice); the
 * category tree is small enough to scan.  Categories keep the position the
 * next child they receive will take, so creating and moving are O(1).
 *
 * THE CHANGE MIX (after the initial sync), per 1000 changes:
 *   480 price change        ProductUpserted; categories and terms unchanged
 *   200 image change        ProductRelatedChanged "ProductImage": an image
 *                           replaced (new file), added or removed
 *    60 name change         ProductUpserted; search terms before != after
 *    60 category move       ProductUpserted; a category added, removed or
 *                           replaced, categories before != after
 *    70 new product         ProductUpserted with empty before lists; 3 in 10
 *                           re-create a deleted product under a new id
 *    60 product deleted     ProductDeleted with its categories and terms
 *    40 publish toggle      ProductUpserted: half of the toggles unpublish a
 *                           product (representation null), half republish an
 *                           unpublished one if one is found, so some 3 to 5 %
 *                           of the catalog is unpublished at any time
 *     8 category reordered  CategoryUpserted, new position
 *     6 category renamed    CategoryUpserted, new name and slug
 *     6 category created    CategoryUpserted, version 1, under a level 1 or 2
 *                           category (1 in 10 at the top level)
 *     4 category moved      CategoryUpserted, new parent at the same depth
 *     4 category hidden/shown CategoryUpserted, visible flipped
 *     2 category deleted    the one listing the fewest products among 8
 *                           random categories (so mostly small or new ones),
 *                           and never one listing more than 50 (the change
 *                           then becomes a reorder);
 *                           first every product in it moves (ProductUpserted)
 *                           to its parent or, for a top-level category, to a
 *                           random other category; then every child moves up
 *                           to its parent (CategoryUpserted); then
 *                           CategoryDeleted.  Skipped while only one
 *                           category is left.
 * Products are picked uniformly.  A change that does not apply (no product
 * left, nowhere to move) becomes a new product or a category reorder.
 * A product's "in_stock" is drawn at creation; when the stock runs, its
 * SKUs start with quantities to match and the representation shows whether
 * one of them has stock now (stock movements flip it, the catalog never
 * does).  A product created after the start gets its SKUs at 0 and its
 * first delivery as RESTOCK steps right after its creation event.
 */
#include "shop.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop_internal.h"
#include "words.h"

#define NO_WORD             UINT16_MAX
#define MAX_IMAGES          4
#define MAX_COUNT           10000000u /* ids must stay within SHOP_ID_SIZE and memory */
#define DELETE_CANDIDATES   8         /* categories looked at to choose one to delete */
#define DELETE_MAX_PRODUCTS 50        /* a category listing more is not deleted */
#define MAX_TRIES           1000000   /* changes tried for one event of a topic handed out */

struct image {
    uint32_t id;
    uint32_t rev; /* grows when the file is replaced */
};

struct product {
    int64_t version;
    int64_t updated_at;
    int64_t price_cents;
    uint32_t cats[SHOP_MAX_PRODUCT_CATEGORIES]; /* ascending */
    uint8_t ncats;
    uint8_t nimages;
    struct image images[MAX_IMAGES];
    uint16_t adjective, material, noun, model, brand, phrase; /* word indexes; NO_WORD: none */
    bool alive, published, in_stock;
    uint32_t live_pos; /* index in live_products while alive */
};

struct category {
    int64_t version;
    uint32_t parent; /* 0: top level */
    int32_t position;
    int32_t next_child_position;
    uint16_t qualifier, noun;
    bool alive, visible;
};

enum op_kind {
    OP_PRODUCT_OFF_CATEGORY, /* a: product, b: the category being deleted */
    OP_CATEGORY_REPARENT,    /* a: category, b: new parent (0: top level) */
    OP_CATEGORY_DELETE,      /* a: category */
    OP_STEP,                 /* a step of another module: step, a, b */
};

struct op {
    enum op_kind kind;
    uint32_t a, b;
    enum shop_step_kind step; /* OP_STEP */
};

enum phase {
    PHASE_SYNC_CATEGORIES,
    PHASE_SYNC_PRODUCTS,
    PHASE_SYNC_STOCK,
    PHASE_SYNC_ACCESS,
    PHASE_CHANGES
};

struct shop {
    struct shop_config cfg;
    struct sim_rng rng;
    struct sim_rng ids[SHOP_TOPIC_COUNT];
    struct sim_rng mix;
    const char *currency;
    uint32_t emitted, running; /* topic masks */
    bool started;              /* shop_new() is done */

    struct shop_stock *stock;   /* when carts, orders or stock run */
    struct shop_carts *carts;   /* when carts or orders run */
    struct shop_access *access; /* when access runs */

    struct product *products; /* [id - 1] */
    uint32_t nproducts, cap_products;
    uint32_t *live_products; /* ids; capacity cap_products */
    uint32_t nlive_products;
    uint32_t *deleted_products; /* ids that may be re-created; capacity cap_products */
    uint32_t ndeleted;

    struct category *categories; /* [id - 1] */
    uint32_t ncategories, cap_categories;
    uint32_t nlive_categories;
    uint32_t *scratch; /* category ids; capacity cap_categories */
    int32_t next_top_position;

    struct op *ops; /* the cascade being played */
    size_t ops_head, ops_len, ops_cap;

    uint32_t next_image_id;
    enum phase phase;
    uint32_t sync_next; /* next id the sync publishes */

    struct shop_event ev;
    char *rep; /* the text ev points to (a representation, a cart), from json_dumps */
};

static void id_to_text(uint32_t id, char *out)
{
    snprintf(out, SHOP_ID_SIZE, "%" PRIu32, id);
}

static uint16_t pick_word(struct shop *shop, enum sim_wordlist list)
{
    return (uint16_t)sim_rng_below(&shop->rng, sim_words_count(list));
}

/* ------------------------------------------------------------------------
 * Storage
 * ------------------------------------------------------------------------ */

static int grow_products(struct shop *shop)
{
    if (shop->nproducts < shop->cap_products)
        return 0;
    uint32_t cap = shop->cap_products ? shop->cap_products * 2 : 64;
    struct product *p = realloc(shop->products, cap * sizeof(*p));
    if (!p)
        return -1;
    shop->products = p;
    uint32_t *live = realloc(shop->live_products, cap * sizeof(*live));
    if (!live)
        return -1;
    shop->live_products = live;
    uint32_t *del = realloc(shop->deleted_products, cap * sizeof(*del));
    if (!del)
        return -1;
    shop->deleted_products = del;
    shop->cap_products = cap;
    return 0;
}

static int grow_categories(struct shop *shop)
{
    if (shop->ncategories < shop->cap_categories)
        return 0;
    uint32_t cap = shop->cap_categories ? shop->cap_categories * 2 : 64;
    struct category *c = realloc(shop->categories, cap * sizeof(*c));
    if (!c)
        return -1;
    shop->categories = c;
    uint32_t *s = realloc(shop->scratch, cap * sizeof(*s));
    if (!s)
        return -1;
    shop->scratch = s;
    shop->cap_categories = cap;
    return 0;
}

static struct product *product_get(struct shop *shop, uint32_t id)
{
    assert(id >= 1 && id <= shop->nproducts);
    return &shop->products[id - 1];
}

static struct category *category_get(struct shop *shop, uint32_t id)
{
    assert(id >= 1 && id <= shop->ncategories);
    return &shop->categories[id - 1];
}

static void live_add(struct shop *shop, uint32_t id)
{
    product_get(shop, id)->live_pos = shop->nlive_products;
    shop->live_products[shop->nlive_products++] = id;
}

static void live_remove(struct shop *shop, uint32_t id)
{
    uint32_t pos = product_get(shop, id)->live_pos;
    assert(pos < shop->nlive_products && shop->live_products[pos] == id);
    uint32_t last = shop->live_products[--shop->nlive_products];
    shop->live_products[pos] = last;
    product_get(shop, last)->live_pos = pos;
}

/* A random live product id, or 0 when there is none. */
static uint32_t pick_live_product(struct shop *shop)
{
    if (shop->nlive_products == 0)
        return 0;
    return shop->live_products[sim_rng_below(&shop->rng, shop->nlive_products)];
}

/* ------------------------------------------------------------------------
 * Category tree
 * ------------------------------------------------------------------------ */

static uint32_t category_depth(struct shop *shop, uint32_t id)
{
    uint32_t depth = 0;
    while (id) {
        depth++;
        id = category_get(shop, id)->parent;
    }
    return depth;
}

/* Fills shop->scratch with the live categories a product may be listed in
 * (depth 2 and below, "leaf-ish"), or every live one when there are none;
 * `except` (0: none) is left out.  Returns the count. */
static uint32_t listable_categories(struct shop *shop, uint32_t except)
{
    uint32_t n = 0;
    for (int pass = 0; pass < 2 && n == 0; pass++) {
        for (uint32_t id = 1; id <= shop->ncategories; id++) {
            if (!category_get(shop, id)->alive || id == except)
                continue;
            if (pass == 0 && category_depth(shop, id) < 2)
                continue;
            shop->scratch[n++] = id;
        }
    }
    return n;
}

/* Fills shop->scratch with the live categories at exactly `depth`, except
 * `except`.  Returns the count. */
static uint32_t categories_at_depth(struct shop *shop, uint32_t depth, uint32_t except)
{
    uint32_t n = 0;
    for (uint32_t id = 1; id <= shop->ncategories; id++) {
        if (category_get(shop, id)->alive && id != except && category_depth(shop, id) == depth)
            shop->scratch[n++] = id;
    }
    return n;
}

/* A random live category id (there is always one). */
static uint32_t pick_live_category(struct shop *shop)
{
    assert(shop->nlive_categories > 0);
    for (;;) {
        uint32_t id = 1 + sim_rng_below(&shop->rng, shop->ncategories);
        if (category_get(shop, id)->alive)
            return id;
    }
}

/* The position a new child of parent (0: top level) takes. */
static int32_t take_child_position(struct shop *shop, uint32_t parent)
{
    if (parent == 0)
        return shop->next_top_position++;
    return category_get(shop, parent)->next_child_position++;
}

static void category_name(const struct category *c, char *out, size_t size)
{
    snprintf(out, size, "%s %s", sim_words_get(SIM_WORDS_CAT_QUALIFIER, c->qualifier),
             sim_words_get(SIM_WORDS_CAT_NOUN, c->noun));
}

/* Appends a new category (version 0: its first event makes it 1).
 * Returns its id, or 0 when out of memory. */
static uint32_t category_add(struct shop *shop, uint32_t parent)
{
    if (grow_categories(shop) < 0)
        return 0;
    uint32_t id = ++shop->ncategories;
    struct category *c = category_get(shop, id);
    memset(c, 0, sizeof(*c));
    c->parent = parent;
    c->position = take_child_position(shop, parent);
    c->next_child_position = 1;
    c->qualifier = pick_word(shop, SIM_WORDS_CAT_QUALIFIER);
    c->noun = pick_word(shop, SIM_WORDS_CAT_NOUN);
    c->alive = true;
    c->visible = true;
    shop->nlive_categories++;
    return id;
}

/* ------------------------------------------------------------------------
 * Products: names, terms, representation
 * ------------------------------------------------------------------------ */

static void product_name(const struct product *p, char *out, size_t size)
{
    const char *adjective = sim_words_get(SIM_WORDS_ADJECTIVE, p->adjective);
    const char *noun = sim_words_get(SIM_WORDS_NOUN, p->noun);
    const char *material =
        p->material == NO_WORD ? NULL : sim_words_get(SIM_WORDS_MATERIAL, p->material);
    const char *model = p->model == NO_WORD ? NULL : sim_words_get(SIM_WORDS_MODEL, p->model);
    snprintf(out, size, "%s%s%s %s%s%s", adjective, material ? " " : "", material ? material : "",
             noun, model ? " " : "", model ? model : "");
}

static void terms_insert(struct shop_term_list *list, const char *term)
{
    if (!*term)
        return;
    uint32_t i = 0;
    while (i < list->count && strcmp(list->terms[i], term) < 0)
        i++;
    if (i < list->count && strcmp(list->terms[i], term) == 0)
        return;
    assert(list->count < SHOP_MAX_TERMS);
    memmove(list->terms[i + 1], list->terms[i], (list->count - i) * SHOP_TERM_SIZE);
    snprintf(list->terms[i], SHOP_TERM_SIZE, "%s", term);
    list->count++;
}

static void product_terms(const struct product *p, struct shop_term_list *out)
{
    char name[SHOP_TEXT_SIZE];
    char term[SHOP_TERM_SIZE];
    out->count = 0;
    product_name(p, name, sizeof(name));
    const char *s = name;
    while (*s) {
        while (*s == ' ')
            s++;
        const char *start = s;
        while (*s && *s != ' ')
            s++;
        char word[SHOP_TEXT_SIZE];
        size_t len = (size_t)(s - start);
        if (len == 0)
            break;
        memcpy(word, start, len);
        word[len] = '\0';
        sim_words_normalise(word, term, sizeof(term));
        terms_insert(out, term);
    }
    sim_words_normalise(sim_words_get(SIM_WORDS_BRAND, p->brand), term, sizeof(term));
    terms_insert(out, term);
}

static void product_categories(const struct product *p, struct shop_id_list *out)
{
    out->count = p->ncats;
    for (uint32_t i = 0; i < p->ncats; i++)
        id_to_text(p->cats[i], out->ids[i]);
}

/* Builds the API representation of product id into shop->rep.
 * Returns 0, or -1 when out of memory. */
static int product_representation(struct shop *shop, uint32_t id)
{
    const struct product *p = product_get(shop, id);
    json_t *images = NULL, *cats = NULL, *root = NULL;
    char name[SHOP_TEXT_SIZE], slug[SHOP_TEXT_SIZE + SHOP_ID_SIZE], base[SHOP_TEXT_SIZE];
    char price[32], updated[48], description[320];
    const char *brand = sim_words_get(SIM_WORDS_BRAND, p->brand);

    product_name(p, name, sizeof(name));
    sim_words_slug(name, base, sizeof(base));
    snprintf(slug, sizeof(slug), "%s-%" PRIu32, base, id);
    shop_money_text(p->price_cents, price, sizeof(price));
    shop_time_text(p->updated_at, updated, sizeof(updated));
    snprintf(description, sizeof(description), "%s by %s. %s", name, brand,
             sim_words_get(SIM_WORDS_PHRASE, p->phrase));

    images = json_array();
    cats = json_array();
    if (!images || !cats)
        goto fail;
    for (uint32_t i = 0; i < p->nimages; i++) {
        char url[SHOP_TEXT_SIZE + 128], alt[SHOP_TEXT_SIZE + 32];
        snprintf(url, sizeof(url),
                 "https://cdn.example.com/products/%" PRIu32 "/%s-%" PRIu32 "-%" PRIu32 ".jpg", id,
                 base, p->images[i].id, p->images[i].rev);
        snprintf(alt, sizeof(alt), "%s – view %" PRIu32, name, i + 1);
        if (json_array_append_new(images, json_pack("{s:s,s:s}", "url", url, "alt", alt)) < 0)
            goto fail;
    }
    for (uint32_t i = 0; i < p->ncats; i++) {
        if (json_array_append_new(cats, json_integer((json_int_t)p->cats[i])) < 0)
            goto fail;
    }
    /* With the stock running, availability is the SKUs' (see the top). */
    bool in_stock = shop->stock ? shop_stock_product_in_stock(shop->stock, id) : p->in_stock;
    root = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O,s:b,s:s}", "id", (json_int_t)id, "name",
                     name, "slug", slug, "brand", brand, "price", price, "currency", shop->currency,
                     "description", description, "images", images, "categories", cats, "in_stock",
                     (int)in_stock, "updated_at", updated);
    if (!root)
        goto fail;
    shop->rep = json_dumps(root, JSON_COMPACT);
    if (!shop->rep)
        goto fail;
    json_decref(root);
    json_decref(images);
    json_decref(cats);
    return 0;

fail:
    json_decref(root);
    json_decref(images);
    json_decref(cats);
    return -1;
}

/* A shop-like price: 3 to 500 in four tiers, ending in .99, .49 or .00. */
static int64_t round_price(struct shop *shop, int64_t cents)
{
    static const int endings[] = {99, 99, 99, 49, 0};
    int64_t units = cents / 100;
    if (units < 1)
        units = 1;
    int ending = endings[sim_rng_below(&shop->rng, 5)];
    return units * 100 + ending;
}

static int64_t random_price(struct shop *shop)
{
    static const int64_t tiers[][2] = {{3, 20}, {20, 60}, {60, 200}, {200, 500}};
    uint32_t t = sim_rng_below(&shop->rng, 4);
    return round_price(shop, sim_rng_range(&shop->rng, tiers[t][0], tiers[t][1]) * 100);
}

static void sort_ids(uint32_t *ids, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint32_t v = ids[i], j = i;
        while (j > 0 && ids[j - 1] > v) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = v;
    }
}

static bool product_in_category(const struct product *p, uint32_t cat)
{
    for (uint32_t i = 0; i < p->ncats; i++) {
        if (p->cats[i] == cat)
            return true;
    }
    return false;
}

/* A listable category the product is not in, or 0 if there is none. */
static uint32_t pick_new_category(struct shop *shop, const struct product *p)
{
    uint32_t n = listable_categories(shop, 0);
    if (n == 0)
        return 0;
    uint32_t start = sim_rng_below(&shop->rng, n);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t id = shop->scratch[(start + k) % n];
        if (!product_in_category(p, id))
            return id;
    }
    return 0;
}

static void product_add_image(struct shop *shop, struct product *p)
{
    assert(p->nimages < MAX_IMAGES);
    p->images[p->nimages].id = shop->next_image_id++;
    p->images[p->nimages].rev = 1;
    p->nimages++;
}

/* Gives p 1 to 3 random listable categories (1: 60 %, 2: 30 %, 3: 10 %). */
static void product_random_categories(struct shop *shop, struct product *p)
{
    uint32_t r = sim_rng_below(&shop->rng, 10);
    uint32_t want = r < 6 ? 1 : r < 9 ? 2 : 3;
    p->ncats = 0;
    for (uint32_t i = 0; i < want; i++) {
        uint32_t id = pick_new_category(shop, p);
        if (!id)
            break;
        p->cats[p->ncats++] = id;
    }
    sort_ids(p->cats, p->ncats);
}

/* Appends a new live product with random attributes (version 0: its first
 * event makes it 1), or with the attributes of `like` (a product id, 0:
 * none).  Returns its id, or 0 when out of memory. */
static uint32_t product_add(struct shop *shop, uint32_t like)
{
    if (grow_products(shop) < 0)
        return 0;
    uint32_t id = ++shop->nproducts;
    struct product *p = product_get(shop, id);
    memset(p, 0, sizeof(*p));
    if (like) {
        const struct product *old = product_get(shop, like);
        p->adjective = old->adjective;
        p->material = old->material;
        p->noun = old->noun;
        p->model = old->model;
        p->brand = old->brand;
        p->phrase = old->phrase;
        p->price_cents = old->price_cents;
        for (uint32_t i = 0; i < old->ncats; i++) {
            if (category_get(shop, old->cats[i])->alive)
                p->cats[p->ncats++] = old->cats[i];
        }
    } else {
        p->adjective = pick_word(shop, SIM_WORDS_ADJECTIVE);
        p->material =
            sim_rng_chance(&shop->rng, 600) ? pick_word(shop, SIM_WORDS_MATERIAL) : NO_WORD;
        p->noun = pick_word(shop, SIM_WORDS_NOUN);
        p->model = sim_rng_chance(&shop->rng, 350) ? pick_word(shop, SIM_WORDS_MODEL) : NO_WORD;
        p->brand = pick_word(shop, SIM_WORDS_BRAND);
        p->phrase = pick_word(shop, SIM_WORDS_PHRASE);
        p->price_cents = random_price(shop);
    }
    if (p->ncats == 0)
        product_random_categories(shop, p);
    uint32_t nimages = 1 + sim_rng_below(&shop->rng, MAX_IMAGES);
    for (uint32_t i = 0; i < nimages; i++)
        product_add_image(shop, p);
    p->in_stock = sim_rng_chance(&shop->rng, 900);
    p->alive = true;
    p->published = true;
    live_add(shop, id);
    if (shop->stock &&
        shop_stock_product_added(shop->stock, shop, id, p->in_stock,
                                 shop->started && shop_topic_running(shop, SHOP_TOPIC_STOCK)) < 0)
        return 0;
    return id;
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

struct shop_event *shop_event_start(struct shop *shop, enum shop_event_type type,
                                    enum shop_change change, int64_t version, int64_t now_us)
{
    struct shop_event *ev = &shop->ev;
    memset(ev, 0, sizeof(*ev));
    ev->topic = shop_event_type_topic(type);
    ev->type = type;
    ev->change = change;
    ev->initial = shop->phase != PHASE_CHANGES;
    sim_rng_uuid(&shop->ids[ev->topic], ev->event_id);
    ev->version = version;
    ev->occurred_at = now_us;
    ev->related_model = "";
    return ev;
}

void shop_event_keep_text(struct shop *shop, char *text)
{
    free(shop->rep);
    shop->rep = text;
}

static void event_begin(struct shop *shop, enum shop_event_type type, enum shop_change change,
                        int64_t version, uint32_t id, int64_t now_us)
{
    struct shop_event *ev = shop_event_start(shop, type, change, version, now_us);
    id_to_text(id, ev->key);
}

/* Emits ProductUpserted for product id after a change (or for its sync
 * when change is SHOP_CHANGE_SYNC_PRODUCT, which does not bump the version
 * and reports before = after).  before_* may be NULL for "empty". */
static int emit_product_upserted(struct shop *shop, uint32_t id, enum shop_change change,
                                 const struct shop_id_list *cats_before,
                                 const struct shop_term_list *terms_before, int64_t now_us)
{
    struct product *p = product_get(shop, id);
    if (change != SHOP_CHANGE_SYNC_PRODUCT)
        p->version++;
    p->updated_at = now_us;
    event_begin(shop, SHOP_PRODUCT_UPSERTED, change, p->version, id, now_us);
    struct shop_event *ev = &shop->ev;
    product_categories(p, &ev->categories_after);
    product_terms(p, &ev->terms_after);
    if (change == SHOP_CHANGE_SYNC_PRODUCT) {
        ev->categories_before = ev->categories_after;
        ev->terms_before = ev->terms_after;
    } else {
        if (cats_before)
            ev->categories_before = *cats_before;
        if (terms_before)
            ev->terms_before = *terms_before;
    }
    if (p->published) {
        if (product_representation(shop, id) < 0)
            return -1;
        ev->representation = shop->rep;
        ev->representation_len = strlen(shop->rep);
    }
    return 0;
}

/* Emits CategoryUpserted for category id; bump: the version grows (every
 * change but the sync). */
static void emit_category_upserted(struct shop *shop, uint32_t id, enum shop_change change,
                                   bool bump, int64_t now_us)
{
    struct category *c = category_get(shop, id);
    if (bump)
        c->version++;
    event_begin(shop, SHOP_CATEGORY_UPSERTED, change, c->version, id, now_us);
    struct shop_event *ev = &shop->ev;
    ev->has_parent = c->parent != 0;
    if (c->parent)
        id_to_text(c->parent, ev->parent_id);
    category_name(c, ev->name, sizeof(ev->name));
    sim_words_slug(ev->name, ev->slug, sizeof(ev->slug));
    ev->position = c->position;
    ev->visible = c->visible;
}

/* ------------------------------------------------------------------------
 * Product changes: each returns 1 when it emitted an event, 0 when it did
 * not apply, -1 when out of memory.
 * ------------------------------------------------------------------------ */

static int change_price(struct shop *shop, uint32_t id, int64_t now_us)
{
    struct product *p = product_get(shop, id);
    struct shop_id_list cats;
    struct shop_term_list terms;
    product_categories(p, &cats);
    product_terms(p, &terms);
    int64_t old = p->price_cents;
    for (int tries = 0; tries < 8 && p->price_cents == old; tries++) {
        int64_t pct = sim_rng_range(&shop->rng, 5, 30);
        int64_t factor = sim_rng_chance(&shop->rng, 550) ? 100 - pct : 100 + pct;
        p->price_cents = round_price(shop, old * factor / 100);
    }
    if (p->price_cents == old)
        p->price_cents = old + 100;
    return emit_product_upserted(shop, id, SHOP_CHANGE_PRICE, &cats, &terms, now_us) < 0 ? -1 : 1;
}

static bool terms_equal(const struct shop_term_list *a, const struct shop_term_list *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++) {
        if (strcmp(a->terms[i], b->terms[i]) != 0)
            return false;
    }
    return true;
}

static int change_name(struct shop *shop, uint32_t id, int64_t now_us)
{
    struct product *p = product_get(shop, id);
    struct shop_id_list cats;
    struct shop_term_list before, after;
    product_categories(p, &cats);
    product_terms(p, &before);
    for (int tries = 0; tries < 16; tries++) {
        if (sim_rng_chance(&shop->rng, 700)) {
            p->adjective = pick_word(shop, SIM_WORDS_ADJECTIVE);
        } else {
            uint16_t model = pick_word(shop, SIM_WORDS_MODEL);
            p->model = p->model == model ? NO_WORD : model;
        }
        product_terms(p, &after);
        if (!terms_equal(&before, &after))
            break;
    }
    if (terms_equal(&before, &after))
        return 0; /* no rename found; rare enough to let the fallback run */
    return emit_product_upserted(shop, id, SHOP_CHANGE_NAME, &cats, &before, now_us) < 0 ? -1 : 1;
}

static int change_image(struct shop *shop, uint32_t id, int64_t now_us)
{
    struct product *p = product_get(shop, id);
    uint32_t image_id;
    if (p->nimages < MAX_IMAGES && sim_rng_chance(&shop->rng, 250)) {
        product_add_image(shop, p);
        image_id = p->images[p->nimages - 1].id;
    } else if (p->nimages > 1 && sim_rng_chance(&shop->rng, 333)) {
        uint32_t i = sim_rng_below(&shop->rng, p->nimages);
        image_id = p->images[i].id;
        memmove(&p->images[i], &p->images[i + 1], (p->nimages - i - 1) * sizeof(p->images[0]));
        p->nimages--;
    } else {
        uint32_t i = sim_rng_below(&shop->rng, p->nimages);
        p->images[i].rev++;
        image_id = p->images[i].id;
    }
    p->version++;
    p->updated_at = now_us;
    event_begin(shop, SHOP_PRODUCT_RELATED_CHANGED, SHOP_CHANGE_IMAGE, p->version, id, now_us);
    shop->ev.related_model = "ProductImage";
    id_to_text(image_id, shop->ev.related_id);
    return 1;
}

static void product_remove_category_at(struct product *p, uint32_t i)
{
    memmove(&p->cats[i], &p->cats[i + 1], (p->ncats - i - 1) * sizeof(p->cats[0]));
    p->ncats--;
}

static int change_product_move(struct shop *shop, uint32_t id, int64_t now_us)
{
    struct product *p = product_get(shop, id);
    struct shop_id_list cats;
    struct shop_term_list terms;
    product_categories(p, &cats);
    product_terms(p, &terms);
    uint32_t fresh = pick_new_category(shop, p);
    uint32_t r = sim_rng_below(&shop->rng, 3);
    if (r == 0 && p->ncats < SHOP_MAX_PRODUCT_CATEGORIES && fresh) {
        p->cats[p->ncats++] = fresh;
    } else if (r == 1 && p->ncats > 1) {
        product_remove_category_at(p, sim_rng_below(&shop->rng, p->ncats));
    } else if (fresh) {
        p->cats[sim_rng_below(&shop->rng, p->ncats)] = fresh;
    } else if (p->ncats > 1) {
        product_remove_category_at(p, sim_rng_below(&shop->rng, p->ncats));
    } else {
        return 0;
    }
    sort_ids(p->cats, p->ncats);
    return emit_product_upserted(shop, id, SHOP_CHANGE_PRODUCT_MOVE, &cats, &terms, now_us) < 0 ? -1
                                                                                                : 1;
}

static int change_product_create(struct shop *shop, int64_t now_us)
{
    uint32_t like = 0;
    if (shop->ndeleted > 0 && sim_rng_chance(&shop->rng, 300)) {
        uint32_t i = sim_rng_below(&shop->rng, shop->ndeleted);
        like = shop->deleted_products[i];
        shop->deleted_products[i] = shop->deleted_products[--shop->ndeleted];
    }
    uint32_t id = product_add(shop, like);
    if (!id)
        return -1;
    return emit_product_upserted(shop, id, SHOP_CHANGE_PRODUCT_CREATE, NULL, NULL, now_us) < 0 ? -1
                                                                                               : 1;
}

static int change_product_delete(struct shop *shop, uint32_t id, int64_t now_us)
{
    struct product *p = product_get(shop, id);
    event_begin(shop, SHOP_PRODUCT_DELETED, SHOP_CHANGE_PRODUCT_DELETE, p->version + 1, id, now_us);
    product_categories(p, &shop->ev.categories_before);
    product_terms(p, &shop->ev.terms_before);
    p->version++;
    p->alive = false;
    live_remove(shop, id);
    shop->deleted_products[shop->ndeleted++] = id;
    if (shop->stock)
        shop_stock_product_deleted(shop->stock, id);
    return 1;
}

static int change_publish_toggle(struct shop *shop, uint32_t id, int64_t now_us)
{
    if (sim_rng_chance(&shop->rng, 500)) {
        for (int tries = 0; tries < 64; tries++) {
            uint32_t other = pick_live_product(shop);
            if (!product_get(shop, other)->published) {
                id = other;
                break;
            }
        }
    }
    struct product *p = product_get(shop, id);
    struct shop_id_list cats;
    struct shop_term_list terms;
    product_categories(p, &cats);
    product_terms(p, &terms);
    p->published = !p->published;
    enum shop_change change = p->published ? SHOP_CHANGE_REPUBLISH : SHOP_CHANGE_UNPUBLISH;
    return emit_product_upserted(shop, id, change, &cats, &terms, now_us) < 0 ? -1 : 1;
}

/* ------------------------------------------------------------------------
 * Category changes
 * ------------------------------------------------------------------------ */

static int change_category_reorder(struct shop *shop, int64_t now_us)
{
    uint32_t id = pick_live_category(shop);
    struct category *c = category_get(shop, id);
    int32_t last =
        c->parent ? category_get(shop, c->parent)->next_child_position : shop->next_top_position;
    int32_t position = (int32_t)sim_rng_range(&shop->rng, 1, last > 1 ? last : 2);
    c->position = position == c->position ? position + 1 : position;
    emit_category_upserted(shop, id, SHOP_CHANGE_CATEGORY_REORDER, true, now_us);
    return 1;
}

static int change_category_rename(struct shop *shop, int64_t now_us)
{
    uint32_t id = pick_live_category(shop);
    struct category *c = category_get(shop, id);
    uint16_t qualifier = c->qualifier, noun = c->noun;
    while (c->qualifier == qualifier && c->noun == noun) {
        if (sim_rng_chance(&shop->rng, 500))
            c->qualifier = pick_word(shop, SIM_WORDS_CAT_QUALIFIER);
        else
            c->noun = pick_word(shop, SIM_WORDS_CAT_NOUN);
    }
    emit_category_upserted(shop, id, SHOP_CHANGE_CATEGORY_RENAME, true, now_us);
    return 1;
}

static int change_category_create(struct shop *shop, int64_t now_us)
{
    uint32_t parent = 0;
    if (!sim_rng_chance(&shop->rng, 100)) {
        uint32_t n = categories_at_depth(shop, 1 + sim_rng_below(&shop->rng, 2), 0);
        if (n == 0)
            n = categories_at_depth(shop, 1, 0);
        if (n > 0)
            parent = shop->scratch[sim_rng_below(&shop->rng, n)];
    }
    uint32_t id = category_add(shop, parent);
    if (!id)
        return -1;
    emit_category_upserted(shop, id, SHOP_CHANGE_CATEGORY_CREATE, true, now_us);
    return 1;
}

static int change_category_move(struct shop *shop, int64_t now_us)
{
    uint32_t id = pick_live_category(shop);
    struct category *c = category_get(shop, id);
    uint32_t depth = category_depth(shop, id);
    if (depth < 2)
        return 0;
    /* A parent at the same depth as the current one cannot be a descendant,
     * and keeps the tree three levels deep. */
    uint32_t n = categories_at_depth(shop, depth - 1, c->parent);
    if (n == 0)
        return 0;
    c->parent = shop->scratch[sim_rng_below(&shop->rng, n)];
    c->position = take_child_position(shop, c->parent);
    emit_category_upserted(shop, id, SHOP_CHANGE_CATEGORY_MOVE, true, now_us);
    return 1;
}

static int change_category_visibility(struct shop *shop, int64_t now_us)
{
    uint32_t id = pick_live_category(shop);
    struct category *c = category_get(shop, id);
    c->visible = !c->visible;
    emit_category_upserted(shop, id, SHOP_CHANGE_CATEGORY_VISIBILITY, true, now_us);
    return 1;
}

static int ops_push(struct shop *shop, enum op_kind kind, uint32_t a, uint32_t b)
{
    if (shop->ops_head + shop->ops_len == shop->ops_cap) {
        if (shop->ops_head > 0) {
            memmove(shop->ops, shop->ops + shop->ops_head, shop->ops_len * sizeof(*shop->ops));
            shop->ops_head = 0;
        }
        if (shop->ops_len == shop->ops_cap) {
            size_t cap = shop->ops_cap ? shop->ops_cap * 2 : 64;
            struct op *ops = realloc(shop->ops, cap * sizeof(*ops));
            if (!ops)
                return -1;
            shop->ops = ops;
            shop->ops_cap = cap;
        }
    }
    /* .step only means something for OP_STEP (set by shop_step_push). */
    shop->ops[shop->ops_head + shop->ops_len++] = (struct op){kind, a, b, SHOP_STEP_CART_MERGE};
    return 0;
}

int shop_step_push(struct shop *shop, enum shop_step_kind kind, uint32_t a, uint32_t b)
{
    if (ops_push(shop, OP_STEP, a, b) < 0)
        return -1;
    shop->ops[shop->ops_head + shop->ops_len - 1].step = kind;
    return 0;
}

/* Plans the deletion of a random category as a cascade (see the mix). */
static int plan_category_delete(struct shop *shop)
{
    if (shop->nlive_categories < 2)
        return 0;
    /* Shops delete mostly empty or small categories: take the one listing
     * the fewest products among a few random ones. */
    uint32_t id = 0, fewest = UINT32_MAX;
    for (int k = 0; k < DELETE_CANDIDATES; k++) {
        uint32_t candidate = pick_live_category(shop);
        uint32_t n = 0;
        for (uint32_t i = 0; i < shop->nlive_products && n < fewest; i++)
            n += product_in_category(product_get(shop, shop->live_products[i]), candidate);
        if (n < fewest) {
            fewest = n;
            id = candidate;
        }
    }
    if (fewest > DELETE_MAX_PRODUCTS)
        return 0; /* nobody deletes a busy category; becomes a reorder */
    uint32_t parent = category_get(shop, id)->parent;
    for (uint32_t i = 0; i < shop->nlive_products; i++) {
        uint32_t pid = shop->live_products[i];
        if (product_in_category(product_get(shop, pid), id) &&
            ops_push(shop, OP_PRODUCT_OFF_CATEGORY, pid, id) < 0)
            return -1;
    }
    for (uint32_t child = 1; child <= shop->ncategories; child++) {
        const struct category *c = category_get(shop, child);
        if (c->alive && c->parent == id && ops_push(shop, OP_CATEGORY_REPARENT, child, parent) < 0)
            return -1;
    }
    if (ops_push(shop, OP_CATEGORY_DELETE, id, 0) < 0)
        return -1;
    return 1;
}

/* Plays the next step of the cascade in hand. */
static int run_op(struct shop *shop, int64_t now_us)
{
    assert(shop->ops_len > 0);
    struct op op = shop->ops[shop->ops_head++];
    if (--shop->ops_len == 0)
        shop->ops_head = 0;

    switch (op.kind) {
    case OP_PRODUCT_OFF_CATEGORY: {
        struct product *p = product_get(shop, op.a);
        struct shop_id_list cats;
        struct shop_term_list terms;
        product_categories(p, &cats);
        product_terms(p, &terms);
        uint32_t target = category_get(shop, op.b)->parent;
        if (target == 0 || !category_get(shop, target)->alive) {
            uint32_t n = listable_categories(shop, op.b);
            assert(n > 0); /* a deletion needs two live categories */
            target = shop->scratch[sim_rng_below(&shop->rng, n)];
        }
        for (uint32_t i = 0; i < p->ncats; i++) {
            if (p->cats[i] == op.b) {
                product_remove_category_at(p, i);
                break;
            }
        }
        if (!product_in_category(p, target))
            p->cats[p->ncats++] = target;
        sort_ids(p->cats, p->ncats);
        return emit_product_upserted(shop, op.a, SHOP_CHANGE_CASCADE_PRODUCT, &cats, &terms,
                                     now_us) < 0
                   ? -1
                   : 1;
    }
    case OP_CATEGORY_REPARENT: {
        struct category *c = category_get(shop, op.a);
        c->parent = op.b;
        c->position = take_child_position(shop, op.b);
        emit_category_upserted(shop, op.a, SHOP_CHANGE_CASCADE_CATEGORY, true, now_us);
        return 1;
    }
    case OP_CATEGORY_DELETE: {
        struct category *c = category_get(shop, op.a);
        c->version++;
        c->alive = false;
        shop->nlive_categories--;
        event_begin(shop, SHOP_CATEGORY_DELETED, SHOP_CHANGE_CATEGORY_DELETE, c->version, op.a,
                    now_us);
        return 1;
    }
    case OP_STEP:
        if (op.step == SHOP_STEP_CART_MERGE)
            return shop_carts_merge(shop->carts, shop, op.a, op.b, now_us);
        return shop_stock_step(shop->stock, shop, op.step, op.a, op.b, now_us);
    }
    return -1;
}

static const struct {
    enum shop_change change;
    uint32_t weight; /* per 1000; see THE CHANGE MIX */
} mix[] = {
    {SHOP_CHANGE_PRICE, 480},
    {SHOP_CHANGE_IMAGE, 200},
    {SHOP_CHANGE_NAME, 60},
    {SHOP_CHANGE_PRODUCT_MOVE, 60},
    {SHOP_CHANGE_PRODUCT_CREATE, 70},
    {SHOP_CHANGE_PRODUCT_DELETE, 60},
    {SHOP_CHANGE_UNPUBLISH, 40}, /* the publish toggle */
    {SHOP_CHANGE_CATEGORY_REORDER, 8},
    {SHOP_CHANGE_CATEGORY_RENAME, 6},
    {SHOP_CHANGE_CATEGORY_CREATE, 6},
    {SHOP_CHANGE_CATEGORY_MOVE, 4},
    {SHOP_CHANGE_CATEGORY_VISIBILITY, 4},
    {SHOP_CHANGE_CATEGORY_DELETE, 2},
};

static enum shop_change pick_change(struct shop *shop)
{
    uint32_t r = sim_rng_below(&shop->rng, 1000);
    for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
        if (r < mix[i].weight)
            return mix[i].change;
        r -= mix[i].weight;
    }
    assert(!"the mix adds up to 1000");
    return SHOP_CHANGE_PRICE;
}

/* Chooses and applies one change; emits its (first) event. */
static int run_change(struct shop *shop, int64_t now_us)
{
    enum shop_change change = pick_change(shop);
    bool product_change = change <= SHOP_CHANGE_UNPUBLISH;
    uint32_t id = 0;
    int rc = 0;
    if (product_change && change != SHOP_CHANGE_PRODUCT_CREATE) {
        id = pick_live_product(shop);
        if (!id)
            change = SHOP_CHANGE_PRODUCT_CREATE;
    }
    switch (change) {
    case SHOP_CHANGE_PRICE:
        rc = change_price(shop, id, now_us);
        break;
    case SHOP_CHANGE_IMAGE:
        rc = change_image(shop, id, now_us);
        break;
    case SHOP_CHANGE_NAME:
        rc = change_name(shop, id, now_us);
        break;
    case SHOP_CHANGE_PRODUCT_MOVE:
        rc = change_product_move(shop, id, now_us);
        break;
    case SHOP_CHANGE_PRODUCT_CREATE:
        rc = change_product_create(shop, now_us);
        break;
    case SHOP_CHANGE_PRODUCT_DELETE:
        rc = change_product_delete(shop, id, now_us);
        break;
    case SHOP_CHANGE_UNPUBLISH:
        rc = change_publish_toggle(shop, id, now_us);
        break;
    case SHOP_CHANGE_CATEGORY_REORDER:
        rc = change_category_reorder(shop, now_us);
        break;
    case SHOP_CHANGE_CATEGORY_RENAME:
        rc = change_category_rename(shop, now_us);
        break;
    case SHOP_CHANGE_CATEGORY_CREATE:
        rc = change_category_create(shop, now_us);
        break;
    case SHOP_CHANGE_CATEGORY_MOVE:
        rc = change_category_move(shop, now_us);
        break;
    case SHOP_CHANGE_CATEGORY_VISIBILITY:
        rc = change_category_visibility(shop, now_us);
        break;
    case SHOP_CHANGE_CATEGORY_DELETE:
        rc = plan_category_delete(shop);
        if (rc == 1)
            return run_op(shop, now_us);
        break;
    default:
        assert(!"not a change of the mix");
        return -1;
    }
    if (rc != 0)
        return rc;
    /* Did not apply: the fallbacks always do. */
    if (product_change)
        return change_product_create(shop, now_us);
    return change_category_reorder(shop, now_us);
}

/* ------------------------------------------------------------------------
 * The catalog, as the other modules see it (shop_internal.h)
 * ------------------------------------------------------------------------ */

uint32_t shop_catalog_pick(struct shop *shop, struct sim_rng *rng)
{
    uint32_t n = shop->nlive_products;
    if (n == 0)
        return 0;
    uint32_t hot = n / 50 > 8 ? n / 50 : 8;
    if (hot > n)
        hot = n;
    for (int tries = 0; tries < 8; tries++) {
        uint32_t i = sim_rng_chance(rng, 500) ? sim_rng_below(rng, hot) : sim_rng_below(rng, n);
        uint32_t id = shop->live_products[i];
        if (product_get(shop, id)->published)
            return id;
    }
    return 0;
}

bool shop_catalog_sellable(const struct shop *shop, uint32_t id)
{
    if (id == 0 || id > shop->nproducts)
        return false;
    const struct product *p = &shop->products[id - 1];
    return p->alive && p->published;
}

void shop_catalog_name(const struct shop *shop, uint32_t id, char *out, size_t size)
{
    assert(id >= 1 && id <= shop->nproducts);
    product_name(&shop->products[id - 1], out, size);
}

int64_t shop_catalog_price(const struct shop *shop, uint32_t id)
{
    assert(id >= 1 && id <= shop->nproducts);
    return shop->products[id - 1].price_cents;
}

const char *shop_catalog_currency(const struct shop *shop)
{
    return shop->currency;
}

/* ------------------------------------------------------------------------
 * Topics and the topic mix
 * ------------------------------------------------------------------------ */

bool shop_topic_emitted(const struct shop *shop, enum shop_topic topic)
{
    return (shop->emitted & SHOP_TOPIC_BIT(topic)) != 0;
}

bool shop_topic_running(const struct shop *shop, enum shop_topic topic)
{
    return (shop->running & SHOP_TOPIC_BIT(topic)) != 0;
}

struct shop_stock *shop_get_stock(struct shop *shop)
{
    return shop->stock;
}

struct shop_carts *shop_get_carts(struct shop *shop)
{
    return shop->carts;
}

struct shop_access *shop_get_access(struct shop *shop)
{
    return shop->access;
}

/* What the topics handed out need to run (see shop.h): stock moves with
 * orders, orders come from carts, carts are merged at logins. */
static uint32_t running_topics(uint32_t emitted)
{
    uint32_t r = emitted;
    if (r & SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK))
        r |= SHOP_TOPIC_BIT(SHOP_TOPIC_ORDERS);
    if (r & SHOP_TOPIC_BIT(SHOP_TOPIC_ORDERS))
        r |= SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS);
    if (r & SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS))
        r |= SHOP_TOPIC_BIT(SHOP_TOPIC_ACCESS);
    return r;
}

/* Per 1000; see THE TOPIC MIX. */
static const uint32_t topic_weights[SHOP_TOPIC_COUNT] = {
    [SHOP_TOPIC_PRODUCTS] = 120, [SHOP_TOPIC_CARTS] = 460, [SHOP_TOPIC_ORDERS] = 80,
    [SHOP_TOPIC_ACCESS] = 170,   [SHOP_TOPIC_STOCK] = 170,
};

static enum shop_topic pick_topic(struct shop *shop)
{
    uint32_t total = 0;
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        if (shop_topic_running(shop, (enum shop_topic)t))
            total += topic_weights[t];
    }
    assert(total > 0);
    uint32_t r = sim_rng_below(&shop->mix, total);
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        if (!shop_topic_running(shop, (enum shop_topic)t))
            continue;
        if (r < topic_weights[t])
            return (enum shop_topic)t;
        r -= topic_weights[t];
    }
    assert(!"the weights add up");
    return SHOP_TOPIC_PRODUCTS;
}

/* Chooses a topic and plays one change of it. */
static int run_activity(struct shop *shop, int64_t now_us)
{
    switch (pick_topic(shop)) {
    case SHOP_TOPIC_PRODUCTS:
        return run_change(shop, now_us);
    case SHOP_TOPIC_CARTS:
        return shop_carts_change(shop->carts, shop, now_us);
    case SHOP_TOPIC_ORDERS:
        return shop_carts_checkout(shop->carts, shop, now_us);
    case SHOP_TOPIC_ACCESS:
        return shop_access_change(shop->access, shop, now_us);
    case SHOP_TOPIC_STOCK:
        return shop_stock_change(shop->stock, shop, now_us);
    case SHOP_TOPIC_COUNT:
        break;
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

static int build_tree(struct shop *shop, uint32_t count)
{
    uint32_t top = count / 10 ? count / 10 : 1;
    uint32_t second = (count - top) * 3 / 10;
    if (second == 0 && count > top)
        second = 1;
    uint32_t third = count - top - second;
    /* Ids ascend level by level, so id order is parents-first for the sync. */
    for (uint32_t i = 0; i < top; i++) {
        if (!category_add(shop, 0))
            return -1;
    }
    for (uint32_t i = 0; i < second; i++) {
        uint32_t parent = 1 + sim_rng_below(&shop->rng, top);
        if (!category_add(shop, parent))
            return -1;
    }
    for (uint32_t i = 0; i < third; i++) {
        uint32_t parent = 1 + top + sim_rng_below(&shop->rng, second);
        if (!category_add(shop, parent))
            return -1;
    }
    for (uint32_t id = top + 1; id <= shop->ncategories; id++) {
        if (sim_rng_chance(&shop->rng, 50))
            category_get(shop, id)->visible = false;
    }
    for (uint32_t id = 1; id <= shop->ncategories; id++)
        category_get(shop, id)->version = 1;
    return 0;
}

/* Events the sync phase publishes (sync_next runs from 1 to this). */
static uint32_t phase_size(const struct shop *shop, enum phase phase)
{
    switch (phase) {
    case PHASE_SYNC_CATEGORIES:
        return shop_topic_emitted(shop, SHOP_TOPIC_PRODUCTS) ? shop->ncategories : 0;
    case PHASE_SYNC_PRODUCTS:
        return shop_topic_emitted(shop, SHOP_TOPIC_PRODUCTS) ? shop->nproducts : 0;
    case PHASE_SYNC_STOCK:
        return shop_topic_emitted(shop, SHOP_TOPIC_STOCK) ? shop_stock_skus(shop->stock) : 0;
    case PHASE_SYNC_ACCESS:
        return shop_topic_emitted(shop, SHOP_TOPIC_ACCESS) ? shop_access_sync_count(shop->access)
                                                           : 0;
    case PHASE_CHANGES:
        break;
    }
    return 0;
}

/* Moves past the sync phases that have nothing (left) to publish. */
static void advance_phase(struct shop *shop)
{
    while (shop->phase != PHASE_CHANGES && shop->sync_next > phase_size(shop, shop->phase)) {
        shop->phase = (enum phase)(shop->phase + 1);
        shop->sync_next = 1;
    }
}

struct shop *shop_new(const struct shop_config *cfg, char *errstr, size_t errstr_size)
{
    static const char *const currencies[] = {"EUR", "USD", "GBP", "CHF", "SEK"};
    if (cfg->categories < 1 || cfg->categories > MAX_COUNT) {
        snprintf(errstr, errstr_size, "categories: %" PRIu32 " is out of range 1..%u",
                 cfg->categories, MAX_COUNT);
        return NULL;
    }
    if (cfg->products > MAX_COUNT) {
        snprintf(errstr, errstr_size, "products: %" PRIu32 " is out of range 0..%u", cfg->products,
                 MAX_COUNT);
        return NULL;
    }
    if (cfg->users > MAX_COUNT) {
        snprintf(errstr, errstr_size, "users: %" PRIu32 " is out of range 0..%u", cfg->users,
                 MAX_COUNT);
        return NULL;
    }
    if (cfg->topics & ~SHOP_TOPICS_ALL) {
        snprintf(errstr, errstr_size, "topics: 0x%" PRIx32 " names an unknown topic", cfg->topics);
        return NULL;
    }
    uint32_t sellers = SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS) | SHOP_TOPIC_BIT(SHOP_TOPIC_ORDERS) |
                       SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK);
    if (cfg->products == 0 && (cfg->topics & sellers) &&
        !(cfg->topics & SHOP_TOPIC_BIT(SHOP_TOPIC_PRODUCTS))) {
        snprintf(errstr, errstr_size,
                 "products: 0 leaves carts, orders and stock nothing to sell when the catalog "
                 "does not change (products is not a topic)");
        return NULL;
    }
    struct shop *shop = calloc(1, sizeof(*shop));
    if (!shop)
        goto fail;
    shop->cfg = *cfg;
    if (shop->cfg.topics == 0)
        shop->cfg.topics = SHOP_TOPIC_BIT(SHOP_TOPIC_PRODUCTS);
    if (shop->cfg.users == 0)
        shop->cfg.users = SHOP_DEFAULT_USERS;
    shop->emitted = shop->cfg.topics;
    shop->running = running_topics(shop->emitted);
    sim_rng_seed(&shop->rng, cfg->seed, SHOP_STREAM_CATALOG);
    sim_rng_seed(&shop->mix, cfg->seed, SHOP_STREAM_MIX);
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++)
        sim_rng_seed(&shop->ids[t], cfg->seed,
                     t == SHOP_TOPIC_PRODUCTS ? SHOP_STREAM_PRODUCT_IDS
                                              : SHOP_STREAM_TOPIC_IDS + (uint64_t)t);
    shop->currency = currencies[sim_rng_below(&shop->rng, 5)];
    shop->next_image_id = 1;
    shop->next_top_position = 1;
    /* The stock first: it follows every product the catalog adds. */
    if (shop->running & (SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS) | SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK))) {
        shop->stock = shop_stock_new(cfg->seed);
        if (!shop->stock)
            goto fail;
    }
    if (build_tree(shop, cfg->categories) < 0)
        goto fail;
    for (uint32_t i = 0; i < cfg->products; i++) {
        uint32_t id = product_add(shop, 0);
        if (!id)
            goto fail;
        product_get(shop, id)->version = 1;
    }
    if (shop_topic_running(shop, SHOP_TOPIC_CARTS)) {
        shop->carts = shop_carts_new(cfg->seed, shop->cfg.users);
        if (!shop->carts)
            goto fail;
    }
    if (shop_topic_running(shop, SHOP_TOPIC_ACCESS)) {
        shop->access = shop_access_new(cfg->seed, shop->cfg.users);
        if (!shop->access)
            goto fail;
    }
    shop->phase = cfg->initial_sync ? PHASE_SYNC_CATEGORIES : PHASE_CHANGES;
    shop->sync_next = 1;
    advance_phase(shop);
    shop->started = true;
    return shop;

fail:
    snprintf(errstr, errstr_size, "out of memory building the shop");
    shop_destroy(shop);
    return NULL;
}

void shop_destroy(struct shop *shop)
{
    if (!shop)
        return;
    shop_access_destroy(shop->access);
    shop_carts_destroy(shop->carts);
    shop_stock_destroy(shop->stock);
    free(shop->rep);
    free(shop->products);
    free(shop->live_products);
    free(shop->deleted_products);
    free(shop->categories);
    free(shop->scratch);
    free(shop->ops);
    free(shop);
}

bool shop_in_initial_sync(const struct shop *shop)
{
    return shop->phase != PHASE_CHANGES;
}

uint32_t shop_live_products(const struct shop *shop)
{
    return shop->nlive_products;
}

uint32_t shop_live_categories(const struct shop *shop)
{
    return shop->nlive_categories;
}

uint32_t shop_live_carts(const struct shop *shop)
{
    return shop->carts ? shop_carts_live(shop->carts) : 0;
}

uint32_t shop_users(const struct shop *shop)
{
    return shop->access ? shop_access_users(shop->access) : 0;
}

uint32_t shop_sold_out_skus(const struct shop *shop)
{
    return shop->stock ? shop_stock_sold_out(shop->stock) : 0;
}

uint32_t shop_topics(const struct shop *shop)
{
    return shop->emitted;
}

uint32_t shop_topics_running(const struct shop *shop)
{
    return shop->running;
}

/* Plays one event of any running topic into shop->ev. */
static int run_one(struct shop *shop, int64_t now_us)
{
    uint32_t i = shop->sync_next;
    switch (shop->phase) {
    case PHASE_SYNC_CATEGORIES:
        shop->sync_next++;
        emit_category_upserted(shop, i, SHOP_CHANGE_SYNC_CATEGORY, false, now_us);
        return 1;
    case PHASE_SYNC_PRODUCTS:
        shop->sync_next++;
        return emit_product_upserted(shop, i, SHOP_CHANGE_SYNC_PRODUCT, NULL, NULL, now_us) < 0 ? -1
                                                                                                : 1;
    case PHASE_SYNC_STOCK:
        shop->sync_next++;
        shop_stock_emit_sync(shop->stock, shop, i - 1, now_us);
        return 1;
    case PHASE_SYNC_ACCESS:
        shop->sync_next++;
        shop_access_emit_sync(shop->access, shop, i - 1, now_us);
        return 1;
    case PHASE_CHANGES:
        break;
    }
    return shop->ops_len > 0 ? run_op(shop, now_us) : run_activity(shop, now_us);
}

int shop_next(struct shop *shop, int64_t now_us, const struct shop_event **out)
{
    *out = NULL;
    /* Events of the topics that run but are not handed out are applied
     * and dropped, as are changes that found nothing to do; a topic handed
     * out comes up within a few tries (some tens for orders alone). */
    for (uint32_t tries = 0; tries < MAX_TRIES; tries++) {
        free(shop->rep);
        shop->rep = NULL;
        int rc = run_one(shop, now_us);
        if (rc < 0)
            return -1;
        advance_phase(shop);
        if (rc > 0 && shop_topic_emitted(shop, shop->ev.topic)) {
            *out = &shop->ev;
            return 0;
        }
    }
    return -1; /* nothing can change any more */
}
