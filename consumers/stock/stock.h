/* stock.h - the stock consumer, as the runtime sees it.
 *
 * Topic shop.stock (stock movements) -> inventory counts, and the product
 * detail when a SKU goes out of stock or back in (seed section 7).
 */
#ifndef STOCK_H
#define STOCK_H

#include "runtime.h"

extern const struct cf_consumer_def stock_consumer;

#endif
