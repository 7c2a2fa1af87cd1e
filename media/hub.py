"""The process's forwarders: one RoomForwarder per live room, the peer-connection cap, the
shared DTLS certificate and the ICE configuration."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable

from media.aiortc_glue import SharedCertificate
from media.errors import MediaError
from media.forwarder import K_SLOTS, RoomForwarder
from media.relay import Relay

log = logging.getLogger(__name__)

# Seconds a publishing change is kept for attaches in flight: longer than a member's
# offer can take from the caller's read to the stored peer (the offer's database read and
# aiortc's set-up; a connection not up within 30 s is reaped anyway).
CHANGE_MEMORY = 60.0


class MediaHub:
    """Every RoomForwarder of this process, the peer-connection cap and the ICE setup."""

    def __init__(
        self,
        *,
        ice_servers: list[dict] | None = None,
        max_peers: int = 2000,
        slots: int = K_SLOTS,
        on_active_speakers: Callable[[int, list[int]], None] | None = None,
        on_choice: Callable[[int, frozenset[int]], None] | None = None,
    ) -> None:
        self.ice_servers = ice_servers or []
        self.max_peers = max_peers
        self.slots = slots
        self.rooms: dict[int, RoomForwarder] = {}
        self.peers_open = 0
        self._on_active = on_active_speakers
        self._on_choice = on_choice
        # Set by the cluster agent when this node is one of several (rooms.cluster).
        self.relay: Relay | None = None
        self._tasks: set[asyncio.Task] = set()
        self._certificate: SharedCertificate | None = None
        # Publishing changes, latest per member, in order: (sequence, allowed, when).
        self._seq = 0
        self._changes: dict[tuple[int, int], tuple[int, bool, float]] = {}
        # Per room, what else hears its speakers (the recorder, the caption feed), by name.
        self._taps: dict[int, dict[str, object]] = {}

    def certificate(self) -> SharedCertificate:
        """The DTLS certificate of new connections; aiortc's are valid for 30 days, so a
        new one is made a day before it expires (open connections keep theirs)."""
        soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
        if self._certificate is None or self._certificate.expires < soon:
            self._certificate = SharedCertificate.generateCertificate()
        return self._certificate

    def spawn(self, coro) -> None:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def configuration(self):
        from aiortc import RTCConfiguration, RTCIceServer

        # An explicit empty list: with none given, aiortc would ask a public STUN server.
        return RTCConfiguration(
            iceServers=[
                RTCIceServer(
                    urls=s["urls"], username=s.get("username"), credential=s.get("credential")
                )
                for s in self.ice_servers
            ]
        )

    def peer_count(self) -> int:
        return self.peers_open

    def room(self, room_id: int) -> RoomForwarder:
        forwarder = self.rooms.get(room_id)
        if forwarder is None:
            forwarder = self.rooms[room_id] = RoomForwarder(self, room_id)
        return forwarder

    def taps_of(self, room_id: int) -> tuple:
        return tuple(self._taps.get(room_id, {}).values())

    def set_tap(self, room_id: int, name: str, tap) -> object | None:
        """Give the room's packets also to `tap` (None: stop), on this node while it is the
        room's brain; returns the tap it replaces. A tap has `packet(member_id, timestamp,
        payload, level, now)`, called on the hot path: it must only queue the packet."""
        taps = self._taps.setdefault(room_id, {})
        old = taps.pop(name, None)
        if tap is not None:
            taps[name] = tap
        if not taps:
            del self._taps[room_id]
        forwarder = self.rooms.get(room_id)
        if forwarder is not None:
            forwarder.taps = self.taps_of(room_id)
        return old

    def on_choice(self, room_id: int, audible: frozenset[int]) -> None:
        """The room's brain chose who is heard: the other nodes follow (rooms.cluster)."""
        if self._on_choice is not None:
            try:
                self._on_choice(room_id, audible)
            except Exception:
                log.exception("choice callback failed for room %s", room_id)

    def on_relayed(self, room_id: int, member_id: int, packet) -> None:
        """A packet from the relay; dropped unless this node serves the room."""
        forwarder = self.rooms.get(room_id)
        if forwarder is not None:
            forwarder.forward_relayed(member_id, packet)

    def on_active_speakers(self, room_id: int, members: list[int]) -> None:
        if self._on_active is not None:
            try:
                self._on_active(room_id, members)
            except Exception:
                log.exception("active-speaker callback failed for room %s", room_id)

    async def attach(
        self,
        room_id: int,
        member_id: int,
        token: str,
        offer_sdp: str,
        *,
        publishing: bool,
        as_of: int | None = None,
    ) -> str:
        """Connect a member. `publishing` is the right the caller read as of `as_of` (a
        `mark()` taken before reading it; by default, now): a set_publishing() for this
        member after that mark wins over it, however the awaits in between interleave."""
        if as_of is None:
            as_of = self._seq
        return await self.room(room_id).attach(member_id, token, offer_sdp, publishing, as_of)

    def mark(self) -> int:
        """A point in the sequence of publishing changes, to pass to attach() as as_of."""
        return self._seq

    def wanted_publishing(self, room_id: int, member_id: int, read: bool, as_of: int) -> bool:
        """Whether a member may publish: the latest set_publishing() since as_of, else
        what the caller read then."""
        change = self._changes.get((room_id, member_id))
        if change is not None and change[0] > as_of:
            return change[1]
        return read

    def _remember(self, room_id: int, member_id: int, allowed: bool) -> None:
        self._seq += 1
        key = (room_id, member_id)
        self._changes.pop(key, None)
        now = time.monotonic()
        self._changes[key] = (self._seq, allowed, now)
        # Oldest first: a change older than any attach can still be in flight is dropped.
        while self._changes:
            oldest = next(iter(self._changes))
            if now - self._changes[oldest][2] <= CHANGE_MEMORY:
                break
            del self._changes[oldest]

    async def add_candidate(self, room_id: int, member_id: int, candidate) -> None:
        forwarder = self.rooms.get(room_id)
        if forwarder is None:
            raise MediaError("no_peer", "Send an offer first.")
        await forwarder.add_candidate(member_id, candidate)

    def set_publishing(self, room_id: int, member_id: int, allowed: bool) -> None:
        """Role and mute, decided by the rooms app. Kept whether or not the member has a
        peer yet, so that a connection being set up gets it the moment it is stored."""
        self._remember(room_id, member_id, allowed)
        forwarder = self.rooms.get(room_id)
        if forwarder is not None:
            forwarder.set_publishing(member_id, allowed)

    async def detach(self, room_id: int, member_id: int, token: str | None = None) -> bool:
        forwarder = self.rooms.get(room_id)
        if forwarder is None:
            return False
        done = await forwarder.detach(member_id, token)
        if not forwarder.peers:
            await forwarder.close()
            self.rooms.pop(room_id, None)
        return done

    async def close_room(self, room_id: int) -> None:
        forwarder = self.rooms.pop(room_id, None)
        if forwarder is not None:
            await forwarder.close()
