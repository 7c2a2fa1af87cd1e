"""The server is the authority over audio whatever the timing: a mute, demotion or ban
(set_publishing False) that arrives while a member's connection is being set up, or while
the caller was still reading the member's right, must hold the moment the peer is stored.
Real aiortc peers on loopback, with ICE set-up slowed to what a real STUN server costs."""

import asyncio
import random

import pytest
from aiortc import RTCPeerConnection

from media.hub import MediaHub
from tests.media.peers import Browser, loopback_only, within
from tests.media.test_forwarder import ROOM

pytestmark = pytest.mark.asyncio

SPEAKER, LISTENER = 1, 2


@pytest.fixture
def hub(monkeypatch):
    loopback_only(monkeypatch)
    real = RTCPeerConnection.setRemoteDescription

    async def slow(self, description):
        await asyncio.sleep(0.15)  # gathering against a real STUN server takes this long
        return await real(self, description)

    monkeypatch.setattr(RTCPeerConnection, "setRemoteDescription", slow)
    return MediaHub(ice_servers=[])


class Truth:
    """What the rooms app last decided for the speaker, and every packet the forwarder let
    through with what the truth was at that moment."""

    def __init__(self, hub, initial: bool) -> None:
        self.hub = hub
        self.allowed = initial
        self.violations: list[float] = []
        self.forwarded = 0
        self.watched: set[int] = set()

    def decide(self, allowed: bool) -> None:
        self.allowed = allowed
        self.hub.set_publishing(ROOM, SPEAKER, allowed)

    def watch(self, room) -> None:
        if id(room) in self.watched:
            return
        self.watched.add(id(room))
        real = room.forward

        def forward(peer, packet):
            before = room.packets_in
            real(peer, packet)
            if room.packets_in > before and peer.member_id == SPEAKER:
                self.forwarded += 1
                if not self.allowed:
                    self.violations.append(asyncio.get_running_loop().time())

        room.forward = forward


async def attach(hub, browser, member, publishing, as_of=None):
    offer = await browser.offer()
    answer = await hub.attach(
        ROOM, member, f"socket-{member}", offer, publishing=publishing, as_of=as_of
    )
    await browser.accept(answer)
    return browser


async def test_a_mute_during_set_up_holds_the_moment_the_peer_is_stored(hub):
    listener = await attach(hub, Browser(), LISTENER, False)
    speaker = Browser(tone=440)
    try:
        truth = Truth(hub, True)
        truth.watch(hub.room(ROOM))
        offer = await speaker.offer()
        task = asyncio.ensure_future(
            hub.attach(ROOM, SPEAKER, "s", offer, publishing=True)  # read: may publish
        )
        await asyncio.sleep(0.05)  # inside the slow ICE set-up
        assert SPEAKER not in hub.rooms[ROOM].peers
        truth.decide(False)  # muted before the peer exists
        await speaker.accept(await within(task))
        await speaker.connected()
        await listener.connected()
        assert hub.rooms[ROOM].peers[SPEAKER].publishing is False
        listener.count_packets()
        await asyncio.sleep(1.0)
        assert sum(len(p) for p in listener.packets.values()) == 0
        assert truth.violations == [] and truth.forwarded == 0
        truth.decide(True)  # and unmuted: heard again
        await asyncio.sleep(1.0)
        assert sum(len(p) for p in listener.packets.values()) > 20
    finally:
        await within(hub.close_room(ROOM))
        await speaker.close()
        await listener.close()


async def test_a_change_between_the_callers_read_and_attach_wins(hub):
    """The consumer takes hub.mark() before reading the right from the database; a
    demotion committed during that read reaches the hub before attach() is called."""
    listener = await attach(hub, Browser(), LISTENER, False)
    speaker = Browser(tone=440)
    try:
        mark = hub.mark()
        hub.set_publishing(ROOM, SPEAKER, False)  # committed while the caller read "True"
        await attach(hub, speaker, SPEAKER, True, as_of=mark)
        assert hub.rooms[ROOM].peers[SPEAKER].publishing is False
        # A read taken after the change is current: it stands.
        other = Browser(tone=440)
        await attach(hub, other, SPEAKER, True, as_of=hub.mark())
        await speaker.close()
        speaker = other
        assert hub.rooms[ROOM].peers[SPEAKER].publishing is True
    finally:
        await within(hub.close_room(ROOM))
        await speaker.close()
        await listener.close()


@pytest.mark.parametrize("seed", range(6))
async def test_mutes_demotions_and_bans_raced_against_re_offers(hub, seed):
    """Random decisions at random moments while the speaker offers, re-offers (as a
    reconnecting browser does) and connects: no packet of theirs is forwarded while the
    latest decision says no, and at the end the stored peer has the latest decision."""
    rng = random.Random(seed)
    listener = await attach(hub, Browser(), LISTENER, False)
    browsers = []
    try:
        truth = Truth(hub, rng.random() < 0.5)
        hub.room(ROOM)

        async def decide_at_random():
            for _ in range(rng.randint(3, 8)):
                await asyncio.sleep(rng.uniform(0, 0.3))
                truth.decide(rng.random() < 0.5)

        decisions = asyncio.ensure_future(decide_at_random())
        for _ in range(rng.randint(1, 3)):  # offers and re-offers
            browser = Browser(tone=440)
            browsers.append(browser)
            read = truth.allowed  # what the caller's database read says now...
            mark = hub.mark()
            await asyncio.sleep(rng.uniform(0, 0.05))  # ...and the read takes a while
            await attach(hub, browser, SPEAKER, read, as_of=mark)
            truth.watch(hub.rooms[ROOM])
            await asyncio.sleep(rng.uniform(0, 0.4))
        await within(decisions)
        await browsers[-1].connected()
        await asyncio.sleep(0.6)
        room = hub.rooms[ROOM]
        truth.watch(room)
        assert room.peers[SPEAKER].publishing is truth.allowed
        assert truth.violations == []
        final = truth.forwarded
        await asyncio.sleep(0.6)
        if truth.allowed:
            assert truth.forwarded > final  # allowed at the end: heard
        else:
            assert truth.forwarded == final
        assert truth.violations == []
    finally:
        await within(hub.close_room(ROOM))
        for browser in browsers:
            await browser.close()
        await listener.close()
