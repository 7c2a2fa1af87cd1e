"""What the forwarder changes in aiortc 1.16.0 so that it never decodes or encodes: every
piece here reaches into private attributes of that exact release (pinned in pyproject.toml;
DESIGN section 5 has the facts they rest on)."""

import asyncio

from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket
from OpenSSL import SSL

OPUS_CLOCK = 48_000


class SharedCertificate(RTCCertificate):
    """One DTLS key and certificate, and one OpenSSL context, for all of the hub's peer
    connections. aiortc makes all three per connection; browsers only compare the
    fingerprint in our answer, so one is enough (about 28 KiB less per connection)."""

    def __init__(self, key, cert) -> None:
        super().__init__(key, cert)
        self._contexts: dict[tuple, object] = {}

    def _create_ssl_context(self, srtp_profiles):
        key = tuple(p.openssl_profile for p in srtp_profiles)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = super()._create_ssl_context(srtp_profiles)
            # OpenSSL keeps each connection's read and write buffers (about 96 KiB per
            # DTLS connection, measured with tracemalloc) for its whole life. After the
            # handshake an audio-only connection carries no DTLS records, only SRTP, so
            # let OpenSSL free them while idle. Set before the context's first use.
            context.set_mode(SSL.MODE_RELEASE_BUFFERS)
        return context


async def no_sender_rtp(sender, codec) -> None:
    """Stands in for a slot sender's RTCRtpSender._run_rtp (private, aiortc 1.16.0), which
    would wait for frames to encode (and, with no track, poll every 20 ms): the forwarder
    writes the slot's RTP itself. So the senders have no track, and this task ends at once
    (a task, its frame and a track less per slot and listener); sets the two events
    RTCRtpSender.stop() waits for."""
    sender._RTCRtpSender__rtp_started.set()
    sender._RTCRtpSender__rtp_exited.set()


async def no_sender_reports(sender) -> None:
    """Stands in for a slot sender's RTCRtpSender._run_rtcp (private, aiortc 1.16.0): no
    sender reports, whose counters would be zero anyway since the forwarder writes the RTP
    itself. They were three RTCP packets a second per listener, about half of the idle
    cost. Sets the two events RTCRtpSender.stop() waits for."""
    sender._RTCRtpSender__rtcp_started.set()
    sender._RTCRtpSender__rtcp_exited.set()


class _Done:
    """A receiver's RTCP task that never ran: stop() may cancel it."""

    def cancel(self) -> bool:
        return False


_DONE = _Done()


def take_over_receiver(receiver: RTCRtpReceiver, peer) -> None:
    """Make the microphone receiver hand each packet to the forwarder
    (`peer.room.forward(peer, packet)`) instead of aiortc's jitter buffer and decoder. The
    decoder thread is never started."""

    async def receive(parameters) -> None:
        # Replaces RTCRtpReceiver.receive: register for RTP, start no decoder thread, and
        # run RTCP receiver reports only from the first packet: a member who never speaks
        # has nothing to report on, and aiortc's task would wake once a second for nothing.
        # Until then stop() finds the task "started and exited". Private, aiortc 1.16.0.
        if receiver._RTCRtpReceiver__started:
            return
        receiver.transport._register_rtp_receiver(receiver, parameters)
        receiver._RTCRtpReceiver__rtcp_task = _DONE
        receiver._RTCRtpReceiver__rtcp_started.set()
        receiver._RTCRtpReceiver__rtcp_exited.set()
        receiver._RTCRtpReceiver__started = True
        clock = next(
            (c.clockRate for c in parameters.codecs if c.mimeType.lower() == "audio/opus"),
            OPUS_CLOCK,
        )
        peer.stats = StreamStatistics(clock)

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        stats = peer.stats
        if stats is None:
            return
        # Feed the receiver's statistics so aiortc keeps sending receiver reports. (Its
        # RTCP task fails on a stream without packets, so register it with its first one.)
        stats.add(packet)
        remote_streams = receiver._RTCRtpReceiver__remote_streams
        if packet.ssrc not in remote_streams:
            remote_streams[packet.ssrc] = stats
            if receiver._RTCRtpReceiver__rtcp_task is _DONE:
                # A new event rather than clear(): the old one may be ALWAYS_SET by now.
                exited = receiver._RTCRtpReceiver__rtcp_exited = asyncio.Event()
                task = receiver._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(
                    receiver._run_rtcp()
                )
                # Set even if the task is cancelled before it starts, so stop() never waits.
                task.add_done_callback(lambda _: exited.set())
        peer.room.forward(peer, packet)

    receiver.receive = receive
    receiver._handle_rtp_packet = handle_rtp_packet


