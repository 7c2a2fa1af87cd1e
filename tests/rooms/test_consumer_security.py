"""The room socket refuses strangers and survives abuse: Origin, session, bans, bad input,
oversized frames and floods. Nothing a client sends changes state it may not change."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application as asgi_application
from rooms import consumers
from rooms.models import Participant, Role, Room, RoomBan
from rooms.protocol import Close
from tests.conftest import make_room
from tests.rooms.wsutil import close_code, connect, drain, refused, send, until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def _live_room(host, **fields):
    return make_room(host, **fields)


@database_sync_to_async
def _room_picture(room):
    """Everything a refused message must leave alone."""
    people = sorted(
        Participant.objects.filter(room=room).values_list(
            "member_id", "role", "hand_raised_at", "invited_at", "muted", "is_present"
        )
    )
    room = Room.objects.get(pk=room.pk)
    bans = list(RoomBan.objects.filter(room=room).values_list("member_id", flat=True))
    return people, room.status, room.version, bans


@database_sync_to_async
def _session_cookie(member) -> str:
    client = Client()
    client.force_login(member)
    return client.cookies["sessionid"].value


async def _full_stack(path: str, *, origin: bytes | None, cookie: str | None):
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(asgi_application, path, headers=headers)


async def test_it_joins_through_the_real_stack_with_origin_and_session(alice, carol):
    room = await _live_room(alice)
    comm = await _full_stack(
        f"/ws/rooms/{room.pk}/",
        origin=b"http://127.0.0.1:8000",
        cookie=await _session_cookie(carol),
    )
    connected, _ = await comm.connect()
    assert connected
    state = await comm.receive_json_from(timeout=3)
    assert state["type"] == "room.state"
    assert state["you"]["member"] == carol.pk
    await comm.disconnect()


async def test_it_refuses_a_foreign_origin(alice, carol):
    room = await _live_room(alice)
    comm = await _full_stack(
        f"/ws/rooms/{room.pk}/", origin=b"https://evil.example", cookie=await _session_cookie(carol)
    )
    connected, _ = await comm.connect()
    assert not connected
    assert not await database_sync_to_async(
        Participant.objects.filter(room=room, member=carol).exists
    )()


async def test_it_refuses_a_missing_origin(alice, carol):
    room = await _live_room(alice)
    comm = await _full_stack(
        f"/ws/rooms/{room.pk}/", origin=None, cookie=await _session_cookie(carol)
    )
    connected, _ = await comm.connect()
    assert not connected


async def test_it_refuses_a_socket_without_a_session(alice):
    room = await _live_room(alice)
    comm = await _full_stack(f"/ws/rooms/{room.pk}/", origin=b"http://127.0.0.1:8000", cookie=None)
    connected, _ = await comm.connect()
    assert connected
    error = await comm.receive_json_from(timeout=3)
    assert error["code"] == "unauthenticated"
    closed = await comm.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": Close.UNAUTHENTICATED}


async def test_it_refuses_a_banned_member_at_connect(alice, dan):
    room = await _live_room(alice)
    await database_sync_to_async(RoomBan.objects.create)(room=room, member=dan, banned_by=alice)
    error, code = await refused(dan, room.pk)
    assert error["type"] == "error"
    assert code == Close.FORBIDDEN
    assert not await database_sync_to_async(
        Participant.objects.filter(room=room, member=dan, is_present=True).exists
    )()


async def test_it_refuses_a_room_that_is_not_live(alice, carol):
    room = await _live_room(alice, live=False)
    error, code = await refused(carol, room.pk)
    assert error["code"] == "room_not_live"
    assert code == Close.ENDED


async def test_it_hides_a_group_room_from_outsiders(alice, dan):
    from tests.conftest import make_group

    group = await database_sync_to_async(make_group)(alice, private=True)
    room = await _live_room(alice, group=group, visibility=Room.Visibility.GROUP)
    error, code = await refused(dan, room.pk)
    assert error["code"] == "not_found"
    assert code == Close.NOT_FOUND


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('"hand.raise"', "invalid_json"),
        ('{"type": "hand.wave"}', "unknown_type"),
        ('{"type": 7}', "unknown_type"),
        ('{"kind": "hand.raise"}', "unknown_type"),
        ('{"type": "hand.raise", "extra": 1}', "invalid_message"),
        ('{"type": "speaker.promote"}', "invalid_message"),
        ('{"type": "speaker.promote", "member": "2"}', "invalid_message"),
        ('{"type": "speaker.promote", "member": 2.0}', "invalid_message"),
        ('{"type": "speaker.promote", "member": -1}', "invalid_message"),
        ('{"type": "member.ban", "member": 1, "reason": 5}', "invalid_message"),
        ('{"type": "reaction", "emoji": "<script>"}', "invalid_message"),
        ('{"type": "rtc.offer", "sdp": ""}', "invalid_message"),
    ],
)
async def test_it_answers_bad_input_with_an_error_and_changes_nothing(alice, carol, frame, code):
    room = await _live_room(alice)
    host, _ = await connect(alice, room.pk)
    listener, _ = await connect(carol, room.pk)
    await drain(host)
    before = await _room_picture(room)
    await listener.send_to(text_data=frame)
    error = await until(listener, "error")
    assert error["code"] == code
    assert error["message"]
    assert await _room_picture(room) == before
    # The socket stays open and usable.
    await send(listener, "hand.raise")
    assert (await until(listener, "role.changed"))["you"]["hand_raised"] is True
    await listener.disconnect()
    await host.disconnect()


async def test_it_refuses_a_target_in_another_room(alice, bob, carol):
    room = await _live_room(alice)
    other_room = await _live_room(bob)
    host, _ = await connect(alice, room.pk)
    elsewhere, _ = await connect(carol, other_room.pk)
    await send(elsewhere, "hand.raise")
    await until(elsewhere, "role.changed")
    before = await _room_picture(other_room)
    await send(host, "speaker.promote", member=carol.pk)
    error = await until(host, "error")
    assert error["code"] == "not_found"
    assert await _room_picture(other_room) == before
    await elsewhere.disconnect()
    await host.disconnect()


async def test_it_closes_a_frame_over_64_kib_with_4413(alice, carol):
    room = await _live_room(alice)
    listener, _ = await connect(carol, room.pk)
    before = await _room_picture(room)
    await listener.send_to(text_data='{"type": "hand.raise", "pad": "' + "x" * 70_000 + '"}')
    assert await close_code(listener) == Close.TOO_BIG == 4413
    await listener.wait()
    after = await _room_picture(room)
    assert after[1:] == before[1:]


async def test_it_throttles_then_closes_a_flood(alice, carol):
    room = await _live_room(alice)
    listener, _ = await connect(carol, room.pk)
    for _ in range(consumers.RATE_BURST):
        await send(listener, "state.sync")
    for _ in range(consumers.FLOOD_CLOSE_AFTER + 5):
        await send(listener, "state.sync")
    events = []
    while True:
        output = await listener.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert output["code"] == Close.FLOOD
            break
        events.append(output["text"])
    assert any('"rate_limited"' in text for text in events)
    # No more than the burst (plus what refilled meanwhile) was served.
    served = sum('"room.state"' in text for text in events)
    assert consumers.RATE_BURST <= served < consumers.RATE_BURST + 10


async def test_it_caps_how_often_one_member_opens_sockets(alice, carol, monkeypatch):
    monkeypatch.setattr(consumers, "CONNECTS_PER_WINDOW", 3)
    consumers._recent_connects.clear()
    room = await _live_room(alice)
    for _ in range(3):
        comm, _ = await connect(carol, room.pk)
        await comm.disconnect()
    error, code = await refused(carol, room.pk)
    assert error["code"] == "rate_limited"
    assert code == Close.FLOOD
    consumers._recent_connects.clear()


async def test_it_gives_the_newer_tab_the_room_and_closes_the_older(alice, carol):
    room = await _live_room(alice)
    old_tab, _ = await connect(carol, room.pk)
    new_tab, state = await connect(carol, room.pk)
    assert state["you"]["member"] == carol.pk
    replaced = await until(old_tab, "session.replaced")
    assert replaced == {"type": "session.replaced"}
    assert await close_code(old_tab) == Close.REPLACED
    await old_tab.wait()
    # The old tab's disconnect doesn't end the member's presence.
    participant = await database_sync_to_async(Participant.objects.get)(room=room, member=carol)
    assert participant.is_present
    await new_tab.disconnect()


async def test_it_restores_role_hand_and_mute_after_a_reconnect(alice, bob, carol):
    room = await _live_room(alice, speakers=[bob])
    speaker, state = await connect(bob, room.pk)
    assert state["you"]["role"] == Role.SPEAKER
    await send(speaker, "unmute.self")
    await until(speaker, "role.changed")
    listener, _ = await connect(carol, room.pk)
    await send(listener, "hand.raise")
    await until(listener, "role.changed")
    await speaker.disconnect()
    await listener.disconnect()

    speaker, state = await connect(bob, room.pk)
    assert state["you"] == {**state["you"], "role": "speaker", "muted": False}
    listener, state = await connect(carol, room.pk)
    assert state["you"]["hand_raised"] is True
    await speaker.disconnect()
    await listener.disconnect()


async def test_a_room_number_past_any_primary_key_is_no_such_room(carol):
    error, code = await refused(carol, 10**20)
    assert error["code"] == "not_found"
    assert code == Close.NOT_FOUND


async def test_unknown_room_numbers_leave_nothing_behind(alice, carol, monkeypatch):
    """Each room number tried used to leave an entry in the consumer's per-room maps for
    good; now entries go once their connect is older than the window."""
    from rooms import snapshots

    monkeypatch.setattr(consumers, "CONNECT_WINDOW", 0.2)
    consumers._recent_connects.clear()
    room = await _live_room(alice)
    caches = [snapshots._stage_at, snapshots._audience_at, snapshots._joins_at]
    before = [len(c) for c in caches]
    unknown = range(10**6, 10**6 + 150)
    for error, code in await asyncio.gather(*(refused(carol, n) for n in unknown)):
        assert (error["code"], code) == ("not_found", Close.NOT_FOUND)
    assert not [key for key in consumers._open_sockets if key[0] in unknown]
    await asyncio.sleep(0.3)
    comm, _ = await connect(carol, room.pk)  # the next connect sweeps
    assert list(consumers._recent_connects) == [(room.pk, carol.pk)]
    assert [len(c) for c in caches] <= [b + 1 for b in before]
    await comm.disconnect()
    assert (room.pk, carol.pk) not in consumers._open_sockets
