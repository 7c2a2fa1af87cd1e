"""A node dies (SIGKILL) or a listener reconnects: audio comes back, the dead node's
participants are reaped, and the room's lease moves to a live node."""

import time

import pytest
from channels.db import database_sync_to_async

from rooms.models import Participant
from tests.cluster.clients import Peer, RoomSocket, session_cookie
from tests.cluster.nodes import eventually
from tests.conftest import make_member, make_room

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("loopback"),
]

MEDIA_BACK = 10.0  # DESIGN section 7: media back within 10 s of a node's death
REAPED_WITHIN = 20.0  # heartbeat TTL (5 s) + REAP_AFTER (8 s) + the reaper's steps
LEASE_MOVES_WITHIN = 6.0  # LEASE_TTL (3 s) + a tick or two


def _setup(alice):
    room = make_room(alice)
    people = {"alice": alice}
    for name in ("Erin Ba", "Frank Li", "Gina Ko"):
        people[name.split()[0].lower()] = make_member(name)
    cookies = {name: session_cookie(member) for name, member in people.items()}
    return room, people, cookies


def _presence(room_id: int) -> dict[int, tuple[bool, str]]:
    return {
        p.member_id: (p.is_present, p.node) for p in Participant.objects.filter(room_id=room_id)
    }


class Room:
    """The sockets and peers a test opens, all closed at the end."""

    def __init__(self, room_id: int, cookies: dict[str, str]) -> None:
        self.room_id = room_id
        self.cookies = cookies
        self.sockets: list[RoomSocket] = []
        self.peers: list[Peer] = []

    async def socket(self, node, name: str) -> RoomSocket:
        sock = await RoomSocket.open(node, self.room_id, self.cookies[name])
        self.sockets.append(sock)
        return sock

    async def listener(self, node, name: str) -> tuple[RoomSocket, Peer]:
        sock = await self.socket(node, name)
        peer = Peer()
        self.peers.append(peer)
        return sock, await peer.join(sock)

    async def speaker(self, node, name: str, tone: float) -> tuple[RoomSocket, Peer]:
        sock = await self.socket(node, name)
        await sock.send("unmute.self")
        await sock.until("role.changed", where=lambda e: not e["you"]["muted"])
        peer = Peer(tone=tone)
        self.peers.append(peer)
        return sock, await peer.join(sock)

    async def close(self) -> None:
        for sock in self.sockets:
            await sock.close()
        for peer in self.peers:
            await peer.close()


async def test_a_dead_nodes_listeners_reconnect_and_its_ghosts_are_reaped(cluster, alice):
    a, b, c = cluster.start("a", "b", "c")
    room, people, cookies = await database_sync_to_async(_setup)(alice)
    r = Room(room.pk, cookies)
    try:
        # C has the room's first peers, so it becomes the room's brain.
        frank_socket, _ = await r.listener(c, "frank")
        await r.listener(c, "gina")
        holder = await eventually(
            lambda: cluster.lease_holder(room.pk), timeout=5, what="a brain for the room"
        )
        assert holder[0] == "c"
        host, _ = await r.speaker(a, "alice", 440)
        _, erin = await r.listener(b, "erin")
        assert await erin.hears(440) == pytest.approx(440, abs=15)

        c.kill()
        killed = time.monotonic()

        # Frank's page sees its socket drop and reconnects to a live node, with a new offer.
        await frank_socket.close_code(timeout=5)
        _, frank = await r.listener(b, "frank")
        assert await frank.hears(440, timeout=MEDIA_BACK) == pytest.approx(440, abs=15)
        assert time.monotonic() - killed < MEDIA_BACK

        # The lease expires and a live node takes it, with a larger fencing token.
        new_holder = await eventually(
            lambda: (h := cluster.lease_holder(room.pk)) and h[0] != "c" and h,
            timeout=LEASE_MOVES_WITHIN,
            what="the lease taken over",
        )
        assert new_holder[0] in {"a", "b"} and new_holder[1] > holder[1]
        # Audio still flows under the new brain, on both live nodes' listeners.
        await erin.packets_flow(count=25, timeout=5)
        assert await erin.hears(440) == pytest.approx(440, abs=15)
        assert await frank.hears(440) == pytest.approx(440, abs=15)

        # Gina's page never came back: the reaper marks her absent, and the host sees her go.
        gina, frank_id = people["gina"].pk, people["frank"].pk
        left = await host.until(
            "audience.changed",
            timeout=REAPED_WITHIN,
            where=lambda e: gina not in [p["member"] for p in e["audience"]],
        )
        assert time.monotonic() - killed < REAPED_WITHIN
        assert left["count"] == 2  # erin and frank
        presence = await database_sync_to_async(_presence)(room.pk)
        assert presence[gina] == (False, "c")
        assert presence[frank_id] == (True, "b")
        assert not [m for m, (present, node) in presence.items() if present and node == "c"]
    finally:
        await r.close()


async def test_a_listener_who_reloads_on_the_same_node_hears_again(cluster, alice):
    # The node's only peer in the room goes and comes back within one agent tick: the new
    # forwarder must learn who may publish, as the first one did.
    a, b = cluster.start("a", "b")
    room, _, cookies = await database_sync_to_async(_setup)(alice)
    r = Room(room.pk, cookies)
    try:
        await r.speaker(a, "alice", 440)
        sock, erin = await r.listener(b, "erin")
        assert await erin.hears(440) == pytest.approx(440, abs=15)
        for _ in range(3):
            await sock.close()
            await erin.close()
            sock, erin = await r.listener(b, "erin")
            assert await erin.hears(440, timeout=8) == pytest.approx(440, abs=15)
    finally:
        await r.close()
