"""From a room's recorded tracks to a published replay with its transcript, off the hot path.

When a recorded room ends its Recording is "processing": its spans are closed and each
consenting speaker has one Ogg Opus file per span (RecordingTrack), the packets as they came
off the wire. `process()` decodes the tracks, mixes them onto the replay's timeline, encodes
the mix as the replay, transcribes each track on its own (so every line has its speaker) and
publishes all of it in one transaction. Nothing is visible before that transaction: only a
ready recording is published, and a file written by an attempt that did not publish is
deleted again.

`attempts` counts the attempts started: each one is claimed with a conditional UPDATE
(attempts = what we read), so two workers never run the same attempt, and an attempt that
killed its worker counts too, so a recording that crashes the worker ends "failed" instead of
being retried for ever. Two attempts of one recording may still overlap (a cron run while
process_soon's worker is busy); the first to publish wins and the other deletes its file.
"""

import logging
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, closing
from pathlib import Path

import av
import numpy as np
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from rooms.models import Recording, RecordingTrack, TranscriptSegment
from rooms.models.recordings import recordings_storage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RATE = 48_000  # the replay's timeline, in samples: Opus decodes at 48 kHz
FRAME = 960  # 20 ms, the replay's Opus frames
BLOCK = RATE * 10  # the mix is made ten seconds at a time, however long the room
REPLAY_BIT_RATE = 32_000
ASR_RATE = 16_000  # pocketsphinx's en-us model
# Silence after a track's last packet, so that the endpointer closes its last utterance.
TAIL = RATE * 6 // 10


class TrackUnreadable(Exception):
    """A track's file is missing, corrupt or holds no audio: this attempt fails."""


def process(recording_id: int) -> bool:
    """Make and publish the replay and transcript of a recording in "processing".

    True when the recording is now ready. False when it was not ours to process (not
    processing, no attempts left, another worker claimed this attempt), when it was deleted
    meanwhile, or when this attempt failed: that one is logged and counted, and the
    recording fails for good after MAX_ATTEMPTS.
    """
    attempt = _claim(recording_id)
    if attempt is None:
        return False
    saved = ""
    published = False
    try:
        recording = Recording.objects.get(pk=recording_id)
        tracks = list(recording.tracks.order_by("starts_ms", "pk"))
        with tempfile.TemporaryDirectory(prefix="replay-") as scratch:
            replay = Path(scratch) / "replay.ogg"
            _mix(tracks, recording.duration_ms, replay)
            segments = _transcribe(recording, tracks)
            name = f"rooms/{recording.room_id}/replay-{recording.pk}-{attempt}.ogg"
            with replay.open("rb") as fh:
                saved = recordings_storage().save(name, File(fh))
        _before_publish(recording_id)
        published = _publish(recording_id, saved, segments)
        return published
    except Exception as exc:
        log.exception("Recording %s: attempt %s of %s failed", recording_id, attempt, MAX_ATTEMPTS)
        _record_failure(recording_id, attempt, exc)
        return False
    finally:
        if saved and not published:
            _delete_file(saved)


def process_soon(recording_id: int) -> None:
    """Process a recording in a worker process of its own, and return at once.

    A room's end calls this (after its commit), so that the replay is there within minutes
    without a cron; `manage.py process_recordings` from cron retries what this missed.
    RECORDINGS_PROCESS_INLINE (tests) processes it here and now instead.
    """
    if getattr(settings, "RECORDINGS_PROCESS_INLINE", False):
        process(recording_id)
        return
    logs = Path(settings.VAR_DIR) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "recordings.log", "ab") as out:
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [
                sys.executable,
                "manage.py",
                "process_recordings",
                "--recording",
                str(recording_id),
            ],
            cwd=settings.BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # Reap it when it exits, so that a long-running server collects no zombies.
    threading.Thread(target=worker.wait, name=f"recording-{recording_id}", daemon=True).start()


def speaker_talk_ms(recording: Recording) -> dict[int, int]:
    """How long each recorded speaker talked, in ms, from the packets' audio levels."""
    rows = (
        RecordingTrack.objects.filter(recording_id=recording.pk)
        .order_by()
        .values("member_id")
        .annotate(ms=Sum("talk_ms"))
        .values_list("member_id", "ms")
    )
    return dict(rows)


def _before_publish(recording_id: int) -> None:
    """Runs between making the replay and publishing it; tests delete the recording here."""


# --- Claiming, publishing, failing -----------------------------------------------------------


