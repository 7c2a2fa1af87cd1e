"""The room consumer end to end on the channel layer: hands, invitations, stage changes."""

import pytest
from channels.db import database_sync_to_async

from rooms.models import Participant, Role, Room
from tests.conftest import make_room
from tests.rooms.wsutil import connect, drain, send, until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def _live_room(host, speakers=()):
    return make_room(host, speakers=speakers)


@database_sync_to_async
def _participant(room, member):
    return Participant.objects.get(room=room, member=member)


async def test_it_sends_the_room_state_on_join(alice, bob, carol):
    room = await _live_room(alice, speakers=[bob])
    host, state = await connect(alice, room.pk)
    assert state["you"]["role"] == "host"
    assert state["you"]["can_moderate"] is True
    assert [p["member"] for p in state["stage"]] == [alice.pk]
    listener, state = await connect(carol, room.pk)
    assert state["you"]["role"] == "listener"
    assert state["hand_queue"] == []
    assert state["audience"]["count"] == 1
    assert (await _participant(room, carol)).is_present
    await listener.disconnect()
    await host.disconnect()
    assert not (await _participant(room, carol)).is_present


async def test_it_moves_a_raised_hand_onto_the_stage(alice, carol):
    room = await _live_room(alice)
    host, _ = await connect(alice, room.pk)
    listener, _ = await connect(carol, room.pk)
    await send(listener, "hand.raise")
    queue = await until(host, "hand.queue")
    assert [entry["member"] for entry in queue["queue"]] == [carol.pk]
    you = await until(listener, "role.changed")
    assert you["you"]["hand_raised"] is True

    await send(host, "speaker.promote", member=carol.pk)
    stage = await until(listener, "stage.changed")
    assert [p["member"] for p in stage["stage"]] == [alice.pk, carol.pk]
    you = await until(listener, "role.changed")
    assert you["you"]["role"] == "speaker"
    assert you["you"]["muted"] is True
    assert (await _participant(room, carol)).role == Role.SPEAKER
    await listener.disconnect()
    await host.disconnect()


async def test_it_refuses_a_listener_promoting_and_changes_nothing(alice, bob, carol):
    room = await _live_room(alice)
    host, _ = await connect(alice, room.pk)
    listener, _ = await connect(carol, room.pk)
    other, _ = await connect(bob, room.pk)
    await send(other, "hand.raise")
    await until(host, "hand.queue")
    await drain(listener)
    await send(listener, "speaker.promote", member=bob.pk)
    error = await until(listener, "error")
    assert error["code"] == "not_allowed"
    assert (await _participant(room, bob)).role == Role.LISTENER
    for comm in (listener, other, host):
        await comm.disconnect()


async def test_it_ends_the_room_for_everyone(alice, carol):
    room = await _live_room(alice)
    host, _ = await connect(alice, room.pk)
    listener, _ = await connect(carol, room.pk)
    await send(host, "room.end")
    ended = await until(listener, "room.ended")
    assert ended["version"] >= 2
    closed = await listener.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4410}
    refreshed = await database_sync_to_async(Room.objects.get)(pk=room.pk)
    assert refreshed.status == Room.Status.ENDED
    await host.disconnect()
    await listener.disconnect()
