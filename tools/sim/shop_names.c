/* shop_names.c - the shop model's vocabulary: the names of event types,
 * changes and topics, the Avro enum symbols, the --topics list, and the
 * text formats of money and time (see shop.h and shop_internal.h).
 *
 * What it owns: constant tables and pure functions.  What it does not:
 * any state.  The tables are indexed by the enums of shop.h and must list
 * their members in the same order; the type and symbol names are the
 * record and symbol names of the schemas in schemas/.
 *
 * Thread: any (no state).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shop_internal.h"

static const char *const type_names[SHOP_EVENT_TYPE_COUNT] = {
    "ProductUpserted",
    "ProductDeleted",
    "ProductRelatedChanged",
    "CategoryUpserted",
    "CategoryDeleted",
    "CartUpdated",
    "CartDeleted",
    "CartMerged",
    "OrderCompleted",
    "UserRolesChanged",
    "RolePermissionsChanged",
    "UserLoggedIn",
    "UserLoggedOut",
    "UserLoggedOutEverywhere",
    "UserPasswordChanged",
    "UserDeactivated",
    "StockMoved",
};

static const enum shop_topic type_topics[SHOP_EVENT_TYPE_COUNT] = {
    SHOP_TOPIC_PRODUCTS, SHOP_TOPIC_PRODUCTS, SHOP_TOPIC_PRODUCTS, SHOP_TOPIC_PRODUCTS,
    SHOP_TOPIC_PRODUCTS, SHOP_TOPIC_CARTS,    SHOP_TOPIC_CARTS,    SHOP_TOPIC_CARTS,
    SHOP_TOPIC_ORDERS,   SHOP_TOPIC_ACCESS,   SHOP_TOPIC_ACCESS,   SHOP_TOPIC_ACCESS,
    SHOP_TOPIC_ACCESS,   SHOP_TOPIC_ACCESS,   SHOP_TOPIC_ACCESS,   SHOP_TOPIC_ACCESS,
    SHOP_TOPIC_STOCK,
};

static const char *const topic_names[SHOP_TOPIC_COUNT] = {
    "products", "carts", "orders", "access", "stock",
};

static const char *const cart_change_symbols[] = {
    "CREATED", "ITEM_ADDED", "ITEM_REMOVED", "QUANTITY_CHANGED", "OTHER",
};

static const char *const movement_symbols[] = {
    "PURCHASE", "RESTOCK", "RETURN", "ADJUSTMENT", "OTHER",
};

static const char *const change_names[SHOP_CHANGE_COUNT] = {
    "sync_category",
    "sync_product",
    "price",
    "image",
    "name",
    "product_move",
    "product_create",
    "product_delete",
    "unpublish",
    "republish",
    "category_reorder",
    "category_rename",
    "category_create",
    "category_move",
    "category_visibility",
    "category_delete",
    "cascade_product",
    "cascade_category",
    "cart_create",
    "cart_add",
    "cart_remove",
    "cart_quantity",
    "cart_fix",
    "cart_emptied",
    "cart_abandon",
    "cart_merge",
    "checkout",
    "sync_role",
    "sync_user",
    "signup",
    "role_grant",
    "role_revoke",
    "role_permissions",
    "login",
    "logout",
    "logout_everywhere",
    "password",
    "deactivate",
    "sync_stock",
    "purchase",
    "restock",
    "return",
    "adjustment",
};

const char *shop_event_type_name(enum shop_event_type type)
{
    return type < SHOP_EVENT_TYPE_COUNT ? type_names[type] : "unknown";
}

const char *shop_change_name(enum shop_change change)
{
    return change < SHOP_CHANGE_COUNT ? change_names[change] : "unknown";
}

const char *shop_topic_name(enum shop_topic topic)
{
    return topic < SHOP_TOPIC_COUNT ? topic_names[topic] : "unknown";
}

enum shop_topic shop_event_type_topic(enum shop_event_type type)
{
    assert(type < SHOP_EVENT_TYPE_COUNT);
    return type_topics[type];
}

const char *shop_cart_change_symbol(enum shop_cart_change change)
{
    return change <= SHOP_CART_OTHER ? cart_change_symbols[change] : "OTHER";
}

const char *shop_movement_symbol(enum shop_movement movement)
{
    return movement <= SHOP_MOVEMENT_OTHER ? movement_symbols[movement] : "OTHER";
}

int shop_topics_parse(const char *list, uint32_t *mask, char *errstr, size_t errstr_size)
{
    uint32_t m = 0;
    const char *s = list;
    for (;;) {
        while (*s == ' ')
            s++;
        const char *start = s;
        while (*s && *s != ',' && *s != ' ')
            s++;
        size_t len = (size_t)(s - start);
        while (*s == ' ')
            s++;
        if (*s && *s != ',') {
            snprintf(errstr, errstr_size, "\"%s\": a topic name has a space in it", list);
            return -1;
        }
        int found = -1;
        for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
            if (len == strlen(topic_names[t]) && memcmp(start, topic_names[t], len) == 0)
                found = t;
        }
        if (found < 0) {
            snprintf(errstr, errstr_size,
                     "\"%.*s\" is not a topic (products, carts, orders, access, stock)",
                     (int)(len < 64 ? len : 64), start);
            return -1;
        }
        if (m & SHOP_TOPIC_BIT(found)) {
            snprintf(errstr, errstr_size, "topic %s is listed twice", topic_names[found]);
            return -1;
        }
        m |= SHOP_TOPIC_BIT(found);
        if (!*s)
            break;
        s++; /* the comma */
    }
    *mask = m;
    return 0;
}

void shop_time_text(int64_t us, char *out, size_t size)
{
    time_t secs = (time_t)(us / 1000000);
    long micros = (long)(us % 1000000);
    if (micros < 0) {
        secs--;
        micros += 1000000;
    }
    struct tm tm;
    char date[32];
    if (!gmtime_r(&secs, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(date, sizeof(date), "1970-01-01T00:00:00");
    snprintf(out, size, "%s.%06ldZ", date, micros);
}

void shop_money_text(int64_t cents, char *out, size_t size)
{
    snprintf(out, size, "%" PRId64 ".%02d", cents / 100, (int)(cents % 100));
}
