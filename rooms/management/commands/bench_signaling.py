"""Benchmark the room websocket (DESIGN.md section 7): join storm, stage-change fan-out and
server memory per connected client, against a real Daphne on 127.0.0.1. The work is in
rooms/bench/; this command parses options and prints the report. Method and figures:
docs/benchmarks.md.

    python manage.py bench_signaling --clients 1000 [--nodes 1] [--processes 2] [--port 8765]
        [--rounds 5] [--seconds-limit 300] [--concurrency 0] [--database-url URL]
        [--redis-url URL] [--asgi-app module:app] [--debug] [--keep-temp]

With --nodes N > 1: N `manage.py runnode` nodes (ports --port..--port+N-1) on PostgreSQL
(--database-url, default postgres://postgres@127.0.0.1:5432/podium_bench) and Redis
(--redis-url, default redis://127.0.0.1:6379/8); a database that does not exist is created
for the run and dropped at the end.
"""

import dataclasses
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from media.benchkit import BenchError
from rooms.bench import coordinator, server


class Command(BaseCommand):
    help = "Benchmark the room websocket: join storm, stage-change fan-out, memory per client."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clients", type=int, default=1000, help="listener sockets (N)")
        parser.add_argument(
            "--nodes",
            type=int,
            default=1,
            help="1: one Daphne (default); N > 1: N runnode nodes on PostgreSQL and Redis, "
            "the client sockets round-robin over them and the host on the first",
        )
        parser.add_argument("--processes", type=int, default=2, help="client processes (K)")
        parser.add_argument(
            "--port", type=int, default=8765, help="Daphne's (the first node's) port on 127.0.0.1"
        )
        parser.add_argument("--rounds", type=int, default=5, help="promote/demote rounds")
        parser.add_argument("--seconds-limit", type=float, default=300, help="overall deadline")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=0,
            help="handshakes in flight per client process (0: all at once, the default)",
        )
        parser.add_argument(
            "--database-url",
            default="",
            help="use this (throwaway) PostgreSQL database; created and dropped if missing",
        )
        parser.add_argument("--redis-url", default="", help="use this Redis as channel layer")
        parser.add_argument(
            "--debug", action="store_true", help="run the server with DEBUG=true (default false)"
        )
        parser.add_argument(
            "--asgi-app",
            default="config.asgi:application",
            help="the ASGI application Daphne serves (for A/B experiments)",
        )
        parser.add_argument(
            "--keep-temp", action="store_true", help="keep the temp dir (database, server log)"
        )
        # Internal: the set-up step, run in a subprocess with the benchmark's environment.
        parser.add_argument("--setup-out", default="", help="(internal)")

    def handle(self, *args, **options) -> None:
        try:
            if options["setup_out"]:
                server.create_members_and_room(options["clients"], Path(options["setup_out"]))
                return
            fields = [f.name for f in dataclasses.fields(coordinator.Options)]
            opts = coordinator.Options(**{k: options[k] for k in fields})
            lines, failure = coordinator.run(opts, self.stderr.write)
        except BenchError as exc:
            raise CommandError(str(exc)) from None
        for line in lines:
            self.stdout.write(line)
        if failure is not None:
            raise CommandError(f"benchmark stopped early: {failure!r}") from failure
