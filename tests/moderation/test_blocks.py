"""Blocks in rooms: a member blocked by the host or by a moderator present in the room can't
join it, can't be invited to speak by the blocker, and their raised hand never reaches the
blocker (rooms.selectors.room_check_access, services.speaker_invite, the consumer's hand
queue filter)."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from accounts.models import Block
from accounts.services import block_create
from rooms import services
from rooms.consumers import BLOCKS_FRESH_FOR
from rooms.errors import NotAllowed
from rooms.models import Participant, Role
from rooms.protocol import Close
from tests.conftest import make_room
from tests.moderation.helpers import logged_in, present
from tests.rooms.wsutil import connect, drain, refused, send, until


def _room_with_cohost(alice, bob):
    """alice hosts; bob co-hosts and is in the room."""
    room = make_room(alice, moderators=[bob])
    present(room, alice)
    present(room, bob)
    return room


@pytest.mark.parametrize("blocker", ["host", "cohost"])
def test_a_blocked_member_cannot_open_the_room_page(alice, bob, carol, blocker):
    room = _room_with_cohost(alice, bob)
    block_create(blocker=alice if blocker == "host" else bob, blocked=carol)

    response = logged_in(carol).get(f"/rooms/{room.pk}/")

    assert response.status_code == 403
    assert not Participant.objects.filter(room=room, member=carol).exists()


def test_a_block_by_someone_without_a_moderating_role_keeps_no_one_out(alice, bob, carol, dan):
    room = make_room(alice, speakers=[bob])
    present(room, bob)
    present(room, dan)
    block_create(blocker=bob, blocked=carol)  # a speaker
    block_create(blocker=dan, blocked=carol)  # a listener

    assert logged_in(carol).get(f"/rooms/{room.pk}/").status_code == 200


def test_the_blocker_cannot_invite_the_blocked_member_but_another_moderator_can(alice, bob, carol):
    room = _room_with_cohost(alice, bob)
    present(room, carol)  # she joined before bob blocked her
    block_create(blocker=bob, blocked=carol)

    with pytest.raises(NotAllowed, match="blocked"):
        services.speaker_invite(room_id=room.pk, actor=bob, member_id=carol.pk)
    assert Participant.objects.get(room=room, member=carol).invited_at is None

    services.speaker_invite(room_id=room.pk, actor=alice, member_id=carol.pk)
    assert Participant.objects.get(room=room, member=carol).invited_at is not None


# --- Through the real consumer ----------------------------------------------------------------


def _queue(event: dict) -> list[int]:
    return [entry["member"] for entry in event["queue"]]


@pytest.mark.parametrize("blocker", ["host", "cohost"])
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_blocked_member_cannot_open_the_socket(alice, bob, carol, blocker):
    room = await database_sync_to_async(_room_with_cohost)(alice, bob)
    await database_sync_to_async(block_create)(
        blocker=alice if blocker == "host" else bob, blocked=carol
    )

    error, code = await refused(carol, room.pk)

    assert (error["code"], error["message"]) == ("forbidden", "You can't join this room.")
    assert code == Close.FORBIDDEN
    assert not await database_sync_to_async(
        Participant.objects.filter(room=room, member=carol, is_present=True).exists
    )()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_blocker_never_sees_the_blocked_members_hand(alice, bob, carol, dan):
    room = await database_sync_to_async(make_room)(alice, moderators=[bob])
    # carol and dan are listening before bob, the co-host, arrives; bob has blocked carol.
    carol_socket, _ = await connect(carol, room.pk)
    dan_socket, _ = await connect(dan, room.pk)
    await database_sync_to_async(block_create)(blocker=bob, blocked=carol)
    host, _ = await connect(alice, room.pk)
    cohost, state = await connect(bob, room.pk)
    assert state["you"]["role"] == Role.MODERATOR

    await send(dan_socket, "hand.raise")
    assert _queue(await until(host, "hand.queue")) == [dan.pk]
    assert _queue(await until(cohost, "hand.queue")) == [dan.pk]
    await send(carol_socket, "hand.raise")

    assert _queue(await until(host, "hand.queue")) == [dan.pk, carol.pk]
    assert _queue(await until(cohost, "hand.queue")) == [dan.pk]
    for moderator, expected in ((host, [dan.pk, carol.pk]), (cohost, [dan.pk])):
        await drain(moderator)
        await send(moderator, "state.sync")
        assert _queue({"queue": (await until(moderator, "room.state"))["hand_queue"]}) == expected
    for comm in (carol_socket, dan_socket, host, cohost):
        await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_block_made_during_the_room_hides_the_hand_from_then_on(alice, bob, carol):
    room = await database_sync_to_async(make_room)(alice, moderators=[bob])
    carol_socket, _ = await connect(carol, room.pk)
    cohost, _ = await connect(bob, room.pk)

    # bob blocks carol from her profile while both are in the room.
    await database_sync_to_async(block_create)(blocker=bob, blocked=carol)
    await send(carol_socket, "hand.raise")
    await until(carol_socket, "role.changed")

    try:
        assert _queue(await until(cohost, "hand.queue")) == []
    finally:
        for comm in (carol_socket, cohost):
            await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_block_made_after_a_queue_was_shown_applies_within_a_second(alice, bob, carol, dan):
    """The moderator's consumer re-reads blocks at most once a second (BLOCKS_FRESH_FOR), so
    a busy queue costs no query per change; a block still reaches the next queue after that."""
    room = await database_sync_to_async(make_room)(alice, moderators=[bob])
    carol_socket, _ = await connect(carol, room.pk)
    dan_socket, _ = await connect(dan, room.pk)
    cohost, _ = await connect(bob, room.pk)
    try:
        await send(dan_socket, "hand.raise")
        assert _queue(await until(cohost, "hand.queue")) == [dan.pk]  # blocks read now
        await database_sync_to_async(block_create)(blocker=bob, blocked=carol)
        await asyncio.sleep(BLOCKS_FRESH_FOR)
        await send(carol_socket, "hand.raise")
        await until(carol_socket, "role.changed")
        assert _queue(await until(cohost, "hand.queue")) == [dan.pk]
    finally:
        for comm in (carol_socket, dan_socket, cohost):
            await comm.disconnect()


def test_blocks_are_one_way(alice, bob, carol):
    """carol blocking the co-host doesn't keep carol out of bob's room (she chose to)."""
    room = _room_with_cohost(alice, bob)
    Block.objects.create(blocker=carol, blocked=bob)

    assert logged_in(carol).get(f"/rooms/{room.pk}/").status_code == 200


# --- Blocks where invitations start (issue 12, finding 3) -------------------------------


def _event_form(**overrides) -> dict:
    return {
        "title": "Scaling Postgres",
        "description": "",
        "starts": "2030-03-10T09:00",
        "ends": "2030-03-10T10:30",
        "timezone": "UTC",
        "group": "",
        "visibility": "public",
        **overrides,
    }


@pytest.mark.parametrize("who_blocked", ["invitee", "host"])
def test_a_block_either_way_stops_an_event_invitation(alice, carol, who_blocked):
    from accounts.models import Notification
    from events.models import EventSpeaker

    if who_blocked == "invitee":
        block_create(blocker=alice, blocked=carol)  # alice doesn't want carol's invitations
    else:
        block_create(blocker=carol, blocked=alice)
    client = logged_in(carol)
    for _ in range(3):
        response = client.post("/events/new/", _event_form(speakers="alice-moreau"))
        assert response.status_code == 200  # the form again, with the error
        assert "You can&#x27;t invite Alice Moreau." in response.content.decode()
    assert not EventSpeaker.objects.filter(member=alice).exists()
    assert not Notification.objects.filter(recipient=alice).exists()


@pytest.mark.parametrize("who_blocked", ["speaker", "host"])
def test_a_block_either_way_keeps_a_member_off_a_rooms_designated_speakers(
    alice, carol, who_blocked
):
    if who_blocked == "speaker":
        block_create(blocker=alice, blocked=carol)
    else:
        block_create(blocker=carol, blocked=alice)
    response = logged_in(carol).post(
        "/rooms/new/",
        {
            "title": "Ask me anything",
            "description": "",
            "speakers": "alice-moreau",
            "visibility": "public",
            "max_speakers": 10,
            "group": "",
        },
    )
    assert response.status_code == 200
    assert "You can&#x27;t invite Alice Moreau." in response.content.decode()
    assert not Participant.objects.filter(member=alice).exists()
    profile = logged_in(alice).get("/in/alice-moreau/").content.decode()
    assert "Ask me anything" not in profile


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_member_who_blocked_the_host_cant_be_invited_to_speak(alice, carol):
    room = await database_sync_to_async(make_room)(alice)
    await database_sync_to_async(block_create)(blocker=carol, blocked=alice)
    await database_sync_to_async(present)(room, alice)
    await database_sync_to_async(present)(room, carol)
    with pytest.raises(NotAllowed):
        await database_sync_to_async(services.speaker_invite)(
            room_id=room.pk, actor=alice, member_id=carol.pk
        )
