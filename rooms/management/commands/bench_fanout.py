"""Benchmark the media forwarder's fan-out (DESIGN.md section 7) against aiortc's ordinary
decode-and-re-encode path, on 127.0.0.1; with --nodes N, across N nodes joined by the relay.
The work is in media/bench/; this command only parses options and prints the report. Method
and figures: docs/benchmarks.md.

    python manage.py bench_fanout --listeners 500 --speakers 1 --seconds 20
        [--nodes 1] [--pin] [--reference/--no-reference] [--baseline/--no-baseline]
        [--baseline-listeners 5] [--processes 4] [--concurrency 8] [--idle-seconds 10]
        [--warmup-seconds 2] [--grace-seconds 1.5] [--drain-limit 30] [--client-nice 10]
        [--listener-hook receiver|socket|batch] [--keep-logs] [--taps]

--pin gives each server process a CPU of its own (the first CPUs this process may use, one
per node) and puts the speaker and listener processes and the coordinator on all the others
(os.sched_setaffinity); it needs nodes + 1 CPUs. On a 2-core machine: the server on CPU 0,
everything else on CPU 1. With --pin the listeners count packets with --listener-hook batch
unless told otherwise (receiver without --pin): one core can't run aiortc's receive path
for hundreds of listeners.

The pass-through's report ends with its targets, PASS or MISS and by how much: server CPU per
packet-copy ≤ 8 µs (the idle cost included; net of idle reported too), one packet's fan-out
(forward() entered -> returned, first to last copy handed to the kernel) p99 ≤ 5 ms, the
server's idle share ≤ 5% of a core per 1,000 connected listeners, memory ≤ 160 KiB per
connected listener, delivery ≥ 99.9% at the listeners; and whether the listener processes
were the bottleneck (≥ 95% of their cores, or datagrams dropped at their sockets).
"""

import argparse
import asyncio
import dataclasses
import shlex
import sys

from django.core.management.base import BaseCommand, CommandError

from media.bench import Options, coordinator
from media.benchkit import BenchError


class Command(BaseCommand):
    help = "Fan-out benchmark of the pass-through forwarder (and aiortc's ordinary path)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--listeners", type=int, default=500)
        parser.add_argument("--speakers", type=int, default=1)
        parser.add_argument("--seconds", type=float, default=20.0, help="steady window")
        parser.add_argument(
            "--nodes",
            type=int,
            default=1,
            help="pass-through server processes, each a node with a relay: the speakers on "
            "node 1, the listeners round-robin over all (default 1: one server, no relay)",
        )
        parser.add_argument(
            "--pin",
            action="store_true",
            help="pin each server process to a CPU of its own (os.sched_setaffinity) and the "
            "speaker and listener processes and the coordinator to the other CPUs; needs "
            "nodes + 1 CPUs (with 2 CPUs: the server on CPU 0, everything else on CPU 1)",
        )
        parser.add_argument(
            "--reference",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="with --nodes N > 1: first run one node at the listeners each node has, to "
            "compare CPU per packet-copy (default on)",
        )
        parser.add_argument(
            "--baseline",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="also measure aiortc's ordinary path (decode, MediaRelay, re-encode); "
            "default on with one node, off with --nodes N > 1",
        )
        parser.add_argument(
            "--baseline-listeners",
            type=int,
            default=5,
            help="listeners for the ordinary path: it costs about 2-3 ms of CPU per copy "
            "here (aiortc's audio level + Opus encode per listener), so one core keeps up "
            "with fewer than 10",
        )
        parser.add_argument("--processes", type=int, default=4, help="listener processes")
        parser.add_argument(
            "--concurrency", type=int, default=8, help="set-ups in flight per listener process"
        )
        parser.add_argument(
            "--idle-seconds",
            type=float,
            default=10.0,
            help="idle window; consent checks come every 4-6 s, so a shorter one is noisy",
        )
        parser.add_argument("--warmup-seconds", type=float, default=2.0)
        parser.add_argument(
            "--grace-seconds", type=float, default=1.5, help="wait at least this after the window"
        )
        parser.add_argument(
            "--drain-limit",
            type=float,
            default=30.0,
            help="wait at most this after the window for late packets",
        )
        parser.add_argument(
            "--client-nice",
            type=int,
            default=10,
            help="niceness of the listener processes (0: compete equally with the server)",
        )
        parser.add_argument(
            "--listener-hook",
            choices=["receiver", "socket", "batch"],
            default=None,
            help="where listeners count packets: each slot receiver's _handle_rtp_packet "
            "(the default without --pin), straight off the ICE socket after SRTP (cheaper), "
            "or batch (the default with --pin, cheapest): the connected ICE sockets read "
            "every 5 ms outside asyncio, RTP recorded from its clear header with the "
            "kernel's receive time, only the first packets of each listener unprotected",
        )
        parser.add_argument("--keep-logs", action="store_true", help="keep child stderr logs")
        parser.add_argument(
            "--taps",
            action="store_true",
            help="with recording and live captions on (media/recorder.py, media/captions.py), "
            "as in a recorded, captioned room: the speakers' packets also go to the recorder "
            "and to the caption worker",
        )

    def handle(self, *args, **options) -> None:
        fields = [f.name for f in dataclasses.fields(Options) if f.name != "command"]
        if options["listener_hook"] is None:
            # Pinned, the listener processes have one core: aiortc's receive path (40-110 µs
            # a packet) or the socket hook (~55 µs) can't keep up with 1,000 listeners there.
            options["listener_hook"] = "batch" if options["pin"] else "receiver"
        if len(sys.argv) > 1 and sys.argv[1] == "bench_fanout":
            command = shlex.join(["python", *sys.argv])
        else:
            command = "bench_fanout " + " ".join(
                f"--{k.replace('_', '-')} {options[k]}" for k in sorted(fields)
            )
        opts = Options(**{k: options[k] for k in fields}, command=command)

        def progress(line: str) -> None:
            self.stderr.write(line)
            self.stderr.flush()

        try:
            lines = asyncio.run(coordinator.run(opts, progress))
        except BenchError as exc:
            raise CommandError(str(exc)) from None
        for line in lines:
            self.stdout.write(line)
