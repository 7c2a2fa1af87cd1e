"""Live captions (media/captions.py): sentences spoken by espeak-ng, encoded by libopus into
20 ms packets, sent by a real aiortc speaker through the forwarder to the caption feed, and
recognised by pocketsphinx in the worker process. Run with -s for the WER and latency."""

import asyncio
import contextlib
import fractions
import importlib.util
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass

import av
import numpy
import pocketsphinx
import pytest
from aiortc.mediastreams import MediaStreamTrack

from media import caption_backends
from media.captions import CaptionService
from media.hub import MediaHub
from tests.media.peers import Browser, loopback_only, within

pytestmark = pytest.mark.asyncio

ROOM = 7
SPEAKER = 1
RATE = 48_000
FRAME = 960
SENTENCES = [
    "good morning everyone welcome to the talk",
    "today we discuss the future of remote work",
    "thank you all for joining us this afternoon",
    "please ask your questions at the end",
]
# pocketsphinx's en-us model hears espeak-ng's female variant far better than its default
# male voice (WER ~0.25 against ~0.8 on these sentences).
VOICE = ["-v", "en-us+f2", "-s", "150"]


# --- Speech ------------------------------------------------------------------------------


@dataclass
class Sentence:
    text: str
    pcm: numpy.ndarray  # 48 kHz mono s16
    ends: list[int]  # the sample where each word ends (forced alignment)
    start: int  # the sample where the first word starts


@dataclass
class Stream:
    packets: list[bytes]  # 20 ms Opus packets
    words: list[tuple[str, int]]  # each word and the sample where it ends
    starts: list[int]  # each sentence's first sample of speech
    ends: list[int]  # each sentence's last sample of speech


def _read(path, rate: int) -> numpy.ndarray:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return numpy.concatenate(chunks)


def _align(text: str, pcm16k: numpy.ndarray) -> list[tuple[int, int]]:
    """Where each word starts and ends, in 48 kHz samples (pocketsphinx's frames: 10 ms)."""
    decoder = pocketsphinx.Decoder(loglevel="FATAL")
    decoder.set_align_text(text)
    decoder.start_utt()
    decoder.process_raw(pcm16k.tobytes(), full_utt=True)
    decoder.end_utt()
    spans = [
        (seg.start_frame * 480, (seg.end_frame + 1) * 480)
        for seg in decoder.seg()
        if seg.word[0] not in "<["
    ]
    assert len(spans) == len(text.split()), "the alignment lost words"
    return spans


@pytest.fixture(scope="module")
def sentences(tmp_path_factory) -> list[Sentence]:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed")
    made = []
    for index, text in enumerate(SENTENCES):
        path = tmp_path_factory.getbasetemp() / f"sentence-{index}.wav"
        subprocess.run([espeak, *VOICE, "-w", str(path), text], check=True)  # noqa: S603
        spans = _align(text, _read(path, 16_000))
        made.append(Sentence(text, _read(path, RATE), [e for _, e in spans], spans[0][0]))
    return made


