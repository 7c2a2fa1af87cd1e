"""The rooms app's door to the forwarder (media/), which knows nothing of Django.

One MediaHub per process, made on first use on the server's event loop from settings.
Services call the *_soon functions from their on-commit hooks (sync threads); those hop
onto the event loop (rooms.eventloop), where all aiortc work happens.
"""

import asyncio
import logging
import time

from django.conf import settings

from media import MediaHub
from media.ice import use_host_addresses
from rooms import broadcast, eventloop

log = logging.getLogger(__name__)

# speakers.active goes out at most this often per room (audio levels arrive at 50 Hz).
ACTIVE_SPEAKERS_INTERVAL = 0.25

_hub: MediaHub | None = None
_loop: asyncio.AbstractEventLoop | None = None
_last_active: dict[int, float] = {}


def hub() -> MediaHub:
    """The process's forwarder; call on the event loop."""
    global _hub, _loop
    loop = asyncio.get_running_loop()
    if _hub is None or _loop is not loop:
        use_host_addresses(settings.MEDIA_HOST_ADDRESSES)
        _hub = MediaHub(
            ice_servers=settings.ICE_SERVERS,
            max_peers=settings.MEDIA_MAX_PEERS,
            on_active_speakers=_on_active_speakers,
        )
        _loop = loop
        eventloop.bind(loop)
    return _hub


def _on_active_speakers(room_id: int, members: list[int]) -> None:
    now = time.monotonic()
    if members and now - _last_active.get(room_id, 0.0) < ACTIVE_SPEAKERS_INTERVAL:
        return
    _last_active[room_id] = now
    broadcast.speakers_active(room_id, members)


def _soon(callback) -> None:
    """Run `callback()` on the hub's loop, from any thread; a no-op without a hub."""
    if _hub is not None and _loop is eventloop.current():
        eventloop.call_soon(callback)


def publishing_soon(room_id: int, member_id: int, allowed: bool) -> None:
    """Role or mute changed: the forwarder starts or stops forwarding at the next packet."""
    _soon(lambda: _hub.set_publishing(room_id, member_id, allowed))


def detach_soon(room_id: int, member_id: int) -> None:
    _soon(lambda: eventloop.spawn(_hub.detach(room_id, member_id)))


def close_room_soon(room_id: int) -> None:
    _soon(lambda: eventloop.spawn(_hub.close_room(room_id)))


def media_plan_soon(room_id: int) -> None:
    """The room's recording, consent or captions changed: its recorder and caption feed
    here follow (rooms.recordings.live). From on-commit hooks; a no-op without a loop."""
    from rooms.recordings import live

    live.refresh_soon(room_id)
