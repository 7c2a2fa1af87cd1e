"""Live captions: the speakers' Opus packets, as the forwarder passes them on, decoded and
recognised in a worker process, and the text handed back on the event loop.

    service = CaptionService(on_caption=..., on_failure=...)   # one per process
    hub.set_tap(room_id, "captions", service.feed(room_id))    # on the event loop
    ...
    hub.set_tap(room_id, "captions", None).close()             # the room's finals flushed

Why a subprocess: the forwarder never decodes, and its event loop moves every packet of
every room. A recogniser is C code that holds the GIL through each call (pocketsphinx's
end of utterance takes up to a few hundred milliseconds), so in this process it would stall
the loop, and every room's audio with it. In a process of its own it can only delay captions.

The path of a packet, and where each step runs:
  CaptionFeed.packet()  the forwarder's hot path, on the loop: appends to a bounded deque,
                        or counts a drop when the deque is full. O(1); never waits.
  feeder thread         every 10 ms, takes what the deque holds and writes it to the
                        worker as one pickled batch (Connection.send_bytes). A slow worker
                        blocks this thread, never the loop: the deque fills and drops.
  worker process        ('spawn': nothing of this process's threads or sockets is
                        inherited) per (feed, member): PyAV's Opus decoder, a resampler to
                        16 kHz mono s16, and a recogniser (media/caption_backends.py).
                        Timestamp jumps (DTX, lost packets) and a speaker who stops
                        sending are fed as silence, so that utterances end.
  reader thread         receives the worker's results and calls on_caption/on_failure
                        on the loop (call_soon_threadsafe).

If the worker dies or its recogniser raises, on_failure(room_id or None, "Captions stopped:
…") is called once and that worker's feeds go quiet; the next feed() starts a new worker,
at most once every `restart_after` seconds (until then feed() gives a feed that drops all).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import pickle
import threading
import time
from collections import deque

from media import caption_backends

log = logging.getLogger(__name__)

OPUS_RATE = 48_000
FRAME = 960  # one 20 ms Opus frame at 48 kHz
# A gap in a speaker's timestamps is fed as silence, up to this much (48 kHz samples):
# enough for the endpointer to end the utterance.
MAX_GAP = OPUS_RATE
# A speaker who sent nothing for this long (s) gets silence, which ends their utterance;
# one silent for FORGET_AFTER is finished and forgotten (a decoder holds ~30 MB).
QUIET_AFTER = 0.5
FORGET_AFTER = 120.0
BATCH = 1000  # packets per write to the worker, at most


class CaptionFeed:
    """The tap of one room: installed with MediaHub.set_tap."""

    def __init__(self, service: CaptionService, worker: _Worker, key: int, room_id: int):
        self.room_id = room_id
        self._service = service
        self._worker = worker
        self._key = key
        self._open = True

    def packet(self, member_id, timestamp, payload, level, now) -> None:
        worker = self._worker
        if not self._open or worker.dead:
            return
        queue = worker.queue
        if len(queue) >= worker.limit:
            self._service.dropped += 1
            return
        queue.append((self._key, member_id, timestamp, payload))

    def close(self) -> None:
        """No more packets: the worker gives this room's last finals and forgets it."""
        if self._open:
            self._open = False
            if not self._worker.dead:
                self._worker.queue.append(("close", self._key))


