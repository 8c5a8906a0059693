/* shop.h - the simulated shop: its state and the events that describe every
 * change to it.
 *
 * What it owns: a category tree and a product catalog held in memory, the
 * choice of what changes next (the event mix, documented in shop.c), and
 * one event per change carrying the entity's state before and after.  What
 * it does not: Avro, Kafka, clocks or pacing.  The caller passes the
 * wall-clock time of each event in, so the model is a pure function of its
 * seed and the times it is given: the same seed and the same times give the
 * same events, byte for byte.
 *
 * DESIGN
 * Entities live in arrays indexed by id - 1; ids are plain decimal numbers,
 * like Django primary keys, separately for products and categories, and are
 * never reused (a deleted product that comes back gets a new id).  Every
 * entity has a version that starts at 1 and grows by exactly 1 per change;
 * the initial sync publishes version 1 of everything, so an entity's first
 * change is version 2 whether the sync was published or skipped.
 *
 * shop_next() returns one event at a time.  A change that touches several
 * entities (deleting a category first moves its products and its children)
 * is planned as a queue of steps, and each step is applied to the state only
 * when its event is taken: the events handed out always describe the state
 * exactly, even when the caller stops in the middle of such a cascade.
 *
 * Lists in an event: categories are a product's category ids in ascending
 * order; search terms are the normalised words of its name plus its
 * normalised brand, sorted and without duplicates (words.h).  Before and
 * after lists are the model's real state around the change; an unpublished
 * product keeps its categories and terms (its representation is null).
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
#define SHOP_TEXT_SIZE              96 /* names and slugs, NUL included */

enum shop_event_type {
    SHOP_PRODUCT_UPSERTED,
    SHOP_PRODUCT_DELETED,
    SHOP_PRODUCT_RELATED_CHANGED,
    SHOP_CATEGORY_UPSERTED,
    SHOP_CATEGORY_DELETED,
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
    SHOP_CHANGE_COUNT
};

struct shop_id_list {
    uint32_t count;
    char ids[SHOP_MAX_PRODUCT_CATEGORIES][SHOP_ID_SIZE];
};

struct shop_term_list {
    uint32_t count;
    char terms[SHOP_MAX_TERMS][SHOP_TERM_SIZE];
};

/* One event.  Which members are meaningful depends on type:
 *   PRODUCT_UPSERTED        key, categories_*, terms_*, representation
 *   PRODUCT_DELETED         key, categories_before, terms_before
 *   PRODUCT_RELATED_CHANGED key, related_model, related_id
 *   CATEGORY_UPSERTED       key, has_parent, parent_id, name, slug, position, visible
 *   CATEGORY_DELETED        key
 * Unused lists are empty and unused strings are "". */
struct shop_event {
    enum shop_event_type type;
    enum shop_change change;
    bool initial; /* part of the initial sync */
    char event_id[SIM_UUID_LEN + 1];
    int64_t version;
    int64_t occurred_at;    /* microseconds since the epoch, as given to shop_next() */
    char key[SHOP_ID_SIZE]; /* the entity id: product_id or category_id */

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
};

struct shop_config {
    uint64_t seed;
    uint32_t categories; /* initial categories, >= 1 */
    uint32_t products;   /* initial products, >= 0 */
    bool initial_sync;   /* start with the snapshot of everything */
};

struct shop;

/* Builds the initial shop from cfg (copied).  Returns NULL with a reason in
 * errstr on bad settings or when out of memory. */
struct shop *shop_new(const struct shop_config *cfg, char *errstr, size_t errstr_size);

void shop_destroy(struct shop *shop);

/* Produces the next event, applying its change to the model.  now_us is the
 * event's occurred_at (and the product's updated_at where it changes).
 * *out points into the shop and stays valid until the next call of
 * shop_next() or shop_destroy().  Returns 0, or -1 when out of memory (the
 * shop is then unusable). */
int shop_next(struct shop *shop, int64_t now_us, const struct shop_event **out);

/* True while events of the initial sync remain. */
bool shop_in_initial_sync(const struct shop *shop);

/* Counts of live entities (for logs and tests). */
uint32_t shop_live_products(const struct shop *shop);
uint32_t shop_live_categories(const struct shop *shop);

/* Avro record names ("ProductUpserted", ...) and change names ("price", ...). */
const char *shop_event_type_name(enum shop_event_type type);
const char *shop_change_name(enum shop_change change);

#endif
