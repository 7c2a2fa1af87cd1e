"""An event's calendar file: /events/<id>/event.ics."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from events.models import Event, Visibility
from tests.conftest import make_group

# 09:00-10:30 in Kolkata (UTC+05:30) is 22:30-00:00 the evening before in New York (EST).
KOLKATA_MORNING = datetime(2030, 3, 10, 3, 30, tzinfo=UTC)


def _parse(response) -> icalendar.Event:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    (event,) = calendar.walk("VEVENT")
    return event


@pytest.fixture
def event(alice) -> Event:
    alice.timezone = "Asia/Kolkata"
    alice.save()
    return Event.objects.create(
        host=alice,
        title="Scaling Postgres",
        description="Partitioning and pooling.",
        starts_at=KOLKATA_MORNING,
        ends_at=KOLKATA_MORNING + timedelta(minutes=90),
        timezone="Asia/Kolkata",
    )


def test_it_gives_the_host_and_a_new_york_attendee_the_same_instants(client, event, alice, bob):
    bob.timezone = "America/New_York"
    bob.save()

    client.force_login(alice)
    as_host = _parse(client.get(f"/events/{event.pk}/event.ics"))
    client.force_login(bob)
    as_bob = _parse(client.get(f"/events/{event.pk}/event.ics"))

    for vevent in (as_host, as_bob):
        assert vevent.decoded("dtstart") == KOLKATA_MORNING
        assert vevent.decoded("dtend") == KOLKATA_MORNING + timedelta(minutes=90)
    # Written in the host's wall-clock time, which New York reads as the evening before.
    start = as_bob.decoded("dtstart")
    assert (start.hour, start.minute, str(start.tzinfo)) == (9, 0, "Asia/Kolkata")
    in_new_york = start.astimezone(ZoneInfo("America/New_York"))
    assert (in_new_york.day, in_new_york.hour, in_new_york.minute) == (9, 22, 30)


def test_it_describes_the_event(client, event, settings):
    settings.HTTPS = True
    vevent = _parse(client.get(f"/events/{event.pk}/event.ics"))

    url = f"https://127.0.0.1:8000/events/{event.pk}/"
    assert str(vevent["summary"]) == "Scaling Postgres"
    assert str(vevent["location"]) == "Podium (online audio)"
    assert str(vevent["url"]) == url
    assert str(vevent["status"]) == "CONFIRMED"
    description = str(vevent["description"])
    assert "Partitioning and pooling." in description
    assert "Hosted by Alice Moreau on Podium." in description
    assert url in description


def test_it_includes_the_zone_definition_it_refers_to(client, event):
    calendar = icalendar.Calendar.from_ical(client.get(f"/events/{event.pk}/event.ics").content)

    (zone,) = calendar.timezones
    assert zone.tz_name == "Asia/Kolkata"
    assert calendar.get_missing_tzids() == set()
    assert KOLKATA_MORNING.astimezone(zone.to_tz()).hour == 9


def test_its_zone_definition_holds_daylight_saving_time_after_2038(client, alice):
    # icalendar's default VTIMEZONE stops at 2038; ours covers the event's own dates.
    starts_at = datetime(2040, 7, 1, 13, 0, tzinfo=UTC)  # 09:00 EDT
    event = Event.objects.create(
        host=alice,
        title="Summer summit",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        timezone="America/New_York",
    )

    calendar = icalendar.Calendar.from_ical(client.get(f"/events/{event.pk}/event.ics").content)

    (zone,) = calendar.timezones
    local = starts_at.astimezone(zone.to_tz())
    assert (local.hour, local.utcoffset()) == (9, timedelta(hours=-4))
    assert calendar.walk("VEVENT")[0].decoded("dtstart") == starts_at


def test_its_uid_stays_while_the_event_changes_and_its_sequence_grows(client, event, alice):
    before = _parse(client.get(f"/events/{event.pk}/event.ics"))
    client.force_login(alice)
    client.post(f"/events/{event.pk}/extend/")
    after = _parse(client.get(f"/events/{event.pk}/event.ics"))

    assert str(before["uid"]) == str(after["uid"]) == f"podium-event-{event.pk}@podium"
    assert (before.decoded("sequence"), after.decoded("sequence")) == (0, 1)
    assert after.decoded("dtend") == KOLKATA_MORNING + timedelta(minutes=120)


def test_it_marks_a_cancelled_event_cancelled(client, event):
    Event.objects.filter(pk=event.pk).update(status=Event.Status.CANCELLED)

    assert str(_parse(client.get(f"/events/{event.pk}/event.ics"))["status"]) == "CANCELLED"


def test_it_404s_a_group_only_event_for_outsiders_and_visitors(client, alice, bob, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    event = Event.objects.create(
        host=alice,
        title="Zero-day tabletop",
        starts_at=KOLKATA_MORNING,
        ends_at=KOLKATA_MORNING + timedelta(hours=1),
        group=group,
        visibility=Visibility.GROUP,
    )
    url = f"/events/{event.pk}/event.ics"

    assert client.get(url).status_code == 404
    client.force_login(dan)
    assert client.get(url).status_code == 404
    client.force_login(bob)
    assert str(_parse(client.get(url))["summary"]) == "Zero-day tabletop"


def test_it_404s_an_unknown_event(client, db):
    assert client.get("/events/999999/event.ics").status_code == 404
