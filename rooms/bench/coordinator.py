"""The signaling benchmark's coordinator, in the manage.py process: prepares the database,
starts Daphne (or, with --nodes N, N `runnode` nodes on PostgreSQL and Redis) and the client
processes, connects the host, then measures the join storm, the promote/demote rounds and
each server's memory. Everything has a deadline (--seconds-limit); the servers and the
clients are stopped on the way out."""

import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from media.benchkit import (
    HOST,
    BenchError,
    Child,
    close_children,
    machine_busy_s,
    percentile,
    proc_cpu_s,
    rss_kib,
    spawn,
)
from rooms.bench import SETTLE_SECONDS, nodes, server
from rooms.bench.host import HostClient, connect_host
from rooms.bench.report import lines as report_lines

ROOT = Path(__file__).resolve().parents[2]  # the directory holding the rooms package


@dataclass
class Options:
    clients: int = 1000
    nodes: int = 1  # 1: one Daphne; N > 1: N runnode processes on PostgreSQL and Redis
    processes: int = 2
    port: int = 8765
    rounds: int = 5
    seconds_limit: float = 300
    concurrency: int = 0  # handshakes in flight per client process; 0: all at once
    database_url: str = ""
    redis_url: str = ""
    debug: bool = False
    asgi_app: str = "config.asgi:application"
    keep_temp: bool = False


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, at_most: float | None = None) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise BenchError("--seconds-limit reached; stopping")
        return left if at_most is None else min(left, at_most)


