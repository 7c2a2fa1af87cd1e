"""A room served by three nodes: a speaker's audio reaches listeners on every node through
the relay, and a moderator's mute or ban silences the speaker everywhere at once.

Real `runnode` processes (tests/cluster/nodes.py), real websockets and aiortc peers."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from tests.cluster.clients import Peer, RoomSocket, session_cookie
from tests.conftest import make_member, make_room

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("loopback"),
]

# A packet already on its way when the change commits may still arrive this long after.
IN_FLIGHT = 0.05
# How long the silence is watched after a change.
WATCH = 1.0


def _setup(alice, bob, mod):
    room = make_room(alice, speakers=[bob])
    erin, frank, gina = (make_member(name) for name in ("Erin Ba", "Frank Li", "Gina Ko"))
    members = {"alice": alice, "bob": bob, "mod": mod, "erin": erin, "frank": frank, "gina": gina}
    return room, {name: session_cookie(member) for name, member in members.items()}


def _on_stage(event: dict, member_id: int) -> dict | None:
    return next((p for p in event["stage"] if p["member"] == member_id), None)


async def _silenced(listeners: dict[str, Peer], since: float) -> dict[str, list[float]]:
    """Watch for WATCH seconds; return, per listener, the arrivals later than `since` plus
    IN_FLIGHT (seconds after `since`). Empty lists mean silence."""
    await asyncio.sleep(WATCH)
    return {
        name: [round(at - since, 3) for at in peer.arrived_since(since + IN_FLIGHT)]
        for name, peer in listeners.items()
    }


async def test_a_speaker_is_heard_on_every_node_and_silenced_everywhere(cluster, alice, bob, mod):
    a, b, c = cluster.start("a", "b", "c")
    room, cookies = await database_sync_to_async(_setup)(alice, bob, mod)
    sockets: list[RoomSocket] = []
    peers: list[Peer] = []

    async def socket(node, name):
        sock = await RoomSocket.open(node, room.pk, cookies[name])
        sockets.append(sock)
        return sock

    async def audio(sock, tone=None):
        peer = Peer(tone=tone)
        peers.append(peer)
        return await peer.join(sock)

    try:
        # The host speaks on A; one listener on each node.
        host = await socket(a, "alice")
        await host.send("unmute.self")
        await host.until("role.changed", where=lambda e: not e["you"]["muted"])
        await audio(host, tone=440)
        listeners = {
            "erin@a": await audio(await socket(a, "erin")),
            "frank@b": await audio(await socket(b, "frank")),
            "gina@c": await audio(await socket(c, "gina")),
        }
        for name, peer in listeners.items():
            assert await peer.hears(440) == pytest.approx(440, abs=15), name

        # A platform moderator on B mutes the host: her packets stop at every node.
        moderator = await socket(b, "mod")
        await moderator.send("mute", member=alice.pk)
        await moderator.until("stage.changed", where=lambda e: _on_stage(e, alice.pk)["muted"])
        committed = time.monotonic()
        late = await _silenced(listeners, committed)
        assert late == {name: [] for name in listeners}, late

        # Bob speaks from C; then the moderator bans him: nobody hears him any more.
        speaker = await socket(c, "bob")
        await speaker.send("unmute.self")
        await speaker.until("role.changed", where=lambda e: not e["you"]["muted"])
        await audio(speaker, tone=880)
        for name, peer in listeners.items():
            assert await peer.hears(880) == pytest.approx(880, abs=15), name
        # Known bug outside the cluster code (rooms/consumers.py): after the server closes a
        # socket (room.closing), a broadcast that reaches the consumer before the client's
        # close reply raises autobahn's Disconnected inside the application. Remove this
        # once the consumer stops sending after it has closed.
        cluster.tolerate(
            message=r"^Exception inside application: Attempt to send on a closed protocol$",
            error=r"^autobahn\.exception\.Disconnected: ",
        )
        await moderator.send("member.ban", member=bob.pk, reason="Off topic, repeatedly")
        await moderator.until("stage.changed", where=lambda e: _on_stage(e, bob.pk) is None)
        committed = time.monotonic()
        late = await _silenced(listeners, committed)
        assert late == {name: [] for name in listeners}, late
        assert await speaker.close_code() == 4403
    finally:
        for sock in sockets:
            await sock.close()
        for peer in peers:
            await peer.close()
