"""This node's part in a deployment of many (`manage.py runnode`), on its event loop.

Once a second (TICK) the agent:
- beats its heartbeat in Redis, with its relay address and whether it is draining;
- for each room it has peers in: says so, learns which other nodes do (their relay addresses
  become the forwarder's destinations), and holds or contends for the room's lease. The
  holder is the room's brain: its forwarder chooses who is heard and the agent publishes the
  choice, with the lease's fencing token, to the room's media group;
- joins and leaves the rooms' media groups, where every node hears who may publish
  (`media.publishing`, from the services) and the brain's choice (`media.choice`);
- holds the reaper lease, or not: its holder marks absent the participants of nodes that have
  not beaten for REAP_AFTER, while its own Redis calls have been working for as long.

Only this node's peers' rooms are touched, and nothing here is on the packet path.
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from config import outage
from media.relay import Relay
from rooms import broadcast, eventloop, media_bridge
from rooms.cluster.registry import Registry
from rooms.recordings import live

log = logging.getLogger(__name__)

TICK = 1.0
REAP_AFTER = 8.0
RESUBSCRIBE_WAIT = 1.0  # after Redis is back, before the sockets here resync


_current: NodeAgent | None = None


def current() -> NodeAgent | None:
    """This process's agent under `manage.py runnode`; None in the embedded default."""
    return _current


def set_current(agent: NodeAgent | None) -> None:
    global _current
    _current = agent


def draining() -> bool:
    return _current is not None and _current.draining


def nodes_serving(room_id: int) -> int:
    """How many nodes have peers in the room, as of the last tick (at least 1): each node
    takes that share of a room's audience limits, so the room's sum holds across nodes."""
    if _current is None:
        return 1
    return max(1, _current.serving.get(room_id, 1))


class ClusterError(Exception):
    """The node can't take part (Redis unreachable); the message names what to fix."""


