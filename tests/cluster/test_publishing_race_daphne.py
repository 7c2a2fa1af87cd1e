"""Issue 12, finding 1, through a real node: a mute that arrives while a speaker's audio is
being set up must hold. The node is configured with a STUN server (ICE_SERVERS) that answers
after 150 ms, as a real one across the internet does, so every offer's ICE gathering takes
that long; the host mutes the speaker in that window. Before the hub kept each member's
wanted state, the mute found no peer, was lost, and the "muted" speaker was heard."""

import asyncio
import socket
import threading
import time

import pytest
from aioice import stun
from channels.db import database_sync_to_async

from tests.cluster.clients import Peer, RoomSocket, session_cookie
from tests.conftest import make_member, make_room

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("loopback"),
]

STUN_DELAY = 0.15  # seconds


class SlowStun:
    """A STUN server on 127.0.0.1 that answers each Binding request after STUN_DELAY."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answered = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, address = self.sock.recvfrom(2048)
            except OSError:
                return  # closed
            try:
                request = stun.parse_message(data)
            except ValueError:
                continue
            response = stun.Message(
                message_method=stun.Method.BINDING,
                message_class=stun.Class.RESPONSE,
                transaction_id=request.transaction_id,
            )
            response.attributes["XOR-MAPPED-ADDRESS"] = address
            threading.Timer(STUN_DELAY, self._send, (bytes(response), address)).start()

    def _send(self, data: bytes, address) -> None:
        try:
            self.sock.sendto(data, address)
            self.answered += 1
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


def _setup(alice):
    bob = make_member("Bob Ferreira")
    erin = make_member("Erin Ba")
    room = make_room(alice, speakers=[bob])
    return room, bob, {m: session_cookie(m) for m in (alice, bob, erin)}, erin


async def test_a_mute_during_a_slow_ice_setup_holds_on_a_real_node(cluster, alice):
    stun_server = SlowStun()
    (node,) = cluster.start(
        "a", a={"ICE_SERVERS": f'[{{"urls": "stun:127.0.0.1:{stun_server.port}"}}]'}
    )
    room, bob, cookies, erin = await database_sync_to_async(_setup)(alice)
    sockets, peers = [], []
    try:
        host = await RoomSocket.open(node, room.pk, cookies[alice])
        listener_socket = await RoomSocket.open(node, room.pk, cookies[erin])
        sockets += [host, listener_socket]
        peers.append(listener := await Peer().join(listener_socket))
        assert stun_server.answered >= 1  # the node's ICE really waited for the slow STUN

        speaker_socket = await RoomSocket.open(node, room.pk, cookies[bob])
        sockets.append(speaker_socket)
        await speaker_socket.send("unmute.self")
        await speaker_socket.until("role.changed", where=lambda e: not e["you"]["muted"])
        speaker = Peer(tone=880)
        peers.append(speaker)
        # Bob offers his audio, and the host mutes him while the node gathers (150 ms).
        await speaker_socket.send("rtc.offer", sdp=await speaker.offer())
        await host.send("mute", member=bob.pk)
        answer, muted = None, False
        while answer is None or not muted:  # in either order
            event = await asyncio.wait_for(speaker_socket.events.get(), 10)
            if event["type"] == "rtc.answer":
                answer = event
            muted = muted or (event["type"] == "role.changed" and event["you"]["muted"])
        await speaker.accept(answer["sdp"])
        await speaker.connected(timeout=15)

        # Two seconds of a connected, sending, muted speaker: nothing reaches the listener.
        connected = time.monotonic()
        await asyncio.sleep(2.0)
        leaked = listener.arrived_since(connected)
        assert leaked == [], f"{len(leaked)} packets of a muted speaker were forwarded"

        # The same connection is heard once Bob unmutes: the silence above was the mute.
        await speaker_socket.send("unmute.self")
        await speaker_socket.until("role.changed", where=lambda e: not e["you"]["muted"])
        assert await listener.hears(880) == pytest.approx(880, abs=15)
    finally:
        for sock in sockets:
            await sock.close()
        for peer in peers:
            await peer.close()
        stun_server.close()
