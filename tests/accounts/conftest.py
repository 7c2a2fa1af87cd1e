import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # allauth keeps its rate-limit counters (signups per IP, resets per address) in the cache,
    # which outlives a test: start and end each test with none spent.
    cache.clear()
    yield
    cache.clear()
