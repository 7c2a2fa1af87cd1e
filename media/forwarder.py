"""The pass-through forwarder: speakers' Opus packets, unchanged, to every listener.

One RoomForwarder per live room, on the event loop of the process that serves the room.
Each member has one RTCPeerConnection, offered by the browser once at join: one audio
transceiver the browser sends on, and K receive slots that carry the K loudest speakers.

Nothing here decodes, mixes or re-encodes. A speaker's packets are taken at their
RTCRtpReceiver after SRTP is removed (aiortc's jitter buffer and decoder never see them),
and each listener's copy is the same payload behind a 12-byte header that this module
writes: the slot's SSRC, sequence number and timestamp, and the listener's payload type.
The header is written once per slot and payload type; per listener there is only SRTP
protection and a sendto on the nominated ICE pair, done for all the listeners of a payload
type in one call (media/fanout.py: in C when media._fanout was built, else in Python).

Works with aiortc 1.16.0 exactly: it reaches into private attributes, marked where used.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import random
import struct
import time
from typing import TYPE_CHECKING

import pylibsrtp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RtpPacket

from media import consent, fanout, quiet
from media import sdp as sdp_rules
from media.aiortc_glue import (
    OPUS_CLOCK,
    answer_opus_pt,
    drop_what_a_connected_peer_no_longer_needs,
    no_sender_reports,
    no_sender_rtp,
    take_over_receiver,
)
from media.errors import MediaError

if TYPE_CHECKING:
    from aiortc.rtcrtpreceiver import StreamStatistics

    from media.hub import MediaHub

log = logging.getLogger(__name__)

K_SLOTS = 3
FRAME_SAMPLES = 960  # 20 ms of Opus at 48 kHz
CONNECT_TIMEOUT = 30.0
SLIM_AFTER = 1.0  # seconds after "connected" that negotiation-only state is freed
TICK = 0.1  # slot choice and speaking detection run ten times a second
SPEAKING_LEVEL = 60  # RFC 6464 level (-dBov) at or below which someone is talking
SWITCH_MARGIN = 10.0  # dB louder than a slot's owner before taking the slot
MIN_HOLD = 1.0  # seconds a slot stays with its speaker before it can switch
STALE_AFTER = 2.0  # seconds without packets before a speaker loses their slot
SILENT = 127.0

_HEADER = struct.Struct("!BBHII")
# What one SRTP-protected copy may carry: pylibsrtp's 1500-byte buffer, less its room for the
# tag, less our header (Opus frames are at most 1,275 bytes).
MAX_PAYLOAD = 1500 - pylibsrtp.SRTP_MAX_TRAILER_LEN - _HEADER.size


class _Slot:
    """One outgoing stream of the room, shared by all listeners: who is on it and where its
    sequence number and timestamp are."""

    __slots__ = (
        "headers",
        "last_sent",
        "last_ts",
        "owner",
        "seq",
        "since",
        "ssrc",
        "switched",
        "ts_offset",
    )

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.owner: int | None = None
        self.since = 0.0
        self.seq = random.randrange(1 << 16)
        self.ts_offset = 0
        self.last_ts = random.randrange(1 << 32)
        self.last_sent = 0.0
        self.switched = True
        self.headers: dict[int, bytearray] = {}  # payload type -> reusable header buffer


class Peer:
    """A member's peer connection and what the hot path needs of it."""

    local = True

    def __init__(self, room: RoomForwarder, member_id: int, token: str, pc: RTCPeerConnection):
        self.room = room
        self.member_id = member_id
        self.token = token
        self.pc = pc
        self.publishing = False
        self.opus_pt: int | None = None  # what the browser sends us
        self.out_pt: int | None = None  # what the browser expects from us
        self.stats: StreamStatistics | None = None
        self.level = SILENT  # smoothed RFC 6464 level of what they send
        self.last_packet = 0.0
        self.candidates = 0
        self.slim = False  # connected, and what aiortc kept for negotiation freed
        self.ready = False
        # The fan-out's route: the SRTP session, the ICE socket and the remote address.
        self._srtp: pylibsrtp.Session | None = None
        self._dtls = None
        self._ice = None
        self._pair = None
        self._transport = None  # the nominated pair's asyncio datagram transport
        self._sock = None
        self._fd: int | None = None  # a dup() of the socket's descriptor, for the fan-out
        self._addr: tuple[str, int] | None = None

    def route(self) -> bool:
        """Refresh the cached SRTP session and UDP route; False if not connected. A new
        route makes the room rebuild its fan-out groups before its next packet."""
        if self._dtls is None:
            self._dtls = self.pc.getTransceivers()[0].sender.transport
            self._ice = self._dtls.transport._connection  # private: aioice's Connection
        srtp = self._dtls._tx_srtp  # private: the SRTP session made at the DTLS handshake
        pair = self._ice._nominated.get(1)  # private: the nominated candidate pair
        if srtp is None or pair is None or pair.protocol.transport is None:
            return False
        if pair is not self._pair or srtp is not self._srtp:
            host, port = pair.remote_addr[:2]
            try:
                ipaddress.ip_address(host)
            except ValueError:
                return False  # aioice resolves mDNS names first; anything else can't be sent to
            if "%" in host:
                return False  # a scoped (link-local) IPv6 address: the fan-out can't send to it
            if self._transport is not None:
                self.room.unpark(self)
            self._pair = pair
            self._transport = pair.protocol.transport
            # private: asyncio's socket. The fan-out sends on it directly, skipping the
            # transport's Python sendto: a full send buffer drops the copy instead of
            # queueing it.
            self._sock = self._transport._sock
            # The fan-out sends on a descriptor of our own: it stays open until this peer
            # lets it go (release(), always with a regroup), whatever aioice closes meanwhile,
            # so a group can never write into a reused descriptor number.
            self.release()
            self._fd = os.dup(self._sock.fileno())
            self._addr = (host, port)
            self._srtp = srtp
            _watch_close(pair.protocol, self.room)
            self.room.regroup_soon()
        return True

    def target(self) -> tuple[tuple, tuple] | None:
        """What a fan-out group needs of this listener, and what it must keep alive; None
        once the socket has closed."""
        if self._fd is None or self._sock.fileno() < 0:
            return None
        host, port = self._addr
        return (
            (fanout.srtp_address(self._srtp), self._fd, host, port, self.member_id),
            (self._srtp, self._sock),
        )

    def release(self) -> None:
        """Close the fan-out's descriptor; the room rebuilds its groups first thing."""
        if self._fd is not None:
            self.room.regroup_soon()
            os.close(self._fd)
            self._fd = None


