"""Redis restarts mid-room (empty, as after a crash without persistence): audio keeps
flowing on every node meanwhile, hands and the stage survive (they are in the database),
and the room's brain and signaling resume by themselves once Redis is back."""

import asyncio
import time

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async

from rooms import services
from rooms.protocol import Close
from tests.cluster.clients import Peer, RoomSocket, session_cookie
from tests.cluster.nodes import eventually
from tests.conftest import make_member, make_room

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("loopback"),
]

OUTAGE = 3.0  # seconds without Redis
RESUMES_WITHIN = 10.0  # after Redis is back


def _setup(alice, bob):
    room = make_room(alice, speakers=[bob])
    people = {"alice": alice, "bob": bob}
    for name in ("Erin Ba", "Frank Li", "Gina Ko"):
        people[name.split()[0].lower()] = make_member(name)
    return room, people, {name: session_cookie(m) for name, m in people.items()}


def _hands(event: dict) -> list[int]:
    return [entry["member"] for entry in event["queue"]]


class Scene:
    """Alice hosts and speaks (440 Hz) on A; Erin listens on A, Frank and Gina on B; Frank
    raised his hand before the outage. Bob, a speaker, has his socket open on B.

    The room's lease has changed hands once before the outage, as it does in a long run
    (its fencing token grew): B held it first, with Gina as its only peer, and let it go when
    she left for a moment; A took it over."""

    def __init__(self, cluster, redis_server, room, people, cookies) -> None:
        self.cluster = cluster
        self.redis = redis_server
        self.room = room
        self.people = people
        self.cookies = cookies
        self.sockets: list[RoomSocket] = []
        self.peers: list[Peer] = []

    async def socket(self, node, name: str) -> RoomSocket:
        sock = await RoomSocket.open(node, self.room.pk, self.cookies[name])
        self.sockets.append(sock)
        return sock

    async def audio(self, sock: RoomSocket, tone: float | None = None) -> Peer:
        peer = Peer(tone=tone)
        self.peers.append(peer)
        return await peer.join(sock)

    def lease(self):
        return self.cluster.lease_holder(self.room.pk, self.redis.url)

    async def open(self, a, b) -> None:
        gina_socket = await self.socket(b, "gina")
        gina = await self.audio(gina_socket)
        holder = await eventually(self.lease, timeout=5, what="a brain for the room")
        assert holder[0] == "b"
        self.host = await self.socket(a, "alice")
        await self.host.send("unmute.self")
        await self.host.until("role.changed", where=lambda e: not e["you"]["muted"])
        await self.audio(self.host, tone=440)
        self.erin = await self.audio(await self.socket(a, "erin"))
        # Gina leaves for a moment: B has no peer left in the room and lets the lease go.
        await gina_socket.close()
        await gina.close()
        await eventually(
            lambda: (h := self.lease()) and h[0] == "a", timeout=8, what="the lease taken over"
        )
        self.gina_socket = await self.socket(b, "gina")
        self.gina = await self.audio(self.gina_socket)
        self.frank_socket = await self.socket(b, "frank")
        self.frank = await self.audio(self.frank_socket)
        self.bob_socket = await self.socket(b, "bob")
        await self.bob_socket.send("unmute.self")
        await self.bob_socket.until("role.changed", where=lambda e: not e["you"]["muted"])
        for listener in (self.erin, self.frank, self.gina):
            assert await listener.hears(440) == pytest.approx(440, abs=15)
        await self.frank_socket.send("hand.raise")
        frank = self.people["frank"].pk
        await self.host.until("hand.queue", where=lambda e: _hands(e) == [frank])

    async def outage(self, during=None) -> float:
        """Kill Redis for OUTAGE seconds (awaiting `during()` meanwhile, if given); media
        must keep flowing on both nodes. Returns when Redis was back."""
        self.redis.kill()
        down = time.monotonic()
        if during is not None:
            await during()
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        for name, listener in (("erin@a", self.erin), ("gina@b", self.gina)):
            during = len(listener.arrived_since(down))
            assert during >= 0.8 * 50 * OUTAGE, (name, during)
        self.redis.start()
        return time.monotonic()

    def recovered(self) -> bool:
        """Both nodes beat again, and both are subscribed to the room's group again."""
        client = self.cluster.redis(self.redis.url)
        beats = client.exists("podium:node:a", "podium:node:b")
        group = f"{self.cluster.prefix}__group__room.{self.room.pk}"
        subscribed = dict(client.pubsub_numsub(group)).get(group.encode(), 0)
        return beats == 2 and subscribed == 2

    async def close(self) -> None:
        for sock in self.sockets:
            await sock.close()
        for peer in self.peers:
            await peer.close()


@pytest_asyncio.fixture
async def scene(own_redis, cluster, alice, bob):
    # channels-redis logs each failed read of its pub/sub connection while Redis is down.
    cluster.tolerate(
        message=r"^Unexpected exception in receive task$",
        error=r"^redis\.exceptions\.ConnectionError: ",
    )
    a, b = cluster.start("a", "b", redis_url=own_redis.url)
    room, people, cookies = await database_sync_to_async(_setup)(alice, bob)
    scene = Scene(cluster, own_redis, room, people, cookies)
    try:
        await scene.open(a, b)
        yield scene
    finally:
        await scene.close()


