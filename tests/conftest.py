"""Personas and factories shared by every test.

The personas: alice hosts, bob speaks, carol listens, dan is an outsider, mod holds the
platform moderation permission, staff runs Django admin.
"""

import itertools
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Member
from accounts.services import member_sync_verified_domain
from events.models import Event
from groups.models import Group, Membership
from rooms import consumers as room_consumers
from rooms import services as room_services
from rooms import snapshots
from tests.live import live_daphne  # noqa: F401 - a fixture for every test that needs a real server

_seq = itertools.count(1)


def pytest_configure(config):
    # The SQLite test database is a file (so the browser tests' Daphne can share it). A
    # write-ahead log left by an interrupted run would make the fresh file unreadable.
    from django.conf import settings

    test_name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") or not test_name:
        return
    # Each test process has its own file (named with its pid); remove the leftovers of
    # processes that are gone.
    stem = Path(test_name).name.rsplit("-", 1)[0]
    for leftover in Path(test_name).parent.glob(f"{stem}-*.sqlite3*"):
        pid = leftover.name.removeprefix(f"{stem}-").split(".")[0]
        if pid.isdigit() and (int(pid) == os.getpid() or not Path(f"/proc/{pid}").exists()):
            leftover.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _database_settles(request, _django_db_helper):
    """On PostgreSQL, a transactional test ends only when no other session is working in
    its database. A socket's leave or a join in the thread pool can outlive the test's
    event loop; pytest-django's flush (TRUNCATE) would deadlock with it."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    busy = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
    )
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(busy)
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    # Hashing with the real hasher costs ~0.3 s per login; uploads go to a temp folder.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Rate limits (allauth's and config/limits.py) count in the process's cache, the room
    # audience's in the consumer.
    cache.clear()
    room_consumers._reaction_buckets.clear()
    room_consumers._hand_buckets.clear()
    room_consumers._vote_buckets.clear()
    room_consumers._consent_buckets.clear()
    settings.MEDIA_ROOT = tmp_path / "uploads"
    # Recordings too (Django resets its storages when STORAGES changes), and the
    # recorder's scratch files and the replay worker's log (under VAR_DIR).
    settings.VAR_DIR = tmp_path / "var"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "recordings", "base_url": None},
        },
    }
    # WebRTC in tests stays on loopback.
    settings.MEDIA_HOST_ADDRESSES = ["127.0.0.1"]
    # Each test's database starts over, and SQLite may hand out the same room ids again:
    # the per-version stage cache must not outlive the rows it was read from.
    snapshots._stage_at.clear()
    snapshots._audience_at.clear()
    snapshots._joins_at.clear()


def make_member(
    name: str | None = None,
    *,
    email: str | None = None,
    password: str = "pw-for-tests-1",
    **fields,
) -> Member:
    n = next(_seq)
    name = name or f"Member {n}"
    email = email or f"{name.split()[0].lower()}{n}@example.com"
    return Member.objects.create_user(email, password, display_name=name, **fields)


def verify_email(member: Member, email: str, *, primary: bool = False) -> EmailAddress:
    address = EmailAddress.objects.create(user=member, email=email, verified=True, primary=primary)
    member_sync_verified_domain(member=member)
    return address


def make_group(owner: Member, name: str | None = None, *, private: bool = False, members=()):
    n = next(_seq)
    name = name or f"Group {n}"
    group = Group.objects.create(name=name, slug=f"group-{n}", is_private=private, created_by=owner)
    Membership.objects.create(group=group, member=owner, role=Membership.Role.OWNER)
    for member in members:
        Membership.objects.create(group=group, member=member)
    return group


def make_event(host: Member, *, title: str | None = None, starts_in=timedelta(days=1), **fields):
    starts_at = timezone.now() + starts_in
    return Event.objects.create(
        host=host,
        title=title or f"Event {next(_seq)}",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        **fields,
    )


def make_room(host: Member, *, speakers=(), live: bool = True, **fields):
    fields.setdefault("title", f"Room {next(_seq)}")
    room = room_services.room_create(host=host, speakers=speakers, **fields)
    if live:
        room = room_services.room_start(actor=host, room=room)
    return room


@pytest.fixture
def alice(db) -> Member:
    return make_member(
        "Alice Moreau", email="alice@acme.dev", headline="Principal engineer", company="Acme"
    )


@pytest.fixture
def bob(db) -> Member:
    return make_member("Bob Okafor", email="bob@globex.io", headline="Head of SRE")


@pytest.fixture
def carol(db) -> Member:
    return make_member("Carol Nguyen", email="carol@initech.com")


@pytest.fixture
def dan(db) -> Member:
    return make_member("Dan Silva", email="dan@gmail.com")


@pytest.fixture
def mod(db) -> Member:
    member = make_member("Maya Rossi", email="mod@podium.test")
    member.user_permissions.add(
        Permission.objects.get(codename="moderate_platform", content_type__app_label="rooms")
    )
    return Member.objects.get(pk=member.pk)


@pytest.fixture
def staff(db) -> Member:
    return Member.objects.create_superuser(
        "admin@podium.test", "pw-for-tests-1", display_name="Podium Admin"
    )
