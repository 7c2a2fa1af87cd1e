"""The fan-out benchmark's server process (`python -m media.bench.server`): one asyncio loop
with media.forwarder.MediaHub and one room ("pass-through"), or aiortc's ordinary path
(ordinary.py), answering the coordinator's requests."""

from __future__ import annotations

import asyncio
import gc
import os
import time

from media.bench import SPEAKER_BASE
from media.benchkit import HOST, RemoteError, child_channel, percentile, rss_kib, socket_drops

ROOM = 1


class _Monitor:
    """Event-loop lag and garbage-collector pauses of the server, between two marks."""

    LAG_INTERVAL = 0.02

    def __init__(self) -> None:
        self.lags: list[int] = []
        self.gc_counts = [0, 0, 0]
        self.gc_pause_ns = 0
        self.gc_max_ns = 0
        self._gc_start = 0
        gc.callbacks.append(self._gc)
        self._task = asyncio.ensure_future(self._watch_lag())

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
            return
        pause = time.perf_counter_ns() - self._gc_start
        self.gc_counts[info["generation"]] += 1
        self.gc_pause_ns += pause
        self.gc_max_ns = max(self.gc_max_ns, pause)

    async def _watch_lag(self) -> None:
        interval_ns = int(self.LAG_INTERVAL * 1e9)
        while True:
            start = time.monotonic_ns()
            await asyncio.sleep(self.LAG_INTERVAL)
            self.lags.append(time.monotonic_ns() - start - interval_ns)

    def take(self) -> dict:
        """What happened since the last take()."""
        result = {
            "lag_p99_ms": percentile(self.lags, 99) / 1e6,
            "lag_max_ms": max(self.lags, default=0) / 1e6,
            "gc_counts": list(self.gc_counts),
            "gc_pause_ms": self.gc_pause_ns / 1e6,
            "gc_max_ms": self.gc_max_ns / 1e6,
        }
        self.lags = []
        self.gc_counts = [0, 0, 0]
        self.gc_pause_ns = self.gc_max_ns = 0
        return result


class PassThroughServer:
    """media.forwarder.MediaHub with one room, and a timing wrapper around its forward()."""

    def __init__(self, speakers: int, listeners: int) -> None:
        from media.hub import MediaHub
        from media.ice import use_host_addresses

        use_host_addresses([HOST])
        self.hub = MediaHub(ice_servers=[], max_peers=max(2000, speakers + listeners + 10))
        self.room = self.hub.room(ROOM)
        self.speakers = set(range(SPEAKER_BASE, SPEAKER_BASE + speakers))
        # (slot index, outgoing RTP timestamp, speaker, speaker's RTP timestamp,
        #  forward() entered, forward() returned)
        self.forwarded: list[tuple[int, int, int, int, int, int]] = []
        self._wrap_forward()

    def _wrap_forward(self) -> None:
        room = self.room
        forward = room.forward
        forwarded = self.forwarded
        clock = time.monotonic_ns

        def timed_forward(peer, packet) -> None:
            start = clock()
            before = room.packets_in
            forward(peer, packet)
            if room.packets_in != before:
                slot = room.slot_of.get(peer.member_id)
                if slot is not None:
                    forwarded.append(
                        (
                            room.slots.index(slot),
                            slot.last_ts,
                            peer.member_id,
                            packet.timestamp,
                            start,
                            clock(),
                        )
                    )

        room.forward = timed_forward  # the receivers call peer.room.forward(...)

    async def attach(self, member: int, sdp: str, speaker: bool) -> str:
        return await self.hub.attach(ROOM, member, f"bench-{member}", sdp, publishing=speaker)

    def counters(self) -> dict:
        room = self.room
        ready = sum(
            1
            for group in room.targets.values()
            for peer in group
            if peer.member_id not in self.speakers
        )
        lost = sum(
            peer.stats.packets_lost
            for peer in room.peers.values()
            if peer.member_id in self.speakers
            and peer.stats is not None
            and peer.stats.packets_received
        )
        return {
            "packets_in": room.packets_in,
            "copies_out": room.copies_out,
            "ready": ready,
            "speaker_lost": lost,
        }

    def records(self) -> list[list[int | None]]:
        """Every packet forwarded: [slot, outgoing RTP timestamp, speaker, speaker's RTP
        timestamp, server receipt, fan-out start, fan-out end]. Receipt = forward() entered."""
        return [[s, ts, m, sts, t, t, done] for s, ts, m, sts, t, done in self.forwarded]

    def unit_costs(self) -> dict:
        return {}  # nothing is encoded


async def server_main() -> None:
    channel, config = await child_channel()
    loop = asyncio.get_running_loop()
    if config["mode"] == "pass-through":
        server = PassThroughServer(config["speakers"], config["listeners"])
    else:
        from media.bench.ordinary import OrdinaryServer

        server = OrdinaryServer(config["speakers"], config["listeners"])
    monitor = _Monitor()

    async def handle(message: dict) -> object:
        op = message["op"]
        if op == "attach":
            return await server.attach(message["member"], message["sdp"], message["speaker"])
        if op == "mark":
            own, other = socket_drops()
            return {
                "drops_server": own,
                "drops_other": other,
                "t_ns": time.monotonic_ns(),
                "cpu_ns": time.process_time_ns(),
                "rss_kib": rss_kib(),
                **server.counters(),
                **monitor.take(),
            }
        if op == "records":
            return server.records()
        if op == "unit_costs":
            return server.unit_costs()
        if op == "quit":
            loop.call_later(0.05, os._exit, 0)
            return True
        raise RemoteError(f"unknown op {op!r}")

    channel.handler = handle
    await channel.serve()  # stdin closed: the coordinator is gone
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(server_main())
