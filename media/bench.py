"""Fan-out benchmark of the pass-through forwarder against aiortc's ordinary path.

Driven by `python manage.py bench_fanout` (rooms/management/commands/bench_fanout.py), which
only parses options and prints the report; nothing here imports Django.

Processes, all on one machine and on 127.0.0.1 only:

- the coordinator (the manage.py process): starts the others, relays offers and answers,
  opens and closes the measurement windows and writes the report; idle while measuring;
- one server process (`python -m media.bench server`) with its own asyncio loop: either
  media.forwarder.MediaHub with one room ("pass-through"), or aiortc's ordinary path
  ("ordinary": the speaker's track decoded by RTCRtpReceiver, aiortc.contrib.media.MediaRelay,
  and one RTCRtpSender, so one Opus encoder, per listener);
- one speaker process (`python -m media.bench client`): the speakers, aiortc peers that
  send a real Opus-encoded tone, paced like a browser's microphone;
- K listener processes (`python -m media.bench client`, at a lower CPU priority, --client-nice)
  each one asyncio loop with its share of the listeners' RTCPeerConnections. They offer like
  room.js (one sendonly microphone transceiver, then K_SLOTS recvonly slots) and count
  packets without decoding: by default each slot receiver's `_handle_rtp_packet` is replaced
  by a function that records (slot, RTP timestamp, arrival time); with --listener-hook
  socket the same is recorded straight off the ICE socket after SRTP (`_count_at_socket`),
  for machines where aiortc's receive path can't keep up with the listeners' share.

Coordinator and children talk over the children's stdin and stdout, one JSON object per line
(`Channel`). Times are time.monotonic_ns(), CLOCK_MONOTONIC, one clock for every process.

What is measured, per server mode, in a steady window of --seconds after a warm-up:

- server CPU per packet-copy: time.process_time_ns() of the server process (all its threads)
  over the window, divided by the copies it sent in the window (RoomForwarder.copies_out, or
  the RTP packets counted by the listeners' RTCRtpSenders). The idle cost of the connected
  listeners (RTCP, consent checks), measured before the speakers start, is included; the
  figure net of idle is reported too.
- delivery: every RTP packet the speakers sent in the window (their DTLS transports'
  `_send_rtp` is timed) x the listeners that connected; a copy counts if it reached the
  listener before the coordinator stops waiting (at least --grace-seconds after the window,
  then until nothing more arrives, at most --drain-limit). Packets are matched through the
  server's records of what it forwarded (slot, outgoing RTP timestamp).
- fan-out spread of one packet: latest minus earliest arrival of the same packet across the
  listeners, p50/p99 over packets; end-to-end delay, listener arrival minus the speaker's
  send, p50/p99 over copies, split into speaker -> server and server -> listener.
- memory per listener: server VmRSS after the speakers connected and before the listeners
  attach, against VmRSS once all listeners are connected, divided by the listeners.

How packets are identified. Pass-through: RoomForwarder.forward is wrapped on the room
instance (in the server process only) to note each forwarded packet's slot, outgoing RTP
timestamp, speaker and speaker's RTP timestamp, and when forward() started and returned.
Ordinary path: the speaker's decoded track is wrapped (the time each decoded frame reaches
MediaRelay), and the listeners' senders stamp each packet with the decoded frame's pts and
no random timestamp origin (`FramePtsOpusEncoder`, and `uint32_add` in aiortc.rtcrtpsender),
so that the same frame has the same RTP timestamp at every listener. The work per copy is
unchanged: aiortc's audio level, resample, Opus encode, RTP serialise, SRTP and send, per
listener and frame.

Everything is bounded: every request has a timeout, children exit when their stdin closes
or their own deadline passes, and the coordinator kills them on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import gc
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"  # every socket of the benchmark is on this address
ROOM = 1
SPEAKER_BASE = 1  # member ids 1..S are the speakers
LISTENER_BASE = 1001  # member ids 1001.. are the listeners
TONES = (440, 660, 880, 550, 770, 990)  # whole Hz: one second of samples loops seamlessly
RATE = 48_000
FRAME = 960
LINE_LIMIT = 1 << 28  # the largest JSON line a channel accepts
CONNECT_TIMEOUT = 30.0  # one peer connection: offer sent -> connected
REQUEST_TIMEOUT = 90.0  # one offer/answer round trip through the coordinator
ROOT = Path(__file__).resolve().parent.parent  # the directory holding the media package


# --- Options and small helpers ---------------------------------------------------------------


@dataclass
class Options:
    listeners: int = 500
    speakers: int = 1
    seconds: float = 20.0
    baseline: bool = True
    baseline_listeners: int = 5
    processes: int = 4
    concurrency: int = 8  # connection set-ups in flight per listener process
    idle_seconds: float = 3.0
    warmup_seconds: float = 2.0
    grace_seconds: float = 1.5
    drain_limit: float = 30.0  # at most this long after the window for late arrivals
    client_nice: int = 10  # listener processes yield the CPU to the server
    listener_hook: str = "receiver"  # where listeners count packets: receiver or socket
    keep_logs: bool = False
    command: str = ""


class BenchError(Exception):
    """The benchmark could not run to the end; the message says where."""


class RemoteError(Exception):
    """A request failed in the other process."""


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def socket_drops(pid: int | str = "self") -> tuple[int, int]:
    """Datagrams the kernel dropped (full receive buffer) on UDP sockets: (this process's
    sockets, every other socket on the machine), from the drops column of /proc/net/udp."""
    mine: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                mine.add(target[8:-1])
    own = other = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 13:
                    if fields[9] in mine:
                        own += int(fields[-1])
                    else:
                        other += int(fields[-1])
    return own, other


# --- A JSON-lines channel over a pair of pipes ------------------------------------------------


class Channel:
    """Requests and replies both ways over one reader and one writer.

    A request is {"id": n, "op": ..., ...}; its reply is {"re": n, "ok": result} or
    {"re": n, "error": "..."}. Incoming requests run concurrently, each in its own task.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        write: Callable[[bytes], Awaitable[None]],
        handler: Callable[[dict], Awaitable[object]] | None = None,
    ) -> None:
        self.reader = reader
        self._write = write
        self.handler = handler
        self._next = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self.closed = asyncio.Event()

    async def send(self, message: dict) -> None:
        await self._write((json.dumps(message, separators=(",", ":")) + "\n").encode())

    async def request(self, op: str, wait: float, /, **fields) -> object:
        self._next += 1
        rid = self._next
        future = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            await self.send({"id": rid, "op": op, **fields})
            return await asyncio.wait_for(future, wait)
        except TimeoutError:
            raise BenchError(f"no reply to {op!r} within {wait:.0f} s") from None
        finally:
            self._waiting.pop(rid, None)

    async def serve(self) -> None:
        """Read until the other end closes; then fail every request still waiting."""
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    break
                message = json.loads(line)
                if "re" in message:
                    future = self._waiting.get(message["re"])
                    if future is not None and not future.done():
                        if "error" in message:
                            future.set_exception(RemoteError(message["error"]))
                        else:
                            future.set_result(message.get("ok"))
                else:
                    task = asyncio.ensure_future(self._answer(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            self.closed.set()
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(BenchError("the other process went away"))

    async def _answer(self, message: dict) -> None:
        try:
            if self.handler is None:
                raise RemoteError("this end takes no requests")
            reply = {"re": message["id"], "ok": await self.handler(message)}
        except Exception as exc:
            reply = {"re": message["id"], "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(Exception):
            await self.send(reply)


async def _child_channel(handler: Callable[[dict], Awaitable[object]]) -> Channel:
    """The child's end: requests on stdin, replies on the real stdout. File descriptor 1
    is pointed at stderr so that nothing else can write into the protocol."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)

    async def write(data: bytes) -> None:
        out.write(data)  # blocking, and fine: the coordinator is always reading
        out.flush()

    return Channel(reader, write, handler)


# --- Server process -------------------------------------------------------------------------


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
            "lag_p99_ms": percentile(self.lags, 99) / 1e6 if self.lags else 0.0,
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
        from media.forwarder import MediaHub
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


def _ordinary_classes():
    """The aiortc pieces of the ordinary path, made on demand: the server process of the
    pass-through never imports MediaRelay or the Opus encoder."""
    from aiortc.codecs.opus import OpusEncoder
    from aiortc.mediastreams import MediaStreamTrack

    class FramePtsOpusEncoder(OpusEncoder):
        """aiortc's Opus encoder; only the timestamp it reports is the frame's pts, the same
        for every listener, instead of a count since this encoder's first packet."""

        def encode(self, frame, force_keyframe: bool = False):
            payloads, _ = super().encode(frame, force_keyframe)
            return payloads, (frame.pts if payloads else None)

    class Tap(MediaStreamTrack):
        """The speaker's decoded track, noting when each frame reaches MediaRelay."""

        kind = "audio"

        def __init__(self, source, slot: int, frames: list) -> None:
            super().__init__()
            self._source = source
            self._slot = slot
            self._frames = frames

        async def recv(self):
            frame = await self._source.recv()
            self._frames.append((self._slot, frame.pts, time.monotonic_ns()))
            self.last = frame
            return frame

    return FramePtsOpusEncoder, Tap


class OrdinaryServer:
    """aiortc's ordinary path: decode the speaker once (RTCRtpReceiver's jitter buffer and
    decoder thread), MediaRelay, and one RTCRtpSender with its own Opus encoder per listener
    (relay.subscribe(track) on the listener's slot transceiver)."""

    def __init__(self, speakers: int, listeners: int) -> None:
        import aiortc.rtcrtpsender as sender_module
        from aiortc.contrib.media import MediaRelay

        from media.ice import use_host_addresses

        use_host_addresses([HOST])
        encoder_class, self._tap_class = _ordinary_classes()
        self._encoder_class = encoder_class
        get_encoder = sender_module.get_encoder

        def get_pts_encoder(codec):
            if codec.mimeType.lower() == "audio/opus":
                return encoder_class()
            return get_encoder(codec)

        # Same work per copy; the RTP timestamp becomes the frame's pts at every listener.
        sender_module.get_encoder = get_pts_encoder
        sender_module.uint32_add = lambda origin, timestamp: timestamp & 0xFFFFFFFF
        self.relay = MediaRelay()
        self.taps: list = []
        self.speaker_receivers: list = []
        self.arrivals: list[tuple[int, int, int]] = []  # (slot, speaker's RTP ts, time)
        self.frames: list[tuple[int, int, int]] = []  # (slot, decoded pts, time)
        self.listener_pcs: list = []
        self.listener_senders: list = []
        self.pcs: dict[int, object] = {}

    async def attach(self, member: int, sdp: str, speaker: bool) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[member] = pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        mic, *slots = pc.getTransceivers()
        if speaker:
            index = len(self.taps)
            mic.direction = "recvonly"
            for transceiver in slots:
                transceiver.direction = "inactive"
            self._time_arrivals(mic.receiver, index)
            self.taps.append(self._tap_class(mic.receiver.track, index, self.frames))
            self.speaker_receivers.append(mic.receiver)
        else:
            mic.direction = "inactive"
            for index, transceiver in enumerate(slots):
                if index < len(self.taps):
                    transceiver.direction = "sendonly"
                    transceiver.sender.replaceTrack(self.relay.subscribe(self.taps[index]))
                    self.listener_senders.append(transceiver.sender)
                else:
                    transceiver.direction = "inactive"
            self.listener_pcs.append(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    def _time_arrivals(self, receiver, slot: int) -> None:
        handle = receiver._handle_rtp_packet
        arrivals = self.arrivals

        async def timed(packet, arrival_time_ms: int) -> None:
            arrivals.append((slot, packet.timestamp, time.monotonic_ns()))
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = timed

    def counters(self) -> dict:
        return {
            "packets_in": len(self.arrivals),
            # private: RTCRtpSender's count of the RTP packets it sent
            "copies_out": sum(s._RTCRtpSender__packet_count for s in self.listener_senders),
            "ready": sum(pc.connectionState == "connected" for pc in self.listener_pcs),
            "speaker_lost": sum(
                stream.packets_lost
                for r in self.speaker_receivers
                for stream in r._RTCRtpReceiver__remote_streams.values()  # private
            ),
        }

    def unit_costs(self) -> dict:
        """CPU of the two big steps per copy, timed on a decoded frame of the run: aiortc's
        RFC 6464 level (computed by RTCRtpSender on every frame it encodes) and the Opus
        encode itself."""
        from aiortc.rtp import compute_audio_level_dbov

        frame = getattr(self.taps[0], "last", None) if self.taps else None
        if frame is None:
            return {}
        rounds = 20
        start = time.process_time_ns()
        for _ in range(rounds):
            compute_audio_level_dbov(frame)
        level = time.process_time_ns() - start
        encoder = self._encoder_class()
        start = time.process_time_ns()
        for _ in range(rounds):
            encoder.encode(frame)
        encode = time.process_time_ns() - start
        return {
            "level_us": level / rounds / 1000,
            "encode_us": encode / rounds / 1000,
            "plane_bytes": frame.planes[0].buffer_size,
            "samples": frame.samples,
            "channels": len(frame.layout.channels),
        }

    def records(self) -> list[list[int | None]]:
        """Every frame relayed: [slot, outgoing RTP timestamp, speaker, speaker's RTP
        timestamp, server receipt, frame decoded, None]. The speaker's timestamp comes from
        the receiver's timestamp mapping (decoded pts = speaker's RTP timestamp minus the
        first one)."""
        arrived: dict[tuple[int, int], int] = {}
        for slot, ts, t in self.arrivals:
            arrived.setdefault((slot, ts), t)
        origins = [
            r._RTCRtpReceiver__timestamp_mapper._origin  # private: TimestampMapper's origin
            for r in self.speaker_receivers
        ]
        rows: list[list[int | None]] = []
        for slot, pts, t in self.frames:
            if pts is None:
                continue
            origin = origins[slot]
            speaker_ts = (pts + origin) & 0xFFFFFFFF if origin is not None else None
            received = arrived.get((slot, speaker_ts))
            rows.append(
                [slot, pts & 0xFFFFFFFF, SPEAKER_BASE + slot, speaker_ts, received, t, None]
            )
        return rows


async def server_main(config: dict) -> None:
    loop = asyncio.get_running_loop()
    loop.call_later(config["deadline"], os._exit, 3)
    mode = config["mode"]
    make = PassThroughServer if mode == "pass-through" else OrdinaryServer
    server = make(config["speakers"], config["listeners"])
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
            return server.unit_costs() if isinstance(server, OrdinaryServer) else {}
        if op == "quit":
            loop.call_later(0.05, os._exit, 0)
            return True
        raise RemoteError(f"unknown op {op!r}")

    channel = await _child_channel(handle)
    await channel.serve()  # stdin closed: the coordinator is gone
    os._exit(0)


# --- Client processes: speakers and listeners ----------------------------------------------


def _client_classes():
    from aiortc.mediastreams import MediaStreamTrack
    from av import AudioFrame

    class Never(MediaStreamTrack):
        """A listener's microphone: a track whose recv() never returns, so that aiortc's
        sender neither sends RTP nor polls every 20 ms as it does for a None track."""

        kind = "audio"

        async def recv(self):
            await asyncio.get_running_loop().create_future()

    class Tone(MediaStreamTrack):
        """A speaker's microphone: a sine tone, paced in real time like a browser's, that
        starts when `gate` is set (the coordinator's "speak")."""

        kind = "audio"

        def __init__(self, frequency: int, gate: asyncio.Event) -> None:
            super().__init__()
            self.gate = gate
            step = 2 * math.pi * frequency / RATE
            samples = [int(12000 * math.sin(step * i)) for i in range(RATE)]
            self.second = b"".join(v.to_bytes(2, "little", signed=True) for v in samples)
            self.samples = 0
            self.start: float | None = None

        async def recv(self):
            await self.gate.wait()
            now = time.monotonic()
            if self.start is None:
                self.start = now
            wait = self.start + self.samples / RATE - now
            if wait > 0:
                await asyncio.sleep(wait)
            offset = (self.samples % RATE) * 2
            frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
            frame.planes[0].update(self.second[offset : offset + FRAME * 2])
            frame.pts = self.samples
            frame.sample_rate = RATE
            frame.time_base = fractions.Fraction(1, RATE)
            self.samples += FRAME
            return frame

    return Never, Tone


class _Member:
    __slots__ = ("arrivals", "joined", "pc", "sends")

    def __init__(self, pc) -> None:
        self.pc = pc
        self.joined = False  # reached "connected" while joining
        self.arrivals: list[tuple[int, int, int]] = []  # (slot, RTP timestamp, arrival ns)
        self.sends: list[tuple[int, int]] = []  # a speaker's (RTP timestamp, send ns)


def _time_sends(peer: _Member) -> None:
    """Note when a speaker hands each RTP packet to SRTP and the socket (wraps the DTLS
    transport's `_send_rtp`, which aiortc's RTCRtpSender calls for every packet)."""
    from aiortc.rtp import is_rtcp

    dtls = peer.pc.getTransceivers()[0].sender.transport
    send = dtls._send_rtp
    sends = peer.sends

    async def timed(data: bytes) -> None:
        if not is_rtcp(data):
            sends.append((int.from_bytes(data[4:8], "big"), time.monotonic_ns()))
        await send(data)

    dtls._send_rtp = timed


def _counter(arrivals: list, slot: int):
    """A slot receiver's `_handle_rtp_packet` that records the packet and decodes nothing."""
    append = arrivals.append
    clock = time.monotonic_ns

    async def handle(packet, arrival_time_ms: int) -> None:
        append((slot, packet.timestamp, clock()))

    return handle


def _count_at_socket(peer: _Member) -> None:
    """The listener's short path (--listener-hook socket): take each SRTP packet from the
    ICE socket's protocol, unprotect it (so a badly protected copy is not counted) and
    record it, skipping aioice's queue, the DTLS transport's task, RtpPacket.parse and the
    routing that lead to `_handle_rtp_packet`. STUN, DTLS and RTCP take the usual path."""
    import pylibsrtp

    transceivers = peer.pc.getTransceivers()
    dtls = transceivers[1].receiver.transport
    srtp = dtls._rx_srtp  # private: the SRTP session made at the DTLS handshake
    router = dtls._rtp_router  # private: SSRC -> receiver, from the answer
    slot_of = {id(t.receiver): i for i, t in enumerate(transceivers[1:])}
    protocol = dtls.transport._connection._nominated[1].protocol  # private: aioice's
    usual = protocol.datagram_received
    append = peer.arrivals.append
    clock = time.monotonic_ns

    def datagram_received(data: bytes, addr) -> None:
        if 127 < data[0] < 192 and not 191 < data[1] < 209:  # RTP, not RTCP
            receiver = router.ssrc_table.get(int.from_bytes(data[8:12], "big"))
            if receiver is not None:
                try:
                    srtp.unprotect(data)
                except pylibsrtp.Error:
                    return
                append((slot_of[id(receiver)], int.from_bytes(data[4:8], "big"), clock()))
                return
        usual(data, addr)

    protocol.datagram_received = datagram_received


class Clients:
    """The peers of one client process: the speakers, or a share of the listeners."""

    def __init__(self, config: dict) -> None:
        from media.forwarder import K_SLOTS

        self.slots = K_SLOTS
        self.speaker = config["role"] == "speaker"
        self.members: list[int] = config["members"]
        self.concurrency = max(1, config["concurrency"])
        self.hook = config.get("hook", "receiver")
        self.gate = asyncio.Event()
        self.peers: dict[int, _Member] = {}
        self.channel: Channel | None = None
        self._never, self._tone = _client_classes()

    async def join_all(self, timeout: float) -> dict:
        started = time.monotonic()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(index: int, member: int) -> None:
            async with gate:
                await self._join(index, member)

        tasks = [asyncio.ensure_future(one(i, m)) for i, m in enumerate(self.members)]
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        errors: Counter[str] = Counter()
        for task in tasks:
            if task.cancelled():
                errors["gave up waiting"] += 1
            elif task.exception() is not None:
                exc = task.exception()
                errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        connected = sum(p.joined for p in self.peers.values())
        return {
            "connected": connected,
            "errors": dict(errors),
            "seconds": time.monotonic() - started,
        }

    async def _join(self, index: int, member: int) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peer = self.peers[member] = _Member(pc)
        track = self._tone(TONES[index % len(TONES)], self.gate) if self.speaker else self._never()
        pc.addTransceiver(track, direction="sendonly")
        for slot in range(self.slots):
            receiver = pc.addTransceiver("audio", direction="recvonly").receiver
            receiver._handle_rtp_packet = _counter(peer.arrivals, slot)
        state = asyncio.get_running_loop().create_future()

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("connected", "failed", "closed") and not state.done():
                state.set_result(pc.connectionState)

        await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), CONNECT_TIMEOUT)
        answer = await self.channel.request(
            "offer",
            REQUEST_TIMEOUT,
            member=member,
            sdp=pc.localDescription.sdp,
            speaker=self.speaker,
        )
        await asyncio.wait_for(
            pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer")),
            CONNECT_TIMEOUT,
        )
        reached = await asyncio.wait_for(state, CONNECT_TIMEOUT)
        if reached != "connected":
            raise ConnectionError(f"peer connection {reached}")
        peer.joined = True
        if self.hook == "socket" and not self.speaker:
            _count_at_socket(peer)

    def sent(self) -> int:
        """RTP packets the microphones sent (private: RTCRtpSender's packet count)."""
        return sum(
            p.pc.getTransceivers()[0].sender._RTCRtpSender__packet_count
            for p in self.peers.values()
        )

    def collect(self, entries: list[list], t0: int, t1: int) -> dict:
        """Match what each connected listener received against the packets of the window.

        entries: [slot, outgoing RTP timestamp, speaker send ns or None, server fan-out
        start ns, sent in the window (0/1)], one per packet the server forwarded.
        Per entry: how many listeners got it, the earliest and latest arrival; per copy of
        a packet sent in the window: arrival - speaker send, arrival - fan-out start (µs).
        """
        index = {(e[0], e[1]): i for i, e in enumerate(entries)}
        n = len(entries)
        count = [0] * n
        first: list[int | None] = [None] * n
        last: list[int | None] = [None] * n
        end_to_end_us: list[int] = []
        after_server_us: list[int] = []
        duplicates = listeners = still = 0
        per_listener: list[int] = []
        window = [i for i, e in enumerate(entries) if e[4]]
        for peer in self.peers.values():
            if not peer.joined:
                continue
            listeners += 1
            still += peer.pc.connectionState == "connected"
            seen: set[int] = set()
            for slot, ts, arrived in peer.arrivals:
                i = index.get((slot, ts))
                if i is None:
                    continue
                if i in seen:
                    duplicates += 1
                    continue
                seen.add(i)
                count[i] += 1
                if first[i] is None or arrived < first[i]:
                    first[i] = arrived
                if last[i] is None or arrived > last[i]:
                    last[i] = arrived
                entry = entries[i]
                if entry[4]:
                    if entry[2] is not None:
                        end_to_end_us.append((arrived - entry[2]) // 1000)
                    after_server_us.append((arrived - entry[3]) // 1000)
            per_listener.append(sum(1 for i in window if i in seen))
        return {
            "arrived_in_window": sum(
                1 for p in self.peers.values() for a in p.arrivals if t0 <= a[2] <= t1
            ),
            "listeners": listeners,
            "still_connected": still,
            "duplicates": duplicates,
            "per_listener": per_listener,
            "count": count,
            "first": first,
            "last": last,
            "end_to_end_us": end_to_end_us,
            "after_server_us": after_server_us,
        }


async def client_main(config: dict) -> None:
    from media.ice import use_host_addresses

    loop = asyncio.get_running_loop()
    loop.call_later(config["deadline"], os._exit, 3)
    if config.get("nice"):
        os.nice(config["nice"])
    use_host_addresses([HOST])
    clients = Clients(config)

    async def handle(message: dict) -> object:
        op = message["op"]
        if op == "join":
            return await clients.join_all(message["timeout"])
        if op == "speak":
            for peer in clients.peers.values():
                _time_sends(peer)
            clients.gate.set()
            return True
        if op == "mute":
            clients.gate.clear()
            return True
        if op == "collect":
            return clients.collect(message["entries"], message["t0"], message["t1"])
        if op == "sent":
            return clients.sent()
        if op == "sends":
            return {str(m): p.sends for m, p in clients.peers.items()}
        if op == "received":
            return sum(len(p.arrivals) for p in clients.peers.values())
        if op == "quit":
            loop.call_later(0.05, os._exit, 0)
            return True
        raise RemoteError(f"unknown op {op!r}")

    clients.channel = await _child_channel(handle)
    await clients.channel.serve()
    os._exit(0)


# --- Coordinator ------------------------------------------------------------------------------


class _Child:
    def __init__(self, name: str, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path
        self.channel: Channel | None = None
        self.serving: asyncio.Task | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def request(self, op: str, wait: float, /, **fields) -> object:
        try:
            return await self.channel.request(op, wait, **fields)
        except RemoteError as exc:
            raise BenchError(f"{self.name}: {op} failed: {exc}") from None
        except BenchError as exc:
            raise BenchError(f"{self.name}: {exc}{self.log_tail()}") from None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return ("\n  " + "\n  ".join(text)) if text else ""


class _Run:
    """One server mode, from starting its processes to the figures."""

    def __init__(self, opts: Options, mode: str, listeners: int, log, log_dir: Path) -> None:
        self.opts = opts
        self.mode = mode
        self.listeners = listeners
        self.log = log
        self.log_dir = log_dir
        self.children: list[_Child] = []
        self.server: _Child | None = None
        self.speaker: _Child | None = None
        per_join = 0.5 if mode == "pass-through" else 1.0
        self.setup_timeout = 60 + per_join * (listeners + opts.speakers)
        self.deadline = (
            self.setup_timeout
            + opts.idle_seconds
            + opts.warmup_seconds
            + opts.seconds
            + opts.drain_limit
            + 240
        )

    async def spawn(self, name: str, role: str, config: dict, handler=None) -> _Child:
        log_path = self.log_dir / f"{self.mode}-{name}.log"
        with log_path.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "media.bench",
                role,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file,
                cwd=str(ROOT),
                limit=LINE_LIMIT,
            )
        child = _Child(name, proc, log_path)
        self.children.append(child)

        async def write(data: bytes) -> None:
            proc.stdin.write(data)
            await proc.stdin.drain()

        child.channel = Channel(proc.stdout, write, handler)
        child.serving = asyncio.ensure_future(child.channel.serve())
        await write((json.dumps({**config, "deadline": self.deadline}) + "\n").encode())
        return child

    async def relay_offer(self, message: dict) -> object:
        """A client's offer, passed to the server; the reply is the answer SDP."""
        if message["op"] != "offer":
            raise RemoteError(f"unknown op {message['op']!r}")
        return await self.server.request(
            "attach",
            REQUEST_TIMEOUT - 5,
            member=message["member"],
            sdp=message["sdp"],
            speaker=message["speaker"],
        )

    def client_pids(self) -> list[int]:
        return [c.pid for c in self.children if c is not self.server]

    async def close(self) -> None:
        for child in self.children:
            if child.proc.returncode is None and child.channel is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.channel.send({"id": 0, "op": "quit"}), 1)
        for child in self.children:
            try:
                await asyncio.wait_for(child.proc.wait(), 3)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(child.proc.wait(), 3)
            if child.serving is not None:
                child.serving.cancel()

    async def mark(self) -> dict:
        result = await self.server.request("mark", 30)
        result["clients_cpu_s"] = sum(proc_cpu_s(pid) for pid in self.client_pids())
        result["machine_s"] = machine_busy_s()
        result["server_cpu_s"] = proc_cpu_s(self.server.pid)
        if self.speaker is not None:
            result["speaker_sent"] = await self.speaker.request("sent", 10)
        return result

    async def execute(self) -> dict:
        opts = self.opts
        log = self.log
        result: dict = {"mode": self.mode, "listeners": self.listeners}
        self.server = await self.spawn(
            "server",
            "server",
            {"mode": self.mode, "speakers": opts.speakers, "listeners": self.listeners},
        )
        await self.mark()  # the server is up
        speaker = await self.spawn(
            "speakers",
            "client",
            {
                "role": "speaker",
                "members": list(range(SPEAKER_BASE, SPEAKER_BASE + opts.speakers)),
                "concurrency": 1,  # in order: speaker i takes slot i
            },
            self.relay_offer,
        )
        self.speaker = speaker
        joined = await speaker.request("join", 120, timeout=100)
        if joined["connected"] != opts.speakers:
            raise BenchError(f"{self.mode}: speakers did not connect: {joined['errors']}")
        await asyncio.sleep(1.0)
        before = await self.mark()
        result["rss_before_kib"] = before["rss_kib"]

        processes = max(1, min(opts.processes, self.listeners))
        shares = [
            list(range(LISTENER_BASE + i, LISTENER_BASE + self.listeners, processes))
            for i in range(processes)
        ]
        clients = [
            await self.spawn(
                f"listeners-{i}",
                "client",
                {
                    "role": "listener",
                    "members": share,
                    "concurrency": opts.concurrency,
                    "nice": opts.client_nice,
                    "hook": opts.listener_hook,
                },
                self.relay_offer,
            )
            for i, share in enumerate(shares)
        ]
        log(f"{self.mode}: connecting {self.listeners} listeners from {processes} processes")
        started = time.monotonic()
        joins = await asyncio.gather(
            *(
                c.request("join", self.setup_timeout + 30, timeout=self.setup_timeout)
                for c in clients
            )
        )
        result["setup_s"] = time.monotonic() - started
        result["connected"] = sum(j["connected"] for j in joins)
        errors: Counter[str] = Counter()
        for j in joins:
            errors.update(j["errors"])
        result["join_errors"] = dict(errors)
        log(
            f"{self.mode}: {result['connected']}/{self.listeners} connected in "
            f"{result['setup_s']:.1f} s" + (f"; errors {dict(errors)}" if errors else "")
        )
        if result["connected"] == 0:
            raise BenchError(f"{self.mode}: no listener connected: {dict(errors)}")
        # The server may finish a few DTLS handshakes after the clients: wait for it.
        for _ in range(100):
            after = await self.mark()
            if after["ready"] >= result["connected"]:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        after = await self.mark()
        result["ready"] = after["ready"]
        result["rss_after_kib"] = after["rss_kib"]

        log(f"{self.mode}: idle for {opts.idle_seconds:.0f} s, then the speakers start")
        idle0 = await self.mark()
        await asyncio.sleep(opts.idle_seconds)
        idle1 = await self.mark()
        result["idle_cpu_share"] = (idle1["cpu_ns"] - idle0["cpu_ns"]) / (
            idle1["t_ns"] - idle0["t_ns"]
        )
        await speaker.request("speak", 10)
        await asyncio.sleep(opts.warmup_seconds)

        log(f"{self.mode}: measuring for {opts.seconds:.0f} s")
        w0 = await self.mark()
        await asyncio.sleep(opts.seconds)
        w1 = await self.mark()
        # Let the last packets of the window through (the ordinary path's jitter buffer
        # holds a few until more arrive), then stop the speakers.
        await asyncio.sleep(0.5)
        await speaker.request("mute", 10)
        result["window"] = (w0, w1)
        result["drain_s"] = await self.drain(clients)
        end = await self.mark()
        result["rss_end_kib"] = end["rss_kib"]

        rows = await self.server.request("records", 60)
        sends = await speaker.request("sends", 60)
        entries, result["unforwarded"] = _entries(rows, sends, w0["t_ns"], w1["t_ns"])
        result["entries"] = entries
        result["rows"] = rows
        result["collected"] = await asyncio.gather(
            *(
                c.request("collect", 120, entries=entries, t0=w0["t_ns"], t1=w1["t_ns"])
                for c in clients
            )
        )
        result["unit_costs"] = await self.server.request("unit_costs", 30)
        return result

    async def drain(self, clients: list[_Child]) -> float:
        """After the speakers stop: wait until nothing more reaches the listeners (the
        server and the listeners may be behind), at least --grace-seconds and at most
        --drain-limit seconds. Returns the seconds waited."""
        opts = self.opts
        started = time.monotonic()
        await asyncio.sleep(opts.grace_seconds)
        previous = -1
        while time.monotonic() - started < opts.drain_limit:
            counts = await asyncio.gather(*(c.request("received", 30) for c in clients))
            if sum(counts) == previous:
                break
            previous = sum(counts)
            await asyncio.sleep(1.0)
        return time.monotonic() - started


def _entries(rows: list, sends: dict, t0: int, t1: int) -> tuple[list[list], int]:
    """Join the server's rows with the speakers' send times.

    rows: [slot, out ts, speaker, speaker ts, receipt, fan-out start, fan-out end].
    Returns one entry per forwarded packet: [slot, out ts, speaker send ns or None, fan-out
    start, sent in the window (0/1), receipt, fan-out end], and how many packets the
    speakers sent in the window that the server never forwarded."""
    sent_at: dict[tuple[int, int], int] = {}
    for member, pairs in sends.items():
        for ts, t in pairs:
            sent_at.setdefault((int(member), ts), t)
    entries = []
    forwarded: set[tuple[int, int]] = set()
    for slot, out_ts, member, speaker_ts, receipt, start, end in rows:
        key = (member, speaker_ts)
        t_send = sent_at.get(key)
        in_window = t_send is not None and t0 <= t_send <= t1
        if in_window:
            forwarded.add(key)
        entries.append([slot, out_ts, t_send, start, int(in_window), receipt, end])
    sent_in_window = sum(1 for t in sent_at.values() if t0 <= t <= t1)
    return entries, sent_in_window - len(forwarded)


def _figures(run: dict, opts: Options) -> dict:
    """The report's numbers for one mode."""
    w0, w1 = run["window"]
    seconds = (w1["t_ns"] - w0["t_ns"]) / 1e9
    cpu_ns = w1["cpu_ns"] - w0["cpu_ns"]
    copies = w1["copies_out"] - w0["copies_out"]
    entries = run["entries"]
    collected = run["collected"]
    listeners = sum(c["listeners"] for c in collected)
    n = len(entries)
    counts = [sum(c["count"][i] for c in collected) for i in range(n)]
    window = [i for i in range(n) if entries[i][4]]
    sent = len(window) + run["unforwarded"]
    received = sum(counts[i] for i in window)
    expected = sent * listeners
    per_listener = [x for c in collected for x in c["per_listener"]]
    spreads = []
    for i in window:
        if counts[i] >= 2:
            first = min(c["first"][i] for c in collected if c["first"][i] is not None)
            last = max(c["last"][i] for c in collected if c["last"][i] is not None)
            spreads.append((last - first) / 1e6)
    inbound = [
        (entries[i][5] - entries[i][2]) / 1e6
        for i in window
        if entries[i][5] is not None and entries[i][2] is not None
    ]
    decode = [(entries[i][3] - entries[i][5]) / 1e6 for i in window if entries[i][5] is not None]
    loops = [(entries[i][6] - entries[i][3]) / 1e6 for i in window if entries[i][6] is not None]
    idle = run["idle_cpu_share"]
    span_ns = w1["t_ns"] - w0["t_ns"]
    return {
        "seconds": seconds,
        "speaker_sent": sent,
        "packets_in": w1["packets_in"] - w0["packets_in"],
        "unforwarded": run["unforwarded"],
        "copies": copies,
        "cpu_s": cpu_ns / 1e9,
        "cpu_share": cpu_ns / span_ns,
        "us_per_copy": cpu_ns / 1000 / copies if copies else math.nan,
        "us_per_copy_net": (cpu_ns - idle * span_ns) / 1000 / copies if copies else math.nan,
        "idle_share": idle,
        "listeners": listeners,
        "still_connected": sum(c["still_connected"] for c in collected),
        "received": received,
        "expected": expected,
        "delivery": received / expected if expected else math.nan,
        "short": sum(1 for x in per_listener if x < sent),
        "worst": min(per_listener, default=0),
        "duplicates": sum(c["duplicates"] for c in collected),
        "drain_s": run["drain_s"],
        "spread": spreads,
        "end_to_end": [d / 1000 for c in collected for d in c["end_to_end_us"]],
        "after_server": [d / 1000 for c in collected for d in c["after_server_us"]],
        "inbound": inbound,
        "decode": decode,
        "loops": loops,
        "mem_per_listener_kib": (run["rss_after_kib"] - run["rss_before_kib"]) / run["ready"]
        if run["ready"]
        else math.nan,
        "clients_share": (w1["clients_cpu_s"] - w0["clients_cpu_s"]) / seconds,
        "client_us_per_packet": (w1["clients_cpu_s"] - w0["clients_cpu_s"])
        * 1e6
        / max(1, sum(c["arrived_in_window"] for c in collected)),
        "server_share_proc": (w1["server_cpu_s"] - w0["server_cpu_s"]) / seconds,
        "machine_share": (w1["machine_s"] - w0["machine_s"]) / seconds,
        "drops_server": w1["drops_server"] - w0["drops_server"],
        "drops_other": w1["drops_other"] - w0["drops_other"],
        "speaker_lost": w1["speaker_lost"] - w0["speaker_lost"],
        "lag_p99_ms": w1["lag_p99_ms"],
        "lag_max_ms": w1["lag_max_ms"],
        "gc_counts": w1["gc_counts"],
        "gc_pause_ms": w1["gc_pause_ms"],
        "gc_max_ms": w1["gc_max_ms"],
        "unit_costs": run.get("unit_costs") or {},
    }


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {percentile(values, 50):.2f} ms, p99 {percentile(values, 99):.2f} ms, "
        f"max {max(values):.2f} ms"
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _mode_lines(title: str, run: dict, f: dict, opts: Options, targets: bool) -> list[str]:
    mib = 1024
    lines = [
        "",
        title,
        f"  listeners connected: {run['connected']}/{run['listeners']} "
        f"(server counts {run['ready']} ready), set-up {run['setup_s']:.1f} s; "
        f"still connected at the end: {f['still_connected']}"
        + (f"; failures {run['join_errors']}" if run["join_errors"] else ""),
        f"  steady window {f['seconds']:.1f} s: the speakers sent {f['speaker_sent']} packets "
        f"({f['speaker_sent'] / f['seconds']:.1f}/s); the server received "
        f"{f['packets_in']} in the window (gaps by sequence number: {f['speaker_lost']}) and "
        f"sent {f['copies']:,} packet-copies ({f['copies'] / f['seconds']:,.0f}/s)",
    ]
    per_copy = f"  server CPU per packet-copy: {f['us_per_copy']:.2f} µs"
    if targets:
        per_copy += f" (target ≤ 15 µs: {_verdict(f['us_per_copy'] <= 15)})"
    lines += [
        per_copy + f"; server process CPU {f['cpu_s']:.2f} s in the window "
        f"= {100 * f['cpu_share']:.0f}% of one core",
        f"  server CPU per packet-copy net of idle: {f['us_per_copy_net']:.2f} µs "
        f"(idle, listeners connected and no speaker: {100 * f['idle_share']:.1f}% of one core)",
    ]
    if f["speaker_sent"]:
        rate = f["speaker_sent"] / f["seconds"]
        per_core = 1e6 / (f["us_per_copy"] * rate) if f["us_per_copy"] else 0
        lines.append(
            f"  projected listeners per core at {rate:.0f} packets/s each (server CPU only, "
            f"at the cost per copy above): {per_core:,.0f}"
        )
    unit = f["unit_costs"]
    if unit:
        lines.append(
            f"  per copy, timed on a decoded frame ({unit['samples']} samples x "
            f"{unit['channels']} channels in a {unit['plane_bytes']:,}-byte plane): "
            f"aiortc's audio level {unit['level_us']:.0f} µs + Opus encode "
            f"{unit['encode_us']:.0f} µs"
        )
    delivery = (
        f"  delivery: {f['received']:,}/{f['expected']:,} = {100 * f['delivery']:.3f}% "
        f"(packets the speakers sent in the window x {f['listeners']} listeners; "
        f"arrivals counted until {f['drain_s']:.1f} s after the window)"
    )
    if targets:
        delivery += f" (target ≥ 99.9%: {_verdict(f['delivery'] >= 0.999)})"
    lines.append(delivery)
    lines.append(
        f"  packets never forwarded: {f['unforwarded']}; listeners missing any packet: "
        f"{f['short']}"
        + (f", the worst got {f['worst']}/{f['speaker_sent']}" if f["short"] else "")
        + (f"; duplicates {f['duplicates']}" if f["duplicates"] else "")
        + f"; UDP datagrams dropped by the kernel (receive buffer full): "
        f"{f['drops_server']} at the server's sockets, {f['drops_other']} at other sockets"
    )
    lines.append(
        f"  fan-out spread of one packet (latest - earliest arrival across listeners): "
        f"{_ms(f['spread'])}"
    )
    lines.append(
        f"  end-to-end delay (speaker's send -> listener's arrival, every copy): "
        f"{_ms(f['end_to_end'])}"
    )
    lines.append(f"    speaker's send -> server's receipt (per packet): {_ms(f['inbound'])}")
    if any(f["decode"]):
        lines.append(
            f"    server's receipt -> decoded frame reaches MediaRelay (jitter buffer and "
            f"decoder): {_ms(f['decode'])}"
        )
        lines.append(
            f"    decoded frame reaches MediaRelay -> listener's arrival: {_ms(f['after_server'])}"
        )
    else:
        lines.append(
            f"    server's receipt (forward() entered) -> listener's arrival: "
            f"{_ms(f['after_server'])}"
        )
    if f["loops"]:
        lines.append(
            f"    server fan-out loop per packet (forward() entered -> last copy sent): "
            f"{_ms(f['loops'])}"
        )
    per_listener = f["mem_per_listener_kib"]
    memory = (
        f"  memory per listener: {per_listener:.0f} KiB (server RSS "
        f"{run['rss_before_kib'] / mib:.1f} MiB before the listeners, "
        f"{run['rss_after_kib'] / mib:.1f} MiB with {run['ready']} connected, "
        f"{run['rss_end_kib'] / mib:.1f} MiB at the end)"
    )
    if targets:
        memory += f" (target ≤ 256 KiB: {_verdict(per_listener <= 256)})"
    lines.append(memory)
    g = f["gc_counts"]
    lines.append(
        f"  server event loop in the window: lag p99 {f['lag_p99_ms']:.1f} ms, "
        f"max {f['lag_max_ms']:.1f} ms; garbage collections gen0/1/2 {g[0]}/{g[1]}/{g[2]}, "
        f"{f['gc_pause_ms']:.0f} ms in all, longest {f['gc_max_ms']:.1f} ms"
    )
    others = f["machine_share"] - f["server_share_proc"] - f["clients_share"]
    lines.append(
        f"  CPU in the window (cores): server {f['server_share_proc']:.2f}, "
        f"listener + speaker processes {f['clients_share']:.2f}, "
        f"rest of the machine {max(0.0, others):.2f}; machine busy "
        f"{f['machine_share']:.2f} of {os.cpu_count()}; listener processes' CPU per packet "
        f"received: {f['client_us_per_packet']:.0f} µs ({opts.listener_hook} hook)"
    )
    return lines


async def _run_mode(opts: Options, mode: str, listeners: int, log, log_dir: Path) -> dict:
    run = _Run(opts, mode, listeners, log, log_dir)
    try:
        return await asyncio.wait_for(run.execute(), run.deadline)
    except TimeoutError:
        raise BenchError(f"{mode}: gave up after {run.deadline:.0f} s") from None
    finally:
        await run.close()


async def run(opts: Options, log: Callable[[str], None]) -> list[str]:
    """Run the benchmark; return the report's lines. Progress goes to `log`."""
    from media.forwarder import K_SLOTS

    if opts.listeners < 1 or opts.speakers < 1 or opts.seconds <= 0:
        raise BenchError("--listeners, --speakers and --seconds must be positive")
    if opts.speakers > K_SLOTS:
        raise BenchError(f"--speakers: at most {K_SLOTS}, the room's slots (all forwarded)")
    log_dir = Path(tempfile.mkdtemp(prefix="bench_fanout-"))
    failed = True
    try:
        passthrough = await _run_mode(opts, "pass-through", opts.listeners, log, log_dir)
        ordinary = None
        if opts.baseline:
            ordinary = await _run_mode(opts, "ordinary", opts.baseline_listeners, log, log_dir)
        failed = False
    finally:
        keep = failed or opts.keep_logs
        if keep:
            log(f"child process logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)

    lines = [
        f"command: {opts.command}",
        f"options: listeners={opts.listeners} speakers={opts.speakers} "
        f"seconds={opts.seconds:g} baseline={'on' if opts.baseline else 'off'}"
        + (f" (baseline-listeners={opts.baseline_listeners})" if opts.baseline else "")
        + f" processes={opts.processes} concurrency={opts.concurrency} "
        f"idle={opts.idle_seconds:g}s warm-up={opts.warmup_seconds:g}s "
        f"grace={opts.grace_seconds:g}s drain-limit={opts.drain_limit:g}s "
        f"client-nice={opts.client_nice} listener-hook={opts.listener_hook}",
        f"machine: {os.cpu_count()} CPUs, shared by everything: the server is one process "
        f"(its CPU alone is measured), but {min(opts.processes, opts.listeners)} listener "
        f"processes (at nice {opts.client_nice}) and 1 speaker process compete with it for the "
        f"same CPUs, so the delay and spread figures include the listeners' own queueing",
        "all traffic on 127.0.0.1; clock CLOCK_MONOTONIC shared by all processes",
    ]
    fp = _figures(passthrough, opts)
    lines += _mode_lines(
        f"pass-through (media.forwarder.MediaHub, one room), {opts.listeners} listeners:",
        passthrough,
        fp,
        opts,
        targets=True,
    )
    if ordinary is not None:
        fo = _figures(ordinary, opts)
        lines += _mode_lines(
            f"ordinary aiortc (RTCRtpReceiver decode + MediaRelay + one RTCRtpSender/Opus "
            f"encoder per listener), {opts.baseline_listeners} listeners:",
            ordinary,
            fo,
            opts,
            targets=False,
        )
        lines += [
            "",
            f"ordinary / pass-through CPU per packet-copy: "
            f"{fo['us_per_copy'] / fp['us_per_copy']:.1f}x "
            f"({fo['us_per_copy']:.1f} µs / {fp['us_per_copy']:.2f} µs; net of idle "
            f"{fo['us_per_copy_net'] / fp['us_per_copy_net']:.1f}x)",
        ]
    return lines


# --- Entry point of the child processes -------------------------------------------------------


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m media.bench")
    parser.add_argument("role", choices=["server", "client"])
    args = parser.parse_args(argv)
    # Unbuffered, byte by byte: what follows the first line belongs to the channel.
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:
            return
        line += byte
    config = json.loads(line)
    main = server_main if args.role == "server" else client_main
    asyncio.run(main(config))


if __name__ == "__main__":
    _child(sys.argv[1:])
