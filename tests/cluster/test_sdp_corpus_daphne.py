"""The malformed-SDP corpus through a real Daphne node (issue 12), seeded with a real
Chromium offer (tests/media/data/chromium_offer.sdp, captured by tests/media/capture_offer.py:
room.js's shape, mDNS host candidates and all). Each mutation gets an answer or a clear
error; the node never crashes or logs a traceback (checked when the cluster stops); and the
node's UDP sockets, which each peer connection opens and closing it gives back, never grow
past one peer's worth and are back to the baseline when the socket goes."""

import asyncio
import random
import time
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from tests.cluster.clients import RoomSocket, session_cookie
from tests.conftest import make_member, make_room
from tests.rooms.test_sdp_corpus import _mutations

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

OFFER = (Path(__file__).parents[1] / "media" / "data" / "chromium_offer.sdp").read_bytes().decode()
CLEAR_ERRORS = {"bad_sdp", "audio_only", "sdp_too_large", "invalid_message", "media_full"}


def _udp_sockets(pid: int) -> int:
    """The process's UDP sockets, from /proc (what a leaked peer connection keeps open)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    udp = 0
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            if line.split()[9] in inodes:
                udp += 1
    return udp


async def _settled(pid: int, at_most: int, timeout: float = 10) -> int:
    """The UDP socket count once it is at most `at_most` (closing a peer takes a moment)."""
    deadline = time.monotonic() + timeout
    count = _udp_sockets(pid)
    while count > at_most and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        count = _udp_sockets(pid)
    return count


def _setup():
    alice, bob = make_member("Alice Host"), make_member("Bob Speaker")
    room = make_room(alice, speakers=[bob])
    return room, session_cookie(bob)


async def test_malformed_chromium_offers_through_daphne_never_crash_or_leak(cluster):
    (node,) = cluster.start(
        "a", a={"ROOM_MESSAGE_BURST": "100000", "ROOM_MESSAGES_PER_SECOND": "100000"}
    )
    room, cookie = await database_sync_to_async(_setup)()
    pid = node.process.pid
    baseline = await _settled(pid, 10**6, timeout=0)
    sock = await RoomSocket.open(node, room.pk, cookie)
    outcomes = {"rtc.answer": 0, "error": 0}
    try:
        # The real offer first: it is answered, and its peer's sockets are one peer's worth.
        assert (await _reply(sock, OFFER))["type"] == "rtc.answer"
        one_peer = _udp_sockets(pid) - baseline
        assert one_peer >= 1
        for what, sdp in _mutations(OFFER, random.Random(1203)):
            reply = await _reply(sock, sdp)
            outcomes[reply["type"]] += 1
            if reply["type"] == "error":
                assert reply["code"] in CLEAR_ERRORS, (what, reply)
            # A new offer replaces the member's peer: never more than one peer's sockets.
            assert await _settled(pid, baseline + one_peer) <= baseline + one_peer, what
        await sock.send("state.sync")  # the socket still serves
        await sock.until("room.state", timeout=10)
        assert node.process.poll() is None and node.health() == 200
    finally:
        await sock.close()
    assert outcomes["error"] >= 20 and outcomes["rtc.answer"] >= 1, outcomes
    assert await _settled(pid, baseline) == baseline
    print(f"SDP corpus through Daphne: {outcomes}, UDP sockets per peer {one_peer}")


async def _reply(sock: RoomSocket, sdp: str) -> dict:
    """Send an offer; its answer or error (room events in between are skipped)."""
    await sock.send("rtc.offer", sdp=sdp)
    while True:
        event = await asyncio.wait_for(sock.events.get(), timeout=20)
        if event["type"] in ("rtc.answer", "error"):
            return event
