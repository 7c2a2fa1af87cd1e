"""The speech recognisers behind live captions, run only in the caption worker process
(media/captions.py).

A backend is a class, named in BACKENDS, that the worker makes once as `backend(model)`:
that is where a model is loaded and where a missing package or model raises
BackendUnavailable, which the service reports as "Captions stopped: …". Its
`recogniser()` makes one Recogniser per speaker:

    accept(pcm16k: bytes) -> list[tuple[str, bool]]   # 16 kHz mono s16; (text, final)
    finish() -> list[tuple[str, bool]]                # the speaker is gone: flush a final

Both backends cut the speech into utterances with pocketsphinx's Endpointer (a WebRTC-style
voice activity detector): an utterance ends after ~0.3 s of non-speech, or is cut after
LONGEST_UTTERANCE seconds of speech so that a speaker who never pauses is still captioned
within a few seconds. Tests add backends of their own with register(); the class travels
to the worker by reference, so it must live at the top level of an importable module.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy
import pocketsphinx

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2
# Seconds of speech between two partial hypotheses.
PARTIAL_EVERY = 0.5
# Seconds of continuous speech after which the utterance is cut and its final given:
# captions must follow the words within 3 s, and a long utterance would hold them back.
LONGEST_UTTERANCE = 6.0
# The level (RMS of s16) of the loudest 30 ms of speech that pocketsphinx's en-us model
# does best with (about -30 dBFS), and the most a quiet speaker is amplified to reach it.
LOUDEST_LEVEL = 1000.0
MAX_GAIN = 4.0


class BackendUnavailable(Exception):
    """The chosen backend cannot run here (a package or model is missing)."""


class Recogniser(Protocol):
    def accept(self, pcm16k: bytes) -> list[tuple[str, bool]]: ...

    def finish(self) -> list[tuple[str, bool]]: ...


class _Endpointed:
    """Cuts 16 kHz audio into utterances; a subclass recognises each one."""

    # Seconds of speech between partials; None: finals only.
    partial_every: float | None = PARTIAL_EVERY

    def __init__(self) -> None:
        self._endpointer = pocketsphinx.Endpointer(window=0.3, ratio=0.9)
        self._frame = self._endpointer.frame_bytes
        self._pending = bytearray()
        self._speaking = False
        self._spoken = 0  # bytes of this utterance so far
        self._partial_at = 0
        self._partial = ""

    # What a subclass provides.
    def _begin(self) -> None:
        raise NotImplementedError

    def _speech(self, pcm: bytes) -> None:
        raise NotImplementedError

    def _hypothesis(self) -> str:
        return ""

    def _end(self) -> str:
        raise NotImplementedError

    def accept(self, pcm16k: bytes) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        self._pending += pcm16k
        size = self._frame
        while len(self._pending) >= size:
            frame = bytes(self._pending[:size])
            del self._pending[:size]
            speech = self._endpointer.process(frame)
            if speech is None:
                continue
            self._take(speech, out)
            if not self._endpointer.in_speech:
                self._close(out)
            elif self._spoken >= LONGEST_UTTERANCE * BYTES_PER_SECOND:
                self._close(out)  # the next speech frame starts the next utterance
        return out

    def finish(self) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        if self._endpointer.in_speech:
            speech = self._endpointer.end_stream(bytes(self._pending[: self._frame]))
            if speech is not None:
                self._take(speech, out)
        self._pending.clear()
        if self._speaking:
            self._close(out)
        return out

    def _take(self, speech: bytes, out: list[tuple[str, bool]]) -> None:
        if not self._speaking:
            self._begin()
            self._speaking = True
            self._spoken = self._partial_at = 0
            self._partial = ""
        self._speech(speech)
        self._spoken += len(speech)
        every = self.partial_every
        if every is not None and self._spoken - self._partial_at >= every * BYTES_PER_SECOND:
            self._partial_at = self._spoken
            text = self._hypothesis()
            if text and text != self._partial:
                self._partial = text
                out.append((text, False))

    def _close(self, out: list[tuple[str, bool]]) -> None:
        self._speaking = False
        text = self._end()
        # A final always follows a partial, even an empty one, so that it replaces it.
        if text or self._partial:
            out.append((text, True))


class PocketsphinxRecogniser(_Endpointed):
    """CMU pocketsphinx with its default en-us model: offline, light, and rough.

    Its cepstral mean normalisation starts from a prior for quiet speech and moves off it
    only over many seconds, so a loud speaker's first utterances come out as nonsense. The
    speech is therefore brought to the level the model expects: a gain from the loudest
    30 ms seen lately (falling between utterances, so that a speaker can get quieter)."""

    def __init__(self, decoder: pocketsphinx.Decoder) -> None:
        super().__init__()
        self._decoder = decoder
        self._loudest = 0.0  # RMS of the speaker's loudest 30 ms lately

    def _begin(self) -> None:
        self._loudest *= 0.8
        self._decoder.start_utt()

    def _speech(self, pcm: bytes) -> None:
        samples = numpy.frombuffer(pcm, dtype=numpy.int16).astype(numpy.float32)
        frames = samples[: len(samples) // 480 * 480].reshape(-1, 480)
        if len(frames):
            self._loudest = max(self._loudest, float(numpy.sqrt((frames**2).mean(axis=1)).max()))
        gain = min(LOUDEST_LEVEL / max(self._loudest, 1.0), MAX_GAIN)
        samples = numpy.clip(samples * gain, -32768, 32767).astype(numpy.int16)
        self._decoder.process_raw(samples.tobytes())

    def _hypothesis(self) -> str:
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def _end(self) -> str:
        self._decoder.end_utt()
        return self._hypothesis()


class PocketsphinxBackend:
    def __init__(self, model: str = "") -> None:
        # One decoder made now, so that a broken install fails at start, not mid-room;
        # the first speaker gets it. Each decoder loads the model (~0.3 s, ~30 MB).
        self._spare: pocketsphinx.Decoder | None = self._decoder()

    @staticmethod
    def _decoder() -> pocketsphinx.Decoder:
        # No second, flat-lexicon pass: it made each final wait ~0.2 s (a CPU-bound call, for
        # every speaker of the process) for no better words on our tests.
        return pocketsphinx.Decoder(loglevel="FATAL", fwdflat=False)

    def recogniser(self) -> Recogniser:
        decoder, self._spare = self._spare or self._decoder(), None
        return PocketsphinxRecogniser(decoder)


class WhisperRecogniser(_Endpointed):
    """faster-whisper over each whole utterance at its end: finals only."""

    partial_every = None

    def __init__(self, model) -> None:
        super().__init__()
        self._model = model
        self._audio = bytearray()

    def _begin(self) -> None:
        self._audio.clear()

    def _speech(self, pcm: bytes) -> None:
        self._audio += pcm

    def _end(self) -> str:
        samples = numpy.frombuffer(bytes(self._audio), dtype=numpy.int16)
        segments, _ = self._model.transcribe(
            samples.astype(numpy.float32) / 32768.0,
            language="en",
            beam_size=1,
            condition_on_previous_text=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()


class WhisperBackend:
    def __init__(self, model: str = "") -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise BackendUnavailable(
                "the whisper backend needs the faster-whisper package, which is not installed"
            ) from exc
        if not model or not os.path.exists(model):
            raise BackendUnavailable(f"the whisper model {model!r} does not exist")
        self._model = WhisperModel(model, device="cpu", compute_type="int8")

    def recogniser(self) -> Recogniser:
        return WhisperRecogniser(self._model)


BACKENDS: dict[str, type] = {
    "pocketsphinx": PocketsphinxBackend,
    "whisper": WhisperBackend,
}


def register(name: str, backend: type) -> None:
    """Add a backend (tests do: a recogniser that fails on purpose)."""
    BACKENDS[name] = backend


def backend_named(name: str) -> type:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown caption backend {name!r}; choose one of {sorted(BACKENDS)}"
        ) from None
