"""media/benchkit.py, what the two benchmarks share: percentile, readings from /proc, CPU
pinning and the JSON-lines channel; and bench_fanout's pinning plan and target lines."""

import asyncio
import math
import os
import socket
import subprocess
import sys
import time

import pytest

from media.benchkit import (
    BenchError,
    Channel,
    RemoteError,
    affinity,
    machine_busy_s,
    percentile,
    pin,
    udp_drops,
)


def test_percentile_is_nearest_rank():
    values = [5, 1, 4, 2, 3]
    assert percentile(values, 50) == 3
    assert percentile(values, 99) == 5
    assert percentile(values, 1) == 1
    assert percentile([], 99) == 0.0


def _pair(handler):
    """Two channels wired to each other in memory: (the caller's end, the handler's end)."""
    to_caller, to_handler = asyncio.StreamReader(), asyncio.StreamReader()

    def writer(reader):
        async def write(data: bytes) -> None:
            reader.feed_data(data)

        return write

    caller = Channel(to_caller, writer(to_handler))
    answerer = Channel(to_handler, writer(to_caller), handler)
    return caller, answerer


@pytest.mark.asyncio
async def test_a_request_gets_its_reply_and_a_failure_its_error():
    async def handler(message):
        if message["op"] == "double":
            return message["n"] * 2
        raise ValueError("no such op")

    caller, answerer = _pair(handler)
    tasks = [asyncio.ensure_future(caller.serve()), asyncio.ensure_future(answerer.serve())]
    try:
        assert await caller.request("double", 5, n=21) == 42
        with pytest.raises(RemoteError, match="ValueError: no such op"):
            await caller.request("halve", 5, n=1)
    finally:
        for task in tasks:
            task.cancel()


@pytest.mark.asyncio
async def test_waiting_requests_fail_when_the_other_end_goes_away():
    caller, _ = _pair(None)
    serving = asyncio.ensure_future(caller.serve())
    waiting = asyncio.ensure_future(caller.request("anything", 5))
    await asyncio.sleep(0)
    caller.reader.feed_eof()
    with pytest.raises(BenchError, match="went away"):
        await waiting
    await serving


