"""The fan-out benchmark's report with --nodes N: each node's figures (report.py's, one node
at a time), what its relay costs, each node's CPU per packet-copy against one node at the
same listeners, and the room's totals."""

from __future__ import annotations

import math
import os

from media.bench import Options
from media.bench.report import (
    TARGET_DELIVERY,
    _figures,
    _mode_lines,
    _ms,
    _verdict,
    pinning,
    target,
)

WITHIN = 0.15  # a node's CPU per copy may exceed one node's at the same listeners by this


def lines(opts: Options, run: dict, reference: dict | None, ordinary: dict | None) -> list[str]:
    n = opts.nodes
    nodes = run["nodes"]
    processes = min(opts.processes, opts.listeners)
    out = [
        f"command: {opts.command}",
        f"options: listeners={opts.listeners} speakers={opts.speakers} nodes={n} "
        f"seconds={opts.seconds:g} reference={'on' if reference else 'off'} "
        f"baseline={'on' if opts.baseline else 'off'} processes={opts.processes} "
        f"concurrency={opts.concurrency} idle={opts.idle_seconds:g}s "
        f"warm-up={opts.warmup_seconds:g}s grace={opts.grace_seconds:g}s "
        f"drain-limit={opts.drain_limit:g}s client-nice={opts.client_nice} "
        f"listener-hook={opts.listener_hook}",
        f"machine: {os.cpu_count()} CPUs; "
        + (
            pinning(opts, nodes) + "; each node's CPU is its own process's"
            if nodes[0].get("pins")
            else f"nothing pinned (--pin to pin): the {n} server processes (one per node) "
            f"share the same {os.cpu_count()} cores with each other, with {processes} "
            f"listener processes (at nice {opts.client_nice}) and 1 speaker process; each "
            f"node's CPU is its own process's"
        ),
        f"nodes: {n} pass-through servers (media.hub.MediaHub + media.relay.Relay on "
        f"127.0.0.1), wired by the coordinator without Redis: each relay allows the others, the "
        f"room's forwarder on each node has the other nodes as destinations; the speakers are on "
        f"node 1, which is the brain; the others follow the choice node 1 publishes (passed to "
        f"set_choice by the coordinator, {run['choices']} times) and let the speakers publish "
        f"(set_publishing); listeners round-robin over the nodes",
        "all traffic on 127.0.0.1; clock CLOCK_MONOTONIC shared by all processes",
    ]
    ref = None
    if reference is not None:
        ref = _figures(reference)
        out += _mode_lines(
            f"one node (the reference for the per-node cost), {reference['listeners']} listeners:",
            reference,
            ref,
            opts,
            targets=True,
        )
    figures = [_figures(node) for node in nodes]
    for k, (node, f) in enumerate(zip(nodes, figures, strict=True)):
        role = "the brain, the speakers' node" if k == 0 else "follows node 1's choice"
        out += _mode_lines(
            f"node {k + 1} of {n} ({role}), {node['listeners']} listeners:",
            node,
            f,
            opts,
            targets=True,
        )
        out += _relay_lines(k, node, f, run["relay_hop_ms"])
        out.append(_versus(f, ref, reference))
    out += _room_lines(run, figures, opts)
    if ordinary is not None:
        fo = _figures(ordinary)
        out += _mode_lines(
            f"ordinary aiortc (RTCRtpReceiver decode + MediaRelay + one RTCRtpSender/Opus "
            f"encoder per listener), one node, {opts.baseline_listeners} listeners:",
            ordinary,
            fo,
            opts,
            targets=False,
        )
    return out