def answer_opus_pt(pc: RTCPeerConnection) -> int | None:
    """The Opus payload type the listener's browser negotiated for the slots."""
    for transceiver in pc.getTransceivers()[1:]:
        for codec in transceiver._codecs:  # private: the negotiated codecs
            if codec.mimeType.lower() == "audio/opus":
                return codec.payloadType
    return None


class _AlwaysSet(asyncio.Event):
    """An event that is set and stays set, shared by every settled flag below."""

    def __init__(self) -> None:
        super().__init__()
        self._value = True

    def clear(self) -> None:
        raise RuntimeError("ALWAYS_SET is shared by many senders and receivers")


ALWAYS_SET = _AlwaysSet()
_FLAGS = {
    RTCRtpSender: ("_RTCRtpSender__", ("rtp_started", "rtp_exited", "rtcp_started", "rtcp_exited")),
    RTCRtpReceiver: ("_RTCRtpReceiver__", ("rtcp_started", "rtcp_exited")),
}


def share_settled_flags(pc: RTCPeerConnection) -> None:
    """Each aiortc sender and receiver keeps asyncio Events for "my task started" and
    "my task exited", each with its own deque (about 0.7 KiB; 24 per listener). Once
    such an event is set with nobody waiting, or belongs to a sender or receiver that was
    never started (stop() then waits on nothing), it is replaced by the one ALWAYS_SET:
    aiortc only ever sets and waits on them (aiortc 1.16.0), so wait() still returns at
    once. One that may still matter (a running RTCP task's "exited") is left alone."""
    for transceiver in pc.getTransceivers():
        for part in (transceiver.sender, transceiver.receiver):
            prefix, names = _FLAGS[type(part)]
            started = getattr(part, prefix + "started", True)
            for name in names:
                event = getattr(part, prefix + name)
                if event is ALWAYS_SET:
                    continue
                if not started or (event.is_set() and not event._waiters):
                    setattr(part, prefix + name, ALWAYS_SET)


def drop_what_a_connected_peer_no_longer_needs(pc: RTCPeerConnection) -> None:
    """Free, once a peer connection is up, what aiortc 1.16.0 keeps only for negotiation
    or for decoding (private attributes; measured with tracemalloc at about 21 KiB of
    Python objects for the parsed SDP and 27 KiB for the receivers' jitter buffers,
    decoder queues and remote tracks, per connection; then 19 KiB for the settled
    events, finished tasks and decoder flags, see share_settled_flags). Nothing here is
    read again: the forwarder never renegotiates (a re-offer is a new connection) and
    never decodes."""
    pc._RTCPeerConnection__currentLocalDescription = None
    pc._RTCPeerConnection__currentRemoteDescription = None
    pc._RTCPeerConnection__pendingRemoteDescription = None  # the offer, parsed (19 KiB)
    pc._RTCPeerConnection__remoteDtls.clear()
    pc._RTCPeerConnection__remoteIce.clear()
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        receiver._RTCRtpReceiver__jitter_buffer = None
        receiver._RTCRtpReceiver__decoder_queue = None
        receiver._RTCRtpReceiver__timestamp_mapper = None
        receiver._track = None
        receiver._RTCRtpReceiver__decoder_error = None  # a threading.Event, for decoding
        sender = transceiver.sender
        for name in ("_RTCRtpSender__rtp_task", "_RTCRtpSender__rtcp_task"):
            task = getattr(sender, name)
            if task is not None and task.done():  # the slot senders' stand-ins, finished
                setattr(sender, name, _DONE)
    share_settled_flags(pc)
