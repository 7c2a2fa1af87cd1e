"""The fan-out benchmark's report: the figures of each server mode, from what the coordinator
gathered, as the lines that bench_fanout prints, with the pass-through's targets (TARGET_*)."""

from __future__ import annotations

import math
import os

from media.bench import Options
from media.benchkit import percentile

# The pass-through's targets (issue 11), checked per server process (per node with --nodes).
TARGET_US_PER_COPY = 8.0  # server CPU per packet-copy, the idle cost included
TARGET_FANOUT_P99_MS = 5.0  # one packet, forward() entered -> returned: first to last copy
TARGET_IDLE_PER_1000 = 5.0  # % of a core, all listeners connected and nobody speaking
TARGET_KIB_PER_LISTENER = 160.0  # server memory per connected listener
TARGET_DELIVERY = 99.9  # % of the copies owed, counted at the listeners
LISTENERS_BUSY = 0.95  # at this share of their core(s) the listener processes limit the run


def lines(opts: Options, passthrough: dict, ordinary: dict | None) -> list[str]:
    """The whole report: the run's conditions, each mode's figures, and their ratio."""
    out = [
        f"command: {opts.command}",
        f"options: listeners={opts.listeners} speakers={opts.speakers} "
        f"seconds={opts.seconds:g} baseline={'on' if opts.baseline else 'off'}"
        + (f" (baseline-listeners={opts.baseline_listeners})" if opts.baseline else "")
        + f" processes={opts.processes} concurrency={opts.concurrency} "
        f"idle={opts.idle_seconds:g}s warm-up={opts.warmup_seconds:g}s "
        f"grace={opts.grace_seconds:g}s drain-limit={opts.drain_limit:g}s "
        f"client-nice={opts.client_nice} listener-hook={opts.listener_hook}",
        f"machine: {os.cpu_count()} CPUs; "
        + (
            pinning(opts, [passthrough])
            if passthrough.get("pins")
            else f"nothing pinned (--pin to pin), shared by everything: the server is one "
            f"process (its CPU alone is measured), but "
            f"{min(opts.processes, opts.listeners)} listener processes (at nice "
            f"{opts.client_nice}) and 1 speaker process compete with it for the same CPUs, so "
            f"the delay and spread figures include the listeners' own queueing"
        ),
        "all traffic on 127.0.0.1; clock CLOCK_MONOTONIC shared by all processes",
    ]
    fp = _figures(passthrough)
    out += _mode_lines(
        f"pass-through (media.forwarder.MediaHub, one room), {opts.listeners} listeners:",
        passthrough,
        fp,
        opts,
        targets=True,
    )
    if ordinary is not None:
        fo = _figures(ordinary)
        out += _mode_lines(
            f"ordinary aiortc (RTCRtpReceiver decode + MediaRelay + one RTCRtpSender/Opus "
            f"encoder per listener), {opts.baseline_listeners} listeners:",
            ordinary,
            fo,
            opts,
            targets=False,
        )
        out += [
            "",
            f"ordinary / pass-through CPU per packet-copy: "
            f"{fo['us_per_copy'] / fp['us_per_copy']:.1f}x "
            f"({fo['us_per_copy']:.1f} µs / {fp['us_per_copy']:.2f} µs; net of idle "
            f"{fo['us_per_copy_net'] / fp['us_per_copy_net']:.1f}x)",
        ]
    return out


