"""What the nodes share in Redis: heartbeats, which nodes serve each room, and leases.

- `podium:node:<id>` holds a node's heartbeat ({"relay": [host, port], "draining": ...}) and
  expires HEARTBEAT_TTL after the last beat; `podium:nodes` lists the node ids ever seen.
- `podium:room:<id>:nodes` maps node id -> expiry (ms): the nodes with peers in the room.
- A lease is `SET key "<node>:<token>" NX PX ttl`, renewed and released only by its holder
  (a compare-and-set in Lua). The token comes from INCR on `<key>:fence` at each grant, and
  is never below Redis's clock in milliseconds, so it only grows, even after Redis restarts
  empty (no persistence) and the counter starts over: whoever acts on a lease passes its
  token, and a smaller one is stale.
"""

from __future__ import annotations

import json
import time

HEARTBEAT_TTL_MS = 5_000
ROOM_TTL_MS = 5_000
LEASE_TTL_MS = 3_000

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_FENCE = """
local token = redis.call('INCR', KEYS[1])
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if token < floor then
  redis.call('SET', KEYS[1], floor)
  token = floor
end
return token
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Lease:
    """One lease as seen by one node: held with `token`, or not held."""

    def __init__(self, registry: Registry, key: str) -> None:
        self.registry = registry
        self.key = key
        self.token = 0
        self.held = False
        self.expires = 0.0  # time.monotonic() when the lease lapses unless renewed

    def valid(self) -> bool:
        """Held, and not lapsed since the last grant or renewal. A node that stalled past
        its lease must not act on it before it learns that another node took it."""
        return self.held and time.monotonic() < self.expires

    @property
    def _value(self) -> str:
        return f"{self.registry.node_id}:{self.token}"

    async def hold(self) -> bool:
        """Renew the lease if held, else try to take it. True while this node holds it."""
        redis = self.registry.redis
        asked = time.monotonic()  # the lease runs from before the call, to be safe
        if self.held:
            renewed = await redis.eval(_RENEW, 1, self.key, self._value, LEASE_TTL_MS)
            self.held = bool(renewed)
            if self.held:
                self.expires = asked + LEASE_TTL_MS / 1000
                return True
        if await redis.exists(self.key):
            return False
        token = await redis.eval(_FENCE, 1, f"{self.key}:fence")
        if await redis.set(self.key, f"{self.registry.node_id}:{token}", nx=True, px=LEASE_TTL_MS):
            self.token, self.held = token, True
            self.expires = asked + LEASE_TTL_MS / 1000
        return self.held

    async def release(self) -> None:
        if self.held:
            self.held = False
            await self.registry.redis.eval(_RELEASE, 1, self.key, self._value)


class Registry:
    def __init__(self, redis, node_id: str, prefix: str = "podium") -> None:
        self.redis = redis
        self.node_id = node_id
        self.prefix = prefix

    def _node_key(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    def room_key(self, room_id: int) -> str:
        return f"{self.prefix}:room:{room_id}"

    def lease(self, name: str) -> Lease:
        return Lease(self, f"{self.prefix}:lease:{name}")

    async def turn(self, name: str, ms: int) -> float:
        """One node at a time, for `ms`: 0.0 if this node now has the turn called `name`,
        else the seconds left in another node's turn. Not a lease: nothing is fenced, a turn
        only spares work that any node could do (see broadcast._audience_flush)."""
        key = f"{self.prefix}:turn:{name}"
        if await self.redis.set(key, self.node_id, nx=True, px=ms):
            return 0.0
        left = await self.redis.pttl(key)
        return max(left, 1) / 1000

    async def beat(self, *, relay: tuple[str, int], draining: bool) -> None:
        info = json.dumps({"relay": list(relay), "draining": draining, "at": _now_ms()})
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._node_key(self.node_id), info, px=HEARTBEAT_TTL_MS)
        pipe.sadd(f"{self.prefix}:nodes", self.node_id)
        await pipe.execute()

    async def forget(self) -> None:
        """This node stops: its heartbeat goes at once (a drained node, not a dead one)."""
        await self.redis.delete(self._node_key(self.node_id))

    async def alive(self) -> dict[str, dict]:
        """Node id -> heartbeat of every node heart-beating now, this one included."""
        ids = sorted(m.decode() for m in await self.redis.smembers(f"{self.prefix}:nodes"))
        if not ids:
            return {}
        beats = await self.redis.mget([self._node_key(i) for i in ids])
        alive = {}
        for node_id, beat in zip(ids, beats, strict=True):
            if beat is not None:
                alive[node_id] = json.loads(beat)
        return alive

    async def serve_room(self, room_id: int) -> dict[str, int]:
        """Say this node has peers in the room; return every node that does (id -> expiry)."""
        key = f"{self.room_key(room_id)}:nodes"
        now = _now_ms()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, self.node_id, now + ROOM_TTL_MS)
        pipe.pexpire(key, ROOM_TTL_MS * 4)
        pipe.hgetall(key)
        *_, members = await pipe.execute()
        return {k.decode(): int(v) for k, v in members.items() if int(v) > now}

    async def leave_room(self, room_id: int) -> None:
        await self.redis.hdel(f"{self.room_key(room_id)}:nodes", self.node_id)
