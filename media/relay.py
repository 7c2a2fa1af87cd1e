"""The relay between nodes: a speaker's packets, once per packet, to every other node that
has listeners in the room, over UDP on the private network.

A datagram carries what the receiving node's forwarder needs of the RTP packet (payload
type, marker, sequence number, timestamp, audio level, the Opus payload unchanged), the
room and the member, the sender's clock and a MAC keyed with the deployment's relay secret
(MEDIA_RELAY_SECRET). A datagram from an address that is not a live node, with a bad MAC,
older than MAX_AGE or malformed is dropped and counted, never forwarded. Nothing here
decodes anything.

    relay = Relay(secret, on_packet=hub.on_relayed)
    await relay.start("10.0.0.5", 9400)
    relay.allow({("10.0.0.6", 9400)})                    # the other live nodes
    relay.send(room_id, member_id, packet, [("10.0.0.6", 9400)])
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import struct
import time
from collections.abc import Callable, Iterable

from aiortc.rtp import HeaderExtensions, RtpPacket

log = logging.getLogger(__name__)

MAGIC = b"PR"
VERSION = 1
MAC_BYTES = 16
MAX_AGE_MS = 2_000  # a datagram older than this (or this far in the future) is a replay
MAX_DATAGRAM = 1_500
NO_LEVEL = 255

# magic, version, room, member, sender's wall clock (ms), payload type, marker, seq, ts, level
_HEAD = struct.Struct("!2sBQQqBBHIB")
HEAD_BYTES = _HEAD.size


class RelayStats:
    __slots__ = ("bad_mac", "malformed", "received", "sent", "stale", "unknown_source")

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.unknown_source = 0
        self.bad_mac = 0
        self.stale = 0
        self.malformed = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def encode(secret: bytes, room_id: int, member_id: int, packet: RtpPacket, now_ms: int) -> bytes:
    level = packet.extensions.audio_level
    head = _HEAD.pack(
        MAGIC,
        VERSION,
        room_id,
        member_id,
        now_ms,
        packet.payload_type,
        1 if packet.marker else 0,
        packet.sequence_number,
        packet.timestamp,
        NO_LEVEL if level is None else level[1],
    )
    body = head + packet.payload
    return body + hmac.digest(secret, body, "sha256")[:MAC_BYTES]


def decode(secret: bytes, data: bytes, now_ms: int, stats: RelayStats):
    """(room_id, member_id, packet), or None (counted in `stats`)."""
    if len(data) < HEAD_BYTES + MAC_BYTES or len(data) > MAX_DATAGRAM or data[:2] != MAGIC:
        stats.malformed += 1
        return None
    body, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
    if not hmac.compare_digest(mac, hmac.digest(secret, body, "sha256")[:MAC_BYTES]):
        stats.bad_mac += 1
        return None
    _, version, room_id, member_id, sent_ms, pt, marker, seq, ts, level = _HEAD.unpack_from(body)
    if version != VERSION or pt > 127 or marker > 1 or (level > 127 and level != NO_LEVEL):
        stats.malformed += 1
        return None
    if abs(now_ms - sent_ms) > MAX_AGE_MS:
        stats.stale += 1
        return None
    packet = RtpPacket(
        payload_type=pt,
        marker=marker,
        sequence_number=seq,
        timestamp=ts,
        payload=body[HEAD_BYTES:],
    )
    packet.extensions = HeaderExtensions(audio_level=None if level == NO_LEVEL else (True, level))
    return room_id, member_id, packet


class Relay(asyncio.DatagramProtocol):
    """This node's relay socket: sends its speakers' packets to other nodes, and hands
    authenticated packets from other nodes to `on_packet(room_id, member_id, packet)`."""

    def __init__(self, secret: bytes, on_packet: Callable[[int, int, RtpPacket], None]) -> None:
        if len(secret) < 16:
            raise ValueError("The relay secret must be at least 16 bytes.")
        self.secret = secret
        self.on_packet = on_packet
        self.stats = RelayStats()
        self.address: tuple[str, int] | None = None
        self._allowed: frozenset[tuple[str, int]] = frozenset()
        self._transport: asyncio.DatagramTransport | None = None
        self._sendto = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        self._sendto = transport._sock.sendto  # private: asyncio's socket, as the forwarder
        self.address = transport.get_extra_info("sockname")[:2]
        return self.address

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def allow(self, addresses: Iterable[tuple[str, int]]) -> None:
        """The relay addresses of the other live nodes: the only sources accepted."""
        self._allowed = frozenset(addresses)

    def send(
        self, room_id: int, member_id: int, packet: RtpPacket, to: Iterable[tuple[str, int]]
    ) -> None:
        if self._sendto is None:
            return
        data = encode(self.secret, room_id, member_id, packet, _now_ms())
        for address in to:
            try:
                self._sendto(data, address)
            except OSError:  # a full send buffer or an unreachable node: this copy is lost
                continue
            self.stats.sent += 1

    # --- asyncio.DatagramProtocol -------------------------------------------------------

    def datagram_received(self, data: bytes, addr) -> None:
        if addr[:2] not in self._allowed:
            self.stats.unknown_source += 1
            return
        decoded = decode(self.secret, data, _now_ms(), self.stats)
        if decoded is None:
            return
        self.stats.received += 1
        try:
            self.on_packet(*decoded)
        except Exception:
            log.exception("relayed packet from %s failed", addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("relay socket error: %r", exc)
