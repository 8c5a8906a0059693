"""cachefleet_django: the web tier's side of the cache contract.

cachefleet keeps most keys coherent by itself (product:, cart:, stock:,
perms:, menu:).  The web tier reads them with a plain ``cache.get(...)``.
Listings are different: their content depends on a query, so the web tier
fills them, and tells cachefleet under which tags they must be invalidated.
It does so through ``fill()``, which calls the fleet's Redis function
``cachefleet_fill`` so that a listing computed from data read *before* a
change cannot be stored *after* cachefleet invalidated that change::

    from django.core.cache import cache
    from cachefleet_django import fill, read_timestamp

    started = read_timestamp()              # before reading the database
    rows = list(Product.objects.filter(categories=7).values("id", "name"))
    fill(cache, "listing:category:7:page:1", rows, timeout=300,
         tags=["category:7"], read_at=started)

``fill`` returns False when it refused to store the value because the cache
already knows of a newer state (a tag invalidated after ``read_at``, or a
newer version of the key): the caller simply serves ``rows`` uncached.

Requirements: django-redis with the JSONSerializer (values are JSON, so the
fleet's C programs and Django read the same bytes), Redis 7 with the
``cachefleet`` function library loaded (every cachefleet consumer loads it
at start).
"""

import time

__all__ = ["fill", "read_timestamp"]


def read_timestamp():
    """Microseconds since the epoch, taken before reading the database."""
    return time.time_ns() // 1000


def fill(cache, key, value, timeout, tags=(), version=0, read_at=None):
    """Stores ``value`` at ``key`` for ``timeout`` seconds, registered under
    ``tags`` (e.g. "category:7", "search:shoe"), unless the cache holds a
    newer state.  ``version`` is the entity version the value was built from
    (0 for a listing); ``read_at`` the time the database was read (default:
    now, which is only right when the value was read just now).

    Returns True if stored, False if refused."""
    if read_at is None:
        read_at = read_timestamp()
    client = cache.client
    conn = client.get_client(write=True)
    full_key = str(client.make_key(key))
    tag_keys = [str(client.make_key("tag:" + tag)) for tag in tags]
    payload = client.encode(value)
    timeout_ms = int(timeout * 1000)
    if timeout_ms <= 0:
        raise ValueError("cachefleet fill needs a positive timeout")
    stored = conn.execute_command(
        "FCALL", "cachefleet_fill", 1 + len(tag_keys), full_key, *tag_keys,
        payload, timeout_ms, int(version), int(read_at))
    return stored == 1
