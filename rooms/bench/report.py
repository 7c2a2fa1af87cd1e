"""The signaling benchmark's report: the lines bench_signaling prints, from what the
coordinator measured (also when it stopped early)."""

import os

from media.benchkit import HOST as HOST_LABEL
from media.benchkit import percentile
from rooms.bench import SETTLE_SECONDS


def fmt_s(ns: float) -> str:
    return f"{ns / 1e9:.2f} s"


def fmt_ms(ns: float) -> str:
    return f"{ns / 1e6:.0f} ms" if ns >= 10e6 else f"{ns / 1e6:.1f} ms"


def lines(report: dict, opts) -> list[str]:
    n = report["clients"]
    db = "PostgreSQL" if opts.database_url else "SQLite"
    layer = "Redis pub/sub layer" if opts.redis_url else "in-memory layer"
    header = (
        f"bench_signaling: {n} clients, {report['processes']} client processes, "
        f"{db} + {layer}, server DEBUG={'true' if opts.debug else 'false'}"
        + (f", app {opts.asgi_app}" if opts.asgi_app != "config.asgi:application" else "")
    )
    if opts.nodes > 1:
        header += (
            f"; {opts.nodes} nodes (manage.py runnode, ports {opts.port}-"
            f"{opts.port + opts.nodes - 1}), the client sockets round-robin over them, the host "
            f"on the first; the {opts.nodes} nodes share the machine's {os.cpu_count()} cores "
            f"with the client processes, nothing pinned"
        )
    return [
        header,
        *_join(report, n),
        *_rounds(report, n),
        *_end(report, n),
        *_nodes(report),
    ]


def _nodes(report: dict) -> list[str]:
    """With --nodes N: each node's share, latencies, CPU, memory and log."""
    out = []
    for i, row in enumerate(report.get("nodes") or []):
        promote = [
            d
            for r in report["rounds"]
            for d, node in zip(r["promote"]["delays"], r["promote"]["delay_node"], strict=True)
            if node == i
        ]
        line = f"node {row['node']} ({HOST_LABEL}:{row['port']}"
        line += ", the host's)" if i == 0 else ")"
        if "joined" in row:
            line += (
                f": {row['joined']} clients joined, connect->room.state p95 "
                f"{fmt_s(row['join_p95'])}; server CPU in the join storm {row['storm_cpu_s']:.1f} s"
            )
        if promote:
            line += (
                f"; stage change -> its clients p50 {fmt_ms(percentile(promote, 50))} "
                f"p99 {fmt_ms(percentile(promote, 99))}"
            )
        out.append(line)
        detail = []
        if "rss_after_kib" in row:
            per = (row["rss_after_kib"] - row["rss_before_kib"]) / max(1, row["joined"])
            detail.append(
                f"memory {row['rss_before_kib'] / 1024:.1f} -> {row['rss_after_kib'] / 1024:.1f} "
                f"MiB ({per:.0f} KiB per client)"
            )
        if "cpu_total_s" in row:
            detail.append(
                f"CPU {row['cpu_total_s']:.1f} s in all, RSS at the end "
                f"{row['rss_end_kib'] / 1024:.1f} MiB"
            )
        log = row.get("log")
        if log:
            detail.append(f"log {log['lines']} lines, {log['tracebacks']} tracebacks")
        if detail:
            out.append("  " + "; ".join(detail))
        if log:
            out += [f"    log: {count} x {text}" for text, count in log["kinds"]]
    return out


def _join(report: dict, n: int) -> list[str]:
    j = report.get("join")
    if not j:
        return []
    out = []
    if not j["ok"]:
        out.append(f"join storm: 0/{n} joined; server CPU {j['server_cpu_s']:.1f} s")
    else:
        out.append(
            f"join storm: {j['ok']}/{n} joined in {fmt_s(j['wall_ns'])}; connect->room.state "
            f"p50 {fmt_s(j['p50'])} p95 {fmt_s(j['p95'])} p99 {fmt_s(j['p99'])} "
            f"max {fmt_s(j['max'])}; server CPU {j['server_cpu_s']:.1f} s"
        )
    if j.get("settle_s", 0) > SETTLE_SECONDS + 1.5:
        out.append(f"  server busy for {j['settle_s']:.1f} s after the last room.state")
    if j["errors"]:
        out.append(f"  join failures (client-side errors): {j['errors']}")
    return out


