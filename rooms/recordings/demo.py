"""The demo's recorded room: an ended room with its replay and transcript, made at seed time.

Two speakers' lines are synthesized with espeak-ng, encoded to 20 ms Opus packets as a
browser would send them (RTP timestamps, an audio level each, no packets while a speaker is
silent: DTX), and fed through the real recorder (media.recorder.RoomRecorder), so the
tracks are muxed exactly as a live recording's are, and saved where rooms.recordings.live
saves them. rooms.recordings.processing then makes the replay and transcript, as after any
recorded room. The tests build their tracks the same way.
"""

import math
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
from django.utils import timezone

# The demo is one of the few callers of media/ besides rooms.media_bridge: it records
# through the same recorder a live room does.
from media.recorder import RoomRecorder, TrackFile
from rooms.models import (
    Recording,
    RecordingConsent,
    RecordingSpan,
    Room,
)
from rooms.recordings import live
from rooms.recordings.processing import process
from rooms.services import room_create, room_end, room_start

RATE = 48_000
FRAME = 960  # 20 ms
TITLE = "Data contracts, recorded"
DESCRIPTION = "A recorded conversation about data contracts. The replay has a transcript."
# Two voices, a woman's and a man's, that pocketsphinx's US English model hears well
# (in the tests about a quarter of the words come out wrong; with en-gb, most).
HOST_VOICE = "en-us+f5"
GUEST_VOICE = "en-us"


@dataclass(frozen=True)
class Turn:
    member_id: int
    voice: str  # an espeak-ng voice
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class Line:
    """A sentence as it was said: who, when on the recording's timeline, and what."""

    member_id: int
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Packet:
    """What the forwarder hands the recorder: RTP timestamp, payload, level, arrival."""

    member_id: int
    timestamp: int
    payload: bytes
    level: int  # RFC 6464: -dBov, 0 (loudest) to 127 (silence)
    at_ms: int  # on the recording's clock


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str) -> np.ndarray:
    """espeak-ng saying `text`, as 48 kHz mono signed 16-bit samples."""
    with tempfile.TemporaryDirectory(prefix="speak-") as scratch:
        wav = Path(scratch) / "line.wav"
        subprocess.run(  # noqa: S603 - a fixed program; the text is one argument
            ["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text],  # noqa: S607
            check=True,
            capture_output=True,
            timeout=60,
        )
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        chunks = []
        with av.open(str(wav)) as container:
            for frame in container.decode(audio=0):
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks)


def encode(pcm: np.ndarray) -> list[tuple[bytes, int]]:
    """Samples as 20 ms Opus packets, each with its audio level, as a browser sends them."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.bit_rate = 32_000
    encoder.open()
    frames = -(-len(pcm) // FRAME)
    pcm = np.pad(pcm, (0, frames * FRAME - len(pcm)))
    payloads, levels = [], []
    for i in range(frames):
        samples = pcm[i * FRAME : (i + 1) * FRAME]
        levels.append(_level(samples))
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = i * FRAME
        payloads += [bytes(packet) for packet in encoder.encode(frame)]
    payloads += [bytes(packet) for packet in encoder.encode(None)]
    levels += [127] * (len(payloads) - len(levels))
    return list(zip(payloads, levels, strict=False))


def _level(samples: np.ndarray) -> int:
    rms = math.sqrt(float(np.mean((samples.astype(np.float64) / 32768) ** 2)))
    return 127 if rms <= 0 else max(0, min(127, round(-20 * math.log10(rms))))


def conversation(
    turns: list[Turn], *, lead_ms: int = 500, pause_ms: int = 600, gap_ms: int = 1000
) -> tuple[list[Packet], list[Line], int]:
    """The turns one after another: the packets in arrival order, the lines, the length.

    Between sentences and turns a speaker sends nothing (DTX); their RTP clock runs on.
    """
    clocks: dict[int, int] = {}  # member -> their RTP timestamp at the recording's start
    packets, lines = [], []
    at = lead_ms * RATE // 1000  # in samples on the recording's clock
    for turn in turns:
        clock = clocks.setdefault(turn.member_id, random.getrandbits(32))
        for n, sentence in enumerate(turn.sentences):
            if n:
                at += pause_ms * RATE // 1000
            coded = encode(speak(sentence, turn.voice))
            for i, (payload, level) in enumerate(coded):
                sample = at + i * FRAME
                packets.append(
                    Packet(
                        member_id=turn.member_id,
                        timestamp=(clock + sample) % 2**32,
                        payload=payload,
                        level=level,
                        at_ms=sample * 1000 // RATE,
                    )
                )
            end = at + len(coded) * FRAME
            lines.append(Line(turn.member_id, at * 1000 // RATE, end * 1000 // RATE, sentence))
            at = end
        at += gap_ms * RATE // 1000
    packets.sort(key=lambda packet: packet.at_ms)
    return packets, lines, at * 1000 // RATE


def record(packets: list[Packet], directory: Path, members: list[int]) -> list[TrackFile]:
    """The packets through the live recorder, as the forwarder would hand them over."""
    recorder = RoomRecorder(directory, members=members, queue_limit=len(packets) + 1)
    # The recorder times a speaker's first packet from its start; ours are on a clock that
    # starts with it.
    started = time.monotonic()
    for packet in packets:
        now = started + packet.at_ms / 1000
        recorder.packet(packet.member_id, packet.timestamp, packet.payload, packet.level, now)
    return recorder.stop()


def save_tracks(recording: Recording, span: RecordingSpan, files: list[TrackFile]) -> None:
    """The recorder's files into the recordings storage, as RecordingTrack rows (as a
    live room's node keeps them, rooms.recordings.live)."""
    for track in files:
        name = live.store_track(recording.room_id, span.pk, track)
        live.track_row(recording.pk, span.pk, track, name).save()


