"""aiortc's ordinary path, the fan-out benchmark's baseline in the server process: the
speaker decoded by RTCRtpReceiver, aiortc.contrib.media.MediaRelay, and one RTCRtpSender (so
one Opus encoder) per listener."""

from __future__ import annotations

import time

from media.bench import SPEAKER_BASE
from media.benchkit import HOST


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
        self.pcs: dict[int, object] = {}  # every peer connection, speakers' too, kept alive

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
