"""The fan-out benchmark's coordinator, in the manage.py process: starts the server, speaker
and listener processes, relays offers and answers, opens and closes the measurement windows,
gathers what each process saw and hands it to report.py. Idle while measuring."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from media.bench import REQUEST_TIMEOUT, SPEAKER_BASE, Options, report
from media.benchkit import (
    BenchError,
    Child,
    RemoteError,
    close_children,
    machine_busy_s,
    proc_cpu_s,
    spawn,
)

LISTENER_BASE = 1001  # member ids 1001.. are the listeners
ROOT = Path(__file__).resolve().parents[2]  # the directory holding the media package


class _Run:
    """One server mode, from starting its processes to the figures."""

    def __init__(self, opts: Options, mode: str, listeners: int, log, log_dir: Path) -> None:
        self.opts = opts
        self.mode = mode
        self.listeners = listeners
        self.log = log
        self.log_dir = log_dir
        self.children: list[Child] = []
        self.server: Child | None = None
        per_join = 0.5 if mode == "pass-through" else 1.0
        self.setup_timeout = 60 + per_join * (listeners + opts.speakers)
        self.deadline = (
            self.setup_timeout
            + opts.idle_seconds
            + opts.warmup_seconds
            + opts.seconds
            + opts.drain_limit
            + 240
        )

    async def spawn(self, name: str, module: str, config: dict, handler=None) -> Child:
        child = await spawn(
            name,
            module,
            {**config, "deadline": self.deadline},
            cwd=ROOT,
            handler=handler,
            log_path=self.log_dir / f"{self.mode}-{name}.log",
        )
        self.children.append(child)
        return child

    async def relay_offer(self, message: dict) -> object:
        """A client's offer, passed to the server; the reply is the answer SDP."""
        if message["op"] != "offer":
            raise RemoteError(f"unknown op {message['op']!r}")
        return await self.server.request(
            "attach",
            REQUEST_TIMEOUT - 5,
            member=message["member"],
            sdp=message["sdp"],
            speaker=message["speaker"],
        )

    def client_pids(self) -> list[int]:
        return [c.pid for c in self.children if c is not self.server]

    async def mark(self) -> dict:
        result = await self.server.request("mark", 30)
        result["clients_cpu_s"] = sum(proc_cpu_s(pid) for pid in self.client_pids())
        result["machine_s"] = machine_busy_s()
        result["server_cpu_s"] = proc_cpu_s(self.server.pid)
        return result

    async def execute(self) -> dict:
        opts = self.opts
        log = self.log
        result: dict = {"listeners": self.listeners}
        self.server = await self.spawn(
            "server",
            "media.bench.server",
            {"mode": self.mode, "speakers": opts.speakers, "listeners": self.listeners},
        )
        await self.mark()  # the server is up
        speaker = await self.spawn(
            "speakers",
            "media.bench.clients",
            {
                "role": "speaker",
                "members": list(range(SPEAKER_BASE, SPEAKER_BASE + opts.speakers)),
                "concurrency": 1,  # in order: speaker i takes slot i
            },
            self.relay_offer,
        )
        joined = await speaker.request("join", 120, timeout=100)
        if joined["connected"] != opts.speakers:
            raise BenchError(f"{self.mode}: speakers did not connect: {joined['errors']}")
        await asyncio.sleep(1.0)
        before = await self.mark()
        result["rss_before_kib"] = before["rss_kib"]

        processes = max(1, min(opts.processes, self.listeners))
        shares = [
            list(range(LISTENER_BASE + i, LISTENER_BASE + self.listeners, processes))
            for i in range(processes)
        ]
        clients = [
            await self.spawn(
                f"listeners-{i}",
                "media.bench.clients",
                {
                    "role": "listener",
                    "members": share,
                    "concurrency": opts.concurrency,
                    "nice": opts.client_nice,
                    "hook": opts.listener_hook,
                },
                self.relay_offer,
            )
            for i, share in enumerate(shares)
        ]
        log(f"{self.mode}: connecting {self.listeners} listeners from {processes} processes")
        started = time.monotonic()
        joins = await asyncio.gather(
            *(
                c.request("join", self.setup_timeout + 30, timeout=self.setup_timeout)
                for c in clients
            )
        )
        result["setup_s"] = time.monotonic() - started
        result["connected"] = sum(j["connected"] for j in joins)
        errors: Counter[str] = Counter()
        for j in joins:
            errors.update(j["errors"])
        result["join_errors"] = dict(errors)
        log(
            f"{self.mode}: {result['connected']}/{self.listeners} connected in "
            f"{result['setup_s']:.1f} s" + (f"; errors {dict(errors)}" if errors else "")
        )
        if result["connected"] == 0:
            raise BenchError(f"{self.mode}: no listener connected: {dict(errors)}")
        # The server may finish a few DTLS handshakes after the clients: wait for it.
        for _ in range(100):
            after = await self.mark()
            if after["ready"] >= result["connected"]:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        after = await self.mark()
        result["ready"] = after["ready"]
        result["rss_after_kib"] = after["rss_kib"]

        log(f"{self.mode}: idle for {opts.idle_seconds:.0f} s, then the speakers start")
        idle0 = await self.mark()
        await asyncio.sleep(opts.idle_seconds)
        idle1 = await self.mark()
        result["idle_cpu_share"] = (idle1["cpu_ns"] - idle0["cpu_ns"]) / (
            idle1["t_ns"] - idle0["t_ns"]
        )
        await speaker.request("speak", 10)
        await asyncio.sleep(opts.warmup_seconds)

        log(f"{self.mode}: measuring for {opts.seconds:.0f} s")
        w0 = await self.mark()
        await asyncio.sleep(opts.seconds)
        w1 = await self.mark()
        # Let the last packets of the window through (the ordinary path's jitter buffer
        # holds a few until more arrive), then stop the speakers.
        await asyncio.sleep(0.5)
        await speaker.request("mute", 10)
        result["window"] = (w0, w1)
        result["drain_s"] = await self.drain(clients)
        end = await self.mark()
        result["rss_end_kib"] = end["rss_kib"]

        rows = await self.server.request("records", 60)
        sends = await speaker.request("sends", 60)
        entries, result["unforwarded"] = _entries(rows, sends, w0["t_ns"], w1["t_ns"])
        result["entries"] = entries
        result["collected"] = await asyncio.gather(
            *(
                c.request("collect", 120, entries=entries, t0=w0["t_ns"], t1=w1["t_ns"])
                for c in clients
            )
        )
        result["unit_costs"] = await self.server.request("unit_costs", 30)
        return result

    async def drain(self, clients: list[Child]) -> float:
        """After the speakers stop: wait until nothing more reaches the listeners (the
        server and the listeners may be behind), at least --grace-seconds and at most
        --drain-limit seconds. Returns the seconds waited."""
        opts = self.opts
        started = time.monotonic()
        await asyncio.sleep(opts.grace_seconds)
        previous = -1
        while time.monotonic() - started < opts.drain_limit:
            counts = await asyncio.gather(*(c.request("received", 30) for c in clients))
            if sum(counts) == previous:
                break
            previous = sum(counts)
            await asyncio.sleep(1.0)
        return time.monotonic() - started


