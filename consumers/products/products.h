/* products.h - the products consumer, as the runtime sees it.
 *
 * Topic shop.products (products and categories) -> product detail,
 * category and search listings, navigation menus (seed sections 1-3).
 */
#ifndef PRODUCTS_H
#define PRODUCTS_H

#include "runtime.h"

extern const struct cf_consumer_def products_consumer;

#endif
