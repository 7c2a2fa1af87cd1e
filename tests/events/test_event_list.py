"""Upcoming events on /events/ and on the home page."""

from datetime import timedelta

import pytest

from events.models import RSVP, Event, Visibility
from groups.models import Membership
from tests.conftest import make_event, make_group, make_member, make_room

PAGES = ["/events/", "/"]


def _rsvp(event, *, going: int = 0, interested: int = 0) -> None:
    for _ in range(going):
        RSVP.objects.create(event=event, member=make_member(), status=RSVP.Status.GOING)
    for _ in range(interested):
        RSVP.objects.create(event=event, member=make_member(), status=RSVP.Status.INTERESTED)


@pytest.mark.parametrize("url", PAGES)
def test_it_shows_upcoming_events_with_going_and_interested_counts(client, alice, bob, url):
    postgres = make_event(alice, title="Scaling Postgres", starts_in=timedelta(days=2))
    _rsvp(postgres, going=2, interested=1)
    make_event(bob, title="SRE war stories", starts_in=timedelta(days=1))

    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Scaling Postgres" in page
    assert "Hosted by Alice Moreau" in page
    assert "2 going · 1 interested" in page
    assert "0 going · 0 interested" in page
    if url == "/events/":
        # The calendar is soonest first; the home page ranks (tests/discovery).
        assert page.index("SRE war stories") < page.index("Scaling Postgres")


@pytest.mark.parametrize("url", PAGES)
def test_it_leaves_out_finished_and_cancelled_events(client, alice, url):
    make_event(alice, title="Yesterday's panel", starts_in=-timedelta(days=1))
    make_event(alice, title="Called off", status=Event.Status.CANCELLED)
    make_event(alice, title="Under way", starts_in=-timedelta(minutes=30))

    page = client.get(url).content.decode()

    assert "Yesterday" not in page
    assert "Called off" not in page
    assert "Under way" in page


def test_it_says_when_nothing_is_scheduled(client, db):
    assert "No upcoming events." in client.get("/events/").content.decode()
    assert "No events scheduled yet." in client.get("/").content.decode()


def _group_only_event(alice, bob):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    make_event(alice, title="Zero-day tabletop", group=group, visibility=Visibility.GROUP)
    make_event(alice, title="Public threat briefing", group=group)
    return group


@pytest.mark.parametrize("url", PAGES)
def test_it_hides_group_only_events_from_anonymous_visitors(client, alice, bob, url):
    _group_only_event(alice, bob)

    page = client.get(url).content.decode()

    assert "Zero-day tabletop" not in page
    assert "Public threat briefing" in page


@pytest.mark.parametrize("url", PAGES)
def test_it_hides_group_only_events_from_outsiders_and_pending_members(
    client, alice, bob, carol, dan, url
):
    group = _group_only_event(alice, bob)
    Membership.objects.create(group=group, member=carol, status=Membership.Status.PENDING)

    for viewer in (dan, carol):
        client.force_login(viewer)
        page = client.get(url).content.decode()
        assert "Zero-day tabletop" not in page
        assert "Public threat briefing" in page


@pytest.mark.parametrize("url", PAGES)
def test_it_shows_group_only_events_to_members(client, alice, bob, url):
    _group_only_event(alice, bob)
    client.force_login(bob)

    page = client.get(url).content.decode()

    assert "Zero-day tabletop" in page
    assert "Security Council" in page


def test_it_shows_times_in_the_viewers_zone(client, alice, carol):
    carol.timezone = "Asia/Kolkata"
    carol.save()
    client.force_login(carol)

    page = client.get("/events/").content.decode()

    assert "Times are shown in Asia/Kolkata." in page


@pytest.mark.parametrize("url", PAGES)
def test_it_takes_the_same_number_of_queries_for_5_and_50_events(client, alice, page_queries, url):
    group = make_group(alice, "Platform Engineering")
    make_room(alice, speakers=[make_member(), make_member()])

    def add_events(n: int) -> None:
        for i in range(n):
            event = make_event(make_member(), group=group if i % 2 else None)
            _rsvp(event, going=2, interested=1)

    client.force_login(alice)
    add_events(5)
    page_queries(client, url)
    with_5 = page_queries(client, url)

    add_events(45)
    with_50 = page_queries(client, url)

    assert Event.objects.count() == 50
    assert with_50 == with_5