def _claim(recording_id: int) -> int | None:
    """Start the next attempt: its number, or None when there is nothing for us to do."""
    with transaction.atomic():
        attempts = (
            Recording.objects.select_for_update(skip_locked=True)
            .filter(pk=recording_id, status=Recording.Status.PROCESSING)
            .values_list("attempts", flat=True)
            .first()
        )
        if attempts is None or attempts >= MAX_ATTEMPTS:
            return None
        # The row lock covers PostgreSQL; on SQLite (no FOR UPDATE) the condition does.
        won = Recording.objects.filter(
            pk=recording_id, status=Recording.Status.PROCESSING, attempts=attempts
        ).update(attempts=attempts + 1)
    return attempts + 1 if won else None


def _publish(recording_id: int, name: str, segments: list[TranscriptSegment]) -> bool:
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or recording.status != Recording.Status.PROCESSING:
            # Deleted while we worked, or published by an overlapping attempt.
            log.info("Recording %s: no longer processing, replay discarded", recording_id)
            return False
        previous = recording.audio.name
        TranscriptSegment.objects.filter(recording_id=recording_id).delete()
        TranscriptSegment.objects.bulk_create(segments, batch_size=500)
        recording.audio.name = name
        recording.status = Recording.Status.READY
        recording.processed_at = timezone.now()
        recording.last_error = ""
        recording.save(update_fields=["audio", "status", "processed_at", "last_error"])
        if previous and previous != name:
            transaction.on_commit(lambda: _delete_file(previous))
    log.info("Recording %s: replay ready (%s, %s lines)", recording_id, name, len(segments))
    return True


def _record_failure(recording_id: int, attempt: int, exc: Exception) -> None:
    message = f"{type(exc).__name__}: {exc}"
    status = Recording.Status.FAILED if attempt >= MAX_ATTEMPTS else Recording.Status.PROCESSING
    try:
        Recording.objects.filter(pk=recording_id, status=Recording.Status.PROCESSING).update(
            last_error=message[:500], status=status
        )
    except Exception:
        log.exception("Recording %s: could not record the failure", recording_id)


def _delete_file(name: str) -> None:
    try:
        recordings_storage().delete(name)
    except Exception:
        log.exception("Could not delete %s from the recordings storage", name)


# --- Audio -----------------------------------------------------------------------------------


def _frames(track: RecordingTrack) -> Iterator[tuple[int, np.ndarray]]:
    """A track's audio, in order: (where the samples start in the file, mono float32).

    Positions come from the granule positions, so a DTX gap stays a gap between frames.
    """
    end = 0
    try:
        if not track.file.name:
            raise TrackUnreadable(f"track {track.pk} has no file")
        with (
            recordings_storage().open(track.file.name, "rb") as fh,
            av.open(fh, "r") as container,
        ):
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                if frame.sample_rate != RATE:
                    raise TrackUnreadable(f"track {track.pk} is at {frame.sample_rate} Hz")
                samples = _mono(frame)
                at = end if frame.pts is None else round(frame.pts * frame.time_base * RATE)
                if at < end:  # overlapping timestamps: keep the timeline, drop the overlap
                    samples, at = samples[end - at :], end
                if len(samples):
                    yield at, samples
                    end = at + len(samples)
    except (OSError, IndexError, av.FFmpegError) as exc:
        raise TrackUnreadable(f"track {track.pk} ({track.file.name}): {exc}") from exc
    if end == 0 and track.packets:
        raise TrackUnreadable(f"track {track.pk} ({track.file.name}) holds no audio")


def _mono(frame: av.AudioFrame) -> np.ndarray:
    data = frame.to_ndarray()
    channels = frame.layout.nb_channels
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768
    elif data.dtype == np.int32:
        data = data.astype(np.float32) / 2**31
    else:
        data = data.astype(np.float32, copy=False)
    return data.mean(axis=0, dtype=np.float32) if channels > 1 else data[0]


class _Placed:
    """A track's frames placed on the replay's timeline, handed out block by block."""

    def __init__(self, offset: int, frames: Iterator[tuple[int, np.ndarray]]) -> None:
        self.offset = offset
        self.frames = frames
        self.pending: tuple[int, np.ndarray] | None = None

    def add_into(self, block: np.ndarray, start: int) -> None:
        end = start + len(block)
        while True:
            if self.pending is None:
                following = next(self.frames, None)
                if following is None:
                    return
                self.pending = (self.offset + following[0], following[1])
            at, samples = self.pending
            if at >= end:
                return
            lo, hi = max(at, start), min(at + len(samples), end)
            if hi > lo:
                block[lo - start : hi - start] += samples[lo - at : hi - at]
            if at + len(samples) > end:
                return  # the rest belongs to the next block
            self.pending = None


