"""The room socket's edge through a real Daphne (issue 12, finding 6), which
WebsocketCommunicator never runs: Daphne refuses an application close code outside 1000
and 3000-4999 (the client then gets 1011 and the log a traceback), and raises on a frame
sent after close. A frame over 64 KiB and a flood followed by more frames must close
with our own codes, and the node's log stays free of tracebacks (checked when the
cluster stops)."""

import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async

from rooms import consumers
from rooms.protocol import Close
from tests.cluster.clients import RoomSocket, session_cookie
from tests.conftest import make_member, make_room

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _setup(alice):
    room = make_room(alice)
    return room, session_cookie(make_member("Edge Tester"))


async def test_a_frame_over_64_kib_closes_with_4413_and_no_traceback(cluster, alice):
    (node,) = cluster.start("a")
    room, cookie = await database_sync_to_async(_setup)(alice)
    sock = await RoomSocket.open(node, room.pk, cookie)
    await sock.ws.send(json.dumps({"type": "hand.raise", "pad": "x" * 70_000}))
    assert await asyncio.wait_for(sock.closed, 10) == Close.TOO_BIG
    # The node still serves the member.
    again = await RoomSocket.open(node, room.pk, cookie)
    await again.close()


async def test_a_flood_and_the_frames_after_it_close_once_with_4429(cluster, alice):
    (node,) = cluster.start("a")
    room, cookie = await database_sync_to_async(_setup)(alice)
    sock = await RoomSocket.open(node, room.pk, cookie)
    sent = 0
    try:
        # Far past the flood limit, without waiting: frames keep arriving after our close.
        for _ in range(consumers.RATE_BURST + consumers.FLOOD_CLOSE_AFTER + 400):
            await sock.ws.send(json.dumps({"type": "hand.raise"}))
            sent += 1
    except websockets.ConnectionClosed:
        pass
    assert sent > consumers.RATE_BURST + consumers.FLOOD_CLOSE_AFTER
    assert await asyncio.wait_for(sock.closed, 10) == Close.FLOOD
    again = await RoomSocket.open(node, room.pk, cookie)
    await again.close()


async def test_ten_sockets_opened_at_once_get_at_most_the_members_three(cluster, alice):
    """The per-member socket limit held only for sockets opened one after another: opened
    together, each passed the check while the others waited for their joins."""
    (node,) = cluster.start("a")
    room, cookie = await database_sync_to_async(_setup)(alice)

    async def try_open():
        try:
            return await RoomSocket.open(node, room.pk, cookie)
        except (AssertionError, websockets.ConnectionClosed):
            return None  # refused: an error and a close instead of room.state

    opened = [s for s in await asyncio.gather(*(try_open() for _ in range(10))) if s]
    assert 1 <= len(opened) <= consumers.MAX_SOCKETS_PER_MEMBER
    for sock in opened:
        await sock.close()
