"""RSVPing to an event: POST /events/<id>/rsvp/."""

from datetime import timedelta

import pytest

from events.models import RSVP, Event, Visibility
from tests.conftest import make_event, make_group


@pytest.fixture
def event(alice) -> Event:
    return make_event(alice, title="Scaling Postgres", starts_in=timedelta(days=3))


def _rsvp(client, event, status):
    return client.post(f"/events/{event.pk}/rsvp/", {"status": status}, follow=True)


def test_it_marks_the_member_going(client, event, bob, flashes):
    client.force_login(bob)

    response = _rsvp(client, event, "going")

    assert response.redirect_chain == [(f"/events/{event.pk}/", 302)]
    assert RSVP.objects.get(event=event, member=bob).status == RSVP.Status.GOING
    assert ("success", "You're going.") in flashes(response)
    page = response.content.decode()
    assert "1 going · 0 interested" in page
    assert 'title="Bob Okafor"' in page
    assert 'value="going" aria-pressed="true"' in page


def test_it_switches_going_to_interested_in_the_same_row(client, event, bob, flashes):
    client.force_login(bob)
    _rsvp(client, event, "going")

    response = _rsvp(client, event, "interested")

    rsvp = RSVP.objects.get(event=event, member=bob)
    assert rsvp.status == RSVP.Status.INTERESTED
    assert ("success", "Marked as interested.") in flashes(response)
    page = response.content.decode()
    assert "0 going · 1 interested" in page
    assert 'title="Bob Okafor"' not in page


def test_it_withdraws_the_rsvp(client, event, bob, carol, flashes):
    RSVP.objects.create(event=event, member=carol, status=RSVP.Status.GOING)
    client.force_login(bob)
    _rsvp(client, event, "going")

    response = _rsvp(client, event, "none")

    assert not RSVP.objects.filter(event=event, member=bob).exists()
    assert RSVP.objects.filter(event=event, member=carol).exists()
    assert ("success", "RSVP withdrawn.") in flashes(response)
    assert "1 going · 0 interested" in response.content.decode()


def test_it_counts_each_member_once(client, event, bob, carol, dan):
    for member, status in ((bob, "going"), (carol, "going"), (dan, "interested")):
        client.force_login(member)
        _rsvp(client, event, status)
    client.force_login(bob)
    response = _rsvp(client, event, "going")

    assert RSVP.objects.filter(event=event).count() == 3
    assert "2 going · 1 interested" in response.content.decode()
    assert "2 going · 1 interested" in client.get("/events/").content.decode()


@pytest.mark.parametrize("status", ["maybe", "", "GOING"])
def test_it_rejects_an_unknown_status(client, event, bob, flashes, status):
    RSVP.objects.create(event=event, member=bob, status=RSVP.Status.INTERESTED)
    client.force_login(bob)

    response = _rsvp(client, event, status)

    assert ("error", "Choose Going, Interested or Not going.") in flashes(response)
    assert RSVP.objects.get(event=event, member=bob).status == RSVP.Status.INTERESTED
    assert RSVP.objects.count() == 1


def test_it_refuses_rsvps_to_a_cancelled_event(client, alice, bob, flashes):
    event = make_event(alice, status=Event.Status.CANCELLED)
    client.force_login(bob)

    response = _rsvp(client, event, "going")

    assert ("error", "This event is over.") in flashes(response)
    assert not RSVP.objects.exists()


def test_it_requires_login(client, event):
    response = client.post(f"/events/{event.pk}/rsvp/", {"status": "going"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not RSVP.objects.exists()


def test_it_only_accepts_post(client, event, bob):
    client.force_login(bob)

    response = client.get(f"/events/{event.pk}/rsvp/", {"status": "going"})

    assert response.status_code == 405
    assert not RSVP.objects.exists()


def test_it_404s_a_group_only_event_for_outsiders(client, alice, bob, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    event = make_event(alice, group=group, visibility=Visibility.GROUP)

    client.force_login(dan)
    refused = client.post(f"/events/{event.pk}/rsvp/", {"status": "going"})
    client.force_login(bob)
    _rsvp(client, event, "going")

    assert refused.status_code == 404
    assert list(RSVP.objects.values_list("member", flat=True)) == [bob.pk]