def run(opts: Options, log: Callable[[str], None]) -> tuple[list[str], Exception | None]:
    """Run the benchmark. Returns the report's lines and, if the measurement stopped early,
    why (the report then has what was measured before). Progress goes to `log`."""
    if opts.clients < 2:
        raise BenchError("--clients must be at least 2")
    if not 1 <= opts.processes <= opts.clients:
        raise BenchError("--processes must be between 1 and --clients")
    if not 1 <= opts.nodes <= opts.clients:
        raise BenchError("--nodes must be between 1 and --clients")
    if opts.rounds < 1:
        raise BenchError("--rounds must be at least 1")
    if opts.nodes > 1:  # nodes share PostgreSQL and Redis
        opts = dataclasses.replace(
            opts,
            database_url=opts.database_url or nodes.DEFAULT_DATABASE_URL,
            redis_url=opts.redis_url or nodes.DEFAULT_REDIS_URL,
        )
    if opts.database_url and not opts.database_url.startswith(("postgres://", "postgresql://")):
        raise BenchError("--database-url must be a postgres:// URL")
    _raise_fd_limit(opts.clients)
    deadline = Deadline(opts.seconds_limit)
    temp = Path(tempfile.mkdtemp(prefix="bench_signaling-"))
    servers: list[nodes.Server] = []
    created = False
    try:
        if opts.database_url:
            created = nodes.ensure_database(opts.database_url, log)
        env = server.server_env(temp, opts)
        data = server.prepare(env, temp, opts.clients, deadline.left, log)
        ports = [opts.port + i for i in range(opts.nodes)]
        for port in ports:
            server.check_port_free(port)
        if opts.nodes == 1:
            daphne, log_path = server.start_daphne(
                env, temp, opts.port, opts.asgi_app, deadline.left, log
            )
            servers = [nodes.Server("daphne", opts.port, daphne, log_path)]
        else:
            servers = nodes.start_nodes(env, temp, ports, deadline.left, log)
        report: dict = {"clients": opts.clients, "processes": opts.processes, "rounds": []}
        failure = None
        try:
            measure = _measure(opts, data, servers, deadline, report, log)
            asyncio.run(asyncio.wait_for(measure, deadline.left()))
        except Exception as exc:  # Report what was measured, then fail.
            failure = exc
        nodes.stop(servers)  # first: what a node logs while it drains is in its log
        report["server_log"] = server.log_summary(servers[0].log_path)
        for s, row in zip(servers, report.get("nodes", []), strict=False):
            row["log"] = server.log_summary(s.log_path)
        return report_lines(report, opts), failure
    finally:
        nodes.stop(servers)
        if created:
            nodes.drop_database(opts.database_url, log)
        if opts.keep_temp:
            log(f"bench_signaling: kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


def _raise_fd_limit(clients: int) -> None:
    """Enough open files for every socket, here and in the client processes (they inherit
    the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients + 1000
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            raise BenchError(f"open-file limit {hard} is too low for {clients} clients")


async def _measure(opts: Options, data: dict, servers, deadline: Deadline, report, log) -> None:
    """Fill `report` as the measurements come in, so that a failure keeps what was seen.
    `servers`: Daphne, or the nodes; the host is on the first, the listeners' sockets go
    round-robin over all of them."""
    n = len(servers)
    pids = [s.pid for s in servers]
    urls = [f"ws://{HOST}:{s.port}/ws/rooms/{data['room']}/" for s in servers]
    origins = [f"http://{HOST}:{s.port}" for s in servers]
    listeners = [[m, session, i % n] for i, (m, session) in enumerate(data["listeners"])]
    k = opts.processes
    shares = [listeners[i::k] for i in range(k)]
    workers: list[Child] = []
    host = None
    cpu_before = machine_before = wall_before = own_before = None
    rows = [{"node": s.name, "port": s.port} for s in servers]
    if n > 1:
        report["nodes"] = rows
    try:
        # Warm up: the host connects first (imports, DB connection, thread pool).
        _, host_session = data["host"]
        host = await connect_host(urls[0], origins[0], host_session, deadline.left(30))
        await host.wait_for(lambda: host.stage_versions, deadline.left(30))
        for i, share in enumerate(shares):
            config = {
                "urls": urls,
                "origins": origins,
                "clients": share,
                "concurrency": opts.concurrency,
                "open_timeout": 60,
                "join_timeout": min(180.0, deadline.left()),
            }
            name = f"client process {i}"
            workers.append(await spawn(name, "rooms.bench.clients", config, cwd=ROOT))
        for worker in workers:
            await worker.request("ready", deadline.left(30))
        await asyncio.sleep(SETTLE_SECONDS)
        rss_before = [rss_kib(pid) for pid in pids]
        cpu_before = [proc_cpu_s(pid) for pid in pids]
        machine_before = machine_busy_s()
        wall_before = time.monotonic()
        own_before = time.process_time()
        report["load_before"] = os.getloadavg()[0]

        # Join storm: every client process starts at once.
        joins = await asyncio.gather(*(w.request("join", deadline.left()) for w in workers))
        cpu_storm = [proc_cpu_s(pid) - cpu for pid, cpu in zip(pids, cpu_before, strict=True)]
        latencies = [v for j in joins for v in j["latency_ns"]]
        on_node = [x for j in joins for x in j["latency_node"]]
        errors: dict[str, int] = {}
        for j in joins:
            for key, count in j["errors"].items():
                errors[key] = errors.get(key, 0) + count
        first = min(j["first_start_ns"] for j in joins if j["first_start_ns"])
        last = max((j["last_state_ns"] for j in joins), default=0)
        report["join"] = {
            "ok": sum(j["ok"] for j in joins),
            "wall_ns": max(0, last - first),
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": max(latencies, default=0),
            "errors": errors,
            "server_cpu_s": sum(cpu_storm),
        }
        for i, row in enumerate(rows):
            mine = [v for v, node in zip(latencies, on_node, strict=True) if node == i]
            row.update(
                joined=len(mine),
                join_p95=percentile(mine, 95),
                storm_cpu_s=cpu_storm[i],
                rss_before_kib=rss_before[i],
            )
        log(f"bench_signaling: join storm done ({report['join']['ok']} joined)")
        # An overloaded server goes on working (queued joins, coalesced updates) after the
        # last client is in: measure from quiet, and report how long that took.
        report["join"]["settle_s"] = await _wait_idle(pids, deadline)
        rss_after = [rss_kib(pid) for pid in pids]
        for row, rss in zip(rows, rss_after, strict=True):
            row["rss_after_kib"] = rss
        report["memory"] = {"before_kib": sum(rss_before), "after_kib": sum(rss_after)}

        # Stage-change fan-out.
        owners = {m: w for w, share in zip(workers, shares, strict=True) for m, *_ in share}
        await _rounds(opts.rounds, listeners, owners, workers, host, deadline, report["rounds"])
    finally:
        if host is not None:
            report["audience_seen_by_host"] = host.audience
        with contextlib.suppress(Exception):
            report["stats"] = await asyncio.gather(*(w.request("stats", 5) for w in workers))
            totals = [proc_cpu_s(pid) for pid in pids]
            ends = [rss_kib(pid) for pid in pids]
            for row, total, end in zip(rows, totals, ends, strict=True):
                row.update(cpu_total_s=total, rss_end_kib=end)
            report["server_cpu_total_s"] = sum(totals)
            report["server_rss_end_kib"] = sum(ends)
            if cpu_before is not None:
                report["cpu"] = {
                    "wall_s": time.monotonic() - wall_before,
                    "machine_s": machine_busy_s() - machine_before,
                    "server_s": report["server_cpu_total_s"] - sum(cpu_before),
                    "clients_s": sum(s["cpu_s"] for s in report["stats"]),
                    "coordinator_s": time.process_time() - own_before,
                }
        await close_children(workers, wait=8)  # they close their sockets first
        if host is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(host.ws.close(), 3)


async def _wait_idle(pids: list[int], deadline: Deadline, limit: float = 120.0) -> float:
    """Wait until each server uses under a fifth of a core for two half-seconds running;
    return the seconds waited (at least SETTLE_SECONDS)."""
    started = time.monotonic()
    await asyncio.sleep(SETTLE_SECONDS)
    quiet = 0
    while quiet < 2 and time.monotonic() - started < deadline.left(limit):
        before = [proc_cpu_s(pid) for pid in pids]
        await asyncio.sleep(0.5)
        busy = max(proc_cpu_s(pid) - b for pid, b in zip(pids, before, strict=True))
        quiet = quiet + 1 if busy < 0.1 else 0
    return time.monotonic() - started


async def _rounds(count, listeners, owners, workers, host: HostClient, deadline, rounds) -> None:
    """`count` rounds: a listener raises a hand, the host promotes, then demotes them."""
    n = len(listeners)
    step = max(1, n // count)
    used: set[int] = set()
    for r in range(count):
        # A different listener each round, spread over the client processes.
        member = None
        for offset in range(n):
            candidate = listeners[(r * step + offset) % n][0]
            if candidate in used:
                continue
            used.add(candidate)
            sent = await owners[candidate].request(
                "send", deadline.left(10), member=candidate, text='{"type":"hand.raise"}'
            )
            if sent:
                member = candidate
                break
        if member is None:
            raise BenchError("no connected listener left to promote")
        await host.wait_for(lambda m=member: m in host.hand_queue, deadline.left(30))
        await asyncio.sleep(0.2)
        promote = await _stage_change(host, workers, member, True, "speaker.promote", deadline)
        await asyncio.sleep(SETTLE_SECONDS)
        demote = await _stage_change(host, workers, member, False, "speaker.demote", deadline)
        await asyncio.sleep(SETTLE_SECONDS)
        rounds.append({"member": member, "promote": promote, "demote": demote})


async def _stage_change(host, workers, member, on_stage, verb, deadline) -> dict:
    """The host sends `verb`; every client process reports when its sockets saw the
    stage.changed that followed."""
    before = host.version
    frame = json.dumps({"type": verb, "member": member})
    sent_ns = time.monotonic_ns()
    await host.ws.send(frame)
    version, host_ns = await host.wait_for(
        lambda: host.stage_change_with(member, on_stage, before), deadline.left(30)
    )
    replies = await asyncio.gather(
        *(w.request("collect", deadline.left(40), version=version, timeout=20) for w in workers)
    )
    delays = [t - sent_ns for rep in replies for t in rep["recv_ns"]]
    return {
        "delay_node": [x for rep in replies for x in rep["recv_node"]],
        "version": version,
        "delivered": len(delays),
        "expected": sum(rep["expected"] for rep in replies),
        "saw_later_only": sum(rep["saw_later_only"] for rep in replies),
        "host_ns": host_ns - sent_ns,
        "delays": delays,
    }
