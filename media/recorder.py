"""The recorder: each consenting speaker's Opus packets, unchanged, into an Ogg Opus file.

One RoomRecorder per stretch on the record (rooms.models.recordings.RecordingSpan), installed
on the room's brain node as a tap (MediaHub.set_tap). Nothing is decoded or re-encoded: the
payloads the forwarder hands over are muxed as they are, one file per speaker, so the file
holds exactly what listeners heard. A speaker's RTP timestamps become the packets' positions
(granules), so silence and DTX stay gaps in time, costing no bytes, and each track lines up
with the others at its `starts_ms`.

The forwarder calls packet() on its hot path, which must never wait on a disk: packet() only
appends to a bounded deque (and counts what a full one refuses). A daemon thread empties it
and does the muxing with PyAV. A file that can't be written is dropped, never published half
written, and the other speakers' files go on.
"""

from __future__ import annotations

import collections
import logging
import pathlib
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

import av

from media.aiortc_glue import OPUS_CLOCK
from media.forwarder import FRAME_SAMPLES, SPEAKING_LEVEL

log = logging.getLogger(__name__)

MAX_PACKET = 5760  # 120 ms, the longest Opus packet
MAX_GAP = 10 * 60 * OPUS_CLOCK  # a timestamp jump further than 10 minutes is a new stream
LATE = 10 * OPUS_CLOCK  # a packet at most 10 s behind is late or a duplicate; older, a new stream
POLL = 0.05  # seconds the writer sleeps when the queue is empty
WARN_EVERY = 1.0  # seconds between warnings about a full queue


@dataclass(frozen=True)
class TrackFile:
    member_id: int
    path: pathlib.Path  # a finished, closed .ogg file
    starts_ms: int  # offset_ms + ms from the recorder's start to this member's first packet
    duration_ms: int  # the file's last granule position, less the pre-skip
    packets: int
    dropped: int  # this member's packets the full queue refused
    talk_ms: int  # the packets at a speaking level (0..SPEAKING_LEVEL)


def _open_ogg(path: pathlib.Path):
    """An Ogg Opus file to mux packets into, and its stream. Pages of at most 100 ms: a gap
    inside a page is placed at the page's start, so it is misplaced by at most that."""
    out = av.open(str(path), "w", format="ogg", options={"page_duration": "100000"})
    stream = out.add_stream("opus", rate=OPUS_CLOCK)
    stream.codec_context.layout = "mono"
    stream.time_base = Fraction(1, OPUS_CLOCK)
    return out, stream


def _samples(payload: bytes) -> int:
    """An Opus packet's duration at 48 kHz, from its TOC byte (RFC 6716, 3.1)."""
    if not payload:
        return FRAME_SAMPLES
    toc = payload[0]
    config = toc >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        frame = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:  # hybrid: 10, 20 ms
        frame = (480, 960)[config & 1]
    else:  # CELT: 2.5, 5, 10, 20 ms
        frame = (120, 240, 480, 960)[config & 3]
    code = toc & 3
    if code == 0:
        frames = 1
    elif code < 3:
        frames = 2
    else:
        frames = payload[1] & 0x3F if len(payload) > 1 else 0
    return min(frame * frames, MAX_PACKET) if frames else FRAME_SAMPLES


class _Track:
    """One speaker's file, as the writer thread sees it."""

    __slots__ = (
        "duration",
        "failed",
        "last_now",
        "last_ts",
        "out",
        "packets",
        "path",
        "pts",
        "starts_ms",
        "stream",
        "talk",
    )

    def __init__(self, path: pathlib.Path, starts_ms: int) -> None:
        self.path = path
        self.starts_ms = starts_ms
        self.out = self.stream = None
        self.failed = False
        self.pts = 0  # of the last packet written
        self.duration = 0  # of the last packet written, in samples
        self.last_ts = 0
        self.last_now = 0.0
        self.packets = 0
        self.talk = 0  # samples


