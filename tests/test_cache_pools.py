"""The Redis cache keeps one connection pool per process and server, whatever the number of
cache objects Django makes (one per thread and per request context)."""

from botsinais.cache import SharedPoolRedisCache


def pool_of(location: str, **options):
    cache = SharedPoolRedisCache(location, {"OPTIONS": options})
    return cache._cache._get_connection_pool(write=True)


def test_cache_objects_of_different_requests_share_one_pool():
    assert pool_of("redis://127.0.0.1:6379/9") is pool_of("redis://127.0.0.1:6379/9")


def test_another_server_or_other_options_get_a_pool_of_their_own():
    pool = pool_of("redis://127.0.0.1:6379/9")
    assert pool_of("redis://127.0.0.1:6379/8") is not pool
    assert pool_of("redis://127.0.0.1:6379/9", socket_timeout=2) is not pool
