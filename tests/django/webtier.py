"""The web tier's side of tests/integration/test_django.c.

Each call runs one step, as a Django view would, and prints one JSON
object on stdout for the C test to assert on:

  get KEY                  cache.get(KEY): {"type": ..., "value": ...}
  fill KEY JSON TAG...     cachefleet_django.fill: {"stored": bool}
  session-create           a session saved by Django's cache backend:
                           {"session_key": ..., "redis_key": ...}
  session-exists KEY       {"exists": bool}
"""
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
import django  # noqa: E402

django.setup()

from django.contrib.sessions.backends.cache import SessionStore  # noqa: E402
from django.core.cache import cache  # noqa: E402

import cachefleet_django  # noqa: E402


def main(argv):
    step = argv[1]
    if step == "get":
        value = cache.get(argv[2])
        out = {"type": type(value).__name__, "value": value}
    elif step == "fill":
        stored = cachefleet_django.fill(cache, argv[2], json.loads(argv[3]), timeout=300,
                                        tags=argv[4:])
        out = {"stored": stored}
    elif step == "session-create":
        session = SessionStore()
        session["cart"] = "anonymous"
        session.create()
        out = {"session_key": session.session_key,
               "redis_key": str(cache.client.make_key(session.cache_key))}
    elif step == "session-exists":
        out = {"exists": SessionStore().exists(argv[2])}
    else:
        raise SystemExit("unknown step " + step)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
