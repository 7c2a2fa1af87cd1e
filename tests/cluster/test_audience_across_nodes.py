"""The audience of a room served by two nodes: one node announces it per interval (a turn
in Redis, rooms.cluster.registry.Registry.turn), so that each client hears one
audience.changed per interval however many nodes its room spreads over, and the last one
counts every listener on every node.

Real `runnode` processes (tests/cluster/nodes.py) and real websockets."""

import asyncio
import itertools
import time

import pytest
from channels.db import database_sync_to_async

from rooms.broadcast import AUDIENCE_INTERVAL
from tests.cluster.clients import RoomSocket, session_cookie
from tests.conftest import make_member, make_room

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
]

LISTENERS = 16
# Two announcements that close together came from two nodes announcing the same interval.
# A little under the interval: the event loops' timers and the network add jitter.
CLOSEST = AUDIENCE_INTERVAL * 0.6


def _setup(alice):
    room = make_room(alice)
    people = [make_member(f"Listener {i}") for i in range(LISTENERS)]
    return room, session_cookie(alice), [session_cookie(p) for p in people]


async def _audience_updates(sock: RoomSocket, *, quiet: float) -> list[tuple[float, int]]:
    """(arrival time, count) of every audience.changed until none came for `quiet` s."""
    updates = []
    while True:
        try:
            event = await asyncio.wait_for(sock.events.get(), timeout=quiet)
        except TimeoutError:
            return updates
        if event["type"] == "audience.changed":
            updates.append((time.monotonic(), event["count"]))


async def test_one_node_announces_the_audience_per_interval(cluster, alice):
    a, b = cluster.start("a", "b")
    room, host_session, sessions = await database_sync_to_async(_setup)(alice)
    host = await RoomSocket.open(a, room.pk, host_session)
    watch = asyncio.ensure_future(_audience_updates(host, quiet=AUDIENCE_INTERVAL * 4))
    # Joins on both nodes for about four intervals: each node has changes to announce.
    listeners = []
    for i, session in enumerate(sessions):
        listeners.append(await RoomSocket.open((a, b)[i % 2], room.pk, session))
        await asyncio.sleep(AUDIENCE_INTERVAL * 4 / LISTENERS)
    updates = await watch

    assert updates, "no audience.changed reached the host"
    assert updates[-1][1] == LISTENERS, updates
    gaps = [round(later - earlier, 3) for (earlier, _), (later, _) in itertools.pairwise(updates)]
    assert all(gap >= CLOSEST for gap in gaps), gaps
    # A listener on the other node hears the same final count.
    far = next(sock for sock in listeners if sock.node is b)
    last = None
    while not far.events.empty():
        event = far.events.get_nowait()
        if event["type"] == "audience.changed":
            last = event
    assert last is not None and last["count"] == LISTENERS
    for sock in [host, *listeners]:
        await sock.close()