def _accepted(route: tuple[tuple, tuple]) -> bool:
    try:
        fanout.new_group().set([route[0]], [route[1]])
    except (TypeError, ValueError):
        log.warning("a listener's route %r can't be used by the fan-out", route[0][2:4])
        return False
    return True


def _watch_close(protocol, room: RoomForwarder) -> None:
    """Have the room rebuild its groups, and forget a parked socket, when this ICE socket
    closes. asyncio calls connection_lost just before it closes the file descriptor, and
    the room rebuilds before its next packet, so a group never sends on a descriptor that
    was closed (and may have been reused by another socket)."""
    if getattr(protocol, "_podium_watched", False):
        return
    lost = protocol.connection_lost
    transport = protocol.transport

    def connection_lost(exc) -> None:
        room.regroup_soon()
        if room.parking is not None:
            room.parking.forget(transport)
        lost(exc)

    protocol.connection_lost = connection_lost
    protocol._podium_watched = True


class RemoteSpeaker:
    """A speaker whose peer connection is on another node: their packets arrive through
    the relay. What they may publish is pushed here as for a local speaker."""

    __slots__ = ("last_packet", "level", "member_id", "opus_pt", "publishing")
    local = False

    def __init__(self, member_id: int) -> None:
        self.member_id = member_id
        self.publishing = False
        self.opus_pt: int | None = None
        self.level = SILENT
        self.last_packet = 0.0


