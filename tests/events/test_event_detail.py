"""An event's page: /events/<id>/."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from events.models import RSVP, Event, EventSpeaker, Visibility
from groups.models import Membership
from tests.conftest import make_group, make_member, verify_email
from tests.events.helpers import accepted, invite

DASH = "\N{EN DASH}"  # the template separates start and end times with an en dash

# 09:00-10:00 in Kolkata (UTC+05:30) is 22:30-23:30 the evening before in New York (EST).
KOLKATA_MORNING = datetime(2030, 3, 10, 3, 30, tzinfo=UTC)


def _event(host, *, title="Scaling Postgres", starts_at=KOLKATA_MORNING, **fields) -> Event:
    fields.setdefault("timezone", "Asia/Kolkata")
    return Event.objects.create(
        host=host,
        title=title,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        **fields,
    )


def _host_block(page: str) -> str:
    return re.search(r"<h2>Host</h2>(.*?)</div>\s*<aside", page, re.S)[1]


def _faces(page: str) -> list[str]:
    grid = re.search(r'<ul class="face-grid">(.*?)</ul>', page, re.S)
    return [] if grid is None else re.findall(r'title="([^"]+)"', grid[1])


def test_it_shows_the_event_in_its_own_zone(client, alice):
    event = _event(alice, description="Partitioning and pooling.")

    response = client.get(f"/events/{event.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Scaling Postgres</h1>" in page
    assert "Partitioning and pooling." in page
    assert f"Sunday 10 March 2030, 09:00{DASH}10:00 IST" in page
    assert "(Asia/Kolkata)" in page
    # An anonymous visitor sees UTC as their own time.
    assert f"Your time: Sunday 10 March, 03:30{DASH}04:30 UTC" in page


def test_it_shows_a_new_york_viewer_their_own_wall_clock_time(client, alice, bob):
    bob.timezone = "America/New_York"
    bob.save()
    event = _event(alice)
    client.force_login(bob)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert f"Sunday 10 March 2030, 09:00{DASH}10:00 IST" in page
    assert f"Your time: Saturday 9 March, 22:30{DASH}23:30 EST" in page


def test_it_does_not_repeat_the_time_for_a_viewer_in_the_events_zone(client, alice, carol):
    carol.timezone = "Asia/Kolkata"
    carol.save()
    event = _event(alice)
    client.force_login(carol)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert f"09:00{DASH}10:00 IST" in page
    assert "Your time" not in page


def test_it_shows_the_host_with_their_verified_work_domain(client, alice):
    verify_email(alice, "alice@acme.dev", primary=True)
    event = _event(alice)

    host = _host_block(client.get(f"/events/{event.pk}/").content.decode())

    assert "Alice Moreau" in host
    assert "Verified · acme.dev" in host
    assert "Principal engineer · Acme" in host
    assert 'href="/in/alice-moreau/"' in host


def test_it_shows_no_badge_for_a_free_mail_address(client, dan):
    verify_email(dan, "dan@gmail.com", primary=True)
    event = _event(dan)

    host = _host_block(client.get(f"/events/{event.pk}/").content.decode())

    assert "Dan Silva" in host
    assert "Verified" not in host


def test_it_shows_members_the_faces_of_people_going(client, alice, bob, carol, dan):
    event = _event(alice)
    RSVP.objects.create(event=event, member=bob, status=RSVP.Status.GOING)
    RSVP.objects.create(event=event, member=dan, status=RSVP.Status.GOING)
    RSVP.objects.create(event=event, member=carol, status=RSVP.Status.INTERESTED)
    client.force_login(carol)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert _faces(page) == ["Bob Okafor", "Dan Silva"]
    assert "2 going · 1 interested" in page


def test_it_shows_visitors_only_the_count(client, alice, bob, dan):
    event = _event(alice)
    RSVP.objects.create(event=event, member=bob, status=RSVP.Status.GOING)
    RSVP.objects.create(event=event, member=dan, status=RSVP.Status.INTERESTED)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert "1 going · 1 interested" in page
    assert _faces(page) == []
    assert "Bob Okafor" not in page
    assert "Sign in</a> to see who's going." in page


def test_it_invites_the_first_rsvp(client, alice):
    event = _event(alice)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert _faces(page) == []
    assert "0 going · 0 interested" in page
    assert "Nobody has RSVP'd yet." in page


def test_it_shows_rsvp_buttons_to_members_and_sign_in_to_visitors(client, alice, bob):
    event = _event(alice)
    RSVP.objects.create(event=event, member=bob, status=RSVP.Status.INTERESTED)

    anonymous = client.get(f"/events/{event.pk}/").content.decode()
    client.force_login(bob)
    signed_in = client.get(f"/events/{event.pk}/").content.decode()

    assert "Sign in to RSVP" in anonymous
    assert 'value="going"' not in anonymous
    assert f'action="/events/{event.pk}/rsvp/"' in signed_in
    assert 'value="going" aria-pressed="false">Going</button>' in signed_in
    assert 'value="interested" aria-pressed="true">Interested</button>' in signed_in
    assert 'value="none">Not going</button>' in signed_in


def test_it_offers_no_rsvp_for_a_cancelled_event(client, alice, bob):
    event = _event(alice, status=Event.Status.CANCELLED)
    client.force_login(bob)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert "Cancelled" in page
    assert 'value="going"' not in page


def test_it_404s_a_group_only_event_for_outsiders_and_visitors(client, alice, bob, carol, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    Membership.objects.create(group=group, member=carol, status=Membership.Status.PENDING)
    event = _event(alice, title="Zero-day tabletop", group=group, visibility=Visibility.GROUP)
    url = f"/events/{event.pk}/"

    assert client.get(url).status_code == 404
    for outsider in (dan, carol):
        client.force_login(outsider)
        response = client.get(url)
        assert response.status_code == 404
        assert "Zero-day tabletop" not in response.content.decode()

    client.force_login(bob)
    response = client.get(url)
    assert response.status_code == 200
    assert "Zero-day tabletop" in response.content.decode()
    assert "Security Council" in response.content.decode()


def test_it_404s_an_unknown_event(client, db):
    assert client.get("/events/999999/").status_code == 404


def _section(page: str, heading_id: str) -> str:
    match = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', page, re.S)
    return "" if match is None else match[0]


def test_it_shows_only_accepted_speakers_and_co_hosts_with_their_identity(
    client, alice, bob, carol, dan
):
    verify_email(bob, "bob@globex.io", primary=True)
    bob.company = "Globex"
    bob.save()
    event = _event(alice)
    accepted(event, bob)
    accepted(event, carol, role=EventSpeaker.Role.COHOST)
    invite(event, dan)
    erin = make_member("Erin Patel")
    invite(event, erin, status=EventSpeaker.Status.DECLINED)

    page = client.get(f"/events/{event.pk}/").content.decode()

    speakers = _section(page, "speakers-heading")
    assert "Bob Okafor" in speakers
    assert "Verified · globex.io" in speakers
    assert "Head of SRE · Globex" in speakers
    assert 'href="/in/bob-okafor/"' in speakers
    assert "Carol Nguyen" in _section(page, "cohosts-heading")
    assert "Carol Nguyen" not in speakers
    assert "Dan Silva" not in page
    assert "Erin Patel" not in page


def test_it_shows_no_speaker_sections_before_anyone_accepts(client, alice, bob):
    event = _event(alice)
    invite(event, bob)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert _section(page, "speakers-heading") == ""
    assert _section(page, "cohosts-heading") == ""


def test_it_shows_the_host_every_invitation_and_its_answer(client, alice, bob, carol):
    event = _event(alice)
    invite(event, bob)
    invite(event, carol, role=EventSpeaker.Role.COHOST, status=EventSpeaker.Status.DECLINED)

    client.force_login(alice)
    tools = _section(client.get(f"/events/{event.pk}/").content.decode(), "host-tools-heading")
    client.force_login(bob)
    as_bob = client.get(f"/events/{event.pk}/").content.decode()

    assert re.search(r"Bob Okafor.*?Speaker.*?Invited", tools, re.S)
    assert re.search(r"Carol Nguyen.*?Co-host.*?Declined", tools, re.S)
    assert _section(as_bob, "host-tools-heading") == ""


def test_it_links_to_the_events_calendar_file(client, alice):
    event = _event(alice)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert f'href="/events/{event.pk}/event.ics"' in page


@pytest.mark.parametrize("viewer", ["visitor", "member", "host"])
def test_it_takes_the_same_number_of_queries_for_5_and_50_attendees(
    client, alice, bob, carol, page_queries, viewer
):
    group = make_group(alice, "Platform Engineering", members=[bob, carol])
    event = _event(
        alice, group=group, visibility=Visibility.GROUP if viewer != "visitor" else "public"
    )
    accepted(event, bob)
    accepted(event, carol, role=EventSpeaker.Role.COHOST)
    if viewer == "member":
        invite(event, make_member())
        client.force_login(carol)
    elif viewer == "host":
        client.force_login(alice)
    url = f"/events/{event.pk}/"

    def add_attendees(n: int) -> None:
        for i in range(n):
            status = RSVP.Status.GOING if i % 3 else RSVP.Status.INTERESTED
            RSVP.objects.create(event=event, member=make_member(), status=status)

    add_attendees(5)
    page_queries(client, url)
    with_5 = page_queries(client, url)
    add_attendees(45)
    with_50 = page_queries(client, url)

    assert with_50 == with_5
