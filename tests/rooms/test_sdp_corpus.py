"""A malformed-SDP corpus through the real room socket (issue 12): mutations of a real
offer (an aiortc peer's, shaped as room.js makes it: one microphone m-line and the
slots): truncated, lines reordered or dropped, huge attributes, bad fingerprints and
ICE credentials, thousands of candidates, wrong ports and payload types. Each gets an
answer or a clear error, never a crash; the socket stays open; and the hub's count of
peer connections always equals the peers it holds (baseline plus at most the member's
one), back to zero when the socket goes."""

import random

import pytest
from channels.db import database_sync_to_async

from media.sdp import MAX_SDP_BYTES
from rooms import consumers, media_bridge
from tests.conftest import make_room
from tests.media.peers import Browser, loopback_only
from tests.rooms.wsutil import connect, send

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

CASES = 160


@pytest.fixture(autouse=True)
def _loopback(monkeypatch):
    loopback_only(monkeypatch)


def _mutations(offer: str, rng: random.Random):
    lines = offer.split("\r\n")
    yield "truncated", offer[: rng.randrange(len(offer))]
    yield (
        "only the session part",
        "\r\n".join(lines[: lines.index(next(x for x in lines if x.startswith("m=")))]),
    )
    shuffled = lines[1:]
    rng.shuffle(shuffled)
    yield "lines shuffled", "\r\n".join([lines[0], *shuffled])
    drop = rng.randrange(1, len(lines))
    yield f"line {drop} dropped", "\r\n".join(lines[:drop] + lines[drop + 1 :])
    yield "LF only", offer.replace("\r\n", "\n")
    yield "huge attribute", offer.replace("a=mid:0", "a=mid:0\r\na=x-huge:" + "A" * 12_000, 1)
    yield "over the size limit", offer + "a=x-pad:" + "B" * MAX_SDP_BYTES
    yield "bad fingerprint", _replace_prefix(lines, "a=fingerprint:", "a=fingerprint:sha-256 ZZ:ZZ")
    yield "unknown hash", _replace_prefix(lines, "a=fingerprint:", "a=fingerprint:md5 00:11")
    yield "no ICE credentials", "\r\n".join(x for x in lines if not x.startswith("a=ice-"))
    yield "ufrag of 300 chars", _replace_prefix(lines, "a=ice-ufrag:", "a=ice-ufrag:" + "u" * 300)
    many = "".join(
        f"a=candidate:{i} 1 udp 1 10.0.{i % 250}.1 {1024 + i} typ host\r\n"
        for i in range(1000)  # about as many as a 64 KiB frame holds
    )
    yield "1,000 candidates", offer.replace("a=mid:0\r\n", "a=mid:0\r\n" + many, 1)
    few = "".join(f"a=candidate:{i} 1 udp 1 127.0.0.1 {9 + i} typ host\r\n" for i in range(120))
    yield "120 candidates within the size", offer.replace("a=mid:0\r\n", "a=mid:0\r\n" + few, 1)
    yield "port not a number", offer.replace("m=audio 9 ", "m=audio nine ", 1)
    yield (
        "payload type 300",
        offer.replace("a=rtpmap:", "a=rtpmap:300 opus/48000/2\r\na=rtpmap:", 1),
    )
    yield "no opus", "\r\n".join(x for x in lines if "opus" not in x.lower())
    yield "a video m-line", offer + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:9\r\n"
    yield "m-lines doubled", offer + offer[offer.index("m=") :]
    yield "NUL and emoji", offer.replace("a=mid:0", "a=mid:0\x00💥", 1)
    yield "not SDP at all", "v=1\r\n" + "x" * 100
    for _ in range(CASES - 20):  # random byte flips
        data = bytearray(offer.encode())
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(32, 127)
        yield "bytes flipped", data.decode("ascii", "replace")


def _replace_prefix(lines: list[str], prefix: str, new: str) -> str:
    return "\r\n".join(new if x.startswith(prefix) else x for x in lines)


def _tracked(hub) -> int:
    return sum(len(r.peers) for r in hub.rooms.values())


async def test_a_corpus_of_malformed_offers_never_crashes_or_leaks_a_peer(alice, bob, monkeypatch):
    monkeypatch.setattr(consumers, "RATE_BURST", 10_000)  # the corpus, not the flood guard
    room = await database_sync_to_async(make_room)(alice, speakers=[bob])
    socket, _ = await connect(bob, room.pk)
    browser = Browser(tone=440)
    offer = await browser.offer()
    await browser.close()
    rng = random.Random(1202)
    hub = media_bridge.hub()
    baseline = hub.peer_count()
    outcomes = {"rtc.answer": 0, "error": 0}
    try:
        for what, sdp in _mutations(offer, rng):
            await send(socket, "rtc.offer", sdp=sdp)
            reply = await socket.receive_json_from(timeout=15)
            while reply["type"] not in outcomes:  # room events in between
                reply = await socket.receive_json_from(timeout=15)
            outcomes[reply["type"]] += 1
            if reply["type"] == "error":
                assert reply["code"] in {
                    "bad_sdp",
                    "audio_only",
                    "sdp_too_large",
                    "invalid_message",
                    "media_full",
                }, (what, reply)
            assert hub.peer_count() == _tracked(hub), what
            assert hub.peer_count() <= baseline + 1, what
        await send(socket, "state.sync")  # the socket is still open and serving
        while (await socket.receive_json_from(timeout=5))["type"] != "room.state":
            pass
    finally:
        await socket.disconnect()
    assert outcomes["error"] >= 20 and outcomes["rtc.answer"] >= 1, outcomes
    assert hub.peer_count() == baseline == _tracked(hub)
