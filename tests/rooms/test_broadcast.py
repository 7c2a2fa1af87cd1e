"""What the room broadcasts: versions that only grow, stage changes at once, audience churn
coalesced so that a busy room doesn't send a message per join to everyone."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from rooms import broadcast, snapshots
from rooms.models import Participant
from tests.conftest import make_member, make_room
from tests.rooms.wsutil import connect, drain, send, until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_it_coalesces_a_burst_of_joins_into_few_audience_updates(alice):
    room = await database_sync_to_async(make_room)(alice)
    host, _ = await connect(alice, room.pk)
    people = [await database_sync_to_async(make_member)() for _ in range(12)]
    listeners = [(await connect(person, room.pk))[0] for person in people]
    # Let the last coalesced update go out.
    await asyncio.sleep(broadcast.AUDIENCE_INTERVAL * 2)
    updates = [e for e in await drain(host, 0.3) if e["type"] == "audience.changed"]
    # Twelve joins in well under two intervals: a few updates, never one per join.
    assert 1 <= len(updates) <= 4
    assert updates[-1]["count"] == 12
    assert {p["member"] for p in updates[-1]["audience"]} == {p.pk for p in people}
    for comm in [*listeners, host]:
        await comm.disconnect()


async def test_a_join_storm_reuses_a_recent_audience_and_then_catches_up(alice, monkeypatch):
    """Past snapshots.BUSY_JOINS joins in a window, room.state carries the audience as read
    a moment ago (no queries of its own); the coalesced audience.changed then gives every
    joiner the exact count."""
    # A wide window, so that a slow machine's joins still count as one storm.
    monkeypatch.setattr(snapshots, "AUDIENCE_FRESH", 30.0)
    room = await database_sync_to_async(make_room)(alice)
    joiners = snapshots.BUSY_JOINS + 10
    people = [await database_sync_to_async(make_member)() for _ in range(joiners)]
    snapshots._joins_at.clear()
    sockets, counts = [], []
    for person in people:
        comm, state = await connect(person, room.pk)
        sockets.append(comm)
        counts.append(state["audience"]["count"])
    # At an ordinary pace each join counts itself; in the storm some reuse a reading.
    assert counts[: snapshots.BUSY_JOINS] == list(range(1, snapshots.BUSY_JOINS + 1))
    assert any(c < i + 1 for i, c in enumerate(counts) if i >= snapshots.BUSY_JOINS)
    await asyncio.sleep(broadcast.AUDIENCE_INTERVAL * 2)
    for comm in sockets:
        updates = [e for e in await drain(comm, 0.05) if e["type"] == "audience.changed"]
        assert updates and updates[-1]["count"] == joiners
    for comm in sockets:
        await comm.disconnect()
    # Let the leaves and their audience update finish before the database is torn down.
    present = Participant.objects.filter(room=room, is_present=True)
    for _ in range(100):
        if not await database_sync_to_async(present.exists)():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(broadcast.AUDIENCE_INTERVAL * 2)


async def test_it_sends_stage_changes_with_consecutive_versions(alice, bob, carol):
    room = await database_sync_to_async(make_room)(alice, speakers=[bob])
    host, state = await connect(alice, room.pk)
    speaker, _ = await connect(bob, room.pk)
    listener, _ = await connect(carol, room.pk)
    # Bob's arrival on stage is the next version after the host's snapshot (the host's own
    # arrival may echo first with the snapshot's version; clients ignore such stale events).
    joined = await until(host, "stage.changed")
    if joined["version"] == state["version"]:
        joined = await until(host, "stage.changed")
    assert joined["version"] == state["version"] + 1
    assert [p["member"] for p in joined["stage"]] == [alice.pk, bob.pk]

    await send(speaker, "unmute.self")
    # Not the first stage.changed: an echo of the joins may still be on its way.
    unmuted = await until(listener, "stage.changed")
    while [p["muted"] for p in unmuted["stage"] if p["member"] == bob.pk] != [False]:
        unmuted = await until(listener, "stage.changed")
    await send(host, "mute", member=bob.pk)
    muted = await until(listener, "stage.changed")
    assert muted["version"] == unmuted["version"] + 1
    assert [p["muted"] for p in muted["stage"] if p["member"] == bob.pk] == [True]
    told = await until(speaker, "muted")
    assert told["by"] == alice.display_name
    for comm in (listener, speaker, host):
        await comm.disconnect()


async def test_it_answers_state_sync_with_the_current_picture(alice, carol):
    room = await database_sync_to_async(make_room)(alice)
    host, first = await connect(alice, room.pk)
    listener, _ = await connect(carol, room.pk)
    await send(listener, "hand.raise")
    await until(host, "hand.queue")
    await send(host, "state.sync")
    state = await until(host, "room.state")
    assert state["version"] >= first["version"]
    assert [entry["member"] for entry in state["hand_queue"]] == [carol.pk]
    await send(listener, "state.sync")
    mine = await until(listener, "room.state")
    assert mine["hand_queue"] == []  # only moderators see the queue
    assert mine["you"]["hand_raised"] is True
    await listener.disconnect()
    await host.disconnect()


async def test_it_shows_the_hand_queue_only_to_moderators(alice, bob, carol):
    room = await database_sync_to_async(make_room)(alice, speakers=[bob])
    host, _ = await connect(alice, room.pk)
    speaker, _ = await connect(bob, room.pk)
    listener, _ = await connect(carol, room.pk)
    await drain(speaker)
    await send(listener, "hand.raise")
    await until(host, "hand.queue")
    assert not [e for e in await drain(speaker, 0.3) if e["type"] == "hand.queue"]
    # Made a moderator, the speaker starts receiving the queue.
    await send(host, "moderator.add", member=bob.pk)
    you = await until(speaker, "role.changed")
    assert you["you"]["role"] == "moderator"
    await send(listener, "hand.lower")
    queue = await until(speaker, "hand.queue")
    assert queue["queue"] == []
    for comm in (listener, speaker, host):
        await comm.disconnect()