def _cpus(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


def pinning(opts: Options, runs: list[dict]) -> str:
    """What --pin put where, and where the threads were at the end of the window. `runs`:
    one result per server process (the pass-through's, or each node's)."""
    names = ["the server"] if len(runs) == 1 else [f"node {k + 1}" for k in range(len(runs))]
    named = list(zip(names, runs, strict=True))
    clients = runs[0]["pins"]["clients"]
    seen = runs[0]["affinity"]
    as_planned = all(r["affinity"]["server"] == r["pins"]["server"] for r in runs) and all(
        seen[role] == clients for role in ("speakers", "listeners", "coordinator")
    )
    return (
        "pinned (--pin, os.sched_setaffinity on every thread): "
        + ", ".join(f"{n} on CPU {_cpus(r['pins']['server'])}" for n, r in named)
        + f"; the speaker process, the {runs[0]['listener_processes']} listener processes (at "
        f"nice {opts.client_nice}) and the coordinator on CPU {_cpus(clients)}; CPUs of the "
        f"threads at the end of the window: "
        + ", ".join(f"{n} {_cpus(r['affinity']['server'])}" for n, r in named)
        + f", speaker {_cpus(seen['speakers'])}, listeners {_cpus(seen['listeners'])}, "
        f"coordinator {_cpus(seen['coordinator'])}"
        + ("" if as_planned else " (NOT as planned)")
        + "; other work on the machine is not pinned"
    )


def _figures(run: dict) -> dict:
    """The report's numbers for one mode."""
    w0, w1 = run["window"]
    seconds = (w1["t_ns"] - w0["t_ns"]) / 1e9
    cpu_ns = w1["cpu_ns"] - w0["cpu_ns"]
    copies = w1["copies_out"] - w0["copies_out"]
    entries = run["entries"]
    collected = run["collected"]
    listeners = sum(c["listeners"] for c in collected)
    n = len(entries)
    counts = [sum(c["count"][i] for c in collected) for i in range(n)]
    window = [i for i in range(n) if entries[i][4]]
    sent = len(window) + run["unforwarded"]
    received = sum(counts[i] for i in window)
    expected = sent * listeners
    per_listener = [x for c in collected for x in c["per_listener"]]
    spreads = []
    for i in window:
        if counts[i] >= 2:
            first = min(c["first"][i] for c in collected if c["first"][i] is not None)
            last = max(c["last"][i] for c in collected if c["last"][i] is not None)
            spreads.append((last - first) / 1e6)
    inbound = [
        (entries[i][5] - entries[i][2]) / 1e6
        for i in window
        if entries[i][5] is not None and entries[i][2] is not None
    ]
    decode = [(entries[i][3] - entries[i][5]) / 1e6 for i in window if entries[i][5] is not None]
    loops = [(entries[i][6] - entries[i][3]) / 1e6 for i in window if entries[i][6] is not None]
    idle = run["idle_cpu_share"]
    span_ns = w1["t_ns"] - w0["t_ns"]
    pins = run.get("pins")
    listener_cpu = [b - a for a, b in zip(w0["listener_cpu_s"], w1["listener_cpu_s"], strict=True)]
    return {
        "seconds": seconds,
        "speaker_sent": sent,
        "packets_in": w1["packets_in"] - w0["packets_in"],
        "unforwarded": run["unforwarded"],
        "copies": copies,
        "cpu_s": cpu_ns / 1e9,
        "cpu_share": cpu_ns / span_ns,
        "us_per_copy": cpu_ns / 1000 / copies if copies else math.nan,
        "us_per_copy_net": (cpu_ns - idle * span_ns) / 1000 / copies if copies else math.nan,
        "idle_share": idle,
        "idle_base_share": run["idle_base_share"],
        "listeners": listeners,
        "still_connected": sum(c["still_connected"] for c in collected),
        "received": received,
        "expected": expected,
        "delivery": received / expected if expected else math.nan,
        "short": sum(1 for x in per_listener if x < sent),
        "worst": min(per_listener, default=0),
        "duplicates": sum(c["duplicates"] for c in collected),
        "drain_s": run["drain_s"],
        "spread": spreads,
        "end_to_end": [d / 1000 for c in collected for d in c["end_to_end_us"]],
        "after_server": [d / 1000 for c in collected for d in c["after_server_us"]],
        "inbound": inbound,
        "decode": decode,
        "loops": loops,
        "mem_per_listener_kib": (run["rss_after_kib"] - run["rss_before_kib"]) / run["ready"]
        if run["ready"]
        else math.nan,
        "clients_share": (w1["clients_cpu_s"] - w0["clients_cpu_s"]) / seconds,
        "client_us_per_packet": (w1["clients_cpu_s"] - w0["clients_cpu_s"])
        * 1e6
        / max(1, sum(c["arrived_in_window"] for c in collected)),
        "listener_us_per_packet": sum(listener_cpu)
        * 1e6
        / max(1, sum(c["arrived_in_window"] for c in collected)),
        "srtp_checked": sum(c.get("srtp_checked", 0) for c in collected),
        "srtp_failed": sum(c.get("srtp_failed", 0) for c in collected),
        "batch_errors": sum(c.get("batch_errors", 0) for c in collected),
        "clock_moved_us": max((abs(c.get("clock_moved_us", 0.0)) for c in collected), default=0.0),
        "server_share_proc": (w1["server_cpu_s"] - w0["server_cpu_s"]) / seconds,
        "machine_share": (w1["machine_s"] - w0["machine_s"]) / seconds,
        "pinned": pins is not None,
        "server_cpus": pins["server"] if pins else None,
        "server_cores_busy": (w1["server_cores_s"] - w0["server_cores_s"]) / seconds,
        "listener_cpus": pins["clients"] if pins else None,
        "listener_cores": len(pins["clients"]) if pins else os.cpu_count(),
        "listener_share": sum(listener_cpu) / seconds,
        "listener_busiest": max(listener_cpu, default=0.0) / seconds,
        "listener_processes": len(listener_cpu),
        "listener_cores_busy": (w1["client_cores_s"] - w0["client_cores_s"]) / seconds,
        "speaker_share": (w1["speaker_cpu_s"] - w0["speaker_cpu_s"]) / seconds,
        "coordinator_share": (w1["coordinator_cpu_s"] - w0["coordinator_cpu_s"]) / seconds,
        "listener_drops": run["listener_drops"],
        "ready": run["ready"],
        "drops_server": w1["drops_server"] - w0["drops_server"],
        "drops_other": w1["drops_other"] - w0["drops_other"],
        "speaker_lost": w1["speaker_lost"] - w0["speaker_lost"],
        "lag_p99_ms": w1["lag_p99_ms"],
        "lag_max_ms": w1["lag_max_ms"],
        "gc_counts": w1["gc_counts"],
        "gc_pause_ms": w1["gc_pause_ms"],
        "gc_max_ms": w1["gc_max_ms"],
        "unit_costs": run.get("unit_costs") or {},
    }


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {percentile(values, 50):.2f} ms, p99 {percentile(values, 99):.2f} ms, "
        f"max {max(values):.2f} ms"
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def target(value: float, limit: float, unit: str, digits: int, at_least: bool = False) -> str:
    """'target ≤ 8 µs: MISS, 1.20 µs over (1.15x the target)': PASS or MISS, by how much
    (the ratio only for a ceiling).
    `unit` follows the numbers as written (a unit starting with "%" is compared in
    percentage points)."""
    head = f"target {'≥' if at_least else '≤'} {limit:g}{unit}"
    if math.isnan(value):
        return f"{head}: MISS (no figure)"
    passed = value >= limit if at_least else value <= limit
    above = value > limit
    points = unit.startswith("%")
    gap = f"{abs(value - limit):.{digits}f}{' percentage points' if points else unit}"
    return f"{head}: {'PASS' if passed else 'MISS'}, {gap} {'over' if above else 'under'}" + (
        "" if at_least else f" ({value / limit:.2f}x the target)"
    )


def listener_limits(f: dict) -> list[str]:
    """Why the listener processes, not the server, may have limited delivery and spread:
    they used LISTENERS_BUSY of the CPUs they may use (or one of them a whole core), those
    CPUs were that busy in all, or datagrams were dropped at their sockets. [] if none."""
    reasons = []
    cores = f["listener_cores"]
    if f["listener_share"] >= LISTENERS_BUSY * cores:
        reasons.append(f"they used {100 * f['listener_share'] / cores:.0f}% of their core(s)")
    elif f["listener_busiest"] >= LISTENERS_BUSY:
        reasons.append(f"one of them used {100 * f['listener_busiest']:.0f}% of a core")
    if f["listener_cores_busy"] >= LISTENERS_BUSY * cores:
        reasons.append(
            f"their core(s) were {100 * f['listener_cores_busy'] / cores:.0f}% busy in all"
        )
    if f["listener_drops"]:
        reasons.append(f"{f['listener_drops']:,} datagrams dropped at their sockets")
    return reasons


def target_lines(f: dict) -> list[str]:
    """The pass-through's targets (issue 11) for one server process, from _figures."""
    ready = f["ready"]
    idle_per_1000 = 100 * f["idle_share"] * 1000 / ready if ready else math.nan
    base = f["idle_base_share"]
    per_listener_1000 = 100 * (f["idle_share"] - base) * 1000 / ready if ready else math.nan
    loops = f["loops"]
    p50 = percentile(loops, 50) if loops else math.nan
    p99 = percentile(loops, 99) if loops else math.nan
    cores = f["listener_cores"]
    where = (
        f"CPU {_cpus(f['listener_cpus'])}, pinned, with the speaker process "
        f"({100 * f['speaker_share']:.0f}%) and the coordinator "
        f"({100 * f['coordinator_share']:.0f}%)"
        if f["listener_cpus"]
        else "not pinned: shared with the server and everything else"
    )
    reasons = listener_limits(f)
    others = f["listener_cores_busy"] - f["listener_share"] - f["speaker_share"]
    others -= f["coordinator_share"]
    others_are = "other work" if f["listener_cpus"] else "the server and other work"
    return [
        f"  targets ({ready} listeners ready at the server):",
        f"    server CPU per packet-copy, idle cost included: {f['us_per_copy']:.2f} µs "
        f"({target(f['us_per_copy'], TARGET_US_PER_COPY, ' µs', 2)})",
        f"    server CPU per packet-copy net of idle: {f['us_per_copy_net']:.2f} µs (no target)",
        f"    one packet's fan-out on the node, first to last copy handed to the kernel "
        f"(forward() entered -> returned): p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        f"(p99 {target(p99, TARGET_FANOUT_P99_MS, ' ms', 2)})",
        f"    idle, all listeners connected and nobody speaking: server "
        f"{100 * f['idle_share']:.2f}% of a core for {ready} listeners = "
        f"{idle_per_1000:.2f}% per 1,000 listeners, scaled linearly "
        f"({target(idle_per_1000, TARGET_IDLE_PER_1000, '% per 1,000', 2)}); with no "
        f"listener yet {100 * base:.2f}% (the speakers' connections, the room's ticker, the "
        f"benchmark's monitor), so {per_listener_1000:.2f}% per 1,000 without that part",
        f"    memory per connected listener: {f['mem_per_listener_kib']:.0f} KiB "
        f"({target(f['mem_per_listener_kib'], TARGET_KIB_PER_LISTENER, ' KiB', 0)})",
        f"    delivery measured at the listeners: {100 * f['delivery']:.3f}% "
        f"({target(100 * f['delivery'], TARGET_DELIVERY, '%', 3, at_least=True)})",
        f"    listener processes: {f['listener_share']:.2f} cores in the window = "
        f"{100 * f['listener_share'] / cores:.0f}% of the {cores} core(s) they may use "
        f"({where}); the busiest of the {f['listener_processes']} processes "
        f"{100 * f['listener_busiest']:.0f}% of a core; their core(s) busy "
        f"{100 * f['listener_cores_busy'] / cores:.0f}% in all ({others_are} "
        f"{100 * max(0.0, others):.0f}% of a core); datagrams dropped at their sockets "
        f"(window start to end of drain): {f['listener_drops']:,}",
        (
            f"    -> the listener processes were the bottleneck ({'; '.join(reasons)}): the "
            f"delivery and spread figures are limited by them, not by the server"
            if reasons
            else f"    -> the listener processes were not the bottleneck (below "
            f"{100 * LISTENERS_BUSY:.0f}% of their core(s), no datagram dropped at their sockets)"
        ),
    ]


def hook_wording(hook: str, f: dict) -> str:
    """How the listeners counted packets, for the CPU line: with the batch hook, also its
    SRTP checks and anything that makes its receive times doubtful."""
    if hook != "batch":
        return f"{hook} hook"
    text = (
        f"batch hook: kernel receive times, SRTP checked on each listener's first packets, "
        f"{f['srtp_checked']:,} genuine, {f['srtp_failed']:,} failed"
    )
    if f["batch_errors"]:
        text += f", {f['batch_errors']:,} socket or protocol errors"
    if f["clock_moved_us"] > 100:
        text += (
            f"; CLOCK_REALTIME stepped {f['clock_moved_us'] / 1000:.1f} ms against "
            f"CLOCK_MONOTONIC during the run: receive times after the step are off by that"
        )
    return text


def _mode_lines(title: str, run: dict, f: dict, opts: Options, targets: bool) -> list[str]:
    mib = 1024
    out = [
        "",
        title,
        f"  listeners connected: {run['connected']}/{run['listeners']} "
        f"(server counts {run['ready']} ready), set-up {run['setup_s']:.1f} s; "
        f"still connected at the end: {f['still_connected']}"
        + (f"; failures {run['join_errors']}" if run["join_errors"] else ""),
        f"  steady window {f['seconds']:.1f} s: the speakers sent {f['speaker_sent']} packets "
        f"({f['speaker_sent'] / f['seconds']:.1f}/s); the server received "
        f"{f['packets_in']} in the window (gaps by sequence number: {f['speaker_lost']}) and "
        f"sent {f['copies']:,} packet-copies ({f['copies'] / f['seconds']:,.0f}/s)",
    ]
    per_copy = f"  server CPU per packet-copy: {f['us_per_copy']:.2f} µs"
    out += [
        per_copy + f"; server process CPU {f['cpu_s']:.2f} s in the window "
        f"= {100 * f['cpu_share']:.0f}% of one core",
        f"  server CPU per packet-copy net of idle: {f['us_per_copy_net']:.2f} µs "
        f"(idle, listeners connected and no speaker: {100 * f['idle_share']:.1f}% of one core)",
    ]
    w0, w1 = run["window"]
    if "taps_caption_cpu_ns" in w1:
        caption_s = (w1["taps_caption_cpu_ns"] - w0["taps_caption_cpu_ns"]) / 1e9
        out.append(
            f"  recording and captions on (--taps): the recorder dropped "
            f"{w1['taps_recorder_dropped']} packets, the caption feed "
            f"{w1['taps_captions_dropped']}; the caption worker process used {caption_s:.2f} s "
            f"of CPU in the window ({100 * caption_s / f['seconds']:.0f}% of one core, not in "
            f"the server's figure above) and sent {w1['taps_captions_heard']} captions"
        )
    if f["speaker_sent"]:
        rate = f["speaker_sent"] / f["seconds"]
        per_core = 1e6 / (f["us_per_copy"] * rate) if f["us_per_copy"] else 0
        out.append(
            f"  projected listeners per core at {rate:.0f} packets/s each (server CPU only, "
            f"at the cost per copy above): {per_core:,.0f}"
        )
    unit = f["unit_costs"]
    if unit:
        out.append(
            f"  per copy, timed on a decoded frame ({unit['samples']} samples x "
            f"{unit['channels']} channels in a {unit['plane_bytes']:,}-byte plane): "
            f"aiortc's audio level {unit['level_us']:.0f} µs + Opus encode "
            f"{unit['encode_us']:.0f} µs"
        )
    delivery = (
        f"  delivery: {f['received']:,}/{f['expected']:,} = {100 * f['delivery']:.3f}% "
        f"(packets the speakers sent in the window x {f['listeners']} listeners; "
        f"arrivals counted until {f['drain_s']:.1f} s after the window"
        + (
            ": stopped at --drain-limit, copies still on their way were not counted)"
            if f["drain_s"] >= opts.drain_limit
            else ")"
        )
    )
    out.append(delivery)
    out.append(
        f"  packets never forwarded: {f['unforwarded']}; listeners missing any packet: "
        f"{f['short']}"
        + (f", the worst got {f['worst']}/{f['speaker_sent']}" if f["short"] else "")
        + (f"; duplicates {f['duplicates']}" if f["duplicates"] else "")
        + f"; UDP datagrams dropped by the kernel (receive buffer full): "
        f"{f['drops_server']} at the server's sockets, {f['drops_other']} at other sockets"
    )
    out.append(
        f"  fan-out spread of one packet (latest - earliest arrival across listeners): "
        f"{_ms(f['spread'])}"
    )
    out.append(
        f"  end-to-end delay (speaker's send -> listener's arrival, every copy): "
        f"{_ms(f['end_to_end'])}"
    )
    out.append(f"    speaker's send -> server's receipt (per packet): {_ms(f['inbound'])}")
    if any(f["decode"]):
        out.append(
            f"    server's receipt -> decoded frame reaches MediaRelay (jitter buffer and "
            f"decoder): {_ms(f['decode'])}"
        )
        out.append(
            f"    decoded frame reaches MediaRelay -> listener's arrival: {_ms(f['after_server'])}"
        )
    else:
        out.append(
            f"    server's receipt (forward() entered) -> listener's arrival: "
            f"{_ms(f['after_server'])}"
        )
    if f["loops"]:
        out.append(
            f"    server fan-out loop per packet (forward() entered -> last copy sent): "
            f"{_ms(f['loops'])}"
        )
    per_listener = f["mem_per_listener_kib"]
    memory = (
        f"  memory per listener: {per_listener:.0f} KiB (server RSS "
        f"{run['rss_before_kib'] / mib:.1f} MiB before the listeners, "
        f"{run['rss_after_kib'] / mib:.1f} MiB with {run['ready']} connected, "
        f"{run['rss_end_kib'] / mib:.1f} MiB at the end)"
    )
    out.append(memory)
    g = f["gc_counts"]
    out.append(
        f"  server event loop in the window: lag p99 {f['lag_p99_ms']:.1f} ms, "
        f"max {f['lag_max_ms']:.1f} ms; garbage collections gen0/1/2 {g[0]}/{g[1]}/{g[2]}, "
        f"{f['gc_pause_ms']:.0f} ms in all, longest {f['gc_max_ms']:.1f} ms"
    )
    others = f["machine_share"] - f["server_share_proc"] - f["clients_share"]
    out.append(
        f"  CPU in the window (cores): server {f['server_share_proc']:.2f}, "
        f"listener + speaker processes {f['clients_share']:.2f}, "
        f"rest of the machine {max(0.0, others):.2f}; machine busy "
        f"{f['machine_share']:.2f} of {os.cpu_count()}; listener processes' CPU per packet "
        f"received: {f['listener_us_per_packet']:.1f} µs, {f['client_us_per_packet']:.1f} µs "
        f"with the speaker process ({hook_wording(opts.listener_hook, f)})"
    )
    if f["pinned"]:
        out.append(
            f"  pinned CPUs in the window (cores): the server's, CPU {_cpus(f['server_cpus'])}, "
            f"busy {f['server_cores_busy']:.2f} (the server {f['server_share_proc']:.2f}, other "
            f"work {max(0.0, f['server_cores_busy'] - f['server_share_proc']):.2f}); the "
            f"clients', CPU {_cpus(f['listener_cpus'])}, busy {f['listener_cores_busy']:.2f}"
        )
    if targets:
        out += target_lines(f)
    return out
