"""Django's cache on Redis, shared by every node, that a Redis outage can't turn into errors.

With REDIS_URL set, the cache holds the counts behind the rate limits (config/limits.py,
allauth's ACCOUNT_RATE_LIMITS, the admin's login guesses), so that a member's limit is one
limit across all the nodes rather than one per process. Those limits guard against abuse,
not correctness: while Redis is away, reads miss, writes are dropped and counting fails
open (RATELIMIT_FAIL_OPEN), with one warning a minute in the log, and every page still
answers. The channel layer rides out the same outage on its own (rooms/broadcast.py).

clear() deletes only this cache's keys (its KEY_PREFIX), never the rest of the Redis
database, where the rooms' leases and the channel layer's data may live.
"""

import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WARN_EVERY = 60.0  # seconds between warnings while Redis stays away
RETRY_AFTER = 1.0  # after a failure, Redis isn't tried again for this long
_FAILURES = (RedisError, OSError)
_MISSING = object()


class SharedCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._warned_at = float("-inf")
        self._down_until = float("-inf")

    def _attempt(self, operation: str, call, fallback):
        """`call()`, or `fallback` if Redis fails (or failed within RETRY_AFTER: a Redis
        that times out costs a request one socket timeout, not one per cache call)."""
        now = time.monotonic()
        if now >= self._down_until:
            try:
                return call()
            except _FAILURES as exc:
                self._down_until = now + RETRY_AFTER
                if now - self._warned_at >= WARN_EVERY:
                    self._warned_at = now
                    log.warning(
                        "cache: %s failed, Redis is unavailable (limits fail open): %r",
                        operation,
                        exc,
                    )
        if fallback is _MISSING:
            # django-ratelimit reads a ValueError from incr() as "count unknown", and fails open.
            raise ValueError("the cache is unavailable")
        return fallback

    def add(self, key, value, timeout=None, version=None):
        # True, as if stored: allauth takes add() as a lock, and would otherwise refuse.
        return self._attempt(
            "add", lambda: super(SharedCache, self).add(key, value, timeout, version), True
        )

    def get(self, key, default=None, version=None):
        return self._attempt(
            "get", lambda: super(SharedCache, self).get(key, default, version), default
        )

    def get_many(self, keys, version=None):
        return self._attempt(
            "get_many", lambda: super(SharedCache, self).get_many(keys, version), {}
        )

    def set(self, key, value, timeout=None, version=None):
        self._attempt(
            "set", lambda: super(SharedCache, self).set(key, value, timeout, version), None
        )

    def set_many(self, data, timeout=None, version=None):
        return self._attempt(
            "set_many",
            lambda: super(SharedCache, self).set_many(data, timeout, version),
            list(data),
        )

    def touch(self, key, timeout=None, version=None):
        return self._attempt(
            "touch", lambda: super(SharedCache, self).touch(key, timeout, version), False
        )

    def delete(self, key, version=None):
        return self._attempt("delete", lambda: super(SharedCache, self).delete(key, version), False)

    def delete_many(self, keys, version=None):
        self._attempt(
            "delete_many", lambda: super(SharedCache, self).delete_many(keys, version), None
        )

    def has_key(self, key, version=None):
        return self._attempt(
            "has_key", lambda: super(SharedCache, self).has_key(key, version), False
        )

    def incr(self, key, delta=1, version=None):
        return self._attempt(
            "incr", lambda: super(SharedCache, self).incr(key, delta, version), _MISSING
        )

    def clear(self):
        self._attempt("clear", self._clear_own_keys, None)
        return True

    def _clear_own_keys(self) -> None:
        client = self._cache.get_client(write=True)
        batch = []
        for key in client.scan_iter(match=f"{self.key_prefix}:*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
