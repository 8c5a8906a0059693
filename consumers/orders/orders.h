/* orders.h - the orders consumer, as the runtime sees it.
 *
 * Topic shop.orders (orders completed) -> cart:{cart_id} invalidated: the
 * cart an order was placed from is emptied (seed section 5).  The carts
 * themselves are cached by the carts consumer (consumers/carts/).
 */
#ifndef ORDERS_H
#define ORDERS_H

#include "runtime.h"

extern const struct cf_consumer_def orders_consumer;

#endif
