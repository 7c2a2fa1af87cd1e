"""`manage.py seed_demo`: the demo community `make run` serves, seeded once however often."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Member
from groups.models import Group
from rooms.models import Room


def _seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_it_seeds_a_live_room_and_says_where_to_sign_in():
    printed = _seed(url="http://127.0.0.1:9123/")
    assert "Sign in at http://127.0.0.1:9123/accounts/login/" in printed
    assert "Django admin at http://127.0.0.1:9123/admin/" in printed
    assert Room.objects.filter(status=Room.Status.LIVE, host__email="alice@acme.dev").exists()


@pytest.mark.django_db
def test_it_defaults_to_port_8000():
    assert "Sign in at http://127.0.0.1:8000/accounts/login/" in _seed()


@pytest.mark.django_db
def test_it_adds_nothing_twice():
    _seed()
    counts = (Member.objects.count(), Group.objects.count(), Room.objects.count())
    _seed()
    assert (Member.objects.count(), Group.objects.count(), Room.objects.count()) == counts
