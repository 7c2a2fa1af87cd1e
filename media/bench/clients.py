"""The fan-out benchmark's client processes (`python -m media.bench.clients`): the speakers,
aiortc peers sending a real Opus tone paced like a microphone, or a share of the listeners,
offering like room.js and counting packets without decoding them."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import math
import os
import select
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable

from media.bench import REQUEST_TIMEOUT
from media.benchkit import HOST, Channel, RemoteError, child_channel

TONES = (440, 660, 880, 550, 770, 990)  # whole Hz: one second of samples loops seamlessly
RATE = 48_000
FRAME = 960
CONNECT_TIMEOUT = 30.0  # one peer connection: offer sent -> connected

# --listener-hook batch
SO_TIMESTAMPNS = 35  # Linux: each datagram's kernel receive time, CLOCK_REALTIME (not in socket)
_TIMESPEC = struct.Struct("@ll")  # struct timespec: tv_sec, tv_nsec
ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
_RTP = struct.Struct("!BBHII")  # the clear start of an SRTP packet: V/P/X/CC, M/PT, seq, ts, SSRC
BATCH_POLL_S = 0.005  # how often a listener process reads its listeners' sockets
SRTP_CHECKS = 3  # RTP packets per listener unprotected before the rest are trusted
RECV_SIZE = 2048

log = logging.getLogger(__name__)


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
    __slots__ = ("arrivals", "joined", "pc", "sends", "tap")

    def __init__(self, pc) -> None:
        self.pc = pc
        self.joined = False  # reached "connected" while joining
        self.arrivals: list[tuple[int, int, int]] = []  # (slot, RTP timestamp, arrival ns)
        self.sends: list[tuple[int, int]] = []  # a speaker's (RTP timestamp, send ns)
        self.tap: _Tap | None = None  # --listener-hook batch: its ICE socket, once connected


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


def rtp_header(data: bytes) -> tuple[int, int] | None:
    """(SSRC, RTP timestamp) of an SRTP packet, read from its header, which SRTP leaves in
    the clear; None for the rest of what arrives on a listener's ICE socket: STUN (first
    byte 0-3), DTLS (20-63), and SRTCP (second byte 192-208, RTCP packet types muxed on the
    same port, as aiortc's is_rtcp tells them apart)."""
    if len(data) < 12:
        return None
    first, second, _, timestamp, ssrc = _RTP.unpack_from(data)
    if not 127 < first < 192 or 191 < second < 209:
        return None
    return ssrc, timestamp


def kernel_time_ns(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The kernel's receive time of a datagram (CLOCK_REALTIME, ns) from recvmsg's ancillary
    data, on a socket with SO_TIMESTAMPNS on; None if it has none."""
    for level, kind, value in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(value)
            return seconds * 1_000_000_000 + nanoseconds
    return None


def realtime_offset_ns() -> int:
    """CLOCK_REALTIME - CLOCK_MONOTONIC in ns: a kernel receive time minus this is the
    CLOCK_MONOTONIC time of the report. The best of 5 readings (the least time between the
    two monotonic reads around the realtime one)."""
    best: tuple[int, int] | None = None
    for _ in range(5):
        before = time.monotonic_ns()
        real = time.clock_gettime_ns(time.CLOCK_REALTIME)
        after = time.monotonic_ns()
        if best is None or after - before < best[0]:
            best = (after - before, real - (before + after) // 2)
    return best[1]


class _Tap:
    """One listener's ICE socket under --listener-hook batch (see _Batch)."""

    __slots__ = (
        "append",
        "checked",
        "checks_left",
        "errors",
        "failed",
        "fd",
        "protocol",
        "slot_for",
        "sock",
        "srtp",
        "transport",
    )

    def __init__(
        self,
        transport: asyncio.DatagramTransport,
        protocol: asyncio.DatagramProtocol,
        slot_for: Callable[[int], int | None],
        srtp,
        arrivals: list,
    ) -> None:
        self.transport = transport
        self.sock = transport._sock  # private: the socket itself, not asyncio's wrapper
        self.fd = transport._sock_fd  # private
        self.protocol = protocol
        self.slot_for = slot_for  # SSRC -> slot, None for an SSRC of no slot
        self.srtp = srtp  # the listener's receiving pylibsrtp.Session
        self.append = arrivals.append
        self.checks_left = SRTP_CHECKS
        self.checked = 0  # RTP packets unprotected and found genuine
        self.failed = 0  # RTP packets that failed to unprotect (not counted as arrivals)
        self.errors = 0  # recvmsg errors and exceptions in the protocol

    def genuine(self, data: bytes) -> bool:
        """Whether to count an RTP packet: the first SRTP_CHECKS that unprotect are, and a
        packet that does not is never counted; then all are, unread."""
        if not self.checks_left:
            return True
        import pylibsrtp

        try:
            self.srtp.unprotect(data)
        except pylibsrtp.Error:
            self.failed += 1
            return False
        self.checked += 1
        self.checks_left -= 1
        return True


class _Batch:
    """--listener-hook batch: a listener process's connected ICE sockets, taken away from
    asyncio's selector into one epoll and read every BATCH_POLL_S, so that the event loop
    does not wake per datagram. Each RTP packet is recorded as (slot, RTP timestamp, kernel
    receive time as CLOCK_MONOTONIC ns) from its clear header without SRTP (but the first
    SRTP_CHECKS of each listener are unprotected, to be sure they are genuine); everything
    else (STUN, so ICE consent; DTLS; SRTCP; RTP of an SSRC of no slot) goes to the ICE
    protocol's datagram_received as asyncio would have passed it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.epoll = select.epoll()
        self.taps: dict[int, _Tap] = {}
        self.offset = realtime_offset_ns()  # at the start; collect() measures it again
        self.handle: asyncio.TimerHandle | None = None
        self.ticks = 0

    def add(self, tap: _Tap) -> None:
        old = self.taps.pop(tap.fd, None)  # a closed socket's number, given to a new one
        if old is not None:
            self._unregister(old.fd)
        tap.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.loop._remove_reader(tap.fd)  # private: asyncio reads it no more
        self.epoll.register(tap.fd, select.EPOLLIN)
        self.taps[tap.fd] = tap
        if self.handle is None:
            self.handle = self.loop.call_later(BATCH_POLL_S, self.tick)

    def tick(self) -> None:
        # The next tick first: nothing below may stop the polling (ICE consent depends on it).
        self.handle = self.loop.call_later(BATCH_POLL_S, self.tick)
        self.ticks += 1
        if self.ticks % 200 == 0:  # about once a second: forget sockets closed since
            for tap in [t for t in self.taps.values() if t.transport.is_closing()]:
                self.taps.pop(tap.fd, None)
                self._unregister(tap.fd)
        for fd, _ in self.epoll.poll(0, len(self.taps) + 1):
            tap = self.taps.get(fd)
            if tap is not None and not tap.transport.is_closing():
                self.drain(tap)

    def drain(self, tap: _Tap) -> None:
        """Read one socket until it is empty."""
        sock = tap.sock
        offset = self.offset
        while True:
            try:
                data, ancdata, _, addr = sock.recvmsg(RECV_SIZE, ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                tap.errors += 1
                tap.protocol.error_received(exc)
                return
            header = rtp_header(data)
            if header is not None:
                slot = tap.slot_for(header[0])
                if slot is not None:
                    if tap.genuine(data):
                        arrived = kernel_time_ns(ancdata)
                        tap.append(
                            (
                                slot,
                                header[1],
                                time.monotonic_ns() if arrived is None else arrived - offset,
                            )
                        )
                    continue
            try:
                tap.protocol.datagram_received(data, addr)
            except Exception:
                tap.errors += 1
                log.exception("datagram_received failed")

    def _unregister(self, fd: int) -> None:
        # OSError: closed since (the kernel forgot it); ValueError: the epoll is closed.
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(fd)

    def close(self) -> None:
        """Stop polling and give the sockets still open back to asyncio."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        for tap in self.taps.values():
            self._unregister(tap.fd)
            if not tap.transport.is_closing():
                self.loop._add_reader(tap.fd, tap.transport._read_ready)  # private
        self.taps.clear()
        self.epoll.close()


def _count_in_batch(peer: _Member, batch: _Batch) -> None:
    """--listener-hook batch for one connected listener: its nominated ICE socket goes to
    `batch`, with the SSRC -> slot map the server's answer gave aiortc's RTP router and the
    SRTP session of its DTLS handshake (see _count_at_socket)."""
    transceivers = peer.pc.getTransceivers()
    dtls = transceivers[1].receiver.transport
    router = dtls._rtp_router  # private: SSRC -> receiver, from the answer
    slot_of = {id(t.receiver): i for i, t in enumerate(transceivers[1:])}
    protocol = dtls.transport._connection._nominated[1].protocol  # private: aioice's
    known: dict[int, int] = {}

    def slot_for(ssrc: int) -> int | None:
        slot = known.get(ssrc)
        if slot is None:
            receiver = router.ssrc_table.get(ssrc)
            slot = slot_of.get(id(receiver)) if receiver is not None else None
            if slot is not None:
                known[ssrc] = slot
        return slot

    peer.tap = _Tap(protocol.transport, protocol, slot_for, dtls._rx_srtp, peer.arrivals)
    batch.add(peer.tap)


class Clients:
    """The peers of one client process: the speakers, or a share of the listeners."""

    def __init__(self, config: dict, channel: Channel) -> None:
        from media.forwarder import K_SLOTS

        self.slots = K_SLOTS
        self.speaker = config["role"] == "speaker"
        self.members: list[int] = config["members"]
        # With --nodes N: the node (0..N-1) each member's offer goes to.
        nodes = config.get("node_of") or [0] * len(self.members)
        self.node_of = dict(zip(self.members, nodes, strict=True))
        self.concurrency = max(1, config["concurrency"])
        self.hook = config.get("hook", "receiver")
        self.batch: _Batch | None = None  # --listener-hook batch, from the first connection
        self.gate = asyncio.Event()
        self.peers: dict[int, _Member] = {}
        self.channel = channel  # to the coordinator, which relays offers to the server
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
        by_node: Counter[int] = Counter(self.node_of[m] for m, p in self.peers.items() if p.joined)
        return {
            "connected": connected,
            "by_node": {str(k): n for k, n in by_node.items()},
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
        elif self.hook == "batch" and not self.speaker:
            if self.batch is None:
                self.batch = _Batch(asyncio.get_running_loop())
            _count_in_batch(peer, self.batch)

    def close(self) -> None:
        if self.batch is not None:
            self.batch.close()
            self.batch = None

    def collect(self, entries: list[list], t0: int, t1: int, node: int | None = None) -> dict:
        """Match what each connected listener received against the packets of the window
        (with --nodes N: only the listeners of `node`, against that node's packets).

        entries: [slot, outgoing RTP timestamp, speaker send ns or None, server fan-out
        start ns, sent in the window (0/1)], one per packet the server forwarded.
        Per entry: how many listeners got it, the earliest and latest arrival; per copy of
        a packet sent in the window: arrival - speaker send, arrival - fan-out start (µs).
        With --listener-hook batch, also the first packets' SRTP checks and how far
        CLOCK_REALTIME moved against CLOCK_MONOTONIC since the start (a step of the clock
        would shift the kernel receive times after it by that much).
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
        peers = [p for m, p in self.peers.items() if node is None or self.node_of[m] == node]
        for peer in peers:
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
        taps = [p.tap for p in peers if p.tap is not None]
        return {
            "srtp_checked": sum(t.checked for t in taps),
            "srtp_failed": sum(t.failed for t in taps),
            "batch_errors": sum(t.errors for t in taps),
            "clock_moved_us": (realtime_offset_ns() - self.batch.offset) / 1000
            if self.batch is not None
            else 0.0,
            "arrived_in_window": sum(1 for p in peers for a in p.arrivals if t0 <= a[2] <= t1),
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


async def client_main() -> None:
    from media.ice import use_host_addresses

    channel, config = await child_channel()
    loop = asyncio.get_running_loop()
    if config.get("nice"):
        os.nice(config["nice"])
    use_host_addresses([HOST])
    clients = Clients(config, channel)

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
            return clients.collect(
                message["entries"], message["t0"], message["t1"], message.get("node")
            )
        if op == "sends":
            return {str(m): p.sends for m, p in clients.peers.items()}
        if op == "received":
            return sum(len(p.arrivals) for p in clients.peers.values())
        if op == "quit":
            clients.close()
            loop.call_later(0.05, os._exit, 0)
            return True
        raise RemoteError(f"unknown op {op!r}")

    channel.handler = handle
    await channel.serve()
    clients.close()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(client_main())
