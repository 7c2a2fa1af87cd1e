"""The relay between nodes takes datagrams only from live nodes and only with the
deployment's MAC: anything else is dropped and counted, never forwarded."""

import asyncio
import time

import pytest
import pytest_asyncio
from aiortc.rtp import HeaderExtensions, RtpPacket
from channels.db import database_sync_to_async

from media import relay as relay_module
from media.relay import Relay, encode
from tests.cluster.clients import Peer, RoomSocket, session_cookie
from tests.cluster.nodes import eventually
from tests.conftest import make_member, make_room

SECRET = b"relay-tests-secret-0123456789abcd"
OTHER_SECRET = b"another-deployment-secret-987654"


def _packet(seq: int = 7) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=960 * seq, payload=b"opus")
    packet.extensions = HeaderExtensions(audio_level=(True, 9))
    return packet


class Received:
    def __init__(self) -> None:
        self.packets: list[tuple[int, int, RtpPacket]] = []

    def __call__(self, room_id: int, member_id: int, packet: RtpPacket) -> None:
        self.packets.append((room_id, member_id, packet))


async def _until(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def relays():
    """Node A's relay (receiving) and node B's (sending), both on 127.0.0.1; A accepts B."""
    received = Received()
    a, b = Relay(SECRET, received), Relay(SECRET, Received())
    await a.start("127.0.0.1", 0)
    await b.start("127.0.0.1", 0)
    a.allow({b.address})
    yield a, b, received
    a.close()
    b.close()


@pytest.mark.asyncio
async def test_a_packet_from_a_live_node_is_handed_over_unchanged(relays):
    a, b, received = relays
    b.send(41, 7, _packet(), [a.address])
    await _until(lambda: received.packets)
    room_id, member_id, packet = received.packets[0]
    assert (room_id, member_id) == (41, 7)
    assert (packet.payload_type, packet.sequence_number, packet.timestamp) == (111, 7, 6720)
    assert packet.payload == b"opus" and packet.extensions.audio_level == (True, 9)
    assert a.stats.received == 1 and b.stats.sent == 1


@pytest.mark.asyncio
async def test_a_datagram_from_an_unknown_address_is_dropped_and_counted(relays):
    a, _, received = relays
    stranger = Relay(SECRET, Received())  # the right secret, but not a live node
    await stranger.start("127.0.0.1", 0)
    try:
        stranger.send(41, 7, _packet(), [a.address])
        await _until(lambda: a.stats.unknown_source == 1)
    finally:
        stranger.close()
    assert received.packets == [] and a.stats.received == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "tamper",
    ["other_secret", "flipped_payload", "flipped_member", "flipped_mac"],
)
async def test_a_datagram_with_a_bad_mac_is_dropped_and_counted(relays, tamper):
    a, b, received = relays
    now = relay_module._now_ms()
    good = encode(SECRET, 41, 7, _packet(), now)
    data = {
        "other_secret": encode(OTHER_SECRET, 41, 7, _packet(), now),
        "flipped_payload": good[:-17] + bytes([good[-17] ^ 1]) + good[-16:],
        "flipped_member": good[:11] + bytes([good[11] ^ 1]) + good[12:],
        "flipped_mac": good[:-1] + bytes([good[-1] ^ 0xFF]),
    }[tamper]
    # From B's own socket, so that only the MAC is wrong.
    b._sendto(data, a.address)
    await _until(lambda: a.stats.bad_mac == 1)
    assert received.packets == [] and a.stats.received == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "counter"),
    [
        ("replayed_late", "stale"),
        ("from_the_future", "stale"),
        ("not_a_relay_datagram", "malformed"),
        ("too_short", "malformed"),
        ("too_long", "malformed"),
        ("noise_with_our_magic", "bad_mac"),
    ],
)
async def test_stale_and_malformed_datagrams_are_dropped_and_counted(relays, kind, counter):
    a, b, received = relays
    now = relay_module._now_ms()
    late = relay_module.MAX_AGE_MS + 500
    data = {
        "replayed_late": encode(SECRET, 41, 7, _packet(), now - late),
        "from_the_future": encode(SECRET, 41, 7, _packet(), now + late),
        "not_a_relay_datagram": b"XX" + b"\x00" * 60,
        "too_short": b"PR\x01",
        "too_long": b"PR" + b"\x00" * relay_module.MAX_DATAGRAM,
        "noise_with_our_magic": b"PR" + bytes(range(60)),
    }[kind]
    b._sendto(data, a.address)  # from a live node's address: only the content is wrong
    await _until(lambda: getattr(a.stats, counter) == 1)
    assert received.packets == [] and a.stats.received == 0


def _setup(alice):
    room = make_room(alice)
    erin, frank = make_member("Erin Ba"), make_member("Frank Li")
    return room, {m: session_cookie(m) for m in (alice, erin, frank)}, erin, frank


@pytest.mark.cluster
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("loopback")
async def test_a_node_with_another_relay_secret_hears_nothing_from_the_others(cluster, alice):
    a, b, d = cluster.start("a", "b", "d", d={"MEDIA_RELAY_SECRET": OTHER_SECRET.decode()})
    room, cookies, erin, frank = await database_sync_to_async(_setup)(alice)
    sockets, peers = [], []
    try:
        host = await RoomSocket.open(a, room.pk, cookies[alice])
        sockets.append(host)
        await host.send("unmute.self")
        await host.until("role.changed", where=lambda e: not e["you"]["muted"])
        peers.append(await Peer(tone=440).join(host))
        # A, with the speaker, is the room's brain (D's choice would be of nobody it hears).
        holder = await eventually(lambda: cluster.lease_holder(room.pk), timeout=5)
        assert holder[0] == "a"
        listeners = {}
        for node, member in ((b, erin), (d, frank)):
            sock = await RoomSocket.open(node, room.pk, cookies[member])
            sockets.append(sock)
            peers.append(peer := await Peer().join(sock))
            listeners[node.id] = peer
        assert await listeners["b"].hears(440) == pytest.approx(440, abs=15)
        # B has heard the relay for a while now; D, with the wrong secret, got nothing.
        await listeners["b"].packets_flow(count=50, timeout=5)
        assert listeners["d"].arrivals == []
    finally:
        for sock in sockets:
            await sock.close()
        for peer in peers:
            await peer.close()


def test_the_relay_refuses_a_short_secret():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Relay(b"short", Received())
