"""Podium's WebRTC forwarder. Knows nothing of Django: rooms/media_bridge.py drives it.

The API, all on the event loop of the process that owns the room:
    hub = MediaHub(ice_servers=..., max_peers=..., on_active_speakers=callback)
    answer_sdp = await hub.attach(room_id, member_id, token, offer_sdp, publishing=...)
    await hub.add_candidate(room_id, member_id, candidate)
    hub.set_publishing(room_id, member_id, allowed)
    await hub.detach(room_id, member_id, token)
    await hub.close_room(room_id)
"""

from media.errors import MediaError

__all__ = ["MediaError", "MediaHub"]


def __getattr__(name: str):
    # MediaHub is loaded on first use, so that importing media.benchkit (the benchmarks'
    # client processes) doesn't pull in aiortc.
    if name == "MediaHub":
        from media.hub import MediaHub

        return MediaHub
    raise AttributeError(f"module 'media' has no attribute {name!r}")
