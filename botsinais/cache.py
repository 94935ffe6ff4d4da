"""Django's Redis cache with connection pools that live as long as the process."""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple, dict] = {}
_pools_lock = threading.Lock()


class SharedPoolsClient(RedisCacheClient):
    """Takes its pools from one table per process, keyed by servers and options.

    Django makes a cache object per thread and per request context, and a2wsgi runs every
    request in a fresh copy of the context (botsinais/asgi.py): each request built a new client
    with a pool of its own, and opened a new Redis connection for the throttle's first read
    (a fifth of the web process's request time under load, docs/capacity.md).
    """

    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        key = (tuple(servers), repr(sorted(options.items())))
        with _pools_lock:
            self._pools = _pools.setdefault(key, {})


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolsClient
