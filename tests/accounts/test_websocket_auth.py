"""accounts/websocket_auth.py: a batch of sockets' sessions resolves to exactly the members
channels.auth.get_user would give each, in two queries for the whole batch."""

from datetime import timedelta

import pytest
from channels.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.websocket_auth import users_for_sessions
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def _signed_in(member) -> str:
    client = Client()
    client.force_login(member)
    return client.cookies["sessionid"].value


def _what_channels_says(key: str | None):
    return get_user.func({"session": SessionStore(key)})


def _keys(alice, bob, carol):
    expired = _signed_in(make_member("expired"))
    Session.objects.filter(session_key=expired).update(
        expire_date=timezone.now() - timedelta(minutes=1)
    )
    stale = make_member("stale")
    stale_key = _signed_in(stale)
    stale.set_password("a new one, elsewhere")  # the session's auth hash no longer matches
    stale.save()
    inactive = make_member("inactive")
    inactive_key = _signed_in(inactive)
    inactive.is_active = False
    inactive.save()
    carol_key = _signed_in(carol)
    return [
        _signed_in(alice),
        expired,
        "nosuchsessionkeyatall0000000000x",
        stale_key,
        None,
        inactive_key,
        carol_key,
        _signed_in(bob),
        carol_key,  # carol on a second socket
    ]


def _who(user) -> str:
    return "anonymous" if isinstance(user, AnonymousUser) else user.handle


def test_a_batch_resolves_as_channels_get_user_would_for_every_session(alice, bob, carol):
    keys = _keys(alice, bob, carol)
    batch = users_for_sessions([SessionStore(key) for key in keys])

    expected = [_who(_what_channels_says(key)) for key in keys]
    assert [_who(user) for user in batch] == expected
    assert expected == [
        alice.handle,
        "anonymous",
        "anonymous",
        "anonymous",
        "anonymous",
        "anonymous",
        carol.handle,
        bob.handle,
        carol.handle,
    ]
    # Two sockets of one member hold instances of their own.
    assert batch[6] is not batch[8] and batch[6].pk == batch[8].pk == carol.pk


def test_a_stale_session_is_flushed_as_channels_does(alice):
    key = _signed_in(alice)
    alice.set_password("changed elsewhere")
    alice.save()

    [user] = users_for_sessions([SessionStore(key)])

    assert isinstance(user, AnonymousUser)
    assert not Session.objects.filter(session_key=key).exists()


def test_a_batch_costs_two_queries_however_many_sockets():
    keys = [_signed_in(make_member(f"m{n}")) for n in range(20)]
    sessions = [SessionStore(key) for key in keys]

    with CaptureQueriesContext(connection) as queries:
        users = users_for_sessions(sessions)

    assert len(queries) == 2
    assert len({user.pk for user in users}) == 20
    assert all(user.is_authenticated for user in users)


@pytest.mark.parametrize("key", ["aaaaaaaaaa\x00", "UPPERCASEKEYSARENOTMADE", "x" * 41, "short"])
def test_a_key_django_could_not_have_made_reads_as_empty_and_spares_the_others(alice, key):
    good = _signed_in(alice)

    users = users_for_sessions([SessionStore(key), SessionStore(good)])

    assert isinstance(users[0], AnonymousUser)
    assert users[1].pk == alice.pk
