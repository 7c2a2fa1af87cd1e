"""A recorded room end to end: real consumer, real forwarder, real aiortc speakers on
loopback. What the recorder writes follows the host's switches and the speakers' consent,
and the room's end saves the tracks and prepares the replay."""

import asyncio

import av
import pytest
from channels.db import database_sync_to_async

from rooms.models import Participant, Recording, RecordingSpan, RecordingTrack, Role
from rooms.models.recordings import recordings_storage
from tests.conftest import make_room
from tests.media.peers import Browser, loopback_only
from tests.rooms.wsutil import connect, join_audio, send, until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _loopback(monkeypatch, settings):
    loopback_only(monkeypatch)
    settings.RECORDINGS_PROCESS_INLINE = True


async def _speaking(member, room_id: int, tone: float, *, agree: bool):
    socket, _ = await connect(member, room_id)
    await send(socket, "recording.consent", agree=agree)
    await until(socket, "role.changed")
    if agree:
        await send(socket, "unmute.self")
        await until(socket, "role.changed")
    return socket, await join_audio(socket, Browser(tone=tone))


async def _eventually(check, timeout: float = 20.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await database_sync_to_async(check)()
        if value:
            return value
        assert loop.time() < deadline, "it didn't happen in time"
        await asyncio.sleep(0.1)


def _track_seconds(track: RecordingTrack) -> float:
    with recordings_storage().open(track.file.name) as handle, av.open(handle) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


async def test_the_record_holds_who_agreed_while_on_the_record(alice, bob, carol):
    room = await database_sync_to_async(make_room)(alice, speakers=[bob, carol], record=True)
    host_socket, _ = await connect(alice, room.pk)
    bob_socket, bob_browser = await _speaking(bob, room.pk, 440, agree=True)
    # Carol declines: she is back in the audience, and her audio is never written.
    carol_socket, carol_browser = await _speaking(carol, room.pk, 660, agree=False)
    role = await database_sync_to_async(
        lambda: Participant.objects.get(room=room, member=carol).role
    )()
    assert role == Role.LISTENER
    try:
        await asyncio.sleep(2.0)
        await send(host_socket, "recording.pause")
        await until(host_socket, "recording")
        await asyncio.sleep(1.5)  # off the record: never written
        await send(host_socket, "recording.start")
        await until(host_socket, "recording")
        await asyncio.sleep(1.5)
        await send(host_socket, "room.end")
        await until(host_socket, "room.ended")
    finally:
        for socket in (host_socket, bob_socket, carol_socket):
            await socket.disconnect()
        await bob_browser.close()
        await carol_browser.close()

    tracks = await _eventually(
        lambda: (
            list(RecordingTrack.objects.filter(recording__room=room).order_by("starts_ms"))
            if RecordingTrack.objects.filter(recording__room=room).count() >= 2
            else None
        )
    )
    assert {t.member_id for t in tracks} == {bob.pk}
    spans = await database_sync_to_async(
        lambda: list(RecordingSpan.objects.filter(recording__room=room).order_by("started_at"))
    )()
    assert len(spans) == 2
    first, second = tracks
    assert first.span_id == spans[0].pk and second.span_id == spans[1].pk
    # Each file holds its span's speech and no more: the pause is not in either.
    assert _track_seconds(first) == pytest.approx(2.0, abs=0.5)
    assert _track_seconds(second) == pytest.approx(1.5, abs=0.5)
    assert first.duration_ms == pytest.approx(_track_seconds(first) * 1000, abs=60)
    # The second file starts where the second span starts on the replay's timeline.
    assert second.starts_ms == pytest.approx(spans[1].offset_ms, abs=400)
    assert first.packets > 60 and first.dropped == 0
    recording = await database_sync_to_async(Recording.objects.get)(room=room)
    # The replay is the spans end to end (the first began at go-live, before Bob spoke).
    on_record = sum((s.ended_at - s.started_at).total_seconds() for s in spans)
    assert recording.duration_ms == pytest.approx(on_record * 1000, abs=5)
    assert recording.duration_ms >= 3300


async def test_a_listener_invited_to_a_recorded_stage_is_not_recorded_until_they_agree(alice, bob):
    """Recording started mid-room: the speaker on stage is muted and asked, and the file
    holds only what they said after agreeing."""
    room = await database_sync_to_async(make_room)(alice, speakers=[bob])
    host_socket, _ = await connect(alice, room.pk)
    bob_socket, _ = await connect(bob, room.pk)
    await send(bob_socket, "unmute.self")
    await until(bob_socket, "role.changed")
    browser = await join_audio(bob_socket, Browser(tone=440))
    try:
        await asyncio.sleep(0.5)
        await send(host_socket, "recording.start")
        you = (await until(bob_socket, "role.changed"))["you"]
        assert you["muted"] and you["consent"] is None
        await asyncio.sleep(1.0)  # muted and not agreed: nothing
        await send(bob_socket, "recording.consent", agree=True)
        await until(bob_socket, "role.changed")
        await send(bob_socket, "unmute.self")
        await until(bob_socket, "role.changed")
        await asyncio.sleep(1.5)
        await send(host_socket, "room.end")
        await until(host_socket, "room.ended")
    finally:
        await host_socket.disconnect()
        await bob_socket.disconnect()
        await browser.close()
    track = await _eventually(
        lambda: RecordingTrack.objects.filter(recording__room=room, member=bob).first()
    )
    assert _track_seconds(track) == pytest.approx(1.5, abs=0.5)
    assert track.starts_ms >= 900  # after the second muted, on the replay's timeline
