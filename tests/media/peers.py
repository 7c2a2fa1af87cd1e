"""Browser stand-ins for media tests: aiortc peer connections on 127.0.0.1 that offer the
way room.js does (one microphone transceiver, then K receive-only slots)."""

import array
import asyncio
import fractions
import itertools
import math
import time
from collections import defaultdict

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack
from av import AudioFrame

RATE = 48_000
FRAME = 960


def loopback_only(monkeypatch) -> None:
    """Gather only 127.0.0.1, on both sides, as the forwarder does with settings in tests."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


async def within(awaitable, seconds: float = 15):
    """Every wait in the media tests is bounded: a hang fails with a traceback."""
    return await asyncio.wait_for(awaitable, seconds)


class ToneTrack(AudioStreamTrack):
    """A microphone that plays a sine tone, paced in real time like a browser's."""

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self._samples = 0
        self._start: float | None = None

    async def recv(self):
        if self._start is None:
            self._start = time.time()
        else:
            wait = self._start + self._samples / RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        step = 2 * math.pi * self.frequency / RATE
        pcm = array.array(
            "h", (int(12000 * math.sin(step * (self._samples + i))) for i in range(FRAME))
        )
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(pcm.tobytes())
        frame.pts = self._samples
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self._samples += FRAME
        return frame


class Browser:
    """One member's side of the connection."""

    def __init__(self, tone: float | None = None, slots: int = 3) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = self.pc.addTransceiver(
            ToneTrack(tone) if tone else "audio", direction="sendonly"
        )
        self.slots = [self.pc.addTransceiver("audio", direction="recvonly") for _ in range(slots)]
        # What arrived on each slot, without decoding: (ssrc, seq, timestamp, marker).
        self.packets: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)

    async def offer(self) -> str:
        await within(self.pc.setLocalDescription(await self.pc.createOffer()))
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        await within(self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer")))

    def count_packets(self) -> None:
        """Record each slot's RTP packets instead of decoding them."""
        for index, transceiver in enumerate(self.slots):

            async def handle(packet, arrival_time_ms, index=index):
                self.packets[index].append(
                    (packet.ssrc, packet.sequence_number, packet.timestamp, packet.marker)
                )

            transceiver.receiver._handle_rtp_packet = handle

    async def connected(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            assert time.monotonic() < deadline, f"state {self.pc.connectionState}"
            await asyncio.sleep(0.05)

    async def hear(self, slot: int, seconds: float = 0.6, timeout: float = 8) -> float:
        """Decode one slot on this side and return the dominant frequency heard (Hz)."""
        track = self.slots[slot].receiver.track
        samples: list[int] = []
        deadline = time.monotonic() + timeout
        while len(samples) < seconds * RATE:
            assert time.monotonic() < deadline, "no audio arrived"
            frame = await asyncio.wait_for(track.recv(), timeout=deadline - time.monotonic())
            channels = len(frame.layout.channels)
            # The plane's buffer is padded past the last sample; keep the samples only.
            pcm = array.array("h", bytes(frame.planes[0])[: frame.samples * channels * 2])
            mono = pcm[::channels]
            if samples or max(abs(v) for v in mono) > 1000:  # skip the silence before speech
                samples.extend(mono)
        crossings = sum(1 for a, b in itertools.pairwise(samples) if a < 0 <= b)
        return crossings * RATE / len(samples)

    async def close(self) -> None:
        await within(self.pc.close())
