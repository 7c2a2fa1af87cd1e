"""Listeners at rest (media/quiet.py): a member who may not publish has their ICE socket
read in batches, their RTP and RTCP dropped unparsed, and their consent checks still
answered; the moment they may publish, their socket is read as before. Real aiortc peers
on loopback."""

import asyncio

import aioice.ice
import aioice.stun
import pytest

from media import aiortc_glue, consent, quiet
from media.hub import MediaHub
from tests.media.peers import Browser, loopback_only, within
from tests.media.test_forwarder import ROOM, join

pytestmark = pytest.mark.asyncio


@pytest.fixture
def hub(monkeypatch):
    loopback_only(monkeypatch)
    return MediaHub(ice_servers=[])


def count_calls(obj, name) -> list[int]:
    """Count the calls of obj.name (an async method); the count is in the list."""
    count = [0]
    real = getattr(obj, name)

    async def counted(*args):
        count[0] += 1
        return await real(*args)

    setattr(obj, name, counted)
    return count


def parked(hub, member_id) -> bool:
    room = hub.rooms[ROOM]
    peer = room.peers[member_id]
    return room.parking is not None and peer._transport._sock_fd in room.parking._parked


async def test_a_listener_is_parked_hears_the_speaker_and_its_rtcp_is_dropped(hub):
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    listener = await join(hub, 2, Browser())
    try:
        assert parked(hub, 2)
        assert not parked(hub, 1)
        server_dtls = hub.rooms[ROOM].peers[2].pc.getTransceivers()[0].sender.transport
        listener_dtls = listener.pc.getTransceivers()[0].sender.transport
        handled, sent = (
            count_calls(server_dtls, "_handle_rtcp_data"),
            count_calls(listener_dtls, "_send_rtp"),
        )
        assert await listener.hear(slot=0) == pytest.approx(440, abs=15)
        # aiortc's receivers send a receiver report every 0.5-1.5 s per slot.
        await asyncio.sleep(2.0)
        assert sent[0] >= 2  # the listener's receiver reports went out...
        assert handled[0] == 0  # ...and the server never parsed one
        assert hub.rooms[ROOM].parking.filtered >= 1
        assert listener.pc.connectionState == "connected"
    finally:
        await within(hub.close_room(ROOM))
        await speaker.close()
        await listener.close()


async def test_consent_is_kept_both_ways_while_parked(hub, monkeypatch):
    # Consent every 0.2 s instead of 5 s, lost after 6 misses in a row: a parked socket
    # that failed to answer, or to pass on the answers to our own checks, would be closed
    # by one side or the other within about 1.5 s.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(aioice.stun, "RETRY_RTO", 0.1)
    monkeypatch.setattr(consent, "CONSENT_GRID", 0.05)
    listener = await join(hub, 2, Browser())
    try:
        assert parked(hub, 2)
        clock = consent.clock()
        parking = hub.rooms[ROOM].parking
        answered, handled = clock.answered, parking.answered
        await asyncio.sleep(4.0)
        assert clock.answered - answered >= 10  # the server's own checks, answered
        assert parking.answered - handled >= 10  # the listener's checks and our answers
        assert clock.lost == 0
        assert listener.pc.connectionState == "connected"
        assert hub.rooms[ROOM].peers[2].pc.connectionState == "connected"
    finally:
        await within(hub.close_room(ROOM))
        await listener.close()


async def test_a_promoted_listener_is_unparked_and_heard_and_parked_again_when_muted(hub):
    member = await join(hub, 1, Browser(tone=660), publishing=False)
    listener = Browser()
    listener.count_packets()
    await join(hub, 2, listener)
    ears = await join(hub, 3, Browser())
    try:
        assert parked(hub, 1)
        await asyncio.sleep(0.5)
        assert sum(len(p) for p in listener.packets.values()) == 0
        hub.set_publishing(ROOM, 1, True)  # brought on stage
        assert not parked(hub, 1)
        assert await ears.hear(slot=0) == pytest.approx(660, abs=15)
        hub.set_publishing(ROOM, 1, False)  # muted
        assert parked(hub, 1)
        await asyncio.sleep(0.1)
        before = sum(len(p) for p in listener.packets.values())
        await asyncio.sleep(0.6)
        assert sum(len(p) for p in listener.packets.values()) == before
    finally:
        await within(hub.close_room(ROOM))
        await member.close()
        await listener.close()
        await ears.close()


async def test_a_listener_runs_no_receiver_report_task_and_a_speaker_does(hub):
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    listener = await join(hub, 2, Browser())
    try:
        await listener.hear(slot=0)
        room = hub.rooms[ROOM]

        def task(member_id):
            receiver = room.peers[member_id].pc.getTransceivers()[0].receiver
            return receiver._RTCRtpReceiver__rtcp_task

        assert task(2) is aiortc_glue._DONE
        assert isinstance(task(1), asyncio.Task) and not task(1).done()
    finally:
        # Closing must not wait for a task that never ran (within() fails a hang).
        await within(hub.close_room(ROOM), 10)
        await speaker.close()
        await listener.close()
    assert quiet.parking() is not None and len(quiet.parking()) == 0
