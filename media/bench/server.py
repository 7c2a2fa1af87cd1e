"""The fan-out benchmark's server process (`python -m media.bench.server`): one asyncio loop
with media.forwarder.MediaHub and one room ("pass-through"), or aiortc's ordinary path
(ordinary.py), answering the coordinator's requests. With --nodes N there are N of these
pass-through servers, each one node with a media.relay.Relay on 127.0.0.1, wired to the
others by the coordinator (no Redis): see RelayMeter and the "wire" request."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from pathlib import Path

from media.bench import SPEAKER_BASE
from media.benchkit import (
    HOST,
    RemoteError,
    child_channel,
    percentile,
    proc_cpu_s,
    rss_kib,
    socket_drops,
)

log = logging.getLogger(__name__)

ROOM = 1
WARM_UP_ROOM, WARM_UP_MEMBER = 2, 999_999  # a follower's throwaway connection (warm_up)


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


class RelayMeter:
    """This node's media.relay.Relay, and the CPU (this thread's, time.thread_time_ns) it
    spends: sending (Relay.send: encode, MAC, one sendto per destination) and receiving
    (asyncio's recvfrom on the relay socket, the MAC check and decoding; the fan-out of the
    relayed packet, in on_packet, is timed apart and left out)."""

    def __init__(self, secret: str, on_packet) -> None:
        from media.relay import Relay

        self.relay = Relay(secret.encode(), self._timed_on_packet)
        self._on_packet = on_packet
        self.send_ns = 0
        self.receive_ns = 0  # the whole read, fan-out included
        self.fan_out_ns = 0  # the part of receive_ns spent in on_packet
        self.last_packet = None  # the last one relayed, for unit_costs()
        send = self.relay.send
        cpu = time.thread_time_ns

        def timed_send(room_id, member_id, packet, to) -> None:
            start = cpu()
            send(room_id, member_id, packet, to)
            self.send_ns += cpu() - start
            self.last_packet = packet

        self.relay.send = timed_send  # the forwarder calls hub.relay.send(...)

    def _timed_on_packet(self, room_id, member_id, packet) -> None:
        self.last_packet = packet
        start = time.thread_time_ns()
        try:
            self._on_packet(room_id, member_id, packet)
        finally:
            self.fan_out_ns += time.thread_time_ns() - start

    async def start(self) -> tuple[str, int]:
        address = await self.relay.start(HOST, 0)
        # Time asyncio's whole read of the relay socket (recvfrom included): put a timed
        # callback in place of the transport's reader (private: asyncio's selector loop).
        transport = self.relay._transport
        loop = asyncio.get_running_loop()
        read = transport._read_ready
        cpu = time.thread_time_ns

        def timed_read() -> None:
            start = cpu()
            read()
            self.receive_ns += cpu() - start

        loop._add_reader(transport._sock_fd, timed_read)
        return address

    def unit_costs(self, rounds: int = 500) -> dict:
        """The relay's steps timed in a loop, hot (in the run each datagram comes 20 ms after
        the last, when this machine's caches have gone cold): encode with the MAC, sendto
        (to a socket of this process that reads nothing), and the receiver's MAC check and
        decode, on the last packet relayed."""
        import socket

        from media.relay import RelayStats, decode, encode

        packet = self.last_packet
        if packet is None:
            return {}
        secret = self.relay.secret
        cpu = time.thread_time_ns
        now = int(time.time() * 1000)
        start = cpu()
        for _ in range(rounds):
            data = encode(secret, ROOM, SPEAKER_BASE, packet, now)
        encode_ns = cpu() - start
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
            sink.bind((HOST, 0))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
                address = sink.getsockname()
                start = cpu()
                for _ in range(rounds):
                    out.sendto(data, address)
                sendto_ns = cpu() - start
        stats = RelayStats()
        start = cpu()
        for _ in range(rounds):
            decode(secret, data, now, stats)
        decode_ns = cpu() - start
        return {
            "bytes": len(data),
            "encode_us": encode_ns / rounds / 1000,
            "sendto_us": sendto_ns / rounds / 1000,
            "decode_us": decode_ns / rounds / 1000,
        }

    def counters(self) -> dict:
        return {
            "relay": self.relay.stats.as_dict(),
            "relay_send_ns": self.send_ns,
            "relay_receive_ns": self.receive_ns - self.fan_out_ns,
        }


class PassThroughServer:
    """media.forwarder.MediaHub with one room, and a timing wrapper around its forward()."""

    def __init__(self, speakers: int, listeners: int, notify=None) -> None:
        from media.hub import MediaHub
        from media.ice import use_host_addresses

        use_host_addresses([HOST])
        self.hub = MediaHub(
            ice_servers=[],
            max_peers=max(2000, speakers + listeners + 10),
            on_choice=self._on_choice,
        )
        self.notify = notify  # a request to the coordinator (the brain's choice)
        self.meter: RelayMeter | None = None
        self.room = self.hub.room(ROOM)
        self.speakers = set(range(SPEAKER_BASE, SPEAKER_BASE + speakers))
        # (slot index, outgoing RTP timestamp, speaker, speaker's RTP timestamp,
        #  forward() entered, forward() returned)
        self.forwarded: list[tuple[int, int, int, int, int, int]] = []
        self._wrap_forward()
        self.recorder = None  # with --taps (add_taps)
        self.captions = None
        self.captions_heard = 0

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

    def add_taps(self) -> None:
        """Record every speaker and caption them, as a recorded, captioned room does."""
        import tempfile

        from media.captions import CaptionService
        from media.recorder import RoomRecorder

        def heard(room_id, member_id, text, final) -> None:
            self.captions_heard += 1

        self.recorder = RoomRecorder(
            Path(tempfile.mkdtemp(prefix="bench-recorder-")), members=self.speakers
        )
        self.captions = CaptionService(
            on_caption=heard,
            on_failure=lambda room_id, message: log.warning("captions: %s", message),
            loop=asyncio.get_running_loop(),
        )
        self.hub.set_tap(ROOM, "recorder", self.recorder)
        self.hub.set_tap(ROOM, "captions", self.captions.feed(ROOM))

    async def attach(self, member: int, sdp: str, speaker: bool) -> str:
        return await self.hub.attach(ROOM, member, f"bench-{member}", sdp, publishing=speaker)

    async def start_relay(self, secret: str) -> list:
        self.meter = RelayMeter(secret, self.hub.on_relayed)
        self.hub.relay = self.meter.relay
        return list(await self.meter.start())

    async def warm_up(self) -> bool:
        """Node 1 has made the speakers' connections before its listeners come; a follower
        has made none. So that memory per listener compares, a follower first makes one
        connection to a room of its own from inside this process, then drops it (imports,
        the hub's DTLS certificate, first-use allocations stay). True if it connected."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        from media.forwarder import K_SLOTS

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("audio", direction="sendonly")
        for _ in range(K_SLOTS):
            pc.addTransceiver("audio", direction="recvonly")
        state = asyncio.get_running_loop().create_future()

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("connected", "failed", "closed") and not state.done():
                state.set_result(pc.connectionState)

        try:
            await pc.setLocalDescription(await pc.createOffer())
            answer = await self.hub.attach(
                WARM_UP_ROOM, WARM_UP_MEMBER, "warm-up", pc.localDescription.sdp, publishing=True
            )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            reached = await asyncio.wait_for(state, 20)
        finally:
            await self.hub.detach(WARM_UP_ROOM, WARM_UP_MEMBER)
            await pc.close()
        return reached == "connected"

    def wire(self, others: list, brain: bool, publishing: list[int]) -> None:
        """What rooms.cluster's agent does from Redis, given directly: accept the other
        nodes' relays, send this room's local speakers to them, be the brain or follow it,
        and let the speakers publish (a speaker attached here publishes from its attach)."""
        addresses = [tuple(a) for a in others]
        self.meter.relay.allow(addresses)
        self.room.destinations = tuple(addresses)
        self.room.brain = brain
        for member in publishing:
            self.hub.set_publishing(ROOM, member, True)

    def _on_choice(self, room_id: int, audible: frozenset[int]) -> None:
        """The brain chose who is heard: tell the coordinator, which tells the followers."""
        if self.notify is not None:
            self.hub.spawn(self.notify("choice", audible=sorted(audible)))

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
            "relayed_in": room.packets_relayed_in,
            **(self.meter.counters() if self.meter is not None else {}),
            **self._tap_counters(),
        }

    def _tap_counters(self) -> dict:
        if self.recorder is None:
            return {}
        pid = self.captions.pid
        return {
            "taps_recorder_dropped": self.recorder.dropped,
            "taps_captions_dropped": self.captions.dropped,
            "taps_captions_heard": self.captions_heard,
            "taps_caption_cpu_ns": int(proc_cpu_s(pid) * 1e9) if pid else 0,
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

        async def notify(op: str, **fields) -> None:
            with contextlib.suppress(Exception):
                await channel.request(op, 10, **fields)

        server = PassThroughServer(
            config["speakers"], config["listeners"], notify if config.get("nodes", 1) > 1 else None
        )
        if config.get("taps"):
            server.add_taps()
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
        if op == "start_relay":
            return await server.start_relay(message["secret"])
        if op == "warm_up":
            return await server.warm_up()
        if op == "relay_unit_costs":
            return server.meter.unit_costs() if server.meter is not None else {}
        if op == "wire":
            server.wire(message["others"], message["brain"], message["publishing"])
            return True
        if op == "choice":
            server.room.set_choice(frozenset(message["audible"]))
            return True
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
