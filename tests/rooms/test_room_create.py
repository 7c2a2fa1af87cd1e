"""Creating a room: /rooms/new/."""

import html
import re

import pytest

from groups.models import Membership
from rooms.models import Participant, Role, Room
from tests.conftest import make_group, make_member, make_room


def _form(**overrides) -> dict:
    data = {
        "title": "Scaling Postgres",
        "description": "Pooling, partitioning and vacuum.",
        "speakers": "",
        "group": "",
        "visibility": "public",
        "max_speakers": "20",
    }
    data.update(overrides)
    return data


def _form_errors(response) -> str:
    match = re.search(
        r'<div class="alert alert-error" role="alert">(.*?)</div>', response.content.decode(), re.S
    )
    return "" if match is None else html.unescape(re.sub(r"<[^>]+>", " ", match[1]))


def _cast(room) -> dict[str, str]:
    return {
        p.member.display_name: p.role
        for p in Participant.objects.filter(room=room).select_related("member")
    }


def test_it_requires_login(client, db):
    response = client.get("/rooms/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/rooms/new/")

    response = client.post("/rooms/new/", _form())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Room.objects.exists()


def test_it_shows_the_form_with_only_the_hosts_groups(client, alice, bob):
    make_group(alice, "Platform Engineering")
    make_group(bob, "Design Systems")
    client.force_login(alice)

    response = client.get("/rooms/new/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="speakers"' in page
    assert "Platform Engineering" in page
    assert "Design Systems" not in page


def test_it_creates_a_scheduled_room_with_its_host_and_speakers(client, alice, bob, carol):
    client.force_login(alice)

    response = client.post("/rooms/new/", _form(speakers="bob-okafor, @carol-nguyen"))

    room = Room.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/rooms/{room.pk}/"
    assert room.title == "Scaling Postgres"
    assert room.description == "Pooling, partitioning and vacuum."
    assert room.host == alice
    assert room.status == Room.Status.SCHEDULED
    assert room.max_speakers == 20
    assert _cast(room) == {
        "Alice Moreau": Role.HOST,
        "Bob Okafor": Role.SPEAKER,
        "Carol Nguyen": Role.SPEAKER,
    }
    assert not Participant.objects.filter(room=room, is_present=True).exists()


def test_it_reads_handles_loosely_and_ignores_repeats_and_the_host(client, alice, bob, carol):
    client.force_login(alice)

    client.post(
        "/rooms/new/",
        _form(speakers="/in/bob-okafor/, BOB-OKAFOR\ncarol-nguyen,, alice-moreau"),
    )

    room = Room.objects.get()
    assert _cast(room) == {
        "Alice Moreau": Role.HOST,
        "Bob Okafor": Role.SPEAKER,
        "Carol Nguyen": Role.SPEAKER,
    }


def test_it_creates_a_room_without_speakers(client, alice):
    client.force_login(alice)

    client.post("/rooms/new/", _form())

    assert _cast(Room.objects.get()) == {"Alice Moreau": Role.HOST}


def test_it_creates_a_group_only_room_in_the_hosts_group(client, alice, bob):
    group = make_group(bob, "Security Council", private=True, members=[alice])
    client.force_login(alice)

    client.post("/rooms/new/", _form(group=str(group.pk), visibility="group"))

    room = Room.objects.get()
    assert room.group == group
    assert room.visibility == Room.Visibility.GROUP


def test_it_names_unknown_handles(client, alice, bob, field_errors):
    inactive = make_member("Gone Away")
    inactive.is_active = False
    inactive.save()
    client.force_login(alice)

    response = client.post("/rooms/new/", _form(speakers="bob-okafor, nobody-here, gone-away"))

    assert response.status_code == 200
    assert "No member with the handle: nobody-here, gone-away" in field_errors(response, "speakers")
    assert not Room.objects.exists()
    assert not Participant.objects.exists()


def test_it_rejects_more_speakers_than_the_stage_holds(
    client, alice, bob, carol, dan, field_errors
):
    client.force_login(alice)

    response = client.post(
        "/rooms/new/", _form(speakers="bob-okafor, carol-nguyen, dan-silva", max_speakers="3")
    )

    assert response.status_code == 200
    assert "3 speakers and the host don't fit on a stage of 3." in field_errors(
        response, "speakers"
    )
    assert not Room.objects.exists()
    assert not Participant.objects.exists()


def test_it_accepts_a_full_stage(client, alice, bob, carol):
    client.force_login(alice)

    client.post("/rooms/new/", _form(speakers="bob-okafor, carol-nguyen", max_speakers="3"))

    assert len(_cast(Room.objects.get())) == 3


def test_it_rejects_a_group_only_room_without_a_group(client, alice, field_errors):
    client.force_login(alice)

    response = client.post("/rooms/new/", _form(visibility="group"))

    assert response.status_code == 200
    assert "Choose the group whose members may join." in field_errors(response, "group")
    assert not Room.objects.exists()


@pytest.mark.parametrize("status", [None, Membership.Status.PENDING])
def test_it_refuses_a_group_the_host_does_not_belong_to(client, alice, bob, status, field_errors):
    group = make_group(bob, "Security Council", private=True)
    if status:
        Membership.objects.create(group=group, member=alice, status=status)
    client.force_login(alice)

    response = client.post("/rooms/new/", _form(group=str(group.pk), visibility="group"))

    assert response.status_code == 200
    assert "Select a valid choice." in field_errors(response, "group")
    assert not Room.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": ""}, "title", "This field is required."),
        ({"max_speakers": "1"}, "max_speakers", "greater than or equal to 2"),
        ({"max_speakers": "101"}, "max_speakers", "less than or equal to 100"),
        ({"visibility": "secret"}, "visibility", "Select a valid choice."),
    ],
)
def test_it_rejects_invalid_fields(client, alice, overrides, field, message, field_errors):
    client.force_login(alice)

    response = client.post("/rooms/new/", _form(**overrides))

    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert not Room.objects.exists()


def test_start_a_room_can_go_live_in_one_step(client, alice):
    client.force_login(alice)
    form = {"title": "Right now", "description": "", "speakers": "", "visibility": "public"}
    form |= {"max_speakers": 10, "group": ""}

    response = client.post("/rooms/new/", {**form, "go_live": "on"})
    live = Room.objects.get(title="Right now")
    assert response["Location"] == f"/rooms/{live.pk}/"
    assert live.status == Room.Status.LIVE

    client.post("/rooms/new/", {**form, "title": "Later"})
    assert Room.objects.get(title="Later").status == Room.Status.SCHEDULED


def test_a_scheduled_rooms_status_is_asked_by_its_page(client, alice, bob):
    room = make_room(alice, live=False)
    client.force_login(bob)
    page = client.get(f"/rooms/{room.pk}/").content.decode()
    assert f'data-status-url="/rooms/{room.pk}/status/"' in page and "waiting.js" in page
    response = client.get(f"/rooms/{room.pk}/status/")
    assert response.json() == {"status": "scheduled"} and response["Cache-Control"] == "no-store"
    group_room = make_room(alice, live=False, group=make_group(alice), visibility="group")
    assert client.get(f"/rooms/{group_room.pk}/status/").status_code == 404