async def test_audio_state_and_the_rooms_brain_survive_a_redis_restart(scene):
    _, token_before = scene.lease()
    back = await scene.outage()
    await eventually(scene.recovered, timeout=RESUMES_WITHIN, what="nodes back on Redis")
    # A brain holds the room again, with a token larger than any before the restart (else
    # the other node would take its choices for a deposed brain's and ignore them).
    _, token = await eventually(scene.lease, timeout=RESUMES_WITHIN - (time.monotonic() - back))
    assert token > token_before

    # What was in the database before the outage is all there.
    await scene.host.send("state.sync")
    state = await scene.host.until("room.state")
    assert [entry["member"] for entry in state["hand_queue"]] == [scene.people["frank"].pk]
    assert [(p["member"], p["muted"]) for p in state["stage"]] == [
        (scene.people["alice"].pk, False),
        (scene.people["bob"].pk, False),
    ]

    # Bob starts talking only now: the brain must give him a slot and every node follow it.
    await scene.audio(scene.bob_socket, tone=880)
    for name, listener in (("erin@a", scene.erin), ("gina@b", scene.gina)):
        assert await listener.hears(880, timeout=10) == pytest.approx(880, abs=15), name
        assert await listener.hears(440, timeout=5) == pytest.approx(440, abs=15), name


async def test_signaling_resumes_by_itself_after_a_redis_restart(scene):
    back = await scene.outage()
    await eventually(scene.recovered, timeout=RESUMES_WITHIN, what="nodes back on Redis")
    frank, gina = scene.people["frank"].pk, scene.people["gina"].pk

    # One new hand, raised once, reaches the moderator on the other node.
    await scene.gina_socket.send("hand.raise")
    left = RESUMES_WITHIN - (time.monotonic() - back)
    await scene.host.until("hand.queue", timeout=left, where=lambda e: _hands(e) == [frank, gina])
    # The host brings Frank on stage, and he hears about it.
    await scene.host.send("speaker.promote", member=frank)
    await scene.frank_socket.until("role.changed", where=lambda e: e["you"]["role"] == "speaker")


async def test_a_hand_raised_while_redis_is_away_reaches_the_host_by_itself(scene):
    """Nobody acts once Redis is back: the hand raised meanwhile on one node still reaches
    the host on the other (its broadcast waited in B's outbox, and every socket resyncs),
    and Gina's own page learns that it is raised."""
    frank, gina = scene.people["frank"].pk, scene.people["gina"].pk

    async def gina_raises_her_hand():
        await scene.gina_socket.send("hand.raise")

    back = await scene.outage(during=gina_raises_her_hand)

    def has_both(event: dict) -> bool:
        queue = event.get("queue", event.get("hand_queue"))
        return [entry["member"] for entry in queue or ()] == [frank, gina]

    async def host_sees_it() -> float:
        while True:
            event = await scene.host.events.get()
            if event["type"] in ("hand.queue", "room.state") and has_both(event):
                return time.monotonic() - back
            if event["type"] == "resync":
                await scene.host.send("state.sync")  # as room.js does

    async def gina_sees_it() -> float:
        while True:
            event = await scene.gina_socket.events.get()
            if event["type"] in ("role.changed", "room.state") and event["you"]["hand_raised"]:
                return time.monotonic() - back
            if event["type"] == "resync":
                await scene.gina_socket.send("state.sync")

    host_at, gina_at = await asyncio.wait_for(
        asyncio.gather(host_sees_it(), gina_sees_it()), RESUMES_WITHIN
    )
    print(f"\nRedis back: the host saw the hand after {host_at:.2f} s, Gina after {gina_at:.2f} s")
    assert max(host_at, gina_at) <= RESUMES_WITHIN


async def test_a_ban_and_a_mute_whose_events_were_lost_take_effect_at_the_resync(scene):
    """Redis kept nothing of what was published while it was away. Here the ban and the mute
    are made by this test's process, whose channel layer isn't the nodes' Redis at all: their
    events reach no node, as if lost in the outage. At the resync after Redis is back, each
    node reads again who may be in the room and who may be heard: Frank's socket (on B) is
    closed as a removal, and Alice's audio (on A) stops reaching the listeners."""
    alice, frank = scene.people["alice"], scene.people["frank"]

    async def lost_ban_and_mute():
        await database_sync_to_async(services.member_ban)(
            room_id=scene.room.pk, actor=alice, member_id=frank.pk, reason="spam"
        )
        await database_sync_to_async(services.mute_self)(room_id=scene.room.pk, actor=alice)

    back = await scene.outage(during=lost_ban_and_mute)
    removed = await scene.frank_socket.until("removed", timeout=RESUMES_WITHIN)
    assert removed["message"] == "You're no longer in this room."
    assert await scene.frank_socket.close_code(timeout=5) == Close.FORBIDDEN
    closed_at = time.monotonic() - back

    async def alice_silent() -> float:
        # The listeners' slots go quiet (the forwarder drops a non-publisher's packets).
        while scene.erin.arrived_since(time.monotonic() - 0.5):
            await asyncio.sleep(0.1)
        return time.monotonic() - back

    silent_at = await asyncio.wait_for(alice_silent(), RESUMES_WITHIN)
    print(
        f"\nRedis back: Frank removed after {closed_at:.2f} s, Alice silent after {silent_at:.2f} s"
    )
