"""Django settings of the web tier used by tests/integration/test_django.c:
django-redis with its JSONSerializer and Django's cache session backend,
against the redis-server the test started (CACHEFLEET_TEST_REDIS_URL)."""
import os

SECRET_KEY = "cachefleet-test-only"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django.contrib.sessions"]
DATABASES = {}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["CACHEFLEET_TEST_REDIS_URL"],
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
        },
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
