"""The live-rooms directory (/rooms/), a room's page (/rooms/<id>/) and going live."""

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import block_create
from rooms.models import Participant, Role, Room, RoomBan
from tests.conftest import make_group, make_member, make_room


def _cards(response) -> dict[str, str]:
    """Each room card on the page, by room title."""
    page = response.content.decode()
    cards = re.findall(r'<article class="card room-card">(.*?)</article>', page, re.S)
    return {
        html.unescape(re.search(r'<h3 class="card-title"><a [^>]*>(.*?)</a>', c, re.S)[1]): c
        for c in cards
    }


def _listen(room, member, *, present: bool = True) -> Participant:
    return Participant.objects.create(room=room, member=member, is_present=present)


# --- /rooms/ ----------------------------------------------------------------------------------


def test_it_lists_live_rooms_only(client, alice):
    make_room(alice, title="On air")
    make_room(alice, title="Warming up", live=False)
    ended = make_room(alice, title="All done")
    Room.objects.filter(pk=ended.pk).update(status=Room.Status.ENDED)

    response = client.get("/rooms/")

    assert response.status_code == 200
    assert set(_cards(response)) == {"On air"}


def test_it_shows_who_is_on_stage_and_how_many_listen(client, alice, bob, carol, dan):
    room = make_room(alice, title="Scaling Postgres", speakers=[bob])
    room.participants.update(is_present=True)
    _listen(room, carol)
    _listen(room, dan, present=False)  # joined earlier and left

    card = _cards(client.get("/rooms/"))["Scaling Postgres"]

    assert re.findall(r'<span class="face-name">([^<]+)</span>', card) == [
        "Alice Moreau",
        "Bob Okafor",
    ]
    assert "2 on stage · 1 listening" in card
    assert f'href="/rooms/{room.pk}/"' in card


def test_it_says_when_nobody_is_live(client, alice):
    make_room(alice, live=False)

    page = client.get("/rooms/").content.decode()

    assert "No rooms are live right now." in page


