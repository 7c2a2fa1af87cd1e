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
from rooms.cluster.agent import TICK
from rooms.consumers import REACTIONS_PER_SECOND
from tests.cluster.clients import Peer, RoomSocket, session_cookie
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
SECONDS = 4.0


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


async def test_a_rooms_reaction_limit_holds_across_two_nodes(cluster, alice):
    """Each node serving a room allows its share of REACTIONS_PER_SECOND, so the room's
    audience as a whole stays within it however many nodes it spreads over. Before, each
    node allowed the whole rate: two nodes let twice as many reactions through."""
    lifted = {"ROOM_MESSAGE_BURST": "100000", "ROOM_MESSAGES_PER_SECOND": "100000"}
    a, b = cluster.start("a", "b", a=lifted, b=lifted)
    room, host_session, sessions = await database_sync_to_async(_setup)(alice)
    host = await RoomSocket.open(a, room.pk, host_session)
    reactors = [
        await RoomSocket.open((a, b)[i % 2], room.pk, s) for i, s in enumerate(sessions[:4])
    ]
    # Peers on both nodes: each node then serves the room and knows the other does.
    peers = [await Peer().join(sock) for sock in reactors[:2]]
    await asyncio.sleep(TICK * 2.5)
    try:
        stop = asyncio.Event()

        async def react(sock: RoomSocket) -> None:
            while not stop.is_set():
                await sock.send("reaction", emoji="👏")
                await asyncio.sleep(0.02)  # 50 a second from each socket, far past the limit

        while not host.events.empty():
            host.events.get_nowait()
        storm = [asyncio.ensure_future(react(s)) for s in reactors]
        started = time.monotonic()
        await asyncio.sleep(SECONDS)
        stop.set()
        await asyncio.gather(*storm)
        await asyncio.sleep(0.5)  # the last ones in flight
        elapsed = time.monotonic() - started
        seen = 0
        while not host.events.empty():
            seen += host.events.get_nowait()["type"] == "reaction"
        # Allowed: the room's rate over the time, plus the two nodes' bursts (half a
        # second's worth each).
        allowed = REACTIONS_PER_SECOND * (elapsed + 1)
        print(f"reactions reached the host: {seen} in {elapsed:.1f} s (at most {allowed:.0f})")
        assert REACTIONS_PER_SECOND * SECONDS / 2 <= seen <= allowed
    finally:
        for peer in peers:
            await peer.close()
        for sock in [host, *reactors]:
            await sock.close()
