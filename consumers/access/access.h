/* access.h - the access consumer, as the runtime sees it.
 *
 * Topic shop.access (users' roles, roles' permissions, logins and logouts)
 * -> user sessions and permissions (seed sections 4 and 6).
 */
#ifndef ACCESS_H
#define ACCESS_H

#include "runtime.h"

extern const struct cf_consumer_def access_consumer;

#endif
