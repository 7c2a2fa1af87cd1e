"""Audio through the room socket: offers, answers and the server's say over who is heard.

Real consumer, real forwarder, real aiortc peers on loopback standing in for browsers."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from rooms import consumers, media_bridge, selectors
from rooms.errors import NotAllowed
from tests.conftest import make_room
from tests.media.peers import Browser, loopback_only, within
from tests.rooms.wsutil import connect, join_audio, send, until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _loopback(monkeypatch):
    loopback_only(monkeypatch)


async def _packets_during(browser: Browser, seconds: float) -> int:
    before = sum(len(p) for p in browser.packets.values())
    await asyncio.sleep(seconds)
    return sum(len(p) for p in browser.packets.values()) - before


async def test_a_listener_hears_a_speaker_through_the_room(alice, bob, carol):
    room = await database_sync_to_async(make_room)(alice, speakers=[bob])
    speaker_socket, _ = await connect(bob, room.pk)
    await send(speaker_socket, "unmute.self")
    await until(speaker_socket, "role.changed")
    speaker = await join_audio(speaker_socket, Browser(tone=440))
    listener_socket, _ = await connect(carol, room.pk)
    listener = await join_audio(listener_socket, Browser())
    try:
        assert await listener.hear(slot=0) == pytest.approx(440, abs=15)
        active = await until(listener_socket, "speakers.active", timeout=5)
        assert active["members"] == [bob.pk]
    finally:
        await speaker_socket.disconnect()
        await listener_socket.disconnect()
        await speaker.close()
        await listener.close()
    assert media_bridge.hub().peer_count() == 0


@pytest.mark.parametrize("action", ["mute", "speaker.demote", "member.ban", "member.remove"])
async def test_a_speaker_is_silenced_for_everyone_by_a_moderator(alice, bob, carol, action):
    room = await database_sync_to_async(make_room)(alice, speakers=[bob])
    host_socket, _ = await connect(alice, room.pk)
    speaker_socket, _ = await connect(bob, room.pk)
    await send(speaker_socket, "unmute.self")
    await until(speaker_socket, "role.changed")
    speaker = await join_audio(speaker_socket, Browser(tone=440))
    listener_socket, _ = await connect(carol, room.pk)
    listener = Browser()
    listener.count_packets()
    await join_audio(listener_socket, listener)
    try:
        assert await _packets_during(listener, 0.5) > 10
        peer = media_bridge.hub().rooms[room.pk].peers[bob.pk]
        await send(host_socket, action, member=bob.pk)
        # The change commits and reaches the forwarder (seconds on a loaded machine).
        for _ in range(200):
            if not peer.publishing:
                break
            await asyncio.sleep(0.025)
        await asyncio.sleep(0.05)  # packets already on the wire
        assert await _packets_during(listener, 1.0) == 0
    finally:
        for comm in (host_socket, speaker_socket, listener_socket):
            await comm.disconnect()
        await speaker.close()
        await listener.close()


async def test_a_listener_is_never_heard(alice, carol, dan):
    room = await database_sync_to_async(make_room)(alice)
    sneaky_socket, _ = await connect(dan, room.pk)
    sneaky = await join_audio(sneaky_socket, Browser(tone=440))
    listener_socket, _ = await connect(carol, room.pk)
    listener = Browser()
    listener.count_packets()
    await join_audio(listener_socket, listener)
    try:
        assert await _packets_during(listener, 1.0) == 0
    finally:
        await sneaky_socket.disconnect()
        await listener_socket.disconnect()
        await sneaky.close()
        await listener.close()


SDP_CASES = {
    "garbage": "hello",
    "not_sdp": "x" * 2000,
    "video": None,  # filled from a real offer below
    "too_few_sections": None,
}


@pytest.mark.parametrize("case", ["garbage", "not_sdp", "video", "too_few_sections", "huge"])
async def test_a_bad_offer_gets_an_error_and_leaves_nothing_behind(alice, carol, case):
    room = await database_sync_to_async(make_room)(alice)
    comm, _ = await connect(carol, room.pk)
    hub = media_bridge.hub()
    baseline = hub.peer_count()
    good = await Browser().offer()
    sdp = {
        "garbage": "hello",
        "not_sdp": "x" * 2000,
        "video": good.replace("m=audio", "m=video", 1),
        "too_few_sections": good[: good.index("m=audio", good.index("m=audio") + 1)],
        "huge": good + "a=x-pad:" + "y" * 17_000 + "\r\n",
    }[case]
    await send(comm, "rtc.offer", sdp=sdp)
    error = await until(comm, "error", timeout=10)
    assert error["code"] in {"bad_sdp", "audio_only", "invalid_message", "sdp_too_large"}
    assert error["message"]
    assert hub.peer_count() == baseline
    assert carol.pk not in hub.rooms.get(room.pk, type("none", (), {"peers": {}})()).peers
    await comm.disconnect()


async def test_a_candidate_flood_is_refused(alice, carol, monkeypatch):
    monkeypatch.setattr(consumers, "RATE_BURST", 10**6)
    room = await database_sync_to_async(make_room)(alice)
    comm, _ = await connect(carol, room.pk)
    await send(comm, "rtc.candidate", candidate="candidate:1 1 udp 1 127.0.0.1 9 typ host")
    assert (await until(comm, "error"))["code"] == "no_peer"
    browser = await join_audio(comm, Browser())
    codes = []
    for port in range(10_000, 10_040):
        await send(
            comm,
            "rtc.candidate",
            candidate=f"candidate:{port} 1 udp 2122260223 127.0.0.1 {port} typ host",
            sdpMid="0",
            sdpMLineIndex=0,
        )
    for _ in range(10):
        event = await until(comm, "error", timeout=5)
        codes.append(event["code"])
    assert set(codes) == {"too_many_candidates"}
    await send(comm, "rtc.candidate", candidate="not a candidate")
    assert (await until(comm, "error"))["code"] == "bad_candidate"
    await comm.disconnect()
    await within(browser.close())


async def test_an_offer_needs_presence_in_the_room(alice, dan):
    room = await database_sync_to_async(make_room)(alice)
    with pytest.raises(NotAllowed):
        await database_sync_to_async(selectors.media_offer_allowed)(
            room_id=room.pk, member=dan, connection="specific.nobody"
        )
