"""Scheduling an event: /events/new/."""

from datetime import UTC, datetime

import pytest

from events.models import Event
from groups.models import Membership
from tests.conftest import make_group


def _form(**overrides) -> dict:
    data = {
        "title": "Scaling Postgres",
        "description": "Partitioning, pooling and the long tail.",
        "starts": "2030-03-10T09:00",
        "ends": "2030-03-10T10:30",
        "timezone": "Asia/Kolkata",
        "group": "",
        "visibility": "public",
    }
    data.update(overrides)
    return data


def test_it_requires_login(client, db):
    response = client.get("/events/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/events/new/")

    response = client.post("/events/new/", _form())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Event.objects.exists()


def test_it_offers_the_hosts_zone_and_only_the_hosts_groups(client, alice, bob, carol):
    alice.timezone = "Europe/Berlin"
    alice.save()
    make_group(alice, "Platform Engineering")
    make_group(bob, "Design Systems")
    pending = make_group(bob, "Security Council", private=True)
    Membership.objects.create(group=pending, member=alice, status=Membership.Status.PENDING)
    client.force_login(alice)

    page = client.get("/events/new/").content.decode()

    assert '<option value="Europe/Berlin" selected>' in page
    assert "Platform Engineering" in page
    assert "Design Systems" not in page
    assert "Security Council" not in page


def test_it_stores_wall_clock_times_in_utc(client, alice, flashes):
    client.force_login(alice)

    response = client.post("/events/new/", _form(), follow=True)

    event = Event.objects.get()
    assert response.redirect_chain == [(f"/events/{event.pk}/", 302)]
    assert ("success", "Event scheduled.") in flashes(response)
    assert event.host == alice
    assert event.title == "Scaling Postgres"
    assert event.timezone == "Asia/Kolkata"
    assert event.starts_at == datetime(2030, 3, 10, 3, 30, tzinfo=UTC)
    assert event.ends_at == datetime(2030, 3, 10, 5, 0, tzinfo=UTC)
    assert event.group is None
    assert event.visibility == "public"


def test_it_reads_times_in_the_chosen_zone_not_the_hosts(client, alice):
    alice.timezone = "Asia/Tokyo"
    alice.save()
    client.force_login(alice)

    client.post(
        "/events/new/",
        _form(starts="2030-07-01T09:00", ends="2030-07-01T10:00", timezone="America/New_York"),
    )

    event = Event.objects.get()
    assert event.starts_at == datetime(2030, 7, 1, 13, 0, tzinfo=UTC)  # EDT is UTC-4
    assert event.ends_at == datetime(2030, 7, 1, 14, 0, tzinfo=UTC)


def test_it_accepts_a_time_that_only_the_hosts_own_zone_skips(client, alice, field_errors):
    # 02:30 on 10 March 2030 doesn't exist in New York (clocks jump 02:00 -> 03:00),
    # but it is an ordinary morning in Kolkata.
    alice.timezone = "America/New_York"
    alice.save()
    client.force_login(alice)

    response = client.post(
        "/events/new/", _form(starts="2030-03-10T02:30", ends="2030-03-10T03:30")
    )

    assert field_errors(response, "starts") == ""
    event = Event.objects.get()
    assert event.starts_at == datetime(2030, 3, 9, 21, 0, tzinfo=UTC)


def test_it_schedules_a_group_only_event_in_the_hosts_group(client, alice, bob):
    group = make_group(bob, "Security Council", private=True, members=[alice])
    client.force_login(alice)

    client.post("/events/new/", _form(group=str(group.pk), visibility="group"))

    event = Event.objects.get()
    assert event.group == group
    assert event.visibility == "group"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"starts": "2030-03-10T09:00", "ends": "2030-03-10T08:00"},
            "ends",
            "The event must end after it starts.",
        ),
        (
            {"starts": "2030-03-10T09:00", "ends": "2030-03-10T09:00"},
            "ends",
            "The event must end after it starts.",
        ),
        (
            {"starts": "2030-03-10T09:00", "ends": "2030-03-10T12:01"},
            "ends",
            "Events last at most 3 hours.",
        ),
        (
            {"starts": "2020-03-10T09:00", "ends": "2020-03-10T10:00"},
            "starts",
            "Pick a start time in the future.",
        ),
        (
            {"timezone": "Mars/Olympus_Mons"},
            "timezone",
            "Select a valid choice. Mars/Olympus_Mons is not one of the available choices.",
        ),
        ({"timezone": ""}, "timezone", "This field is required."),
        ({"starts": "next tuesday"}, "starts", "Enter a valid date/time."),
        ({"title": ""}, "title", "This field is required."),
        ({"visibility": "group"}, "group", "Choose the group whose members may attend."),
        ({"visibility": "secret"}, "visibility", "Select a valid choice."),
    ],
)
def test_it_rejects_an_invalid_event(client, alice, field_errors, overrides, field, message):
    client.force_login(alice)

    response = client.post("/events/new/", _form(**overrides))

    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert not Event.objects.exists()


def test_it_accepts_exactly_three_hours(client, alice):
    client.force_login(alice)

    client.post("/events/new/", _form(starts="2030-03-10T09:00", ends="2030-03-10T12:00"))

    assert Event.objects.count() == 1


@pytest.mark.parametrize("status", [None, Membership.Status.PENDING])
def test_it_refuses_a_group_the_host_does_not_belong_to(client, alice, bob, field_errors, status):
    group = make_group(bob, "Security Council", private=True)
    if status:
        Membership.objects.create(group=group, member=alice, status=status)
    client.force_login(alice)

    response = client.post("/events/new/", _form(group=str(group.pk), visibility="group"))

    assert response.status_code == 200
    assert "Select a valid choice." in field_errors(response, "group")
    assert not Event.objects.exists()