def test_it_hides_group_only_rooms_from_outsiders(client, alice, bob, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    make_room(alice, title="Red team debrief", group=group, visibility=Room.Visibility.GROUP)
    make_room(alice, title="Open threat briefing", group=group)

    anonymous = _cards(client.get("/rooms/"))
    client.force_login(dan)
    outsider = _cards(client.get("/rooms/"))
    client.force_login(bob)
    member = _cards(client.get("/rooms/"))

    assert set(anonymous) == {"Open threat briefing"}
    assert set(outsider) == {"Open threat briefing"}
    assert set(member) == {"Red team debrief", "Open threat briefing"}
    assert "Security Council" in member["Red team debrief"]


def test_it_hides_rooms_whose_host_blocked_the_viewer(client, alice, bob, dan):
    make_room(alice, title="Scaling Postgres")
    make_room(bob, title="SRE war stories")
    block_create(blocker=alice, blocked=dan)

    client.force_login(dan)
    blocked = _cards(client.get("/rooms/"))
    client.force_login(bob)
    others = _cards(client.get("/rooms/"))

    assert set(blocked) == {"SRE war stories"}
    assert set(others) == {"Scaling Postgres", "SRE war stories"}


def test_it_hides_rooms_the_viewer_is_banned_from(client, alice, dan):
    room = make_room(alice, title="Scaling Postgres")
    make_room(alice, title="Kernel bypass")
    RoomBan.objects.create(room=room, member=dan, banned_by=alice)
    client.force_login(dan)

    assert set(_cards(client.get("/rooms/"))) == {"Kernel bypass"}


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _live_rooms(n: int, group) -> None:
    for i in range(n):
        room = make_room(
            make_member(),
            speakers=[make_member(), make_member()],
            group=group if i % 2 else None,
        )
        _listen(room, make_member())


@pytest.mark.parametrize("url", ["/rooms/", "/"])
def test_it_takes_the_same_number_of_queries_for_5_and_50_live_rooms(client, alice, dan, url):
    group = make_group(alice, "Platform Engineering", members=[dan])
    client.force_login(dan)
    _live_rooms(5, group)
    _queries(client, url)
    with_5 = _queries(client, url)

    _live_rooms(45, group)
    with_50 = _queries(client, url)

    assert Room.objects.live().count() == 50
    assert with_50 == with_5


# --- /rooms/<id>/ -----------------------------------------------------------------------------


def test_a_signed_out_visitor_sees_a_public_rooms_preview_and_is_asked_to_sign_in(client, alice):
    room = make_room(alice, description="How we shard Postgres at Acme.")

    response = client.get(f"/rooms/{room.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert room.title in page and "How we shard Postgres at Acme." in page
    assert f'href="/accounts/login/?next=/rooms/{room.pk}/"' in page
    assert "ws/rooms" not in page and "room.js" not in page  # no socket for a visitor


def test_it_requires_login_to_open_a_group_room(client, alice):
    group = make_group(alice)
    room = make_room(alice, group=group, visibility=Room.Visibility.GROUP)

    response = client.get(f"/rooms/{room.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next=/rooms/{room.pk}/")
    assert room.title not in response.content.decode()


def test_it_shows_who_starts_on_the_stage_of_a_scheduled_room(client, alice, bob, carol):
    # A live room's stage is drawn by room.js from the websocket state.
    room = make_room(
        alice, title="Scaling Postgres", speakers=[bob], description="Pooling.", live=False
    )
    _listen(room, carol)
    client.force_login(carol)

    response = client.get(f"/rooms/{room.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Scaling Postgres</h1>" in page
    assert "Pooling." in page
    stage = re.findall(r'<li class="stage-person">(.*?)</li>', page, re.S)
    assert len(stage) == 2
    assert "Alice Moreau" in stage[0]
    assert '<span class="badge badge-role">Host</span>' in stage[0]
    assert "Bob Okafor" in stage[1]
    assert '<span class="badge badge-role">Speaker</span>' in stage[1]
    assert "Carol Nguyen" not in "".join(stage)


def test_it_refuses_a_member_the_host_blocked(client, alice, dan):
    room = make_room(alice)
    block_create(blocker=alice, blocked=dan)
    client.force_login(dan)

    assert client.get(f"/rooms/{room.pk}/").status_code == 403
    assert client.post(f"/rooms/{room.pk}/start/").status_code == 403


def test_it_refuses_a_banned_member(client, alice, dan):
    room = make_room(alice)
    RoomBan.objects.create(room=room, member=dan, banned_by=alice, reason="Spam")
    client.force_login(dan)

    assert client.get(f"/rooms/{room.pk}/").status_code == 403


def test_it_lets_in_a_member_blocked_by_someone_else(client, alice, bob, dan):
    room = make_room(alice)
    block_create(blocker=bob, blocked=dan)
    client.force_login(dan)

    assert client.get(f"/rooms/{room.pk}/").status_code == 200


def test_it_404s_a_group_only_room_for_outsiders(client, alice, bob, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    room = make_room(alice, title="Red team debrief", group=group, visibility="group")

    client.force_login(dan)
    outsider = client.get(f"/rooms/{room.pk}/")
    client.force_login(bob)
    member = client.get(f"/rooms/{room.pk}/")

    assert outsider.status_code == 404
    assert member.status_code == 200
    assert "Red team debrief" in member.content.decode()


def test_it_404s_an_unknown_room(client, alice):
    client.force_login(alice)

    assert client.get("/rooms/999999/").status_code == 404


# --- going live -------------------------------------------------------------------------------


def test_it_offers_go_live_to_the_host_of_a_scheduled_room_only(client, alice, bob):
    scheduled = make_room(alice, speakers=[bob], live=False)
    live = make_room(alice)

    client.force_login(alice)
    host_scheduled = client.get(f"/rooms/{scheduled.pk}/").content.decode()
    host_live = client.get(f"/rooms/{live.pk}/").content.decode()
    client.force_login(bob)
    speaker_scheduled = client.get(f"/rooms/{scheduled.pk}/").content.decode()

    assert "Go live" in host_scheduled
    assert f'action="/rooms/{scheduled.pk}/start/"' in host_scheduled
    assert "Go live" not in host_live
    assert "Go live" not in speaker_scheduled
    assert "The host will go live soon." in speaker_scheduled


def test_it_makes_the_room_live_when_the_host_starts_it(client, alice, flashes):
    room = make_room(alice, title="Scaling Postgres", live=False)
    client.force_login(alice)

    response = client.post(f"/rooms/{room.pk}/start/", follow=True)

    room.refresh_from_db()
    assert room.status == Room.Status.LIVE
    assert room.started_at is not None
    assert response.redirect_chain == [(f"/rooms/{room.pk}/", 302)]
    assert ("success", "You're live.") in flashes(response)
    assert "Go live" not in response.content.decode()
    assert "Scaling Postgres" in _cards(client.get("/rooms/"))


def test_it_refuses_start_from_anyone_but_the_host(client, alice, bob, flashes):
    room = make_room(alice, speakers=[bob], live=False)
    client.force_login(bob)

    response = client.post(f"/rooms/{room.pk}/start/", follow=True)

    room.refresh_from_db()
    assert room.status == Room.Status.SCHEDULED
    assert room.started_at is None
    assert ("error", "Only the host can start this room.") in flashes(response)


def test_it_refuses_starting_a_room_twice(client, alice, flashes):
    room = make_room(alice)
    started_at = room.started_at
    client.force_login(alice)

    response = client.post(f"/rooms/{room.pk}/start/", follow=True)

    room.refresh_from_db()
    assert room.started_at == started_at
    assert ("error", "This room has already started or ended.") in flashes(response)


def test_it_starts_only_on_post_and_for_signed_in_members(client, alice):
    room = make_room(alice, live=False)

    anonymous = client.post(f"/rooms/{room.pk}/start/")
    client.force_login(alice)
    by_get = client.get(f"/rooms/{room.pk}/start/")

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert by_get.status_code == 405
    room.refresh_from_db()
    assert room.status == Room.Status.SCHEDULED
    assert Participant.objects.get(room=room).role == Role.HOST


def test_cards_and_the_dashboard_count_only_people_present(alice, bob, carol):
    """Room cards said '3 on stage' in an empty room, and the dashboard '0 speakers' where
    the room list said '2': both now count the people present; a room not yet live counts
    the speakers lined up."""
    from django.contrib.auth.models import Permission

    from tests.moderation.helpers import logged_in, present

    live = make_room(alice, speakers=[bob], title="Live and empty")
    later = make_room(alice, speakers=[bob, carol], title="Later today", live=False)
    listing = logged_in(carol).get("/rooms/").content.decode()
    assert "0 on stage · 0 listening" in listing

    present(live, alice)
    present(live, carol, role=Role.LISTENER)
    listing = logged_in(carol).get("/rooms/").content.decode()
    assert "1 on stage · 1 listening" in listing
    mod = make_member("Mo Derator")
    mod.user_permissions.add(Permission.objects.get(codename="moderate_platform"))
    dashboard = logged_in(mod).get("/moderation/").content.decode()
    row = dashboard[dashboard.index("Live and empty") :]
    assert re.search(r"<td>1</td>\s*<td>1</td>", row)
    search = logged_in(carol).get("/search/", {"q": "Later"}).content.decode()
    assert "3 speakers lined up" in search and later.title in search  # the host too
