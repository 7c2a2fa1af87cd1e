"""A member's browser against a node, as room.js does it: the room socket (a real websocket
with the Origin and session cookie a browser sends) and one aiortc peer connection offered
over it (tests/media/peers.py), whose listener side records every RTP arrival."""

from __future__ import annotations

import asyncio
import json
import time

import websockets
from django.test import Client
from websockets.asyncio.client import connect

from tests.cluster.nodes import Node
from tests.media.peers import Browser, within

TONE_TOLERANCE = 15  # Hz


def session_cookie(member) -> str:
    """A signed-in session for the member, valid on every node (same SECRET_KEY and DB).
    Synchronous: call through database_sync_to_async from a test."""
    client = Client()
    client.force_login(member)
    return client.cookies["sessionid"].value


class RoomSocket:
    """/ws/rooms/<id>/ on one node. Events are read in the background; `until` waits for
    one of a type (skipping others, as tests/rooms/wsutil.until does)."""

    def __init__(self, ws, node: Node) -> None:
        self.ws = ws
        self.node = node
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.ensure_future(self._read())
        self.state: dict = {}

    @classmethod
    async def open(cls, node: Node, room_id: int, session: str) -> RoomSocket:
        ws = await connect(
            node.ws_url(room_id),
            origin=node.origin,
            additional_headers={"Cookie": f"sessionid={session}"},
            proxy=None,
            open_timeout=10,
            close_timeout=2,
        )
        sock = cls(ws, node)
        sock.state = await sock.until("room.state", timeout=10)
        return sock

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                self.events.put_nowait(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(self.ws.close_code)

    async def send(self, type_: str, **fields) -> None:
        await self.ws.send(json.dumps({"type": type_, **fields}))

    async def until(self, type_: str, *, timeout: float = 5, where=None) -> dict:
        """The next event of `type_` (and matching `where(event)`, if given)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            assert left > 0, f"no {type_} on node {self.node.id} within {timeout} s"
            try:
                event = await asyncio.wait_for(self.events.get(), timeout=left)
            except TimeoutError:
                continue
            if event["type"] == type_ and (where is None or where(event)):
                return event

    async def close_code(self, timeout: float = 10) -> int | None:
        return await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


class Peer(Browser):
    """A browser's peer connection that also records when each RTP packet arrived on each
    receive slot, and still decodes (so `hears` can tell the tone)."""

    def __init__(self, tone: float | None = None) -> None:
        super().__init__(tone=tone)
        self.arrivals: list[tuple[float, int]] = []  # (time.monotonic(), slot)
        for index, transceiver in enumerate(self.slots):
            receiver = transceiver.receiver
            original = receiver._handle_rtp_packet

            async def handle(packet, arrival_time_ms, index=index, original=original):
                self.arrivals.append((time.monotonic(), index))
                await original(packet, arrival_time_ms)

            receiver._handle_rtp_packet = handle

    async def join(self, sock: RoomSocket) -> Peer:
        """Offer over the socket, as room.js does once per socket, and connect."""
        await sock.send("rtc.offer", sdp=await self.offer())
        answer = await sock.until("rtc.answer", timeout=10)
        await self.accept(answer["sdp"])
        await self.connected(timeout=15)
        return self

    def arrived_since(self, since: float) -> list[float]:
        return [at for at, _ in self.arrivals if at > since]

    def active_slots(self, window: float = 0.5) -> list[int]:
        """The slots that received packets in the last `window` seconds."""
        return sorted({slot for at, slot in self.arrivals if at > time.monotonic() - window})

    async def packets_flow(self, *, count: int = 10, timeout: float = 10) -> None:
        """Wait until `count` packets have arrived from now on."""
        since = time.monotonic()
        deadline = since + timeout
        while len(self.arrived_since(since)) < count:
            assert time.monotonic() < deadline, f"fewer than {count} packets in {timeout} s"
            await asyncio.sleep(0.05)

    async def hears(self, frequency: float, *, timeout: float = 15) -> float:
        """Wait until one of the slots carrying audio decodes to `frequency`; return it, or
        the last thing heard (the caller asserts). Frames decoded before each try are
        dropped, so an earlier speaker's tone isn't mistaken for the current one."""
        deadline = time.monotonic() + timeout
        heard = 0.0
        while time.monotonic() < deadline:
            slots = self.active_slots()
            if not slots:
                await asyncio.sleep(0.05)
            for slot in slots:
                track = self.slots[slot].receiver.track
                while not track._queue.empty():
                    track._queue.get_nowait()
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    heard = await self.hear(slot, seconds=0.4, timeout=left)
                except (AssertionError, TimeoutError):
                    continue
                if abs(heard - frequency) <= TONE_TOLERANCE:
                    return heard
        return heard

    async def close(self) -> None:
        await within(self.pc.close())
