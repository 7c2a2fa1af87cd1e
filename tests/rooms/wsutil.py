"""Helpers for driving the real room consumer with Channels' WebsocketCommunicator."""

import asyncio
import json

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from rooms.routing import websocket_urlpatterns

application = URLRouter(websocket_urlpatterns)


async def connect(member, room_id: int) -> tuple[WebsocketCommunicator, dict]:
    """Connect as `member`; return the communicator and the room.state it received."""
    comm = WebsocketCommunicator(application, f"/ws/rooms/{room_id}/")
    comm.scope["user"] = member
    connected, _ = await comm.connect()
    assert connected
    state = await comm.receive_json_from(timeout=3)
    assert state["type"] == "room.state", state
    return comm, state


async def refused(member, room_id: int) -> tuple[dict, int]:
    """Connect and expect an error then a close; return the error and the close code."""
    comm = WebsocketCommunicator(application, f"/ws/rooms/{room_id}/")
    comm.scope["user"] = member
    connected, _ = await comm.connect()
    assert connected
    error = await comm.receive_json_from(timeout=3)
    closed = await comm.receive_output(timeout=3)
    assert closed["type"] == "websocket.close", closed
    await comm.wait()
    return error, closed.get("code")


async def send(comm: WebsocketCommunicator, type_: str, **fields) -> None:
    await comm.send_json_to({"type": type_, **fields})


async def until(comm: WebsocketCommunicator, type_: str, timeout: float = 3) -> dict:
    """Read events until one of `type_` arrives; fail if it doesn't within `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        assert left > 0, f"no {type_} within {timeout}s"
        event = await comm.receive_json_from(timeout=left)
        if event["type"] == type_:
            return event


async def drain(comm: WebsocketCommunicator, wait: float = 0.2) -> list[dict]:
    """Everything that arrives within `wait` seconds."""
    events = []
    while not await comm.receive_nothing(timeout=wait):
        output = await comm.receive_output()
        if output["type"] == "websocket.send":
            events.append(json.loads(output["text"]))
    return events


async def close_code(comm: WebsocketCommunicator, timeout: float = 3) -> int:
    """Skip any events still in flight and return the code the server closed with."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        assert left > 0, f"not closed within {timeout}s"
        output = await comm.receive_output(timeout=left)
        if output["type"] == "websocket.close":
            return output.get("code")


async def join_audio(comm: WebsocketCommunicator, browser):
    """Offer `browser`'s peer connection (tests.media.peers.Browser) over the socket, as
    room.js does once per socket, and wait until it connects; returns the browser."""
    await send(comm, "rtc.offer", sdp=await browser.offer())
    answer = await until(comm, "rtc.answer", timeout=10)
    await browser.accept(answer["sdp"])
    await browser.connected()
    return browser
