"""The cache behind the rate limits on Redis (config/cache.py): one count for every node,
a Redis outage that fails the limits open without failing a page, and a clear() that
touches only the cache's own keys."""

import logging
import os

import pytest
import redis
from django.core.cache import caches
from django.test import Client

from config.cache import SharedCache
from rooms.models import Room
from tests.conftest import make_member

pytestmark = pytest.mark.django_db

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused
FORM = {"title": "Room", "description": "", "speakers": "", "visibility": "public"}
FORM |= {"max_speakers": 10, "group": ""}


def _cache(location: str, prefix: str = "podium-test-cache") -> SharedCache:
    return SharedCache(
        location,
        {"KEY_PREFIX": prefix, "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}},
    )


@pytest.fixture
def cache_nowhere(settings):
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.SharedCache", "LOCATION": NOWHERE, "KEY_PREFIX": "x"}
    }
    settings.RATELIMIT_FAIL_OPEN = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "room.create": "2/h"}
    yield caches["default"]


def test_every_operation_answers_while_redis_is_away(caplog):
    cache = _cache(NOWHERE)
    with caplog.at_level(logging.WARNING, logger="config.cache"):
        assert cache.add("k", 1) is True  # as if stored: allauth's lock goes ahead
        assert cache.get("k", "default") == "default"
        cache.set("k", 2)
        assert cache.get_many(["k"]) == {}
        assert cache.delete("k") is False
        with pytest.raises(ValueError):  # django-ratelimit's "count unknown"
            cache.incr("k")
        assert cache.clear() is True
    warnings = [r for r in caplog.records if r.name == "config.cache"]
    assert len(warnings) == 1  # one a minute, not one per call
    assert "Redis is unavailable" in warnings[0].getMessage()


def test_with_redis_away_the_limits_fail_open_and_pages_answer(cache_nowhere, alice):
    client = Client()
    client.force_login(alice)
    codes = [client.post("/rooms/new/", FORM).status_code for _ in range(4)]
    assert codes == [302, 302, 302, 302]  # the limit is 2/h: not counted, not refused
    assert Room.objects.filter(host=alice).count() == 4
    # allauth's own limits (the login form) read and write the same cache.
    signed_out = Client()
    assert signed_out.get("/accounts/login/").status_code == 200
    wrong = {"login": alice.email, "password": "not-the-password"}
    assert signed_out.post("/accounts/login/", wrong).status_code == 200
    right = {"login": alice.email, "password": "pw-for-tests-1"}
    assert signed_out.post("/accounts/login/", right).status_code == 302


needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")


@needs_redis
def test_two_processes_count_against_one_limit():
    """Two caches on one Redis (as two nodes have) see one count."""
    url = os.environ["REDIS_URL"]
    one, other = _cache(url), _cache(url)
    one.clear()
    assert one.add("count", 1, 60) is True
    assert other.add("count", 1, 60) is False
    assert other.incr("count") == 2
    assert one.incr("count") == 3
    one.clear()


@needs_redis
def test_clear_deletes_only_the_caches_own_keys():
    url = os.environ["REDIS_URL"]
    raw = redis.Redis.from_url(url)
    raw.set("podium-test-foreign", "kept")  # a lease or the channel layer's, say
    cache = _cache(url)
    for i in range(1200):  # more than one SCAN batch
        cache.set(f"k{i}", i, 60)
    try:
        cache.clear()
        assert cache.get("k7") is None
        assert not list(raw.scan_iter(match="podium-test-cache:*"))
        assert raw.get("podium-test-foreign") == b"kept"
    finally:
        raw.delete("podium-test-foreign")


def test_the_member_limit_holds_on_the_default_cache(settings, alice):
    """Whatever the suite's cache (Redis on the PostgreSQL run, memory on SQLite), the limit
    stops the burst: the counts reach the cache and come back."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "room.create": "2/h"}
    member = make_member("Burst Tester")
    client = Client()
    client.force_login(member)
    codes = [client.post("/rooms/new/", FORM).status_code for _ in range(3)]
    assert codes == [302, 302, 429]