def _mix(tracks: list[RecordingTrack], duration_ms: int, path: Path) -> None:
    """Sum the tracks at their places on a timeline of duration_ms, clip, encode to Opus."""
    total = duration_ms * RATE // 1000
    with ExitStack() as stack:
        placed = [
            _Placed(track.starts_ms * RATE // 1000, stack.enter_context(closing(_frames(track))))
            for track in tracks
        ]
        out = stack.enter_context(av.open(str(path), "w", format="ogg"))
        stream = out.add_stream("libopus", rate=RATE, layout="mono", format="flt")
        stream.bit_rate = REPLAY_BIT_RATE
        for start in range(0, total, BLOCK):
            block = np.zeros(min(BLOCK, total - start), np.float32)
            for track in placed:
                track.add_into(block, start)
            # Speakers seldom talk at once; where they do, clipping is the limiter.
            np.clip(block, -1.0, 1.0, out=block)
            for i in range(0, len(block), FRAME):
                frame = av.AudioFrame.from_ndarray(
                    block[None, i : i + FRAME], format="flt", layout="mono"
                )
                frame.sample_rate = RATE
                frame.pts = start + i
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _contiguous(frames: Iterable[tuple[int, np.ndarray]]) -> Iterator[np.ndarray]:
    """The frames as one gapless 48 kHz stream from the file's first sample: gaps are silence."""
    end = 0
    for at, samples in frames:
        while end < at:
            gap = min(at - end, BLOCK)
            yield np.zeros(gap, np.float32)
            end += gap
        yield samples
        end = at + len(samples)
    yield np.zeros(TAIL, np.float32)


def _pcm16(chunks: Iterable[np.ndarray]) -> Iterator[bytes]:
    """48 kHz float chunks as 16 kHz signed 16-bit mono bytes, for pocketsphinx."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=ASR_RATE)
    for chunk in chunks:
        pcm = (np.clip(chunk, -1.0, 1.0) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = RATE
        for out in resampler.resample(frame):
            yield out.to_ndarray().tobytes()
    for out in resampler.resample(None):
        yield out.to_ndarray().tobytes()


# --- Transcript ------------------------------------------------------------------------------


def _transcribe(recording: Recording, tracks: list[RecordingTrack]) -> list[TranscriptSegment]:
    """Each track on its own, so that every line is its speaker's; on the replay's timeline."""
    # Imported here: the web process imports this module for process_soon() alone.
    from pocketsphinx import Decoder

    # Each utterance is normalized by its own average (cmn batch, see _utterances), so one
    # decoder serves every track: no speaker's voice carries over to the next.
    decoder = Decoder(samprate=ASR_RATE, cmn="batch", loglevel="ERROR")
    segments = []
    for track in tracks:
        with closing(_frames(track)) as frames:
            for start_ms, end_ms, text in _utterances(decoder, _pcm16(_contiguous(frames))):
                segments.append(
                    TranscriptSegment(
                        recording_id=recording.pk,
                        member_id=track.member_id,
                        start_ms=track.starts_ms + start_ms,
                        end_ms=track.starts_ms + max(end_ms, start_ms),
                        text=text[:2000],
                    )
                )
    segments.sort(key=lambda segment: (segment.start_ms, segment.member_id))
    return segments


def _utterances(decoder, pcm: Iterable[bytes]) -> Iterator[tuple[int, int, str]]:
    """(start ms, end ms, text) of each utterance pocketsphinx's endpointer finds.

    An utterance is decoded whole, once it has ended: the decoder normalizes it by its own
    average (cmn batch), so the first words of a speaker aren't lost to its warming up.
    """
    from pocketsphinx import Endpointer

    endpointer = Endpointer(sample_rate=ASR_RATE)
    size = endpointer.frame_bytes
    buffer = bytearray()
    speech = bytearray()

    def said() -> Iterator[tuple[int, int, str]]:
        decoder.start_utt()
        decoder.process_raw(bytes(speech), False, True)
        decoder.end_utt()
        speech.clear()
        hyp = decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        if text:
            start, end = endpointer.speech_start, endpointer.speech_end
            yield round(start * 1000), round(end * 1000), text

    for data in pcm:
        buffer += data
        while len(buffer) >= size:
            heard = endpointer.process(bytes(buffer[:size]))
            del buffer[:size]
            if heard is not None:
                speech += heard
                if not endpointer.in_speech:
                    yield from said()
    if endpointer.in_speech:
        speech += endpointer.end_stream(bytes(buffer) or bytes(size)) or b""
    if speech:  # still in speech when the stream ended
        yield from said()
