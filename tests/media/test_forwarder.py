"""The forwarder with real aiortc peers on loopback: no mocks, no browser."""

import asyncio

import pytest

from media.forwarder import MediaHub
from tests.media.peers import Browser, loopback_only

pytestmark = pytest.mark.asyncio

ROOM = 7


@pytest.fixture
def hub(monkeypatch):
    loopback_only(monkeypatch)
    return MediaHub(ice_servers=[])


async def join(hub, member_id, browser, *, publishing=False):
    answer = await hub.attach(ROOM, member_id, f"socket-{member_id}", await browser.offer(),
                              publishing=publishing)
    await browser.accept(answer)
    await browser.connected()
    return browser


async def test_a_listener_hears_the_speakers_tone(hub):
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    listener = await join(hub, 2, Browser())
    try:
        frequency = await listener.hear(slot=0)
        assert frequency == pytest.approx(440, abs=15)
    finally:
        await hub.close_room(ROOM)
        await speaker.close()
        await listener.close()
