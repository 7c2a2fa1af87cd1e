"""Scheduling an event: /events/new/."""

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from events import services
from events.models import Event, EventSpeaker
from groups.models import Membership
from tests.conftest import make_group, make_member


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


# --- Speakers, co-hosts and the cover ---------------------------------------------------------


def test_it_invites_speakers_and_co_hosts_by_handle(
    client, alice, bob, carol, dan, flashes, section
):
    client.force_login(alice)

    response = client.post(
        "/events/new/",
        _form(speakers="bob-okafor, /in/carol-nguyen/", cohosts="@dan-silva"),
        follow=True,
    )

    event = Event.objects.get()
    invitations = {
        s.member.display_name: (s.role, s.status)
        for s in EventSpeaker.objects.filter(event=event).select_related("member")
    }
    assert invitations == {
        "Bob Okafor": ("speaker", "invited"),
        "Carol Nguyen": ("speaker", "invited"),
        "Dan Silva": ("cohost", "invited"),
    }
    assert ("success", "Event scheduled. 3 invitations sent.") in flashes(response)
    # Nobody shows on the event's stage until they accept; the host sees who is invited.
    assert section(response, "speakers-heading") == ""
    assert "Bob Okafor" in section(response, "host-tools-heading")


def test_it_tells_each_invitee(client, alice, bob, dan, monkeypatch):
    told = []
    monkeypatch.setattr(services, "notify", lambda **kwargs: told.append(kwargs))
    client.force_login(alice)

    client.post("/events/new/", _form(speakers="bob-okafor", cohosts="dan-silva"))

    event = Event.objects.get()
    assert [(n["member"], n["kind"], n["email"], n["url"]) for n in told] == [
        (bob, "event_speaker_invite", True, f"/events/{event.pk}/"),
        (dan, "event_speaker_invite", True, f"/events/{event.pk}/"),
    ]
    assert told[0]["text"] == "Alice Moreau invited you to speak at “Scaling Postgres”."
    assert told[1]["text"] == "Alice Moreau invited you to co-host “Scaling Postgres”."


def test_it_emails_each_invitee(
    client, alice, bob, dan, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/events/new/", _form(speakers="bob-okafor", cohosts="dan-silva"))

    event = Event.objects.get()
    assert sorted(m.to[0] for m in mailoutbox) == ["bob@globex.io", "dan@gmail.com"]
    assert all(f"/events/{event.pk}/" in m.body for m in mailoutbox)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"speakers": "bob-okafor, nobody-here"},
            "speakers",
            "No member with the handle: nobody-here",
        ),
        ({"speakers": "alice-moreau"}, "speakers", "You host this event: don't invite yourself."),
        ({"cohosts": "alice-moreau"}, "cohosts", "You host this event: don't invite yourself."),
        (
            {"speakers": "bob-okafor", "cohosts": "bob-okafor"},
            "cohosts",
            "Invite each person once, as speaker or co-host: Bob Okafor",
        ),
    ],
)
def test_it_rejects_invalid_invitations(
    client, alice, bob, field_errors, overrides, field, message
):
    client.force_login(alice)

    response = client.post("/events/new/", _form(**overrides))

    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert not Event.objects.exists()
    assert not EventSpeaker.objects.exists()


def test_it_refuses_more_people_than_the_stage_holds(client, alice, field_errors):
    handles = [make_member(f"Speaker {i}").handle for i in range(12)]
    handles += [make_member(f"Cohost {i}").handle for i in range(8)]
    client.force_login(alice)

    response = client.post(
        "/events/new/", _form(speakers=", ".join(handles[:12]), cohosts=", ".join(handles[12:]))
    )

    assert "invite at most 19 speakers and co-hosts" in field_errors(response, "speakers")
    assert not Event.objects.exists()


def test_it_invites_only_group_members_to_a_group_only_event(
    client, alice, bob, carol, field_errors
):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    client.force_login(alice)

    refused = client.post(
        "/events/new/",
        _form(group=str(group.pk), visibility="group", speakers="bob-okafor, carol-nguyen"),
    )
    client.post(
        "/events/new/", _form(group=str(group.pk), visibility="group", speakers="bob-okafor")
    )

    assert (
        "Only members of Security Council can take part in a group-only event: Carol Nguyen"
        in field_errors(refused, "speakers")
    )
    assert list(EventSpeaker.objects.values_list("member__display_name", flat=True)) == [
        "Bob Okafor"
    ]


def _png(width=64, height=32) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(buffer, "PNG")
    return SimpleUploadedFile("cover.png", buffer.getvalue(), content_type="image/png")


def test_it_stores_the_cover_under_covers(client, alice, settings):
    client.force_login(alice)

    client.post("/events/new/", {**_form(), "cover": _png()})

    event = Event.objects.get()
    assert event.cover.name.startswith("covers/")
    assert (Path(settings.MEDIA_ROOT) / event.cover.name).is_file()
    page = client.get(f"/events/{event.pk}/").content.decode()
    assert f'<img class="event-cover" src="/uploads/{event.cover.name}"' in page


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("cover.png", b"not a picture", content_type="image/png"),
            "Upload a valid image.",
        ),
        (lambda: _png(5000, 10), "The picture must be at most 4096 px on each side."),
    ],
)
def test_it_rejects_a_bad_cover(client, alice, field_errors, upload, message):
    client.force_login(alice)

    response = client.post(
        "/events/new/", {**_form(), "cover": upload() if callable(upload) else upload}
    )

    assert message in field_errors(response, "cover")
    assert not Event.objects.exists()