def seed_recorded_room(*, host, speaker, group=None, stdout) -> None:
    """An ended public room of `host`'s with `speaker`, recorded, with replay and transcript.

    Seeded once: a room of that title by that host means it is there already.
    """
    if Room.objects.filter(title=TITLE, host=host).exists():
        return
    if not espeak_available():
        stdout.write("espeak-ng is not installed: the recorded demo room is skipped.")
        return
    turns = [
        Turn(
            host.pk,
            HOST_VOICE,
            (
                "Welcome to our talk about data contracts.",
                "So what is a data contract?",
            ),
        ),
        Turn(
            speaker.pk,
            GUEST_VOICE,
            (
                "Thank you for having me.",
                "It is a promise between the people who make the data and the people who use it.",
            ),
        ),
        Turn(host.pk, HOST_VOICE, ("What happens when the data has to change?",)),
        Turn(
            speaker.pk,
            GUEST_VOICE,
            ("You add new fields first, and you never remove one without telling people.",),
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="demo-recording-") as scratch:
        try:
            packets, _lines, duration_ms = conversation(turns)
        except (OSError, subprocess.SubprocessError) as exc:
            stdout.write(f"espeak-ng failed ({exc}): the recorded demo room is skipped.")
            return
        files = record(packets, Path(scratch), [host.pk, speaker.pk])
        room = room_create(
            host=host, title=TITLE, description=DESCRIPTION, speakers=[speaker], group=group
        )
        room_start(actor=host, room=room)
        room_end(room_id=room.pk, actor=host)
        # It happened yesterday, and lasted as long as its recording.
        ended_at = timezone.now() - timedelta(days=1)
        started_at = ended_at - timedelta(milliseconds=duration_ms)
        Room.objects.filter(pk=room.pk).update(
            record=True, started_at=started_at, ended_at=ended_at
        )
        for member in (host, speaker):
            RecordingConsent.objects.create(room=room, member=member, agreed=True)
        recording = Recording.objects.create(
            room=room,
            status=Recording.Status.PROCESSING,
            started_by=host,
            ended_at=ended_at,
            duration_ms=duration_ms,
        )
        Recording.objects.filter(pk=recording.pk).update(started_at=started_at)
        span = RecordingSpan.objects.create(
            recording=recording, started_at=started_at, ended_at=ended_at, offset_ms=0
        )
        save_tracks(recording, span, files)
    if process(recording.pk):
        stdout.write(f'Recorded demo room "{TITLE}": replay and transcript ready.')
    else:
        recording.refresh_from_db()
        stdout.write(f'Recorded demo room "{TITLE}": the replay failed ({recording.last_error}).')
