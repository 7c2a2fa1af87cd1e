"""Fixtures for the cluster tests: real `manage.py runnode` processes on 127.0.0.1 sharing
pytest-django's test database (PostgreSQL) and a Redis database of their own.

They need PostgreSQL and Redis, so tests marked `cluster` are skipped unless the test
database is PostgreSQL and REDIS_URL is set: `make test` (SQLite) skips them and
`make test-services` runs them. Select them with `-m cluster`.
"""

import os
import shutil
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from tests.cluster.nodes import Cluster, DatabaseDoor, RedisServer
from tests.media.peers import loopback_only

# The nodes' Redis database on the shared server (FLUSHDB before and after each test).
CLUSTER_REDIS_DB = 11


def _missing_services() -> str | None:
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return "cluster tests need PostgreSQL (DATABASE_URL)"
    if not os.environ.get("REDIS_URL"):
        return "cluster tests need Redis (REDIS_URL)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing_services()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("cluster"):
            item.add_marker(skip)


def _redis_db_url(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


@pytest.fixture
def cluster(transactional_db, tmp_path):
    """Start nodes with `cluster.start("a", "b", ...)`; all stop (and their logs are
    checked for tracebacks) when the test ends."""
    reason = _missing_services()
    if reason:
        pytest.skip(reason)
    nodes = Cluster(
        tmp_path=tmp_path,
        redis_url=_redis_db_url(os.environ["REDIS_URL"], CLUSTER_REDIS_DB),
        database=connection.settings_dict,
        secret_key=settings.SECRET_KEY,
        prefix=f"podiumcluster{os.getpid()}",
    )
    nodes.redis().flushdb()
    try:
        yield nodes
    finally:
        try:
            nodes.stop()
        finally:
            nodes.redis().flushdb()


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of the test's own (no persistence) that it may kill and restart.
    Request it before `cluster`, so that it outlives the nodes."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on the PATH")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def loopback(monkeypatch):
    """The test's own aiortc peers gather only 127.0.0.1, like the nodes."""
    loopback_only(monkeypatch)


@pytest.fixture
def database_door(cluster):
    """A door between the nodes and PostgreSQL that the test can shut (DatabaseDoor): pass
    `database_door.url(cluster.database)` as a node's DATABASE_URL."""
    db = cluster.database
    door = DatabaseDoor(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    door.restore()
    try:
        yield door
    finally:
        door.cut()
