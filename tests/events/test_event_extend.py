"""Extending an event by 30 minutes: POST /events/<id>/extend/."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from events.models import Event, Visibility
from tests.conftest import make_event, make_group


def _extend(client, event):
    return client.post(f"/events/{event.pk}/extend/", follow=True)


def make_event_lasting(host, hours: float, **fields) -> Event:
    event = make_event(host, **fields)
    event.ends_at = event.starts_at + timedelta(hours=hours)
    event.save()
    return event


def test_the_host_extends_by_30_minutes(client, alice, flashes):
    event = make_event_lasting(alice, 3, timezone="Asia/Kolkata")
    ends_at = event.ends_at
    client.force_login(alice)

    response = _extend(client, event)

    event.refresh_from_db()
    assert event.ends_at == ends_at + timedelta(minutes=30)
    assert event.sequence == 1
    ends = event.ends_at.astimezone(ZoneInfo("Asia/Kolkata"))
    assert ("success", f"Extended by 30 minutes: it now ends at {ends:%H:%M} IST.") in flashes(
        response
    )


def test_it_stops_at_six_hours(client, alice, flashes, section):
    event = make_event_lasting(alice, 5)
    client.force_login(alice)

    _extend(client, event)
    _extend(client, event)
    refused = _extend(client, event)

    event.refresh_from_db()
    assert event.duration == timedelta(hours=6)
    assert event.sequence == 2
    assert ("error", "Events last at most 6 hours, extensions included.") in flashes(refused)
    tools = section(refused, "host-tools-heading")
    assert "Extend by 30 minutes" not in tools
    assert "This event has reached the 6-hour limit." in tools


def test_the_host_extends_a_live_event(client, alice):
    event = make_event_lasting(alice, 1, status=Event.Status.LIVE)
    client.force_login(alice)

    _extend(client, event)

    event.refresh_from_db()
    assert event.duration == timedelta(hours=1, minutes=30)


@pytest.mark.parametrize("status", [Event.Status.ENDED, Event.Status.CANCELLED])
def test_it_refuses_an_event_that_is_over(client, alice, flashes, status):
    event = make_event_lasting(alice, 1, status=status)
    client.force_login(alice)

    response = _extend(client, event)

    event.refresh_from_db()
    assert event.duration == timedelta(hours=1)
    assert ("error", "This event is over.") in flashes(response)
    assert "Extend by 30 minutes" not in response.content.decode()


def test_only_the_host_extends(client, alice, bob, flashes):
    event = make_event_lasting(alice, 1)
    client.force_login(bob)

    response = _extend(client, event)

    event.refresh_from_db()
    assert event.duration == timedelta(hours=1)
    assert ("error", "Only the host can extend this event.") in flashes(response)
    assert "Extend by 30 minutes" not in response.content.decode()


def test_it_requires_login_and_post(client, alice):
    event = make_event_lasting(alice, 1)

    anonymous = client.post(f"/events/{event.pk}/extend/")
    client.force_login(alice)
    get = client.get(f"/events/{event.pk}/extend/")

    assert anonymous.status_code == 302
    assert get.status_code == 405
    event.refresh_from_db()
    assert event.duration == timedelta(hours=1)


def test_it_404s_a_group_only_event_for_outsiders(client, alice, dan):
    group = make_group(alice, "Security Council", private=True)
    event = make_event_lasting(alice, 1, group=group, visibility=Visibility.GROUP)
    client.force_login(dan)

    assert client.post(f"/events/{event.pk}/extend/").status_code == 404