class RoomForwarder:
    """One live room on this node. On one node it chooses the slots itself; across nodes
    the node holding the room's lease is the brain (`brain`), chooses which speakers are
    heard room-wide and publishes them, and the others follow (`audible`)."""

    def __init__(self, hub: MediaHub, room_id: int) -> None:
        self.hub = hub
        self.room_id = room_id
        self.peers: dict[int, Peer] = {}
        self.remote: dict[int, RemoteSpeaker] = {}
        # The room-wide choice: made here when brain, else the brain's latest.
        self.brain = True
        self.audible: frozenset[int] = frozenset()
        # The relay addresses of the other nodes with this room's listeners.
        self.destinations: tuple[tuple[str, int], ...] = ()
        self.packets_relayed_in = 0
        self.slots = [_Slot(random.getrandbits(32)) for _ in range(hub.slots)]
        self.slot_of: dict[int, _Slot] = {}
        # Listeners grouped by the payload type they expect, and each group's fan-out
        # (media/fanout.py), rebuilt from `targets` before a packet when `_regroup` is set.
        self.targets: dict[int, list[Peer]] = {}
        self._groups: dict[int, object] = {}
        self._regroup = False
        # Where listeners who may not publish have their ICE socket read (media/quiet.py).
        self.parking: quiet.Parking | None = None
        self.active: frozenset[int] = frozenset()
        self._ticker: asyncio.Task | None = None
        self._ticks = 0
        self.packets_in = 0
        self.copies_out = 0
        self._publishers: list[Peer] | None = None  # the peers who may publish; None: stale
        # What else hears the room's speakers on its brain: the recorder and the caption
        # feed (media/recorder.py, media/captions.py), set through MediaHub.set_tap. Each
        # takes a packet in O(1) onto a bounded queue of its own; nothing waits on them.
        self.taps: tuple = hub.taps_of(room_id)

    # --- Peers --------------------------------------------------------------------------

    async def attach(
        self, member_id: int, token: str, offer_sdp: str, publishing: bool, as_of: int = 0
    ) -> str:
        """Connect a member; `publishing` as read by the caller as of the hub's mark
        `as_of` (MediaHub.attach): a change since then, even one that arrived during the
        awaits below, is what the stored peer gets."""
        summary = sdp_rules.check_offer(offer_sdp, slots=len(self.slots))
        old = self.peers.get(member_id)
        if old is not None:
            await self.detach(member_id)
        if self.hub.peer_count() >= self.hub.max_peers:
            raise MediaError("media_full", "The audio server is full; try again shortly.")
        pc = RTCPeerConnection(self.hub.configuration())
        pc._RTCPeerConnection__certificates = [self.hub.certificate()]  # private: shared
        peer = Peer(self, member_id, token, pc)
        self.hub.peers_open += 1
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            transceivers = pc.getTransceivers()
            if len(transceivers) != 1 + len(self.slots):
                raise MediaError("bad_sdp", "The offer must have one microphone and the slots.")
            mic, slot_transceivers = transceivers[0], transceivers[1:]
            mic.direction = "recvonly"
            for transceiver, slot in zip(slot_transceivers, self.slots, strict=True):
                transceiver.direction = "sendonly"
                transceiver.sender._ssrc = slot.ssrc  # private: shared per slot (see module doc)
                transceiver.sender._run_rtp = functools.partial(no_sender_rtp, transceiver.sender)
                transceiver.sender._run_rtcp = functools.partial(
                    no_sender_reports, transceiver.sender
                )
            take_over_receiver(mic.receiver, peer)
            # private: aioice's Connection, under aiortc's ICE transport
            consent.consent_on_the_clock(mic.sender.transport.transport._connection)
            await pc.setLocalDescription(await pc.createAnswer())
        except MediaError:
            await self._discard(pc)
            raise
        except Exception as exc:
            await self._discard(pc)
            log.info("room %s: offer from member %s refused: %r", self.room_id, member_id, exc)
            raise MediaError("bad_sdp", "That offer can't be used.") from None
        peer.opus_pt = summary.mic_opus_pt
        peer.out_pt = answer_opus_pt(pc)
        peer.publishing = self.hub.wanted_publishing(self.room_id, member_id, publishing, as_of)
        self.peers[member_id] = peer
        self._publishers = None

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                self._mark_ready(peer)
            elif pc.connectionState in ("failed", "closed") and self.peers.get(member_id) is peer:
                await self.detach(member_id)

        asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._reap_if_unconnected, peer)
        self._ensure_ticker()
        return sdp_rules.tune_answer(pc.localDescription.sdp)

    async def add_candidate(self, member_id: int, candidate) -> None:
        peer = self.peers.get(member_id)
        if peer is None:
            raise MediaError("no_peer", "Send an offer first.")
        peer.candidates += 1
        if peer.candidates > sdp_rules.MAX_CANDIDATES:
            raise MediaError("too_many_candidates", "Too many ICE candidates.")
        if peer.slim:
            # Connected, and its offer freed: aioice checks no new pair once its check
            # list is complete, so a candidate trickled this late would change nothing.
            return
        await peer.pc.addIceCandidate(candidate)

    async def detach(self, member_id: int, token: str | None = None) -> bool:
        peer = self.peers.get(member_id)
        if peer is None or (token is not None and peer.token != token):
            return False
        del self.peers[member_id]
        self._publishers = None
        self._unready(peer)
        slot = self.slot_of.pop(member_id, None)
        if slot is not None:
            slot.owner = None
        await self._discard(peer.pc)
        return True

    async def close(self) -> None:
        for member_id in list(self.peers):
            await self.detach(member_id)
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    async def _discard(self, pc: RTCPeerConnection) -> None:
        self.hub.peers_open -= 1
        try:
            await pc.close()
        except Exception:  # closing a half-made connection can fail in aiortc; it's gone anyway
            log.debug("closing a peer connection failed", exc_info=True)

    def _reap_if_unconnected(self, peer: Peer) -> None:
        if self.peers.get(peer.member_id) is peer and peer.pc.connectionState != "connected":
            log.info("room %s: member %s never connected; closing", self.room_id, peer.member_id)
            self.hub.spawn(self.detach(peer.member_id, peer.token))

    def _mark_ready(self, peer: Peer) -> None:
        if peer.ready or not peer.route():
            return
        peer.ready = True
        if peer.out_pt is not None:
            self.targets.setdefault(peer.out_pt, []).append(peer)
        self._regroup = True
        self._settle(peer)
        # Once aiortc's connect has surely finished with them (it runs on after "connected").
        asyncio.get_running_loop().call_later(SLIM_AFTER, self._slim, peer)

    def _slim(self, peer: Peer) -> None:
        if self.peers.get(peer.member_id) is peer and peer.pc.connectionState == "connected":
            drop_what_a_connected_peer_no_longer_needs(peer.pc)
            peer.slim = True

    def _settle(self, peer: Peer) -> None:
        """Park a connected member's socket while they may not publish; unpark it when
        they may."""
        if not peer.ready or peer._transport is None:
            return
        if peer.publishing:
            self.unpark(peer)
            return
        if self.parking is None:
            self.parking = quiet.parking()
        if self.parking is not None:
            self.parking.park(peer._transport, peer)

    def unpark(self, peer: Peer) -> None:
        if self.parking is not None and peer._transport is not None:
            self.parking.unpark(peer._transport)

    def _unready(self, peer: Peer) -> None:
        if self.parking is not None and peer._transport is not None:
            self.parking.forget(peer._transport)
        peer.release()
        if peer.ready and peer.out_pt in self.targets:
            group = self.targets[peer.out_pt]
            if peer in group:
                group.remove(peer)
            if not group:
                del self.targets[peer.out_pt]
        peer.ready = False
        self._regroup = True

    def regroup_soon(self) -> None:
        """A listener's route changed or its socket closed: rebuild before the next packet."""
        self._regroup = True

    def _rebuild_groups(self) -> None:
        groups = {}
        for pt, listeners in self.targets.items():
            routes = [t for t in (p.target() for p in listeners) if t is not None]
            group = self._groups.get(pt)
            if group is None:  # (not `or`: an empty group is falsy, and keeps its counters)
                group = fanout.new_group()
            try:
                group.set([r[0] for r in routes], [r[1] for r in routes])
            except (TypeError, ValueError):
                # One route the group refuses must not silence the room: leave that one out.
                routes = [r for r in routes if _accepted(r)]
                group.set([r[0] for r in routes], [r[1] for r in routes])
            groups[pt] = group
        self._groups = groups
        self._regroup = False

    def set_publishing(self, member_id: int, allowed: bool) -> None:
        """Role and mute, decided by the rooms app. Takes effect on the next packet."""
        peer = self.peers.get(member_id)
        if peer is not None:
            peer.publishing = allowed
            self._publishers = None
            self._settle(peer)
        remote = self.remote.get(member_id)
        if remote is None and allowed:
            remote = self.remote[member_id] = RemoteSpeaker(member_id)
        if remote is not None:
            remote.publishing = allowed
        if not allowed:
            slot = self.slot_of.pop(member_id, None)
            if slot is not None:
                slot.owner = None
            if member_id in self.active:
                self.active = self.active - {member_id}
                self.hub.on_active_speakers(self.room_id, sorted(self.active))

    # --- The hot path -------------------------------------------------------------------

    def forward_relayed(self, member_id: int, packet: RtpPacket) -> None:
        """A packet another node relayed: checked again here against who may publish."""
        speaker = self.remote.get(member_id)
        if speaker is None or not speaker.publishing or member_id in self.peers:
            return
        speaker.opus_pt = packet.payload_type
        self.packets_relayed_in += 1
        self.forward(speaker, packet)

    def forward(self, peer: Peer | RemoteSpeaker, packet: RtpPacket) -> None:
        """One packet from a speaker: drop it unless they may publish, else copy it to every
        listener through the speaker's slot, and (a local speaker's) to the other nodes."""
        if (
            not peer.publishing
            or packet.payload_type != peer.opus_pt
            or len(packet.payload) > MAX_PAYLOAD
        ):
            return
        now = time.monotonic()
        peer.last_packet = now
        level = packet.extensions.audio_level
        peer.level = 0.7 * peer.level + 0.3 * (level[1] if level is not None else 30)
        self.packets_in += 1
        if peer.local and self.destinations:
            # Every packet a local speaker may publish, so that the brain hears them all.
            self.hub.relay.send(self.room_id, peer.member_id, packet, self.destinations)
        if self.taps and self.brain:
            for tap in self.taps:
                tap.packet(
                    peer.member_id,
                    packet.timestamp,
                    packet.payload,
                    level[1] if level is not None else -1,
                    now,
                )
        slot = self.slot_of.get(peer.member_id)
        if slot is None:
            if not (self.brain or peer.member_id in self.audible):
                return
            slot = self._give_free_slot(peer, now)
            if slot is None:
                return
        if slot.switched:
            # A new speaker on this slot: continue the sequence, jump the timestamp by the
            # real time since the slot's last packet (at least one frame) and set the marker.
            gap = max(FRAME_SAMPLES, int((now - slot.last_sent) * OPUS_CLOCK))
            slot.ts_offset = (slot.last_ts + gap - packet.timestamp) & 0xFFFFFFFF
            slot.switched = False
            marker = 0x80
        else:
            marker = 0x80 if packet.marker else 0
        seq = slot.seq = (slot.seq + 1) & 0xFFFF
        ts = slot.last_ts = (packet.timestamp + slot.ts_offset) & 0xFFFFFFFF
        slot.last_sent = now
        payload = packet.payload
        source = peer.member_id
        if self._regroup:
            self._rebuild_groups()
        copies = 0
        for pt, group in self._groups.items():
            header = slot.headers.get(pt)
            if header is None:
                header = slot.headers[pt] = bytearray(12)
            _HEADER.pack_into(header, 0, 0x80, marker | pt, seq, ts, slot.ssrc)
            # A copy libsrtp or the kernel refuses (replay window, full send buffer) is
            # skipped; reaping handles connections that are really gone.
            try:
                copies += group.send(header, payload, source)
            except Exception:
                # Never out of forward(): aiortc would close the speaker's transport.
                log.exception("room %s: the fan-out failed for one packet", self.room_id)
        self.copies_out += copies

    def _give_free_slot(self, peer: Peer, now: float) -> _Slot | None:
        for slot in self.slots:
            if slot.owner is None:
                self._assign(slot, peer.member_id, now)
                return slot
        return None

    def _assign(self, slot: _Slot, member_id: int, now: float) -> None:
        if slot.owner is not None:
            self.slot_of.pop(slot.owner, None)
        slot.owner = member_id
        slot.since = now
        slot.switched = True
        self.slot_of[member_id] = slot

    # --- Slot choice and who is talking, ten times a second -----------------------------

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.ensure_future(self._tick_forever())

    async def _tick_forever(self) -> None:
        try:
            while self.peers:
                await asyncio.sleep(TICK)
                self.tick(time.monotonic())
        except asyncio.CancelledError:
            pass

    def tick(self, now: float) -> None:
        self._ticks += 1
        if self._ticks % 10 == 0:
            # ICE may nominate another pair; keep each listener's cached route current.
            for peer in self.peers.values():
                if peer.ready:
                    peer.route()
        for slot in self.slots:
            owner = self._speaker(slot.owner) if slot.owner is not None else None
            if slot.owner is not None and (
                owner is None
                or not owner.publishing
                or now - owner.last_packet > STALE_AFTER
                or not (self.brain or slot.owner in self.audible)
            ):
                self.slot_of.pop(slot.owner, None)
                slot.owner = None
        if not self.brain:
            return  # the brain chooses; its choice arrives with set_choice()
        # With more speakers than slots, the loudest waiting speaker takes the slot of the
        # quietest one, but only when clearly louder and the slot has been held a while.
        # Only members who may publish can speak: a few, where the peers may be thousands.
        if self._publishers is None:
            self._publishers = [p for p in self.peers.values() if p.publishing]
        speakers = [*self._publishers, *self.remote.values()]
        waiting = [
            p
            for p in speakers
            if p.publishing and p.member_id not in self.slot_of and now - p.last_packet < 0.5
        ]
        if waiting:
            loudest = min(waiting, key=lambda p: p.level)
            free = next((s for s in self.slots if s.owner is None), None)
            if free is not None:
                self._assign(free, loudest.member_id, now)
            else:
                held = [s for s in self.slots if now - s.since >= MIN_HOLD]
                if held:
                    quietest = max(held, key=lambda s: self._speaker(s.owner).level)
                    if loudest.level + SWITCH_MARGIN < self._speaker(quietest.owner).level:
                        self._assign(quietest, loudest.member_id, now)
        audible = frozenset(s.owner for s in self.slots if s.owner is not None)
        if audible != self.audible:
            self.audible = audible
            self.hub.on_choice(self.room_id, audible)
        active = frozenset(
            p.member_id
            for p in speakers
            if p.publishing and p.level <= SPEAKING_LEVEL and now - p.last_packet < 0.5
        )
        if active != self.active:
            self.active = active
            self.hub.on_active_speakers(self.room_id, sorted(active))

    def _speaker(self, member_id: int) -> Peer | RemoteSpeaker | None:
        return self.peers.get(member_id) or self.remote.get(member_id)

    def set_choice(self, audible: frozenset[int]) -> None:
        """The brain's choice of who is heard; slots of others are freed at the next tick."""
        self.audible = audible
