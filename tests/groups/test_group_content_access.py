"""Group-only rooms and events don't exist for anyone outside the group, page by page.

(Websocket and media refusal for group rooms is tested with the room consumer.)
"""

import pytest

from events.models import Visibility
from groups import services
from groups.models import Membership
from rooms.models import Room
from tests.conftest import make_event, make_group, make_room


@pytest.fixture
def council(alice, bob, carol):
    """A public group with group-only content: bob is a member, carol has asked to join."""
    group = make_group(alice, "Security Council", members=[bob])
    Membership.objects.create(group=group, member=carol, status=Membership.Status.PENDING)
    group.room = make_room(
        alice, title="Red team debrief", group=group, visibility=Room.Visibility.GROUP
    )
    group.event = make_event(
        alice, title="Zero-day tabletop", group=group, visibility=Visibility.GROUP
    )
    make_room(alice, title="Open threat briefing", group=group)
    make_event(alice, title="Public threat briefing", group=group)
    return group


@pytest.mark.parametrize("persona", ["carol", "dan"])
def test_the_room_and_event_pages_404_for_non_members(client, council, persona, request):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(f"/rooms/{council.room.pk}/").status_code == 404
    assert client.get(f"/events/{council.event.pk}/").status_code == 404


def test_visitors_are_sent_to_sign_in_for_the_room_and_get_404_for_the_event(client, council):
    room = client.get(f"/rooms/{council.room.pk}/")

    assert room.status_code == 302
    assert room["Location"].startswith("/accounts/login/")
    assert client.get(f"/events/{council.event.pk}/").status_code == 404


def test_members_open_them(client, council, alice, bob):
    for member in (alice, bob):
        client.force_login(member)
        assert client.get(f"/rooms/{council.room.pk}/").status_code == 200
        assert client.get(f"/events/{council.event.pk}/").status_code == 200


def test_a_member_who_leaves_loses_them(client, council, bob):
    services.group_leave(group=council, member=bob)
    client.force_login(bob)

    assert client.get(f"/rooms/{council.room.pk}/").status_code == 404
    assert client.get(f"/events/{council.event.pk}/").status_code == 404


@pytest.mark.parametrize("persona", [None, "carol", "dan"])
def test_lists_leave_them_out_for_non_members(client, council, persona, request, section):
    if persona:
        client.force_login(request.getfixturevalue(persona))

    group_page = client.get(f"/groups/{council.slug}/")
    pages = [
        group_page.content.decode(),
        client.get("/rooms/").content.decode(),
        client.get("/events/").content.decode(),
        client.get("/").content.decode(),
    ]

    assert "Open threat briefing" in section(group_page, "rooms-heading")
    assert "Public threat briefing" in section(group_page, "events-heading")
    for page in pages:
        assert "Red team debrief" not in page
        assert "Zero-day tabletop" not in page


def test_lists_show_them_to_members(client, council, bob, section):
    client.force_login(bob)

    group_page = client.get(f"/groups/{council.slug}/")

    assert "Red team debrief" in section(group_page, "rooms-heading")
    assert "Zero-day tabletop" in section(group_page, "events-heading")
    assert "Red team debrief" in client.get("/rooms/").content.decode()
    assert "Zero-day tabletop" in client.get("/events/").content.decode()
    assert "Red team debrief" in client.get("/").content.decode()
