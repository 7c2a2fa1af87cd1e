"""The fan-out benchmark's report: the figures of each server mode, from what the coordinator
gathered, as the lines that bench_fanout prints."""

from __future__ import annotations

import math
import os

from media.bench import Options
from media.benchkit import percentile


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
        f"machine: {os.cpu_count()} CPUs, shared by everything: the server is one process "
        f"(its CPU alone is measured), but {min(opts.processes, opts.listeners)} listener "
        f"processes (at nice {opts.client_nice}) and 1 speaker process compete with it for the "
        f"same CPUs, so the delay and spread figures include the listeners' own queueing",
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
        "server_share_proc": (w1["server_cpu_s"] - w0["server_cpu_s"]) / seconds,
        "machine_share": (w1["machine_s"] - w0["machine_s"]) / seconds,
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
    if targets:
        per_copy += f" (target ≤ 15 µs: {_verdict(f['us_per_copy'] <= 15)})"
    out += [
        per_copy + f"; server process CPU {f['cpu_s']:.2f} s in the window "
        f"= {100 * f['cpu_share']:.0f}% of one core",
        f"  server CPU per packet-copy net of idle: {f['us_per_copy_net']:.2f} µs "
        f"(idle, listeners connected and no speaker: {100 * f['idle_share']:.1f}% of one core)",
    ]
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
        f"arrivals counted until {f['drain_s']:.1f} s after the window)"
    )
    if targets:
        delivery += f" (target ≥ 99.9%: {_verdict(f['delivery'] >= 0.999)})"
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
    if targets:
        memory += f" (target ≤ 256 KiB: {_verdict(per_listener <= 256)})"
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
        f"received: {f['client_us_per_packet']:.0f} µs ({opts.listener_hook} hook)"
    )
    return out
