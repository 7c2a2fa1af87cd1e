"""A member's calendar feed: /events/feed/<token>.ics, linked from /events/."""

import html
import re
from datetime import timedelta

import icalendar
import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.ics import FEED_SALT, feed_token
from events.models import RSVP, Event, EventSpeaker, Visibility
from groups.models import Membership
from tests.conftest import make_event, make_group
from tests.events.helpers import accepted, invite


def _titles(response) -> list[str]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    return sorted(str(e["summary"]) for e in calendar.walk("VEVENT"))


def _feed(client, member):
    return client.get(f"/events/feed/{feed_token(member)}.ics")


def test_it_lists_what_the_member_hosts_speaks_at_and_rsvpd_to(client, alice, bob, carol):
    make_event(bob, title="Hosting")
    accepted(make_event(alice, title="Speaking"), bob)
    accepted(make_event(alice, title="Co-hosting"), bob, role=EventSpeaker.Role.COHOST)
    going = make_event(alice, title="Going")
    RSVP.objects.create(event=going, member=bob, status=RSVP.Status.GOING)
    interested = make_event(carol, title="Interested")
    RSVP.objects.create(event=interested, member=bob, status=RSVP.Status.INTERESTED)
    # Not bob's: someone else's RSVP, an invitation not yet accepted, a declined one.
    RSVP.objects.create(event=make_event(alice, title="Carol's"), member=carol)
    invite(make_event(alice, title="Only invited"), bob)
    invite(make_event(alice, title="Declined"), bob, status=EventSpeaker.Status.DECLINED)

    assert _titles(_feed(client, bob)) == [
        "Co-hosting",
        "Going",
        "Hosting",
        "Interested",
        "Speaking",
    ]


def test_it_lists_only_upcoming_events(client, bob):
    make_event(bob, title="Next week", starts_in=timedelta(days=7))
    make_event(bob, title="Under way", starts_in=-timedelta(minutes=30))
    make_event(bob, title="Last week", starts_in=-timedelta(days=7))
    make_event(bob, title="Called off", status=Event.Status.CANCELLED)
    make_event(bob, title="Over early", status=Event.Status.ENDED)

    assert _titles(_feed(client, bob)) == ["Next week", "Under way"]


def test_it_drops_group_only_events_once_the_member_leaves_the_group(client, alice, bob):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    event = make_event(alice, title="Zero-day tabletop", group=group, visibility=Visibility.GROUP)
    RSVP.objects.create(event=event, member=bob)

    before = _titles(_feed(client, bob))
    Membership.objects.filter(group=group, member=bob).delete()
    after = _titles(_feed(client, bob))

    assert (before, after) == (["Zero-day tabletop"], [])


def test_each_member_has_their_own_stable_token(alice, bob):
    assert feed_token(alice) == feed_token(alice)
    assert feed_token(alice) != feed_token(bob)
    assert feed_token(alice).startswith(f"{alice.pk}:")


@pytest.mark.parametrize(
    "forge",
    [
        # Another member's id with alice's signature.
        lambda alice, bob: f"{bob.pk}:{feed_token(alice).partition(':')[2]}",
        # Bob's id, signed with the right key but the wrong salt.
        lambda alice, bob: signing.Signer(salt="something.else").sign(str(bob.pk)),
        # Bob's id, signed with another key.
        lambda alice, bob: signing.Signer(key="not-our-secret", salt=FEED_SALT).sign(str(bob.pk)),
        lambda alice, bob: str(bob.pk),
        lambda alice, bob: f"{bob.pk}:",
        lambda alice, bob: "nothing",
    ],
)
def test_a_forged_token_finds_nothing(client, alice, bob, forge):
    make_event(bob, title="Bob's secret plans")

    response = client.get(f"/events/feed/{forge(alice, bob)}.ics")

    assert response.status_code == 404
    assert b"secret plans" not in response.content


def test_a_deactivated_members_feed_is_gone(client, bob):
    make_event(bob, title="Hosting")
    token = feed_token(bob)
    bob.is_active = False
    bob.save()

    assert client.get(f"/events/feed/{token}.ics").status_code == 404


def test_it_works_without_a_session(client, bob, alice):
    # Calendar apps fetch the feed with no cookies; being signed in as someone else changes
    # nothing either.
    make_event(bob, title="Hosting")
    client.force_login(alice)

    assert _titles(_feed(client, bob)) == ["Hosting"]


def test_the_events_page_offers_members_their_feed(client, bob, section):
    client.force_login(bob)

    response = client.get("/events/")

    block = section(response, "calendar-heading")
    assert "Add to calendar" in block
    url = html.unescape(re.search(r'id="feed-url" type="text" value="([^"]+)"', block)[1])
    assert url == f"http://testserver/events/feed/{feed_token(bob)}.ics"
    assert f'href="webcal://testserver/events/feed/{feed_token(bob)}.ics"' in html.unescape(block)
    # The address it shows is the feed itself.
    assert client.get(url.removeprefix("http://testserver")).status_code == 200


def test_the_events_page_offers_visitors_no_feed(client, db, section):
    assert section(client.get("/events/"), "calendar-heading") == ""


def test_it_takes_the_same_number_of_queries_for_5_and_50_events(client, bob):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert _feed(client, bob).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(5):
        make_event(bob)
    count()  # The first look-up of the Site is cached.
    with_5 = count()
    for _ in range(45):
        make_event(bob)

    assert count() == with_5
