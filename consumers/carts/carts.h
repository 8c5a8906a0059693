/* carts.h - the carts consumer, as the runtime sees it.
 *
 * Topic shop.carts (carts updated, deleted, merged) -> cart:{cart_id}, the
 * shopping carts (seed section 5).  Orders completed, the other way a cart
 * leaves the cache, come from topic shop.orders (consumers/orders/).
 */
#ifndef CARTS_H
#define CARTS_H

#include "runtime.h"

extern const struct cf_consumer_def carts_consumer;

#endif