def test_the_signaling_client_processes_load_neither_aiortc_nor_django():
    code = (
        "import sys, rooms.bench.clients; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiortc', 'django'}))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_udp_drops_counts_what_the_kernel_dropped_at_a_full_socket():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as full:
        full.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # nothing reads it
        full.bind(("127.0.0.1", 0))
        before = udp_drops([os.getpid()])[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            for _ in range(200):
                out.sendto(b"x" * 1000, full.getsockname())
        assert udp_drops([os.getpid()])[0] > before
        assert udp_drops([]) == []


def test_pin_restricts_every_thread_of_another_process():

    cpu = min(os.sched_getaffinity(0))
    code = "import threading, time; threading.Thread(target=time.sleep, args=(30,)).start()"
    child = subprocess.Popen([sys.executable, "-c", code])  # noqa: S603 - our own interpreter
    try:
        for _ in range(100):  # until the second thread has started
            if len(os.listdir(f"/proc/{child.pid}/task")) == 2:
                break
            time.sleep(0.02)
        pin(child.pid, [cpu])
        assert affinity(child.pid) == [cpu]
        for tid in os.listdir(f"/proc/{child.pid}/task"):
            assert os.sched_getaffinity(int(tid)) == {cpu}
    finally:
        child.kill()
        child.wait()


def test_busy_seconds_of_some_cpus_are_part_of_the_machines():

    cpus = sorted(os.sched_getaffinity(0))
    one = machine_busy_s(cpus[:1])
    assert 0 < one <= machine_busy_s() + 0.1
    assert machine_busy_s([]) == 0


# --- bench_fanout --pin and the pass-through's targets (media/bench/) ---------------------------


def test_pin_plan_gives_each_server_a_cpu_and_the_clients_the_rest():
    from media.bench.coordinator import plan_pins

    assert plan_pins([1, 0], 1) == {"servers": [[0]], "clients": [1]}
    assert plan_pins([0, 1, 2, 3], 2) == {"servers": [[0], [1]], "clients": [2, 3]}
    with pytest.raises(BenchError, match=r"3 CPUs, but this process may run on 2 \(0, 1\)"):
        plan_pins([0, 1], 2)
    with pytest.raises(BenchError, match="2 CPUs"):
        plan_pins([5], 1)


def test_target_says_pass_or_miss_and_by_how_much():
    from media.bench.report import target

    assert target(9.2, 8.0, " µs", 2) == "target ≤ 8 µs: MISS, 1.20 µs over (1.15x the target)"
    assert target(6.0, 8.0, " µs", 2) == "target ≤ 8 µs: PASS, 2.00 µs under (0.75x the target)"
    assert target(8.0, 8.0, " µs", 2).startswith("target ≤ 8 µs: PASS, 0.00 µs")
    assert target(99.5, 99.9, "%", 3, at_least=True) == (
        "target ≥ 99.9%: MISS, 0.400 percentage points under"
    )
    assert target(100.0, 99.9, "%", 1, at_least=True).startswith(
        "target ≥ 99.9%: PASS, 0.1 percentage points over"
    )
    assert target(math.nan, 5.0, " ms", 2) == "target ≤ 5 ms: MISS (no figure)"


def _figures(**changes) -> dict:
    """What report._figures gives target_lines, for 200 listeners on a pinned run whose
    listener processes kept up."""
    figures = {
        "ready": 200,
        "us_per_copy": 7.5,
        "us_per_copy_net": 5.25,
        "idle_share": 0.02,  # 2% of a core for 200 listeners: 10% per 1,000
        "idle_base_share": 0.004,  # of which 0.4% with no listener: 8% per 1,000 without
        "loops": [1.0] * 98 + [4.0, 6.0],  # p50 1 ms, p99 4 ms
        "mem_per_listener_kib": 170.4,
        "delivery": 0.9995,
        "listener_cpus": [1],
        "listener_cores": 1,
        "listener_share": 0.60,
        "listener_busiest": 0.16,
        "listener_processes": 4,
        "listener_cores_busy": 0.70,
        "listener_drops": 0,
        "speaker_share": 0.05,
        "coordinator_share": 0.01,
    }
    return {**figures, **changes}


def test_target_lines_check_each_target_of_the_pass_through():
    from media.bench.report import target_lines

    lines = target_lines(_figures())
    text = "\n".join(lines)
    assert lines[0] == "  targets (200 listeners ready at the server):"
    assert "idle cost included: 7.50 µs (target ≤ 8 µs: PASS, 0.50 µs under" in text
    assert "net of idle: 5.25 µs (no target)" in text
    assert "p50 1.00 ms, p99 4.00 ms (p99 target ≤ 5 ms: PASS, 1.00 ms under" in text
    assert (
        "server 2.00% of a core for 200 listeners = 10.00% per 1,000 listeners, scaled "
        "linearly (target ≤ 5% per 1,000: MISS, 5.00 percentage points over (2.00x the "
        "target)); with no listener yet 0.40% "
    ) in text
    assert "so 8.00% per 1,000 without that part" in text
    assert "170 KiB (target ≤ 160 KiB: MISS, 10 KiB over" in text
    assert "99.950% (target ≥ 99.9%: PASS, 0.050 percentage points over" in text
    assert "0.60 cores in the window = 60% of the 1 core(s) they may use (CPU 1, pinned" in text
    assert "their core(s) busy 70% in all (other work 4% of a core)" in text
    assert lines[-1].startswith("    -> the listener processes were not the bottleneck")


def test_the_listener_processes_are_the_bottleneck_at_95_percent_or_with_drops():
    from media.bench.report import listener_limits, target_lines

    assert listener_limits(_figures()) == []
    assert listener_limits(_figures(listener_share=0.96, listener_cores_busy=0.99)) == [
        "they used 96% of their core(s)",
        "their core(s) were 99% busy in all",
    ]
    assert listener_limits(_figures(listener_drops=1234)) == [
        "1,234 datagrams dropped at their sockets"
    ]
    # Not pinned, 2 cores: one process at a whole core limits the run on its own.
    assert listener_limits(
        _figures(listener_cpus=None, listener_cores=2, listener_share=1.2, listener_busiest=0.97)
    ) == ["one of them used 97% of a core"]
    last = target_lines(_figures(listener_drops=7))[-1]
    assert last == (
        "    -> the listener processes were the bottleneck (7 datagrams dropped at their "
        "sockets): the delivery and spread figures are limited by them, not by the server"
    )


def _run(pinned: bool) -> dict:
    """What the coordinator gathers from a one-node pass-through run: 2 listeners, 3 packets
    in a 1 s window, each forwarded in 2 ms (forward() entered -> returned) and received
    by both listeners."""
    second = 1_000_000_000

    def mark(t: int, n: int) -> dict:  # n: 0 at the window's start, 1 at its end
        return {
            "t_ns": t,
            "cpu_ns": n * 60_000,  # 60 µs for 6 copies: 10 µs per copy
            "copies_out": 6 * n,
            "packets_in": 3 * n,
            "clients_cpu_s": 0.5 * n,
            "listener_cpu_s": [0.97 * n],  # one listener process, 97% of its core
            "speaker_cpu_s": 0.02 * n,
            "coordinator_cpu_s": 0.0,
            "machine_s": 1.2 * n,
            "client_cores_s": 0.99 * n,
            "server_cpu_s": 0.01 * n,
            "server_cores_s": 0.02 * n,
            "drops_server": 0,
            "drops_other": 0,
            "speaker_lost": 0,
            "lag_p99_ms": 1.0,
            "lag_max_ms": 2.0,
            "gc_counts": [0, 0, 0],
            "gc_pause_ms": 0.0,
            "gc_max_ms": 0.0,
        }

    t0 = 10 * second
    sent = [t0 + k * 20_000_000 for k in range(3)]
    return {
        "listeners": 2,
        "connected": 2,
        "ready": 2,
        "setup_s": 1.0,
        "join_errors": {},
        "window": (mark(t0, 0), mark(t0 + second, 1)),
        # [slot, out ts, speaker send, fan-out start, in window, receipt, fan-out end]
        "entries": [
            [0, 960 * k, t, t + 1000, 1, t + 1000, t + 2_001_000] for k, t in enumerate(sent)
        ],
        "unforwarded": 0,
        "collected": [
            {
                "listeners": 2,
                "still_connected": 2,
                "duplicates": 0,
                "per_listener": [3, 3],
                "count": [2, 2, 2],
                "first": [t + 3_000_000 for t in sent],
                "last": [t + 4_000_000 for t in sent],
                "end_to_end_us": [3000, 4000] * 3,
                "after_server_us": [2999, 3999] * 3,
                "arrived_in_window": 6,
            }
        ],
        "idle_cpu_share": 0.01,
        "idle_base_share": 0.002,
        "drain_s": 1.5,
        "rss_before_kib": 60_000,
        "rss_after_kib": 60_300,  # 150 KiB per listener
        "rss_end_kib": 60_300,
        "unit_costs": {},
        "listener_drops": 0,
        "listener_processes": 1,
        "pins": {"server": [0], "clients": [1]} if pinned else None,
        "affinity": {"server": [0], "speakers": [1], "listeners": [1], "coordinator": [1]},
    }


def test_the_report_says_what_was_pinned_and_ends_with_the_new_targets():
    from media.bench import Options
    from media.bench.report import lines

    opts = Options(listeners=2, baseline=False, pin=True, processes=1, command="bench_fanout")
    text = "\n".join(lines(opts, _run(pinned=True), None))
    assert (
        "pinned (--pin, os.sched_setaffinity on every thread): the server on CPU 0; the speaker "
        "process, the 1 listener processes (at nice 10) and the coordinator on CPU 1; CPUs of "
        "the threads at the end of the window: the server 0, speaker 1, listeners 1, "
        "coordinator 1; other work"
    ) in text
    assert "NOT as planned" not in text
    assert "  server CPU per packet-copy: 10.00 µs;" in text  # the figures stay
    assert "idle cost included: 10.00 µs (target ≤ 8 µs: MISS, 2.00 µs over" in text
    assert "p50 2.00 ms, p99 2.00 ms (p99 target ≤ 5 ms: PASS" in text
    assert "1.00% of a core for 2 listeners = 500.00% per 1,000 listeners" in text
    assert "150 KiB (target ≤ 160 KiB: PASS, 10 KiB under" in text
    assert "100.000% (target ≥ 99.9%: PASS" in text
    assert "the bottleneck (they used 97% of their core(s); their core(s) were 99% busy" in text
    assert "15 µs" not in text and "256 KiB" not in text  # the old targets are gone


def test_an_unpinned_report_says_so_and_finds_no_bottleneck_below_95_percent():
    from media.bench import Options
    from media.bench.report import lines

    run = _run(pinned=False)
    for n, mark in enumerate(run["window"]):
        mark["listener_cpu_s"] = [0.5 * n]
        mark["client_cores_s"] = mark["machine_s"] = 1.0 * n  # 2 CPUs here, half busy
    run["drain_s"] = 30.2  # the wait for late copies ran into --drain-limit
    opts = Options(listeners=2, baseline=False, processes=1, command="bench_fanout")
    text = "\n".join(lines(opts, run, None))
    assert "until 30.2 s after the window: stopped at --drain-limit, copies still" in text
    assert "nothing pinned (--pin to pin)" in text
    assert "pinned CPUs in the window" not in text
    if os.cpu_count() >= 2:
        assert "were not the bottleneck" in text


def _rtp(seq: int, timestamp: int, ssrc: int, marker: bool = False) -> bytes:
    """An RTP packet as the server sends it: Opus (payload type 111), 40 bytes of payload."""
    return (
        bytes([0x80, 111 | (0x80 if marker else 0)])
        + seq.to_bytes(2, "big")
        + timestamp.to_bytes(4, "big")
        + ssrc.to_bytes(4, "big")
        + bytes(40)
    )


# A STUN binding request's header (type 0x0001, no attributes, the magic cookie).
STUN = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12)


def test_rtp_header_reads_ssrc_and_timestamp_and_refuses_the_rest_of_the_socket():
    from media.bench.clients import rtp_header

    assert rtp_header(_rtp(7, 123_456, 0xDEADBEEF)) == (0xDEADBEEF, 123_456)
    assert rtp_header(_rtp(7, 960, 42, marker=True)) == (42, 960)  # second byte 239
    assert rtp_header(STUN) is None
    assert rtp_header(bytes([22, 0xFE, 0xFD]) + bytes(20)) is None  # DTLS handshake
    for packet_type in (200, 201, 202, 203, 204, 205, 206):  # SR, RR, SDES, BYE, APP, FB
        assert rtp_header(bytes([0x81, packet_type]) + bytes(26)) is None
    assert rtp_header(_rtp(7, 960, 42)[:11]) is None  # too short for a header


def test_kernel_receive_times_convert_to_the_monotonic_clock():
    from media.bench.clients import ANCILLARY, SO_TIMESTAMPNS, kernel_time_ns, realtime_offset_ns

    offset = realtime_offset_ns()
    direct = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns()
    assert abs(offset - direct) < 20_000_000  # a busy machine can preempt between the reads
    assert kernel_time_ns([]) is None
    assert kernel_time_ns([(socket.SOL_SOCKET, SO_TIMESTAMPNS, b"short")]) is None
    udp = (socket.AF_INET, socket.SOCK_DGRAM)
    with socket.socket(*udp) as rx, socket.socket(*udp) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        # The kernel turns receive timestamps on for the whole stack lazily (a static key,
        # switched by deferred work when the first socket asks): until it has, a datagram
        # is stamped when it is read. One warm-up datagram, read after a pause, gives it
        # the time to.
        tx.sendto(b"warm-up", rx.getsockname())
        time.sleep(0.1)
        rx.recvmsg(2048, ANCILLARY)
        before = time.monotonic_ns()
        tx.sendto(b"x", rx.getsockname())
        sent = time.monotonic_ns()
        time.sleep(0.3)  # read well after the datagram arrived
        read = time.monotonic_ns()
        data, ancdata, _, _ = rx.recvmsg(2048, ANCILLARY)
    assert data == b"x"
    arrived = kernel_time_ns(ancdata) - offset
    # The kernel's time, not the read's: around the sendto, far before the read (with
    # 20 ms for the clocks' reading error on a loaded machine, against the 300 ms wait).
    assert before - 20_000_000 <= arrived <= sent + 20_000_000
    assert arrived < read - 200_000_000


@pytest.mark.asyncio
async def test_the_batch_hook_counts_genuine_rtp_off_the_socket_and_passes_the_rest_on():
    from pylibsrtp import Policy, Session

    from media.bench.clients import SRTP_CHECKS, _Batch, _Tap

    loop = asyncio.get_running_loop()
    passed: list[bytes] = []

    class Protocol(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr) -> None:
            passed.append(data)

    transport, protocol = await loop.create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 0))
    await asyncio.sleep(0)  # asyncio starts reading it
    key = bytes(range(30))
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    arrivals: list[tuple[int, int, int]] = []
    batch = _Batch(loop)
    tap = _Tap(transport, protocol, {0xAABB: 2}.get, rx, arrivals)
    batch.add(tap)
    forged = bytearray(tx.protect(_rtp(1, 960, 0xAABB)))
    forged[-1] ^= 1  # its authentication tag no longer matches
    other = tx.protect(_rtp(1, 960, 0x1234))  # an SSRC of no slot
    rtcp = bytes([0x81, 201, 0, 7]) + bytes(28)
    address = transport.get_extra_info("sockname")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        before = time.monotonic_ns()
        sender.sendto(bytes(forged), address)
        for k in range(2, 8):
            sender.sendto(tx.protect(_rtp(k, 960 * k, 0xAABB)), address)
        for datagram in (STUN, rtcp, other):
            sender.sendto(datagram, address)
        sent = time.monotonic_ns()
        time.sleep(0.03)  # the loop is blocked: no poll can read them before this
        await asyncio.sleep(0.03)  # several polls
        try:
            assert [(slot, ts) for slot, ts, _ in arrivals] == [(2, 960 * k) for k in range(2, 8)]
            assert all(before - 1_000_000 <= t <= sent + 1_000_000 for _, _, t in arrivals)
            assert (tap.checked, tap.failed, tap.errors) == (SRTP_CHECKS, 1, 0)
            assert passed == [STUN, rtcp, other]
        finally:
            batch.close()
        # Closed: the socket is asyncio's again, and nothing more is counted.
        sender.sendto(tx.protect(_rtp(9, 960 * 9, 0xAABB)), address)
        await asyncio.sleep(0.03)
    transport.close()
    assert len(arrivals) == 6
    assert len(passed) == 4 and passed[-1][:2] == bytes([0x80, 111])
