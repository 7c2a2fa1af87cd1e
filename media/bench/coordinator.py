"""The fan-out benchmark's coordinator, in the manage.py process: starts the server(s),
speaker and listener processes, relays offers and answers (with --nodes N, to the member's
node, and node 1's choice of who is heard to the others), opens and closes the measurement
windows, gathers what each process saw and hands it to report.py (report_nodes.py for N > 1).
Idle while measuring. With --pin, each server process has a CPU of its own and the speaker
and listener processes and the coordinator itself share the others (plan_pins)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from media.bench import REQUEST_TIMEOUT, SPEAKER_BASE, Options, report, report_nodes
from media.benchkit import (
    BenchError,
    Child,
    RemoteError,
    affinity,
    close_children,
    machine_busy_s,
    pin,
    proc_cpu_s,
    spawn,
    udp_drops,
)

LISTENER_BASE = 1001  # member ids 1001.. are the listeners
ROOT = Path(__file__).resolve().parents[2]  # the directory holding the media package
PER_JOIN_S = {"pass-through": 0.5, "ordinary": 1.0}  # set-up time allowed per connection


def plan_pins(available: list[int], servers: int) -> dict:
    """--pin: which CPUs each process may use. Server k gets the k-th of the CPUs this
    process may use, alone; the speaker and listener processes and the coordinator share
    all the others. Needs servers + 1 CPUs. Returns {"servers": [[cpu], ...], "clients":
    [cpus]} (one list per server; single-server runs of the same command use the first)."""
    cpus = sorted(available)
    if len(cpus) < servers + 1:
        raise BenchError(
            f"--pin: {servers} server process{'es' if servers > 1 else ''} need a CPU each "
            f"and the clients at least one more, {servers + 1} CPUs, but this process may run "
            f"on {len(cpus)} ({', '.join(map(str, cpus)) or 'none'})"
        )
    return {"servers": [[c] for c in cpus[:servers]], "clients": cpus[servers:]}


class _Run:
    """One server mode, from starting its processes to the figures. With `nodes` > 1: that
    many pass-through servers, each with a relay, wired to each other here (the speakers on
    node 1, the listeners round-robin over the nodes)."""

    def __init__(
        self,
        opts: Options,
        mode: str,
        listeners: int,
        log,
        log_dir: Path,
        nodes: int = 1,
        pins: dict | None = None,
    ) -> None:
        self.opts = opts
        self.pins = pins
        self.mode = mode
        self.listeners = listeners
        self.nodes = nodes
        self.name = mode if nodes == 1 else f"{nodes} nodes"
        self.log = log
        self.log_dir = log_dir
        self.children: list[Child] = []
        self.servers: list[Child] = []
        self.speaker: Child | None = None
        self.listener_procs: list[Child] = []
        self.choices = 0  # the brain's choices passed on to the followers
        self.setup_timeout = 60 + PER_JOIN_S[mode] * (listeners + opts.speakers)
        self.deadline = (
            self.setup_timeout
            + opts.idle_seconds
            + opts.warmup_seconds
            + opts.seconds
            + opts.drain_limit
            + 240
        )

    async def spawn(
        self, name: str, module: str, config: dict, handler=None, cpus: list[int] | None = None
    ) -> Child:
        prefix = self.mode if self.nodes == 1 else f"{self.nodes}-nodes"
        child = await spawn(
            name,
            module,
            {**config, "deadline": self.deadline},
            cwd=ROOT,
            handler=handler,
            log_path=self.log_dir / f"{prefix}-{name}.log",
            cpus=cpus,
        )
        self.children.append(child)
        return child

    def node_of(self, member: int) -> int:
        """The node a member's offer goes to: the speakers' is node 1 (index 0), the
        listeners go round-robin."""
        return 0 if member < LISTENER_BASE else (member - LISTENER_BASE) % self.nodes

    async def relay_offer(self, message: dict) -> object:
        """A client's offer, passed to its node; the reply is the answer SDP."""
        if message["op"] != "offer":
            raise RemoteError(f"unknown op {message['op']!r}")
        return await self.servers[self.node_of(message["member"])].request(
            "attach",
            REQUEST_TIMEOUT - 5,
            member=message["member"],
            sdp=message["sdp"],
            speaker=message["speaker"],
        )

    async def pass_choice(self, message: dict) -> object:
        """Node 1 (the brain) chose who is heard: every follower gets set_choice()."""
        if message["op"] != "choice":
            raise RemoteError(f"unknown op {message['op']!r}")
        await asyncio.gather(
            *(s.request("choice", 10, audible=message["audible"]) for s in self.servers[1:])
        )
        self.choices += 1
        return True

    def client_pids(self) -> list[int]:
        return [c.pid for c in self.children if c not in self.servers]

    def server_cpus(self, k: int) -> list[int] | None:
        return None if self.pins is None else self.pins["servers"][k]

    def client_cpus(self) -> list[int] | None:
        return None if self.pins is None else self.pins["clients"]

    async def mark(self) -> list[dict]:
        """Every server's counters, each with the CPU of the clients (the listener processes
        one by one), of the coordinator and of the machine (with --pin, of the servers'
        and the clients' CPUs apart), and the datagrams dropped at each listener process's
        sockets."""
        results = await asyncio.gather(*(s.request("mark", 30) for s in self.servers))
        clients = sum(proc_cpu_s(pid) for pid in self.client_pids())
        listeners = [c.pid for c in self.listener_procs]
        shared = {
            "clients_cpu_s": clients,
            "listener_cpu_s": [proc_cpu_s(pid) for pid in listeners],
            "speaker_cpu_s": proc_cpu_s(self.speaker.pid) if self.speaker else 0.0,
            "coordinator_cpu_s": proc_cpu_s(os.getpid()),
            "listener_drops": udp_drops(listeners),
            "machine_s": machine_busy_s(),
            "client_cores_s": machine_busy_s(self.client_cpus()),
        }
        for k, (result, server) in enumerate(zip(results, self.servers, strict=True)):
            result.update(shared)
            result["server_cpu_s"] = proc_cpu_s(server.pid)
            result["server_cores_s"] = machine_busy_s(self.server_cpus(k))
        return results

    def affinities(self, k: int) -> dict:
        """The CPUs the processes' threads may run on now: server k, the speaker process,
        the listener processes (all of them together) and the coordinator."""
        listeners: set[int] = set()
        for child in self.listener_procs:
            listeners.update(affinity(child.pid))
        return {
            "server": affinity(self.servers[k].pid),
            "speakers": affinity(self.speaker.pid),
            "listeners": sorted(listeners),
            "coordinator": affinity("self"),
        }

    async def wire(self) -> None:
        """What rooms.cluster does through Redis, done directly: each node's relay allows the
        others, the room's forwarder on each node has the others as destinations, node 1 is
        the brain, and on the other nodes the speakers may publish (set_publishing)."""
        secret = secrets.token_hex(16)
        addresses = await asyncio.gather(
            *(s.request("start_relay", 30, secret=secret) for s in self.servers)
        )
        speakers = list(range(SPEAKER_BASE, SPEAKER_BASE + self.opts.speakers))
        warm = await asyncio.gather(*(s.request("warm_up", 60) for s in self.servers[1:]))
        if not all(warm):
            raise BenchError(f"{self.name}: a follower's warm-up connection failed")
        await asyncio.gather(
            *(
                server.request(
                    "wire",
                    30,
                    others=[a for j, a in enumerate(addresses) if j != k],
                    brain=k == 0,
                    publishing=speakers if k else [],
                )
                for k, server in enumerate(self.servers)
            )
        )

    async def execute(self) -> dict:
        opts = self.opts
        log = self.log
        n = self.nodes
        per_node = [len(range(k, self.listeners, n)) for k in range(n)]
        results: list[dict] = [{"listeners": per_node[k], "join_errors": {}} for k in range(n)]
        for k in range(n):
            server = await self.spawn(
                "server" if n == 1 else f"node-{k + 1}",
                "media.bench.server",
                {
                    "mode": self.mode,
                    "speakers": opts.speakers,
                    "listeners": per_node[k],
                    "nodes": n,
                    "taps": opts.taps,
                },
                self.pass_choice if n > 1 and k == 0 else None,
                self.server_cpus(k),
            )
            self.servers.append(server)
        await self.mark()  # the servers are up
        if n > 1:
            await self.wire()
        speaker = self.speaker = await self.spawn(
            "speakers",
            "media.bench.clients",
            {
                "role": "speaker",
                "members": list(range(SPEAKER_BASE, SPEAKER_BASE + opts.speakers)),
                "concurrency": 1,  # in order: speaker i takes slot i
            },
            self.relay_offer,
            self.client_cpus(),
        )
        joined = await speaker.request("join", 120, timeout=100)
        if joined["connected"] != opts.speakers:
            raise BenchError(f"{self.name}: speakers did not connect: {joined['errors']}")
        await asyncio.sleep(1.0)
        base0 = await self.mark()
        for result, mark in zip(results, base0, strict=True):
            result["rss_before_kib"] = mark["rss_kib"]
        # The idle cost with no listener yet (the speakers connected and silent, the room's
        # ticker, this benchmark's monitor): the part of the idle share that is not per
        # listener.
        await asyncio.sleep(opts.idle_seconds)
        for result, i0, i1 in zip(results, base0, await self.mark(), strict=True):
            result["idle_base_share"] = _share(i0, i1)

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
                    "node_of": [self.node_of(m) for m in share],
                    "concurrency": opts.concurrency,
                    "nice": opts.client_nice,
                    "hook": opts.listener_hook,
                },
                self.relay_offer,
                self.client_cpus(),
            )
            for i, share in enumerate(shares)
        ]
        self.listener_procs = clients
        log(f"{self.name}: connecting {self.listeners} listeners from {processes} processes")
        started = time.monotonic()
        joins = await asyncio.gather(
            *(
                c.request("join", self.setup_timeout + 30, timeout=self.setup_timeout)
                for c in clients
            )
        )
        setup_s = time.monotonic() - started
        connected = sum(j["connected"] for j in joins)
        errors: Counter[str] = Counter()
        for j in joins:
            errors.update(j["errors"])
        log(
            f"{self.name}: {connected}/{self.listeners} connected in {setup_s:.1f} s"
            + (f"; errors {dict(errors)}" if errors else "")
        )
        if connected == 0:
            raise BenchError(f"{self.name}: no listener connected: {dict(errors)}")
        for k, result in enumerate(results):
            result["setup_s"] = setup_s
            result["connected"] = sum(j["by_node"].get(str(k), 0) for j in joins)
        if n == 1:
            results[0]["join_errors"] = dict(errors)
        # The servers may finish a few DTLS handshakes after the clients: wait for them
        # (at least 10 s, a second more per 50 listeners).
        for _ in range(max(100, self.listeners // 5)):
            if sum(m["ready"] for m in await self.mark()) >= connected:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        for result, mark in zip(results, await self.mark(), strict=True):
            result["ready"] = mark["ready"]
            result["rss_after_kib"] = mark["rss_kib"]

        log(f"{self.name}: idle for {opts.idle_seconds:.0f} s, then the speakers start")
        idle0 = await self.mark()
        await asyncio.sleep(opts.idle_seconds)
        idle1 = await self.mark()
        for result, i0, i1 in zip(results, idle0, idle1, strict=True):
            result["idle_cpu_share"] = _share(i0, i1)
        await speaker.request("speak", 10)
        await asyncio.sleep(opts.warmup_seconds)

        log(f"{self.name}: measuring for {opts.seconds:.0f} s")
        w0 = await self.mark()
        await asyncio.sleep(opts.seconds)
        w1 = await self.mark()
        seen = [self.affinities(k) for k in range(n)]
        # Let the last packets of the window through (the ordinary path's jitter buffer
        # holds a few until more arrive), then stop the speakers.
        await asyncio.sleep(0.5)
        await speaker.request("mute", 10)
        drain_s = await self.drain(clients)
        end = await self.mark()

        rows = await asyncio.gather(*(s.request("records", 60) for s in self.servers))
        sends = await speaker.request("sends", 60)
        t0, t1 = w0[0]["t_ns"], w1[0]["t_ns"]  # the speakers' window, the same for all nodes
        for k, result in enumerate(results):
            result["window"] = (w0[k], w1[k])
            result["drain_s"] = drain_s
            result["rss_end_kib"] = end[k]["rss_kib"]
            # From the window's start to the end of the drain: its packets may be dropped late.
            result["listener_drops"] = sum(
                max(0, b - a)  # a socket closed in between takes its count with it
                for a, b in zip(w0[k]["listener_drops"], end[k]["listener_drops"], strict=True)
            )
            result["pins"] = (
                None
                if self.pins is None
                else {
                    "server": self.server_cpus(k),
                    "clients": self.client_cpus(),
                }
            )
            result["affinity"] = seen[k]
            result["listener_processes"] = len(clients)
            entries, result["unforwarded"] = _entries(rows[k], sends, t0, t1)
            result["entries"] = entries
            node = {} if n == 1 else {"node": k}
            result["collected"] = await asyncio.gather(
                *(c.request("collect", 120, entries=entries, t0=t0, t1=t1, **node) for c in clients)
            )
            result["unit_costs"] = await self.servers[k].request("unit_costs", 30)
            if n > 1:
                result["relay_units"] = await self.servers[k].request("relay_unit_costs", 30)
        if n == 1:
            return results[0]
        return {
            "nodes": results,
            "listeners": self.listeners,
            "connected": connected,
            "setup_s": setup_s,
            "join_errors": dict(errors),
            "choices": self.choices,
            "relay_hop_ms": _relay_hops(rows, t0, t1, sends),
        }

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


def _share(m0: dict, m1: dict) -> float:
    """The server's CPU between two of its marks, as a share of one core."""
    return (m1["cpu_ns"] - m0["cpu_ns"]) / (m1["t_ns"] - m0["t_ns"])


def _relay_hops(rows: list[list], t0: int, t1: int, sends: dict) -> list[list[float]]:
    """Per follower node: for each packet of the window, the time from forward() entered on
    node 1 (which relays it first) to forward() entered on that node, in ms."""
    sent = {
        (int(member), ts) for member, pairs in sends.items() for ts, t in pairs if t0 <= t <= t1
    }
    first = {(r[2], r[3]): r[4] for r in rows[0] if (r[2], r[3]) in sent}
    return [
        [(r[4] - first[(r[2], r[3])]) / 1e6 for r in node if (r[2], r[3]) in first]
        for node in rows[1:]
    ]


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


async def _run_mode(
    opts: Options,
    mode: str,
    listeners: int,
    log,
    log_dir: Path,
    nodes: int = 1,
    pins: dict | None = None,
) -> dict:
    run = _Run(opts, mode, listeners, log, log_dir, nodes, pins)
    try:
        return await asyncio.wait_for(run.execute(), run.deadline)
    except TimeoutError:
        raise BenchError(f"{run.name}: gave up after {run.deadline:.0f} s") from None
    finally:
        await close_children(run.children)


async def run(opts: Options, log: Callable[[str], None]) -> list[str]:
    """Run the benchmark; return the report's lines. Progress goes to `log`."""
    from media.forwarder import K_SLOTS

    if opts.listeners < 1 or opts.speakers < 1 or opts.seconds <= 0:
        raise BenchError("--listeners, --speakers and --seconds must be positive")
    if opts.speakers > K_SLOTS:
        raise BenchError(f"--speakers: at most {K_SLOTS}, the room's slots (all forwarded)")
    if not 1 <= opts.nodes <= opts.listeners:
        raise BenchError("--nodes must be between 1 and --listeners")
    if opts.baseline is None:  # by default, aiortc's ordinary path is measured on one node
        opts = dataclasses.replace(opts, baseline=opts.nodes == 1)
    pins = None
    own_cpus = sorted(os.sched_getaffinity(0))
    if opts.pin:
        pins = plan_pins(own_cpus, opts.nodes)
        log(
            "pinned: "
            + ", ".join(
                f"{'server' if opts.nodes == 1 else f'node {k + 1}'} on CPU {c[0]}"
                for k, c in enumerate(pins["servers"])
            )
            + "; speakers, listeners and this process on CPU "
            + ",".join(map(str, pins["clients"]))
        )
        pin("self", pins["clients"])  # the coordinator; its children are pinned as they start
    log_dir = Path(tempfile.mkdtemp(prefix="bench_fanout-"))
    failed = True
    try:
        reference = None
        if opts.nodes > 1 and opts.reference:
            # One node at the listeners each node has, for the comparison of CPU per copy.
            per_node = -(-opts.listeners // opts.nodes)
            reference = await _run_mode(opts, "pass-through", per_node, log, log_dir, 1, pins)
        passthrough = await _run_mode(
            opts, "pass-through", opts.listeners, log, log_dir, opts.nodes, pins
        )
        ordinary = None
        if opts.baseline:
            ordinary = await _run_mode(
                opts, "ordinary", opts.baseline_listeners, log, log_dir, 1, pins
            )
        failed = False
    finally:
        if pins is not None:
            pin("self", own_cpus)
        if failed or opts.keep_logs:
            log(f"child process logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    if opts.nodes == 1:
        return report.lines(opts, passthrough, ordinary)
    return report_nodes.lines(opts, passthrough, reference, ordinary)