def _encode(pcm: numpy.ndarray) -> list[bytes]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.bit_rate = 32_000
    encoder.options = {"application": "voip", "frame_duration": "20"}
    packets = []
    for at in range(0, len(pcm) - FRAME + 1, FRAME):
        frame = av.AudioFrame.from_ndarray(pcm[None, at : at + FRAME], format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = at
        frame.time_base = fractions.Fraction(1, RATE)
        packets += [bytes(p) for p in encoder.encode(frame)]
    packets += [bytes(p) for p in encoder.encode(None)]
    return packets


def speech(sentences: list[Sentence], pause: float = 1.0, tail: float = 1.5) -> Stream:
    """The sentences, `pause` seconds apart, then `tail` seconds of silence, as packets."""
    parts, words, starts, ends, at = [], [], [], [], 0
    for sentence in sentences:
        words += [(w, at + e) for w, e in zip(sentence.text.split(), sentence.ends, strict=True)]
        starts.append(at + sentence.start)
        ends.append(at + sentence.ends[-1])
        gap = numpy.zeros(int(pause * RATE), dtype=numpy.int16)
        parts += [sentence.pcm, gap]
        at += len(sentence.pcm) + len(gap)
    parts.append(numpy.zeros(int(tail * RATE), dtype=numpy.int16))
    return Stream(_encode(numpy.concatenate(parts)), words, starts, ends)


# --- Instruments --------------------------------------------------------------------------


class OpusTrack(MediaStreamTrack):
    """A microphone that plays packets already encoded, in real time: aiortc sends them
    as they are (RTCRtpSender packs an av.Packet instead of encoding a frame)."""

    kind = "audio"

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        self.packets = packets
        self.index = 0
        self.done = asyncio.Event()
        self._start: float | None = None

    async def recv(self):
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self.index * FRAME / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self.index >= len(self.packets):
            self.done.set()
        packet = av.Packet(self.packets[min(self.index, len(self.packets) - 1)])
        packet.pts = self.index * FRAME
        packet.time_base = fractions.Fraction(1, RATE)
        self.index += 1
        return packet


class Timed:
    """A tap in front of the caption feed: when each packet passed the forwarder."""

    def __init__(self, tap) -> None:
        self.tap = tap
        self.times: dict[int, float] = {}  # sample offset from the first packet -> time
        self._first: int | None = None

    def packet(self, member_id, timestamp, payload, level, now) -> None:
        if self._first is None:
            self._first = timestamp
        self.times[(timestamp - self._first) & 0xFFFFFFFF] = now
        self.tap.packet(member_id, timestamp, payload, level, now)

    def close(self) -> None:
        self.tap.close()

    def at(self, sample: int) -> float:
        """When the packet carrying `sample` passed."""
        return self.times[sample // FRAME * FRAME]


class Heard:
    """The service's callbacks, with the time each caption arrived."""

    def __init__(self) -> None:
        self.captions: list[tuple[float, int, int, str, bool]] = []
        self.failures: list[tuple[int | None, str]] = []
        self._changed = asyncio.Event()

    def caption(self, room_id, member_id, text, final) -> None:
        self.captions.append((time.monotonic(), room_id, member_id, text, final))
        self._changed.set()

    def failure(self, room_id, message) -> None:
        self.failures.append((room_id, message))
        self._changed.set()

    def finals(self) -> list[tuple[float, str]]:
        return [(t, text) for t, _, _, text, final in self.captions if final]

    async def until(self, condition, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self._changed.clear()
            left = deadline - time.monotonic()
            assert left > 0, "timed out"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


async def until_ready(service: CaptionService, timeout: float = 30) -> None:
    """The worker has loaded its model (it takes a second or two under load)."""
    deadline = time.monotonic() + timeout
    while not service.ready:
        assert time.monotonic() < deadline, "the caption worker never became ready"
        await asyncio.sleep(0.05)


async def shut(service: CaptionService) -> None:
    service.close()
    assert await asyncio.to_thread(service.join, 20)


async def play(tap, packets: list[bytes], *, paced: bool = True, stop=lambda: False) -> float:
    """Feed packets to a tap directly, at real-time pace; returns when the first was fed."""
    start = time.monotonic()
    for index, payload in enumerate(packets):
        if stop():
            break
        if paced:
            await asyncio.sleep(max(0, start + index * FRAME / RATE - time.monotonic()))
        tap.packet(SPEAKER, (1000 + index * FRAME) & 0xFFFFFFFF, payload, -1, time.monotonic())
    return start


def word_errors(ref: list[str], hyp: list[str]) -> tuple[float, list[tuple[int, int]]]:
    """Word error rate (Levenshtein over words) and the pairs (ref, hyp) that match."""
    rows = [[j for j in range(len(hyp) + 1)]]
    for i in range(1, len(ref) + 1):
        row = [i]
        for j in range(1, len(hyp) + 1):
            same = ref[i - 1] == hyp[j - 1]
            row.append(min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (not same)))
        rows.append(row)
    pairs, i, j = [], len(ref), len(hyp)
    while i and j:
        if ref[i - 1] == hyp[j - 1] and rows[i][j] == rows[i - 1][j - 1]:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif rows[i][j] == rows[i - 1][j - 1] + 1:
            i, j = i - 1, j - 1
        elif rows[i][j] == rows[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return rows[-1][-1] / len(ref), pairs[::-1]


def _percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return f"p50 {statistics.median(values):.2f} s, p95 {cuts[18]:.2f} s"


# --- Through the forwarder ----------------------------------------------------------------


async def caption_through_the_forwarder(sentences, monkeypatch, **options) -> tuple:
    """The sentences from a real speaker peer on loopback, captioned; returns (WER,
    final-caption latencies, first-shown latencies), after printing them."""
    loopback_only(monkeypatch)
    stream = speech(sentences)
    hub = MediaHub(ice_servers=[])
    heard = Heard()
    service = CaptionService(on_caption=heard.caption, on_failure=heard.failure, **options)
    tap = Timed(service.feed(ROOM))
    hub.set_tap(ROOM, "captions", tap)
    track = OpusTrack(stream.packets)
    speaker = Browser()
    speaker.mic.sender.replaceTrack(track)
    try:
        await until_ready(service)
        answer = await within(
            hub.attach(ROOM, SPEAKER, "socket-1", await speaker.offer(), publishing=True)
        )
        await speaker.accept(answer)
        await speaker.connected()
        await within(track.done.wait(), len(stream.packets) * FRAME / RATE + 10)
        hub.set_tap(ROOM, "captions", None).close()
        # When shut() returns every caption is on the loop, ahead of this coroutine.
        await shut(service)
    finally:
        service.close()
        await within(hub.close_room(ROOM))
        await speaker.close()
    assert heard.failures == []

    # Each word of the finals: its caption's arrival, and where its utterance's captions
    # begin (after the previous final).
    hyp: list[tuple[str, float, int, int]] = []
    begins = 0
    for index, (arrived, _, _, text, final) in enumerate(heard.captions):
        if final:
            hyp += [(word, arrived, begins, index) for word in text.split()]
            begins = index + 1
    ref = [word for word, _ in stream.words]
    wer, pairs = word_errors(ref, [word for word, *_ in hyp])
    final_latency, shown_latency = [], []
    for i, j in pairs:
        said = tap.at(stream.words[i][1])
        word, arrived, begins, index = hyp[j]
        final_latency.append(arrived - said)
        # The first caption of the utterance that showed the word, partial or final.
        shown = next(
            t
            for t, *_, text, _ in heard.captions[begins : index + 1]
            if (t >= said and word in text.split()) or t == arrived
        )
        shown_latency.append(shown - said)
    print(
        f"\ncaptions ({options.get('backend', 'pocketsphinx')}): WER {wer:.2f} over "
        f"{len(ref)} words; after the packet ending a word: final caption "
        f"{_percentiles(final_latency)}, first shown {_percentiles(shown_latency)}"
    )
    for _, text in heard.finals():
        print(f"  final: {text}")
    return wer, final_latency, shown_latency


async def test_a_speakers_sentences_become_captions(sentences, monkeypatch):
    wer, _, shown_latency = await caption_through_the_forwarder(sentences, monkeypatch)
    assert wer < 0.5
    assert statistics.median(shown_latency) < 3.0


@pytest.mark.skipif(not os.environ.get("CAPTIONS_WHISPER_MODEL"), reason="no whisper model")
async def test_whisper_captions_a_speakers_sentences(sentences, monkeypatch):
    pytest.importorskip("faster_whisper")
    wer, _, _ = await caption_through_the_forwarder(
        sentences,
        monkeypatch,
        backend="whisper",
        whisper_model=os.environ["CAPTIONS_WHISPER_MODEL"],
    )
    assert wer < 0.3


# --- Straight into the tap ---------------------------------------------------------------


async def test_partial_captions_arrive_while_the_speaker_is_still_talking(sentences):
    # Two sentences run together: five seconds without a pause.
    run_on = Sentence(
        f"{sentences[1].text} {sentences[2].text}",
        numpy.concatenate([sentences[1].pcm, sentences[2].pcm]),
        sentences[1].ends + [len(sentences[1].pcm) + e for e in sentences[2].ends],
        sentences[1].start,
    )
    stream = speech([run_on], pause=0.5)
    heard = Heard()
    service = CaptionService(on_caption=heard.caption, on_failure=heard.failure)
    try:
        feed = service.feed(ROOM)
        await until_ready(service)
        start = await play(feed, stream.packets)
        first_word = start + stream.starts[0] / RATE
        last_word = start + stream.ends[0] / RATE
        partials = [t for t, *_, final in heard.captions if not final]
        assert partials, "no partial caption"
        print(f"\nfirst partial {partials[0] - first_word:.2f} s after the first word")
        assert partials[0] < last_word
        assert partials[0] - first_word < 3.0
    finally:
        await shut(service)


class FailingBackend:
    """A backend whose recogniser raises at its first audio."""

    def __init__(self, model: str) -> None:
        pass

    def recogniser(self):
        return FailingRecogniser()


class FailingRecogniser:
    def accept(self, pcm16k: bytes) -> list[tuple[str, bool]]:
        raise RuntimeError("the test recogniser failed on purpose")

    def finish(self) -> list[tuple[str, bool]]:
        return []


caption_backends.register("failing", FailingBackend)


async def test_a_failing_recogniser_stops_captions_once_and_the_loop_keeps_ticking(sentences):
    ticks: list[float] = []

    async def tick():
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.ensure_future(tick())
    heard = Heard()
    service = CaptionService(backend="failing", on_caption=heard.caption, on_failure=heard.failure)
    try:
        feed = service.feed(ROOM)
        packets = speech(sentences[:1]).packets
        await play(feed, packets, stop=lambda: heard.failures)
        await heard.until(lambda: heard.failures)
        await play(feed, packets[:50])  # more packets: taken and dropped without a word
        assert heard.failures == [
            (ROOM, "Captions stopped: the test recogniser failed on purpose.")
        ]
        assert heard.captions == []
        assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.25
    finally:
        ticker.cancel()
        await shut(service)


async def test_a_killed_worker_stops_captions_and_a_new_feed_starts_another(sentences):
    heard = Heard()
    service = CaptionService(on_caption=heard.caption, on_failure=heard.failure)
    try:
        feed = service.feed(ROOM)
        await until_ready(service)
        packets = speech(sentences[:2]).packets
        half = len(packets) // 2
        await play(feed, packets[:half])
        os.kill(service.pid, signal.SIGKILL)
        await play(feed, packets[half:], stop=lambda: heard.failures)
        await heard.until(lambda: heard.failures)
        assert heard.failures == [(None, "Captions stopped: the caption worker exited (signal 9).")]
        await play(feed, packets[:20])  # the old feed is quiet now

        service.restart_after = 0  # instead of 30 s
        again = service.feed(ROOM)
        await until_ready(service)
        before = len(heard.finals())
        await play(again, speech(sentences[3:]).packets, paced=False)
        again.close()
        await heard.until(lambda: len(heard.finals()) > before)
        text = " ".join(text for _, text in heard.finals()[before:])
        assert word_errors(sentences[3].text.split(), text.split())[0] < 0.5
        assert len(heard.failures) == 1
    finally:
        await shut(service)


async def test_a_full_queue_counts_drops_and_never_waits():
    heard = Heard()
    service = CaptionService(queue_limit=16, on_caption=heard.caption, on_failure=heard.failure)
    try:
        feed = service.feed(ROOM)
        start = time.perf_counter()
        for index in range(5000):
            feed.packet(SPEAKER, index * FRAME, b"\xf8\xff\xfe", -1, time.monotonic())
        elapsed = time.perf_counter() - start
        # The worker is still loading its model, so nothing has drained the queue yet.
        assert service.dropped == 5000 - 16
        assert elapsed < 0.5
    finally:
        await shut(service)


async def test_the_whisper_backend_without_its_package_says_so():
    if importlib.util.find_spec("faster_whisper") is not None:
        pytest.skip("faster-whisper is installed")
    heard = Heard()
    service = CaptionService(
        backend="whisper",
        whisper_model="/nowhere/model",
        on_caption=heard.caption,
        on_failure=heard.failure,
    )
    try:
        service.feed(ROOM)
        await heard.until(lambda: heard.failures)
        assert heard.failures == [
            (
                None,
                "Captions stopped: the whisper backend needs the faster-whisper package, "
                "which is not installed.",
            )
        ]
    finally:
        await shut(service)