def _entries(rows: list, sends: dict, t0: int, t1: int) -> tuple[list[list], int]:
    """Join the server's rows with the speakers' send times.

    rows: [slot, out ts, speaker, speaker ts, receipt, fan-out start, fan-out end].
    Returns one entry per forwarded packet: [slot, out ts, speaker send ns or None, fan-out
    start, sent in the window (0/1), receipt, fan-out end], and how many packets the
    speakers sent in the window that the server never forwarded."""
    sent_at: dict[tuple[int, int], int] = {}
    for member, pairs in sends.items():
        for ts, t in pairs:
            sent_at.setdefault((int(member), ts), t)
    entries = []
    forwarded: set[tuple[int, int]] = set()
    for slot, out_ts, member, speaker_ts, receipt, start, end in rows:
        key = (member, speaker_ts)
        t_send = sent_at.get(key)
        in_window = t_send is not None and t0 <= t_send <= t1
        if in_window:
            forwarded.add(key)
        entries.append([slot, out_ts, t_send, start, int(in_window), receipt, end])
    sent_in_window = sum(1 for t in sent_at.values() if t0 <= t <= t1)
    return entries, sent_in_window - len(forwarded)


async def _run_mode(opts: Options, mode: str, listeners: int, log, log_dir: Path) -> dict:
    run = _Run(opts, mode, listeners, log, log_dir)
    try:
        return await asyncio.wait_for(run.execute(), run.deadline)
    except TimeoutError:
        raise BenchError(f"{mode}: gave up after {run.deadline:.0f} s") from None
    finally:
        await close_children(run.children)


async def run(opts: Options, log: Callable[[str], None]) -> list[str]:
    """Run the benchmark; return the report's lines. Progress goes to `log`."""
    from media.forwarder import K_SLOTS

    if opts.listeners < 1 or opts.speakers < 1 or opts.seconds <= 0:
        raise BenchError("--listeners, --speakers and --seconds must be positive")
    if opts.speakers > K_SLOTS:
        raise BenchError(f"--speakers: at most {K_SLOTS}, the room's slots (all forwarded)")
    log_dir = Path(tempfile.mkdtemp(prefix="bench_fanout-"))
    failed = True
    try:
        passthrough = await _run_mode(opts, "pass-through", opts.listeners, log, log_dir)
        ordinary = None
        if opts.baseline:
            ordinary = await _run_mode(opts, "ordinary", opts.baseline_listeners, log, log_dir)
        failed = False
    finally:
        if failed or opts.keep_logs:
            log(f"child process logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    return report.lines(opts, passthrough, ordinary)