class NodeAgent:
    def __init__(self, redis) -> None:
        self.node_id = settings.NODE_ID
        self.registry = Registry(redis, self.node_id)
        self.draining = False
        self.relay: Relay | None = None
        self.hub = None
        self.channel = ""
        self._rooms: dict[int, object] = {}  # room id -> its brain lease
        # room id -> the forwarder last told who may publish. A forwarder made again (the
        # room's last local peer left and another came, between two ticks) knows nobody.
        self._told: dict[int, object] = {}
        self._tokens: dict[int, int] = {}  # room id -> the largest fencing token heard
        self.serving: dict[int, int] = {}  # room id -> how many nodes have peers in it
        self._missing_since: dict[str, float] = {}
        self._redis_ok_since: float | None = None
        self._redis_lost = False  # a beat failed since the last that worked
        self._reaper = self.registry.lease("reaper")
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        try:
            await self.registry.redis.ping()
        except Exception as exc:
            raise ClusterError(
                f"Can't reach Redis at REDIS_URL ({settings.REDIS_URL}): {exc}"
            ) from None
        self.hub = media_bridge.hub()
        host, port = settings.MEDIA_RELAY_ADDRESS
        self.relay = Relay(settings.MEDIA_RELAY_SECRET.encode(), self.hub.on_relayed)
        await self.relay.start(host, port)
        self.hub.relay = self.relay
        self.hub._on_choice = self.publish_choice
        layer = get_channel_layer()
        self.channel = await layer.new_channel("node.")
        await self._beat()
        self._tasks = [
            eventloop.spawn(self._every(TICK, self._beat)),
            eventloop.spawn(self._every(TICK, self._rooms_tick)),
            eventloop.spawn(self._every(TICK * 2, self._reap)),
            eventloop.spawn(self._receive_forever()),
        ]
        log.info("node %s: relay on %s:%s", self.node_id, *self.relay.address)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        try:
            for room_id, lease in list(self._rooms.items()):
                await self._leave(room_id, lease)
            await self._reaper.release()
            await self.registry.forget()
        finally:
            if self.relay is not None:
                self.relay.close()

    async def _every(self, seconds: float, step) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting, the database busy: try again
                self._redis_ok_since = None
                log.warning("node %s: %s failed: %r", self.node_id, step.__name__, exc)
            await asyncio.sleep(seconds)

    async def _beat(self) -> None:
        try:
            await self.registry.beat(relay=self.relay.address, draining=self.draining)
        except Exception:
            self._redis_lost = True
            raise
        if self._redis_ok_since is None:
            self._redis_ok_since = time.monotonic()
        if self._redis_lost:
            self._redis_lost = False
            eventloop.spawn(self._resync_sockets())

    async def _resync_sockets(self) -> None:
        """Redis is back: what was published while it was away reached nobody, so every
        socket here resyncs, once the channel layer has subscribed them again."""
        from rooms import consumers

        await asyncio.sleep(RESUBSCRIBE_WAIT)
        told = consumers.resync_all()
        log.info("node %s: Redis is back; %d sockets told to resync", self.node_id, told)
        await self._retell_publishing()

    async def _retell_publishing(self) -> None:
        """Who may be heard, read again for every room here: a mute, demotion or ban
        published while Redis was away never reached this node's forwarders."""
        for room_id, forwarder in list(self.hub.rooms.items()):
            as_of = self.hub.mark()  # a change that arrives during the read wins over it
            try:
                allowed = set(await database_sync_to_async(_publishing_members)(room_id))
            except outage.DATABASE_DOWN as exc:
                log.warning(
                    "node %s: room %s: publishing not re-read: %r", self.node_id, room_id, exc
                )
                continue
            for member_id in set(forwarder.peers) | set(forwarder.remote) | allowed:
                wanted = self.hub.wanted_publishing(room_id, member_id, member_id in allowed, as_of)
                self.hub.set_publishing(room_id, member_id, wanted)

    # --- Rooms ------------------------------------------------------------------------------

    async def _rooms_tick(self) -> None:
        alive = await self.registry.alive()
        self.relay.allow(
            tuple(beat["relay"]) for node, beat in alive.items() if node != self.node_id
        )
        local = {room_id: f for room_id, f in self.hub.rooms.items() if f.peers}
        for room_id, lease in list(self._rooms.items()):
            if room_id not in local:
                await self._leave(room_id, lease)
        for room_id, forwarder in local.items():
            if room_id not in self._rooms:
                await self._join(room_id)
            if self._told.get(room_id) is not forwarder:
                await self._tell_publishing(room_id, forwarder)
            serving = await self.registry.serve_room(room_id)
            self.serving[room_id] = sum(1 for node in serving if node in alive) or 1
            forwarder.destinations = tuple(
                tuple(alive[node]["relay"])
                for node in serving
                if node != self.node_id and node in alive
            )
            lease = self._rooms[room_id]
            was_brain = lease.held
            forwarder.brain = await lease.hold()
            if forwarder.brain:
                self._tokens[room_id] = max(self._tokens.get(room_id, 0), lease.token)
                if not was_brain:
                    log.info(
                        "node %s: brain of room %s (token %s)", self.node_id, room_id, lease.token
                    )
                self.publish_choice(room_id, forwarder.audible)

    async def _join(self, room_id: int) -> None:
        self._rooms[room_id] = self.registry.lease(f"room:{room_id}")
        await get_channel_layer().group_add(broadcast.media_group(room_id), self.channel)

    async def _tell_publishing(self, room_id: int, forwarder) -> None:
        # Who may publish now; changes arrive in the media group (joined first) from here on.
        for member_id in await database_sync_to_async(_publishing_members)(room_id):
            forwarder.set_publishing(member_id, True)
        self._told[room_id] = forwarder

    async def _leave(self, room_id: int, lease) -> None:
        self._rooms.pop(room_id, None)
        self._told.pop(room_id, None)
        self._tokens.pop(room_id, None)
        self.serving.pop(room_id, None)
        await get_channel_layer().group_discard(broadcast.media_group(room_id), self.channel)
        await lease.release()
        await self.registry.leave_room(room_id)

    def publish_choice(self, room_id: int, audible: frozenset[int]) -> None:
        lease = self._rooms.get(room_id)
        if lease is None or not lease.valid():
            return
        eventloop.spawn(self._publish_choice(room_id, sorted(audible), lease.token))

    async def _publish_choice(self, room_id: int, audible: list[int], token: int) -> None:
        try:
            await broadcast.media_choice(room_id, audible, token)
        except Exception as exc:  # Redis away: the brain publishes its choice again each tick
            log.warning("node %s: room %s's choice not sent: %r", self.node_id, room_id, exc)

    # --- The media group --------------------------------------------------------------------

    async def _receive_forever(self) -> None:
        layer = get_channel_layer()
        while True:
            try:
                message = await layer.receive(self.channel)
                self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("node %s: media message failed: %r", self.node_id, exc)
                await asyncio.sleep(0.5)

    def _handle(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "media.publishing":
            self.hub.set_publishing(message["room"], message["member"], message["allowed"])
        elif kind == "media.plan":
            live.refresh_soon(message["room"])
        elif kind == "media.choice":
            room_id, token = message["room"], message["token"]
            if token < self._tokens.get(room_id, 0):
                return  # a deposed brain's choice
            self._tokens[room_id] = token
            forwarder = self.hub.rooms.get(room_id)
            if forwarder is not None and not forwarder.brain:
                forwarder.set_choice(frozenset(message["audible"]))

    # --- Reaping ----------------------------------------------------------------------------

    async def _reap(self) -> None:
        if not await self._reaper.hold():
            self._missing_since.clear()
            return
        alive = await self.registry.alive()
        now = time.monotonic()
        healthy = self._redis_ok_since is not None and now - self._redis_ok_since >= REAP_AFTER
        for node in await database_sync_to_async(_present_nodes)():
            if node in alive:
                self._missing_since.pop(node, None)
                continue
            since = self._missing_since.setdefault(node, now)
            if healthy and now - since >= REAP_AFTER:
                from rooms import services

                reaped = await database_sync_to_async(services.participants_reap)(node=node)
                self._missing_since.pop(node, None)
                log.warning(
                    "node %s: reaped %s participants of dead node %s", self.node_id, reaped, node
                )


def _publishing_members(room_id: int) -> list[int]:
    from rooms.models import STAGE_ROLES, Participant

    return list(
        Participant.objects.filter(
            room_id=room_id, role__in=STAGE_ROLES, muted=False, is_present=True
        ).values_list("member_id", flat=True)
    )


def _present_nodes() -> list[str]:
    from rooms.models import Participant, Room

    return list(
        Participant.objects.filter(is_present=True, room__status=Room.Status.LIVE)
        .exclude(node="")
        .exclude(node=settings.NODE_ID)
        .values_list("node", flat=True)
        .distinct()
    )
