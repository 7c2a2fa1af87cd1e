"""The forwarder with real aiortc peers on loopback: no mocks, no browser."""

import asyncio
import itertools
import logging
import time

import pytest
from aiortc.sdp import candidate_from_sdp

from media import aiortc_glue, fanout
from media.hub import MediaHub
from tests.media.peers import Browser, loopback_only, within

pytestmark = pytest.mark.asyncio

ROOM = 7


@pytest.fixture(params=["native", "python"])
def hub(request, monkeypatch):
    """A hub on loopback, once with each fan-out (media/fanout.py)."""
    if request.param == "native" and not fanout.native_available():
        pytest.skip("media._fanout is not built (tests/media/test_fanout.py fails for it)")
    fanout.set_mode(request.param)
    request.addfinalizer(lambda: fanout.set_mode(None))
    loopback_only(monkeypatch)
    return MediaHub(ice_servers=[])


async def join(hub, member_id, browser, *, publishing=False):
    offer = await browser.offer()
    answer = await within(
        hub.attach(ROOM, member_id, f"socket-{member_id}", offer, publishing=publishing)
    )
    await browser.accept(answer)
    await browser.connected()
    return browser


async def test_a_listener_hears_the_speakers_tone(hub):
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    listener = await join(hub, 2, Browser())
    try:
        frequency = await listener.hear(slot=0)
        assert frequency == pytest.approx(440, abs=15)
    finally:
        await within(hub.close_room(ROOM))
        await speaker.close()
        await listener.close()


async def test_two_speakers_land_in_two_slots(hub):
    low = await join(hub, 1, Browser(tone=440), publishing=True)
    high = await join(hub, 2, Browser(tone=880), publishing=True)
    listener = await join(hub, 3, Browser())
    try:
        heard = sorted([await listener.hear(slot=0), await listener.hear(slot=1)])
        assert heard == [pytest.approx(440, abs=15), pytest.approx(880, abs=25)]
    finally:
        await within(hub.close_room(ROOM))
        for browser in (low, high, listener):
            await browser.close()


async def _quiet_for(browser, seconds):
    """Packets that arrived on any slot during `seconds`."""
    before = sum(len(p) for p in browser.packets.values())
    await asyncio.sleep(seconds)
    return sum(len(p) for p in browser.packets.values()) - before


async def test_a_listeners_own_audio_is_never_forwarded(hub):
    # Member 1 has a live microphone but isn't allowed to publish (a listener).
    sneaky = await join(hub, 1, Browser(tone=440), publishing=False)
    listener = Browser()
    listener.count_packets()
    await join(hub, 2, listener)
    try:
        assert await _quiet_for(listener, 1.0) == 0
        assert hub.rooms[ROOM].packets_in == 0
    finally:
        await within(hub.close_room(ROOM))
        await sneaky.close()
        await listener.close()


@pytest.mark.parametrize("why", ["muted", "demoted", "banned"])
async def test_no_packet_reaches_listeners_once_a_speaker_may_not_publish(hub, why):
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    listener = Browser()
    listener.count_packets()
    await join(hub, 2, listener)
    try:
        assert await _quiet_for(listener, 0.5) > 10
        # Mute, demotion and a ban all reach the forwarder as "may not publish"; the
        # speaker's browser keeps sending regardless.
        hub.set_publishing(ROOM, 1, False)
        await asyncio.sleep(0.05)  # packets already on the wire
        assert await _quiet_for(listener, 1.0) == 0
        assert speaker.mic.sender.transport.state == "connected"
    finally:
        await within(hub.close_room(ROOM))
        await speaker.close()
        await listener.close()


async def test_a_slot_switch_keeps_sequence_and_timestamp_continuous(hub):
    first = await join(hub, 1, Browser(tone=440), publishing=True)
    second = await join(hub, 2, Browser(tone=880), publishing=False)
    listener = Browser()
    listener.count_packets()
    await join(hub, 3, listener)
    try:
        await asyncio.sleep(0.6)
        hub.set_publishing(ROOM, 1, False)
        hub.set_publishing(ROOM, 2, True)
        await asyncio.sleep(0.6)
        stream = listener.packets[0]
        assert len({ssrc for ssrc, *_ in stream}) == 1  # one outgoing stream throughout
        seqs = [seq for _, seq, _, _ in stream]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
        stamps = [ts for _, _, ts, _ in stream]
        steps = [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(stamps)]
        assert all(0 < step < 48_000 * 2 for step in steps)  # always forwards, never back
        markers = [i for i, (*_, marker) in enumerate(stream) if marker]
        assert markers, "the switch sets the marker bit"
        assert hub.rooms[ROOM].slots[0].owner == 2
    finally:
        await within(hub.close_room(ROOM))
        for browser in (first, second, listener):
            await browser.close()


async def test_the_server_creates_no_decoder_and_no_encoder(hub, monkeypatch):
    import aiortc.rtcrtpreceiver
    import aiortc.rtcrtpsender

    made = []
    real_decoder = aiortc.rtcrtpreceiver.get_decoder
    real_encoder = aiortc.rtcrtpsender.get_encoder
    monkeypatch.setattr(
        aiortc.rtcrtpreceiver,
        "get_decoder",
        lambda codec: made.append(("decoder", codec)) or real_decoder(codec),
    )
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    listener = Browser()
    listener.count_packets()  # the listener side doesn't decode either, so any decoder is ours
    await join(hub, 2, listener)
    # The speaker's own encoder is the browser's; count encoders made after that.
    monkeypatch.setattr(
        aiortc.rtcrtpsender,
        "get_encoder",
        lambda codec: made.append(("encoder", codec)) or real_encoder(codec),
    )
    try:
        assert await _quiet_for(listener, 1.0) > 20
        assert made == []
        server_mic = hub.rooms[ROOM].peers[1].pc.getTransceivers()[0].receiver
        assert server_mic._RTCRtpReceiver__decoder_thread is None
        for peer in hub.rooms[ROOM].peers.values():
            for transceiver in peer.pc.getTransceivers()[1:]:
                assert transceiver.sender._RTCRtpSender__encoder is None
    finally:
        await within(hub.close_room(ROOM))
        await speaker.close()
        await listener.close()


async def test_a_connected_peer_is_slimmed_and_a_late_candidate_changes_nothing(hub, caplog):
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    listener = await join(hub, 2, Browser())
    try:
        peer = hub.rooms[ROOM].peers[2]
        deadline = time.monotonic() + 5
        while not peer.slim:
            assert time.monotonic() < deadline, "never slimmed"
            await asyncio.sleep(0.05)
        pc = peer.pc
        assert pc._RTCPeerConnection__pendingRemoteDescription is None
        assert pc._RTCPeerConnection__currentRemoteDescription is None
        for transceiver in pc.getTransceivers()[1:]:
            sender = transceiver.sender
            assert sender.track is None
            assert sender._RTCRtpSender__rtp_started is aiortc_glue.ALWAYS_SET
            assert sender._RTCRtpSender__rtp_task is aiortc_glue._DONE
        late = candidate_from_sdp("candidate:9 1 udp 2122260223 127.0.0.1 9 typ host")
        late.sdpMid = "0"
        pairs = len(peer._ice._check_list)
        with caplog.at_level(logging.WARNING):
            await hub.add_candidate(ROOM, 2, late)
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        assert len(peer._ice._check_list) == pairs
        assert peer.candidates == 1  # still counted against the limit
        assert await listener.hear(slot=0) == pytest.approx(440, abs=15)
    finally:
        await within(hub.close_room(ROOM))
        await speaker.close()
        await listener.close()