class CaptionService:
    """One per process. Owns the caption worker (see the module's docstring); on_caption
    (room_id, member_id, text, final) and on_failure(room_id | None, message) are called on
    the event loop: `loop`, else the loop running when feed() is first called."""

    restart_after = 30.0  # seconds between two starts of the worker, at least

    def __init__(
        self,
        *,
        backend: str = "pocketsphinx",
        whisper_model: str = "",
        on_caption,
        on_failure,
        loop: asyncio.AbstractEventLoop | None = None,
        queue_limit: int = 4096,
    ) -> None:
        self._backend = caption_backends.backend_named(backend)
        self._model = whisper_model
        self._on_caption = on_caption
        self._on_failure = on_failure
        self._loop = loop
        self._limit = queue_limit
        self._worker: _Worker | None = None
        self._started = float("-inf")
        self._keys = itertools.count(1)
        self._rooms: dict[int, int] = {}  # feed key -> room id, for the worker's results
        self.dropped = 0
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The worker's process id, while one runs."""
        worker = self._worker
        return None if worker is None or worker.dead else worker.process.pid

    @property
    def ready(self) -> bool:
        """Whether a worker runs with its model loaded (until then packets wait)."""
        worker = self._worker
        return worker is not None and not worker.dead and worker.loaded.is_set()

    def feed(self, room_id: int) -> CaptionFeed:
        """A tap for the room; starts the worker if none runs (and restarts a dead one, at
        most once every `restart_after` seconds). Call it on the event loop."""
        if self._closed:
            raise RuntimeError("the caption service is closed")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        worker = self._worker
        if worker is None or (
            worker.dead and time.monotonic() - self._started >= self.restart_after
        ):
            worker = self._worker = _Worker(self, self._backend, self._model, self._limit)
            self._started = time.monotonic()
        key = next(self._keys)
        self._rooms[key] = room_id
        if worker.dead:
            # Within restart_after of a crash: say so at once, rather than caption nothing.
            self._failure(
                key, "Captions stopped: the caption worker is restarting. Try again in a minute."
            )
        return CaptionFeed(self, worker, key, room_id)

    def close(self) -> None:
        """Stop: the worker flushes every room's finals and exits. Returns at once."""
        self._closed = True
        if self._worker is not None:
            self._worker.stop()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait for the worker's end after close() (blocks: not on the event loop)."""
        return self._worker is None or self._worker.join(timeout)

    # --- Called from the reader thread ----------------------------------------------------

    def _caption(self, key: int, member_id: int, text: str, final: bool) -> None:
        room_id = self._rooms.get(key)
        if room_id is not None:
            self._post(self._on_caption, room_id, member_id, text, final)

    def _failure(self, key: int | None, message: str) -> None:
        self._post(self._on_failure, None if key is None else self._rooms.get(key), message)

    def _post(self, callback, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(_call, callback, args)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            log.warning("caption result after the event loop closed: %r", args)


def _call(callback, args) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("caption callback failed")


class _Worker:
    """This process's side of one worker process: its queue, pipes and two threads."""

    def __init__(self, service: CaptionService, backend: type, model: str, limit: int):
        self.service = service
        self.queue: deque = deque()
        self.limit = limit
        self.dead = False
        self._stopping = False
        self._reported = False
        self._lock = threading.Lock()
        self.loaded = threading.Event()
        context = multiprocessing.get_context("spawn")
        packets_in, self._packets = context.Pipe(duplex=False)
        self._results, results_out = context.Pipe(duplex=False)
        self.process = context.Process(
            target=run_worker,
            args=(backend, model, packets_in, results_out),
            name="podium-captions",
            daemon=True,
        )
        self.process.start()
        # Only the worker holds these ends now: its death is our EOF.
        packets_in.close()
        results_out.close()
        self._reader = threading.Thread(target=self._read, name="captions-reader", daemon=True)
        self._feeder = threading.Thread(target=self._feed, name="captions-feeder", daemon=True)
        self._reader.start()
        self._feeder.start()

    def stop(self) -> None:
        self._stopping = True

    def join(self, timeout: float) -> bool:
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def _feed(self) -> None:
        # Packets wait in the queue while the model loads (the limit bounds them).
        while not self.loaded.wait(0.05):
            if self.dead:
                return
        queue = self.queue
        while not self.dead:
            if not queue:
                if self._stopping:
                    self._send([("stop",)])
                    return
                time.sleep(0.01)
                continue
            batch = []
            while queue and len(batch) < BATCH:
                batch.append(queue.popleft())
            self._send(batch)

    def _send(self, batch: list) -> None:
        try:
            self._packets.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        except (OSError, ValueError):
            self._fail(None, None)  # the reader says why, from the exit code

    def _read(self) -> None:
        while True:
            try:
                results = pickle.loads(self._results.recv_bytes())  # noqa: S301 - our worker
            except (EOFError, OSError):
                break
            for result in results:
                kind = result[0]
                if kind == "caption":
                    self.service._caption(*result[1:])
                elif kind == "closed":
                    self.service._rooms.pop(result[1], None)
                elif kind == "ready":
                    self.loaded.set()
                elif kind == "failure":
                    self._fail(result[1], result[2])
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        code = self.process.exitcode
        if not (self._stopping and code == 0):
            how = f"signal {-code}" if code is not None and code < 0 else f"code {code}"
            self._fail(None, f"Captions stopped: the caption worker exited ({how}).")
        self.dead = True
        self._packets.close()
        self._results.close()

    def _fail(self, key: int | None, message: str | None) -> None:
        """Stop feeding; tell on_failure once (a message of None: not yet known)."""
        self.dead = True
        self.queue.clear()
        if message is None:
            return
        with self._lock:
            if self._reported:
                return
            self._reported = True
        self.service._failure(key, message)
        if self.process.is_alive():
            self.process.kill()


# --- The worker process -----------------------------------------------------------------


class _Stream:
    """One speaker of one feed, in the worker: Opus -> 16 kHz s16 -> recogniser."""

    def __init__(self, recogniser) -> None:
        import av

        self.decoder = av.CodecContext.create("opus", "r")
        self.decoder.sample_rate = OPUS_RATE
        self.decoder.layout = "mono"
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
        self.recogniser = recogniser
        self.last_ts: int | None = None
        self.duration = FRAME  # of the last packet, 48 kHz samples
        self.padded = 0  # silence already fed since the last packet, 48 kHz samples
        self.seen = time.monotonic()
        self.bad = 0

    def packet(self, timestamp: int, payload: bytes) -> list[tuple[str, bool]]:
        import av

        out: list[tuple[str, bool]] = []
        if self.last_ts is not None:
            gap = (timestamp - self.last_ts) & 0xFFFFFFFF
            if gap == 0 or gap >= 1 << 31:
                return out  # a duplicate or a late packet: audio already given
            out += self.silence(min(gap - self.duration, MAX_GAP) - self.padded)
        self.last_ts = timestamp
        self.padded = 0
        self.seen = time.monotonic()
        try:
            frames = self.decoder.decode(av.Packet(payload))
        except av.FFmpegError:
            self.bad += 1  # a speaker's garbage must not stop everyone's captions
            return out
        samples = 0
        for frame in frames:
            samples += frame.samples
            for pcm in self.resampler.resample(frame):
                out += self.recogniser.accept(bytes(pcm.planes[0])[: pcm.samples * 2])
        self.duration = samples or FRAME
        return out

    def silence(self, samples: int) -> list[tuple[str, bool]]:
        """`samples` (48 kHz) of silence, straight to the recogniser at 16 kHz."""
        if samples < 3:
            return []
        self.padded += samples
        return self.recogniser.accept(bytes(samples // 3 * 2))


def run_worker(backend: type, model: str, packets, results) -> None:
    """The worker process: packets in, captions out, until told to stop or the pipe ends."""
    try:
        engine = backend(model)
    except caption_backends.BackendUnavailable as exc:
        log.error("captions: %s", exc)
        results.send_bytes(pickle.dumps([("failure", None, _stopped(exc))]))
        return
    except Exception as exc:
        log.exception("caption backend failed to start")
        results.send_bytes(pickle.dumps([("failure", None, _stopped(exc))]))
        return
    results.send_bytes(pickle.dumps([("ready",)]))
    streams: dict[tuple[int, int], _Stream] = {}
    out: list[tuple] = []

    def speak(key: int, member_id: int, texts: list[tuple[str, bool]]) -> None:
        out.extend(("caption", key, member_id, text, final) for text, final in texts)

    def finish(keys) -> None:
        for pair in keys:
            stream = streams.pop(pair)
            speak(*pair, stream.recogniser.finish())

    running = True
    while running:
        key = None
        try:
            if packets.poll(0.1):
                try:
                    batch = pickle.loads(packets.recv_bytes())  # noqa: S301 - our parent
                except EOFError:
                    return  # the service's process is gone
                for item in batch:
                    key = item[0]
                    if key == "stop":
                        key = None
                        finish(list(streams))
                        running = False
                    elif key == "close":
                        key = item[1]
                        finish([pair for pair in streams if pair[0] == key])
                        out.append(("closed", key))
                    else:
                        member_id = item[1]
                        stream = streams.get((key, member_id))
                        if stream is None:
                            stream = streams[key, member_id] = _Stream(engine.recogniser())
                        speak(key, member_id, stream.packet(item[2], item[3]))
            # Only when caught up: a speaker whose packets wait in the pipe isn't quiet.
            now = time.monotonic()
            for pair, stream in [] if packets.poll(0) else list(streams.items()):
                key = pair[0]
                if now - stream.seen > FORGET_AFTER:
                    finish([pair])
                elif now - stream.seen > QUIET_AFTER and stream.padded < MAX_GAP:
                    speak(*pair, stream.silence(MAX_GAP - stream.padded))
        except Exception as exc:
            log.exception("caption recogniser failed")
            out.append(("failure", key, _stopped(exc)))
            running = False
        if out:
            results.send_bytes(pickle.dumps(out, pickle.HIGHEST_PROTOCOL))
            out.clear()


def _stopped(exc: Exception) -> str:
    return f"Captions stopped: {exc}." if exc.args else f"Captions stopped: {type(exc).__name__}."