def _relay_lines(k: int, node: dict, f: dict, hops: list[list[float]]) -> list[str]:
    w0, w1 = node["window"]
    r0, r1 = w0.get("relay", {}), w1.get("relay", {})
    sent = r1.get("sent", 0) - r0.get("sent", 0)
    received = r1.get("received", 0) - r0.get("received", 0)
    send_ns = w1.get("relay_send_ns", 0) - w0.get("relay_send_ns", 0)
    receive_ns = w1.get("relay_receive_ns", 0) - w0.get("relay_receive_ns", 0)
    rejected = {
        key: r1[key] - r0.get(key, 0)
        for key in ("unknown_source", "bad_mac", "stale", "malformed")
        if r1.get(key, 0) - r0.get(key, 0)
    }
    per_copy = f["us_per_copy"]
    out = []
    if sent:
        us = send_ns / 1000 / sent
        out.append(
            f"  relay out: {sent:,} datagrams in the window ({sent / f['seconds']:.1f}/s); "
            f"CPU of sending {us:.2f} µs per datagram (Relay.send: encode, MAC, sendto; "
            f"= {us / per_copy:.2f} packet-copies)"
        )
    if received or k:
        us = receive_ns / 1000 / received if received else math.nan
        out.append(
            f"  relay in: {received:,} datagrams in the window ({received / f['seconds']:.1f}/s)"
            f"; CPU of receiving {us:.2f} µs per datagram (recvfrom, MAC check, decode; "
            f"its fan-out counts as copies; = {us / per_copy:.2f} packet-copies); rejected: "
            + (", ".join(f"{v} {key}" for key, v in rejected.items()) if rejected else "none")
        )
    unit = node.get("relay_units") or {}
    if unit:
        out.append(
            f"  relay steps timed hot in a loop ({unit['bytes']}-byte datagrams): encode + "
            f"MAC {unit['encode_us']:.2f} µs, sendto {unit['sendto_us']:.2f} µs, MAC check + "
            f"decode {unit['decode_us']:.2f} µs (one datagram every 20 ms, as above, finds "
            f"this machine's caches cold)"
        )
    if k and k - 1 < len(hops):
        out.append(
            f"  relay hop per packet (forward() entered on node 1 -> on node {k + 1}): "
            f"{_ms(hops[k - 1])}"
        )
    return out


def _versus(f: dict, ref: dict | None, reference: dict | None) -> str:
    if ref is None:
        return "  no one-node reference run (--no-reference): nothing to compare with"
    ratio = f["us_per_copy"] / ref["us_per_copy"] - 1
    net = f["us_per_copy_net"] / ref["us_per_copy_net"] - 1
    return (
        f"  CPU per packet-copy against one node at {reference['listeners']} listeners: "
        f"{f['us_per_copy']:.2f} µs here, {ref['us_per_copy']:.2f} µs on one node: "
        f"{100 * ratio:+.1f}% (within +{100 * WITHIN:.0f}%: {_verdict(ratio <= WITHIN)}); "
        f"net of idle {f['us_per_copy_net']:.2f} vs {ref['us_per_copy_net']:.2f} µs "
        f"({100 * net:+.1f}%)"
    )


def _room_lines(run: dict, figures: list[dict], opts: Options) -> list[str]:
    received = sum(f["received"] for f in figures)
    expected = sum(f["expected"] for f in figures)
    copies = sum(f["copies"] for f in figures)
    cpu_s = sum(f["cpu_s"] for f in figures)
    seconds = figures[0]["seconds"]
    delivery = received / expected if expected else math.nan
    servers = sum(f["server_share_proc"] for f in figures)
    clients = figures[0]["clients_share"]
    machine = figures[0]["machine_share"]
    out = [
        "",
        f"the room, all {opts.nodes} nodes:",
        f"  listeners connected: {run['connected']}/{run['listeners']}, set-up "
        f"{run['setup_s']:.1f} s"
        + (f"; failures {run['join_errors']}" if run["join_errors"] else ""),
        f"  packet-copies sent: {copies:,} ({copies / seconds:,.0f}/s); nodes' CPU per "
        f"packet-copy, all nodes together: {1e6 * cpu_s / copies if copies else math.nan:.2f} µs",
        f"  delivery: {received:,}/{expected:,} = {100 * delivery:.3f}% "
        f"({target(100 * delivery, TARGET_DELIVERY, '%', 3, at_least=True)})",
        f"  CPU in the window (cores): the {opts.nodes} nodes {servers:.2f} ("
        + ", ".join(f"{f['server_share_proc']:.2f}" for f in figures)
        + f"), listener + speaker processes {clients:.2f}, rest of the machine "
        f"{max(0.0, machine - servers - clients):.2f}; machine busy {machine:.2f} of "
        f"{os.cpu_count()}",
    ]
    return out
