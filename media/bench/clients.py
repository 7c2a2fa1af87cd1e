"""The fan-out benchmark's client processes (`python -m media.bench.clients`): the speakers,
aiortc peers sending a real Opus tone paced like a microphone, or a share of the listeners,
offering like room.js and counting packets without decoding them."""

from __future__ import annotations

import asyncio
import fractions
import math
import os
import time
from collections import Counter

from media.bench import REQUEST_TIMEOUT
from media.benchkit import HOST, Channel, RemoteError, child_channel

TONES = (440, 660, 880, 550, 770, 990)  # whole Hz: one second of samples loops seamlessly
RATE = 48_000
FRAME = 960
CONNECT_TIMEOUT = 30.0  # one peer connection: offer sent -> connected


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

    def collect(self, entries: list[list], t0: int, t1: int, node: int | None = None) -> dict:
        """Match what each connected listener received against the packets of the window
        (with --nodes N: only the listeners of `node`, against that node's packets).

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
        return {
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
            loop.call_later(0.05, os._exit, 0)
            return True
        raise RemoteError(f"unknown op {op!r}")

    channel.handler = handle
    await channel.serve()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(client_main())