def _rounds(report: dict, n: int) -> list[str]:
    out = []
    all_promote: list[int] = []
    all_demote: list[int] = []
    delivered = expected = 0
    for i, r in enumerate(report["rounds"], 1):
        p, d = r["promote"], r["demote"]
        all_promote += p["delays"]
        all_demote += d["delays"]
        delivered += p["delivered"]
        expected += p["expected"]
        out.append(
            f"  round {i}: promote member {r['member']} (v{p['version']}): "
            f"{p['delivered']}/{p['expected']}, host saw it after {fmt_ms(p['host_ns'])}, "
            f"p50 {fmt_ms(percentile(p['delays'], 50))} "
            f"p99 {fmt_ms(percentile(p['delays'], 99))} "
            f"max {fmt_ms(max(p['delays'], default=0))}"
            f"; demote p99 {fmt_ms(percentile(d['delays'], 99))}"
            + (f"; {p['saw_later_only']} saw only a later version" if p["saw_later_only"] else "")
        )
    rounds = len(report["rounds"])
    if rounds:
        out.append(
            f"stage change fan-out ({rounds} rounds): delivered {delivered}/{n * rounds} "
            f"(sockets open at the time: {expected}); "
            f"p50 {fmt_ms(percentile(all_promote, 50))} "
            f"p99 {fmt_ms(percentile(all_promote, 99))} "
            f"max {fmt_ms(max(all_promote, default=0))}"
        )
        out.append(
            f"  demote fan-out: p50 {fmt_ms(percentile(all_demote, 50))} "
            f"p99 {fmt_ms(percentile(all_demote, 99))} max {fmt_ms(max(all_demote, default=0))}"
        )
    return out


def _end(report: dict, n: int) -> list[str]:
    """Server memory, the clients' counters, the server's totals and the machine's CPU."""
    out = []
    j = report.get("join")
    m = report.get("memory")
    if m and (not j or j["ok"]):
        joined = j["ok"] if j else n
        per_client = (m["after_kib"] - m["before_kib"]) / max(1, joined)
        label = "all nodes' memory" if len(report.get("nodes") or []) > 1 else "server memory"
        out.append(
            f"{label}: "
            f"{m['before_kib'] / 1024:.1f} MiB before, "
            f"{m['after_kib'] / 1024:.1f} MiB with {joined} clients: "
            f"{per_client:.0f} KiB per client"
            + ("" if joined == n else " (not meaningful: failed joins left server state)")
        )
    stats = report.get("stats") or []
    if stats:
        open_now = sum(s["open"] for s in stats)
        codes: dict[str, int] = {}
        types: dict[str, int] = {}
        for s in stats:
            for key, v in s["close_codes"].items():
                codes[key] = codes.get(key, 0) + v
            for key, v in s["types"].items():
                types[key] = types.get(key, 0) + v
        cpu = ", ".join(f"{s['cpu_s']:.1f} s" for s in stats)
        seen = report.get("audience_seen_by_host")
        out.append(
            f"clients: {open_now}/{n} still open at the end"
            + (f" (audience count last announced to the host: {seen})" if seen is not None else "")
            + (f", close codes {codes}" if codes else "")
            + f"; events received {dict(sorted(types.items()))}; client CPU {cpu}"
        )
    log = report["server_log"]
    several = len(report.get("nodes") or []) > 1
    if "server_cpu_total_s" in report:
        out.append(
            f"{'all nodes' if several else 'server'}: CPU "
            f"{report['server_cpu_total_s']:.1f} s in all, "
            f"RSS at the end {report['server_rss_end_kib'] / 1024:.1f} MiB"
            + ("" if several else f"; log {log['lines']} lines, {log['tracebacks']} tracebacks")
        )
    c = report.get("cpu")
    if c:
        others = c["machine_s"] - c["server_s"] - c["clients_s"] - c["coordinator_s"]
        out.append(
            f"machine: {os.cpu_count()} CPUs, load average {report['load_before']:.2f} before "
            f"the storm; over the {c['wall_s']:.1f} s measured, CPU busy "
            f"{c['machine_s']:.1f} s: server {c['server_s']:.1f} s, "
            f"clients {c['clients_s']:.1f} s, other processes about {max(0.0, others):.1f} s"
        )
    if not several:
        out += [f"  server log: {count} x {line}" for line, count in log["kinds"]]
    return out