class RoomRecorder:
    """The tap that records a room's speakers; stop() returns their finished files."""

    def __init__(
        self,
        directory: pathlib.Path,
        *,
        offset_ms: int = 0,
        members=(),
        queue_limit: int = 8192,
    ) -> None:
        self.directory = pathlib.Path(directory)
        self.offset_ms = offset_ms
        self.queue_limit = queue_limit
        self.dropped = 0
        self.write_errors = 0
        self._allowed = frozenset(members)
        self._queue: collections.deque[tuple] = collections.deque()
        self._refused: dict[int, int] = {}  # member -> packets the full queue refused
        self._warned = float("-inf")
        self._started = time.monotonic()
        self._stopping = False
        self._wake = threading.Event()
        self._stop_lock = threading.Lock()
        self._files: list[TrackFile] | None = None
        self._tracks: dict[int, _Track] = {}  # the writer thread's alone until it ends
        self._thread = threading.Thread(
            target=self._run, name=f"recorder {self.directory.name}", daemon=True
        )
        self._thread.start()

    def allow(self, members) -> None:
        """Who may be written from the next packet on: the speakers who consented."""
        self._allowed = frozenset(members)

    def packet(self, member_id: int, timestamp: int, payload: bytes, level: int, now: float):
        """The tap, on the forwarder's hot path (one thread, the event loop's): O(1), never
        waits. The writer isn't woken: that would cost a lock per packet; it polls."""
        if self._stopping or member_id not in self._allowed:
            return
        if len(self._queue) >= self.queue_limit:
            self.dropped += 1
            self._refused[member_id] = self._refused.get(member_id, 0) + 1
            if now - self._warned >= WARN_EVERY:
                self._warned = now
                log.warning(
                    "recorder %s: the writer is behind, %d packets dropped so far",
                    self.directory,
                    self.dropped,
                )
            return
        self._queue.append((member_id, timestamp, payload, level, now))

    def stop(self) -> list[TrackFile]:
        """Write what is queued, close every file and return them (the failed ones deleted
        and left out). Blocks on the disk: call it off the event loop, after removing the
        tap. Later calls return the same list."""
        with self._stop_lock:
            if self._files is None:
                self._stopping = True
                self._wake.set()
                self._thread.join()
                self._files = self._finish()
            return self._files

    # --- The writer thread --------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while True:
            while queue:
                self._write(*queue.popleft())
            if self._stopping:
                break
            self._wake.wait(POLL)
        while queue:  # anything appended as stop() began
            self._write(*queue.popleft())

    def _write(self, member_id: int, timestamp: int, payload: bytes, level: int, now: float):
        track = self._tracks.get(member_id)
        if track is None:
            track = self._tracks[member_id] = self._open(member_id, now)
            pts = 0
        elif track.failed:
            return
        else:
            step = (timestamp - track.last_ts) & 0xFFFFFFFF  # unwraps the 32-bit clock
            if step >= 1 << 31:
                step -= 1 << 32
            if 0 < step <= MAX_GAP:
                pts = track.pts + step
            elif -LATE <= step <= 0:
                return  # reordered or repeated: already past it
            else:
                # A timestamp from another clock: the speaker's stream began again (a new
                # connection starts at a random timestamp). Its gap in timestamps means
                # nothing, so go on by the real time since their last packet, which keeps
                # this track in step with the others.
                gap = round((now - track.last_now) * OPUS_CLOCK)
                pts = track.pts + max(track.duration, gap)
        if track.failed:
            return
        duration = _samples(payload)
        try:
            packet = av.Packet(payload)
            packet.pts = packet.dts = pts
            packet.duration = duration  # so that the page's granule is the packet's end
            packet.time_base = track.stream.time_base
            packet.stream = track.stream
            track.out.mux(packet)
        except Exception:
            self._fail(member_id, track)
            return
        track.pts = pts
        track.duration = duration
        track.last_ts = timestamp
        track.last_now = now
        track.packets += 1
        if 0 <= level <= SPEAKING_LEVEL:
            track.talk += duration

    def _open(self, member_id: int, now: float) -> _Track:
        path = self.directory / f"{member_id}.ogg"
        track = _Track(path, self.offset_ms + round((now - self._started) * 1000))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            track.out, track.stream = _open_ogg(path)
        except Exception:
            self._fail(member_id, track)
        return track

    def _fail(self, member_id: int, track: _Track) -> None:
        """Stop writing this member, and delete what was written of them."""
        log.exception("recorder %s: member %s's track can't be written", self.directory, member_id)
        self.write_errors += 1
        track.failed = True
        if track.out is not None:
            try:
                track.out.close()
            except Exception:
                log.debug("closing a failed track failed too", exc_info=True)
            track.out = None
        try:
            track.path.unlink(missing_ok=True)
        except OSError:
            log.warning("recorder: %s can't be deleted", track.path, exc_info=True)

    def _finish(self) -> list[TrackFile]:
        files = []
        for member_id, track in self._tracks.items():
            if track.failed:
                continue
            try:
                track.out.close()
            except Exception:
                self._fail(member_id, track)
                continue
            files.append(
                TrackFile(
                    member_id=member_id,
                    path=track.path,
                    starts_ms=track.starts_ms,
                    duration_ms=(track.pts + track.duration) * 1000 // OPUS_CLOCK,
                    packets=track.packets,
                    dropped=self._refused.get(member_id, 0),
                    talk_ms=track.talk * 1000 // OPUS_CLOCK,
                )
            )
        return files
