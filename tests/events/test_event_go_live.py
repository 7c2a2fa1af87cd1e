"""Going live: POST /events/<id>/go-live/ opens the event's room; when the room ends, the
event page sums it up."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events import services
from events.models import RSVP, Event, EventSpeaker, Visibility
from rooms import services as room_services
from rooms.models import Participant, Role, Room
from tests.conftest import make_event, make_group, make_member
from tests.events.helpers import accepted, invite


@pytest.fixture
def event(alice) -> Event:
    return make_event(
        alice,
        title="Scaling Postgres",
        description="Partitioning and pooling.",
        starts_in=timedelta(minutes=10),
    )


@pytest.fixture
def told(monkeypatch) -> list[dict]:
    """What events.services asked accounts.notifications to say."""
    calls: list[dict] = []
    monkeypatch.setattr(services, "notify", lambda **kwargs: calls.append(kwargs))
    return calls


def _go_live(client, event):
    return client.post(f"/events/{event.pk}/go-live/", follow=True)


def _stage(room: Room) -> dict[str, str]:
    people = Participant.objects.filter(room=room).select_related("member")
    return {p.member.display_name: p.role for p in people}


def test_the_host_goes_live_with_the_accepted_speakers_and_co_hosts(
    client, event, alice, bob, carol, dan, flashes
):
    accepted(event, bob)
    accepted(event, carol, role=EventSpeaker.Role.COHOST)
    invite(event, dan)  # never answered: stays in the audience
    erin = make_member("Erin Patel")
    invite(event, erin, role=EventSpeaker.Role.COHOST, status=EventSpeaker.Status.DECLINED)
    client.force_login(alice)

    response = _go_live(client, event)

    event.refresh_from_db()
    room = event.room
    assert event.status == Event.Status.LIVE
    assert room.status == Room.Status.LIVE
    assert room.started_at is not None
    assert room.event_id == event.pk
    assert (room.title, room.description, room.host) == (
        "Scaling Postgres",
        "Partitioning and pooling.",
        alice,
    )
    assert (room.group, room.visibility) == (None, Room.Visibility.PUBLIC)
    assert _stage(room) == {
        "Alice Moreau": Role.HOST,
        "Bob Okafor": Role.SPEAKER,
        "Carol Nguyen": Role.MODERATOR,
    }
    assert response.redirect_chain == [(f"/rooms/{room.pk}/", 302)]
    assert ("success", "You're live.") in flashes(response)


def test_it_carries_the_group_over(client, alice, bob):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    group_only = make_event(
        alice, starts_in=timedelta(minutes=5), group=group, visibility=Visibility.GROUP
    )
    open_to_all = make_event(alice, starts_in=timedelta(minutes=5), group=group)
    client.force_login(alice)

    _go_live(client, group_only)
    _go_live(client, open_to_all)

    group_only.refresh_from_db()
    open_to_all.refresh_from_db()
    assert (group_only.room.group, group_only.room.visibility) == (group, Room.Visibility.GROUP)
    assert (open_to_all.room.group, open_to_all.room.visibility) == (group, Room.Visibility.PUBLIC)


def test_it_tells_everyone_who_rsvpd_and_the_speakers(client, event, alice, bob, carol, dan, told):
    RSVP.objects.create(event=event, member=bob, status=RSVP.Status.GOING)
    RSVP.objects.create(event=event, member=carol, status=RSVP.Status.INTERESTED)
    RSVP.objects.create(event=event, member=alice, status=RSVP.Status.GOING)  # the host herself
    accepted(event, dan)
    make_member("Erin Patel")  # no RSVP
    client.force_login(alice)

    _go_live(client, event)

    event.refresh_from_db()
    assert sorted(n["member"].display_name for n in told) == [
        "Bob Okafor",
        "Carol Nguyen",
        "Dan Silva",
    ]
    for notification in told:
        assert notification["kind"] == "event_live"
        assert notification["email"] is True
        assert notification["url"] == f"/rooms/{event.room_id}/"
        assert notification["text"] == "“Scaling Postgres” is live now."


def test_it_emails_everyone_who_rsvpd(
    client, event, alice, bob, carol, mailoutbox, django_capture_on_commit_callbacks
):
    RSVP.objects.create(event=event, member=bob, status=RSVP.Status.GOING)
    RSVP.objects.create(event=event, member=carol, status=RSVP.Status.INTERESTED)
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        _go_live(client, event)

    event.refresh_from_db()
    assert sorted(m.to[0] for m in mailoutbox) == ["bob@globex.io", "carol@initech.com"]
    assert all(f"/rooms/{event.room_id}/" in m.body for m in mailoutbox)


def test_the_event_page_then_invites_people_into_the_room(client, event, alice, bob):
    client.force_login(alice)
    _go_live(client, event)
    event.refresh_from_db()
    client.force_login(bob)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert (
        f'<a class="button button-primary" href="/rooms/{event.room_id}/">Live now — join</a>'
        in page
    )
    assert "Go live" not in page


def test_the_host_sees_go_live_only_once_it_opens(client, alice, section):
    soon = make_event(alice, starts_in=timedelta(minutes=15))
    later = make_event(alice, starts_in=timedelta(minutes=30))
    client.force_login(alice)

    assert "Go live</button>" in section(client.get(f"/events/{soon.pk}/"), "host-tools-heading")
    tools = section(client.get(f"/events/{later.pk}/"), "host-tools-heading")
    assert "Go live</button>" not in tools
    assert "15 minutes before the start." in tools


@pytest.mark.parametrize(
    ("starts_in", "message"),
    [
        (timedelta(minutes=16), "You can go live from 15 minutes before the start."),
        (timedelta(days=1), "You can go live from 15 minutes before the start."),
        (-timedelta(hours=2), "This event's time has passed."),
    ],
)
def test_it_refuses_outside_the_events_time(client, alice, flashes, starts_in, message, told):
    event = make_event(alice, starts_in=starts_in)
    client.force_login(alice)

    response = _go_live(client, event)

    event.refresh_from_db()
    assert ("error", message) in flashes(response)
    assert (event.status, event.room) == (Event.Status.SCHEDULED, None)
    assert not Room.objects.exists()
    assert told == []


def test_it_goes_live_once(client, event, alice, flashes):
    client.force_login(alice)
    _go_live(client, event)

    response = _go_live(client, event)

    assert ("error", "This event is already live.") in flashes(response)
    assert Room.objects.count() == 1


@pytest.mark.parametrize("status", [Event.Status.ENDED, Event.Status.CANCELLED])
def test_it_refuses_an_event_that_is_over(client, event, alice, flashes, status):
    Event.objects.filter(pk=event.pk).update(status=status)
    client.force_login(alice)

    response = _go_live(client, event)

    assert ("error", "This event is over.") in flashes(response)
    assert not Room.objects.exists()


def test_only_the_host_goes_live(client, event, bob, carol, flashes, told):
    accepted(event, carol, role=EventSpeaker.Role.COHOST)
    for member in (bob, carol):
        client.force_login(member)
        response = _go_live(client, event)
        assert ("error", "Only the host can take this event live.") in flashes(response)
        assert "Go live" not in response.content.decode()
    assert not Room.objects.exists()
    assert told == []


def test_it_requires_login_and_post(client, event, alice):
    anonymous = client.post(f"/events/{event.pk}/go-live/")
    client.force_login(alice)
    get = client.get(f"/events/{event.pk}/go-live/")

    assert anonymous.status_code == 302
    assert get.status_code == 405
    assert not Room.objects.exists()


def test_it_404s_a_group_only_event_for_outsiders(client, alice, dan):
    group = make_group(alice, "Security Council", private=True)
    event = make_event(
        alice, starts_in=timedelta(minutes=5), group=group, visibility=Visibility.GROUP
    )
    client.force_login(dan)

    assert client.post(f"/events/{event.pk}/go-live/").status_code == 404
    assert not Room.objects.exists()


def test_a_host_who_left_the_group_cannot_take_its_event_live(alice, bob):
    group = make_group(bob, "Security Council", private=True, members=[alice])
    event = make_event(
        alice, starts_in=timedelta(minutes=5), group=group, visibility=Visibility.GROUP
    )
    group.memberships.filter(member=alice).delete()

    with pytest.raises(services.PermissionDenied):
        services.event_go_live(actor=alice, event=event)
    assert not Room.objects.exists()


# --- When the room ends -----------------------------------------------------------------------


def _live(event, alice) -> Room:
    services.event_go_live(actor=alice, event=event)
    event.refresh_from_db()
    return event.room


def _join(room, member) -> None:
    room_services.participant_join(room_id=room.pk, member=member, connection=f"c{member.pk}")


def test_an_ended_room_ends_the_event_and_the_page_sums_it_up(
    client, event, alice, bob, carol, dan, section
):
    accepted(event, bob)
    accepted(event, carol, role=EventSpeaker.Role.COHOST)
    accepted(event, make_member("Erin Patel"))  # accepted, then never came
    room = _live(event, alice)
    for member in (alice, bob, carol, dan):
        _join(room, member)
    room_services.room_end(room_id=room.pk, actor=alice)
    started = timezone.now() - timedelta(minutes=72, seconds=30)
    Room.objects.filter(pk=room.pk).update(
        started_at=started, ended_at=started + timedelta(minutes=72), peak_audience=37
    )
    client.force_login(dan)

    response = client.get(f"/events/{event.pk}/")

    event.refresh_from_db()
    assert event.status == Event.Status.ENDED
    summary = section(response, "summary-heading")
    assert "<strong>1 h 12 min</strong>Duration" in summary
    assert "<strong>37</strong>Peak listeners" in summary
    assert "<strong>3</strong>On stage" in summary
    who_spoke = summary[summary.index("Who spoke") :]
    assert who_spoke.index("Alice Moreau") < who_spoke.index("Carol Nguyen")
    assert who_spoke.index("Carol Nguyen") < who_spoke.index("Bob Okafor")
    assert "Dan Silva" not in summary  # listened only
    assert "Erin Patel" not in summary
    page = response.content.decode()
    assert "Live now — join" not in page
    assert 'value="going"' not in page


def test_a_live_room_shows_no_summary(client, event, alice):
    room = _live(event, alice)

    response = client.get(f"/events/{event.pk}/")

    assert "How it went" not in response.content.decode()
    assert Event.objects.get(pk=event.pk).status == Event.Status.LIVE
    assert room.status == Room.Status.LIVE


def test_sync_from_room_is_idempotent_and_leaves_other_events_alone(event, alice, bob):
    other = make_event(bob, starts_in=timedelta(minutes=5))
    room = _live(event, alice)
    room_services.room_end(room_id=room.pk, actor=alice)
    event = Event.objects.select_related("room").get(pk=event.pk)

    services.event_sync_from_room(event=event)
    services.event_sync_from_room(event=Event.objects.select_related("room").get(pk=event.pk))
    services.event_sync_from_room(event=other)

    assert Event.objects.get(pk=event.pk).status == Event.Status.ENDED
    assert Event.objects.get(pk=other.pk).status == Event.Status.SCHEDULED


def test_an_event_whose_room_ended_leaves_the_upcoming_list(client, event, alice):
    room = _live(event, alice)
    assert "Scaling Postgres" in client.get("/events/").content.decode()

    room_services.room_end(room_id=room.pk, actor=alice)

    assert "Scaling Postgres" not in client.get("/events/").content.decode()


def test_the_ended_event_page_takes_the_same_number_of_queries_for_3_and_30_speakers(
    client, event, alice, page_queries
):
    room = _live(event, alice)
    room_services.room_end(room_id=room.pk, actor=alice)

    def add_speakers(n: int) -> None:
        now = timezone.now()
        Participant.objects.bulk_create(
            Participant(room=room, member=make_member(), role=Role.SPEAKER, joined_at=now)
            for _ in range(n)
        )

    add_speakers(3)
    page_queries(client, f"/events/{event.pk}/")
    with_3 = page_queries(client, f"/events/{event.pk}/")
    add_speakers(27)

    assert page_queries(client, f"/events/{event.pk}/") == with_3
