"""Benchmark the room websocket (DESIGN.md section 7): join storm, stage-change fan-out and
server memory per connected client, against a real Daphne on 127.0.0.1.

    python manage.py bench_signaling --clients 1000 [--processes 2] [--port 8765]
        [--rounds 5] [--seconds-limit 300] [--concurrency 0] [--database-url URL]
        [--redis-url URL] [--asgi-app module:app] [--debug] [--keep-temp]

By default everything runs on a throwaway SQLite file in a temporary directory (the server
and the set-up run with PODIUM_VAR_DIR pointing there, DATABASE_URL and REDIS_URL unset), so
var/ is never touched. --database-url / --redis-url use the given PostgreSQL / Redis instead:
the command then creates its members, sessions and room in that database, so point it at a
throwaway one.

Steps: migrate and set up (host, N listeners, their sessions, one live room) by re-running
this command in a subprocess with that environment; start Daphne; connect the host; start K
client processes (_bench_clients.py), each holding its share of the N sockets in one asyncio
loop; measure the join storm, R promote/demote rounds and Daphne's RSS. Everything has a
deadline (--seconds-limit) and the server and clients are killed on the way out.

The join storm opens every socket at once; --concurrency caps the handshakes each client
process has in flight (a ramp instead of a storm). Daphne runs with DEBUG=false and its
default timeouts (a websocket handshake not accepted within 5 s is dropped). The report
also gives the machine's CPU use by other processes: on a shared 2-core machine they change
the figures a lot, so read them together.
"""

import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

HOST = "127.0.0.1"  # Traffic goes to this address only.
WORKER_SCRIPT = Path(__file__).with_name("_bench_clients.py")
SETUP_ENV_FLAG = "PODIUM_BENCH_SIGNALING_SETUP"
# Time for coalesced audience.changed updates (500 ms) to go out between measurements.
SETTLE_SECONDS = 1.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def fmt_s(ns: float) -> str:
    return f"{ns / 1e9:.2f} s"


def fmt_ms(ns: float) -> str:
    return f"{ns / 1e6:.0f} ms" if ns >= 10e6 else f"{ns / 1e6:.1f} ms"


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise CommandError(f"no VmRSS for process {pid}")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, at_most: float | None = None) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise CommandError("--seconds-limit reached; stopping")
        return left if at_most is None else min(left, at_most)


class HostClient:
    """The host's socket, in the coordinator's loop. Few events: these are JSON-parsed."""

    def __init__(self, ws):
        self.ws = ws
        self.version = 0
        self.stage: set[int] = set()
        self.stage_versions: list[tuple[int, set[int], int]] = []  # (version, stage, recv ns)
        self.hand_queue: set[int] = set()
        self.audience = -1  # The audience count the server last announced.
        self.changed = asyncio.Event()
        self.closed_code: int | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                now = time.monotonic_ns()
                event = json.loads(text)
                kind = event.get("type")
                self.version = max(self.version, int(event.get("version") or 0))
                if kind in ("room.state", "stage.changed"):
                    stage = {p["member"] for p in event["stage"]}
                    self.stage = stage
                    self.stage_versions.append((int(event["version"]), stage, now))
                    if kind == "room.state":
                        self.hand_queue = {p["member"] for p in event["hand_queue"]}
                        self.audience = int(event["audience"]["count"])
                elif kind == "audience.changed":
                    self.audience = int(event["count"])
                elif kind == "hand.queue":
                    self.hand_queue = {p["member"] for p in event["queue"]}
                elif kind == "error":
                    sys.stderr.write(f"bench_signaling: host got an error: {text}\n")
                self.changed.set()
        finally:
            self.closed_code = self.ws.close_code
            self.changed.set()

    async def wait_for(self, predicate, timeout: float):
        end = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if self.closed_code is not None:
                raise CommandError(f"the host's socket closed ({self.closed_code})")
            left = end - time.monotonic()
            if left <= 0:
                raise CommandError("timed out waiting for the host to see an event")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    def stage_change_with(self, member: int, on_stage: bool, after_version: int):
        for version, stage, recv_ns in self.stage_versions:
            if version > after_version and (member in stage) == on_stage:
                return version, recv_ns
        return None


class WorkerProcess:
    def __init__(self, index: int, proc: asyncio.subprocess.Process, members: list[int]):
        self.index = index
        self.proc = proc
        self.members = set(members)
        self.next_id = 0

    async def call(self, command: dict, timeout: float) -> dict:
        """Send a command and wait for the reply with its id (replies to calls that timed
        out earlier are skipped)."""
        self.next_id += 1
        wanted = self.next_id
        self.proc.stdin.write((json.dumps({**command, "id": wanted}) + "\n").encode())
        await self.proc.stdin.drain()
        end = time.monotonic() + timeout
        while True:
            reply = await self.read(max(0.001, end - time.monotonic()))
            if reply.get("id") == wanted:
                return reply

    async def read(self, timeout: float) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise CommandError(f"client process {self.index} exited ({self.proc.returncode})")
        return json.loads(line)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.call({"cmd": "quit"}, 8)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), 3)
        if self.proc.returncode is None:
            self.proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), 3)
        with contextlib.suppress(Exception):
            self.proc.stdin.close()


class Command(BaseCommand):
    help = "Benchmark the room websocket: join storm, stage-change fan-out, memory per client."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clients", type=int, default=1000, help="listener sockets (N)")
        parser.add_argument("--processes", type=int, default=2, help="client processes (K)")
        parser.add_argument("--port", type=int, default=8765, help="Daphne's port on 127.0.0.1")
        parser.add_argument("--rounds", type=int, default=5, help="promote/demote rounds")
        parser.add_argument("--seconds-limit", type=float, default=300, help="overall deadline")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=0,
            help="handshakes in flight per client process (0: all at once, the default)",
        )
        parser.add_argument("--database-url", default="", help="use this (throwaway) PostgreSQL")
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

    # --- entry ------------------------------------------------------------------------------

    def handle(self, *args, **options) -> None:
        if options["setup_out"]:
            self._setup(options["clients"], Path(options["setup_out"]))
            return
        clients = options["clients"]
        processes = options["processes"]
        if clients < 2:
            raise CommandError("--clients must be at least 2")
        if not 1 <= processes <= clients:
            raise CommandError("--processes must be between 1 and --clients")
        if options["rounds"] < 1:
            raise CommandError("--rounds must be at least 1")
        if options["database_url"] and not options["database_url"].startswith(
            ("postgres://", "postgresql://")
        ):
            raise CommandError("--database-url must be a postgres:// URL")
        self._raise_fd_limit(clients)
        deadline = Deadline(options["seconds_limit"])
        temp = Path(tempfile.mkdtemp(prefix="bench_signaling-"))
        daphne = None
        try:
            env = self._server_env(temp, options)
            data = self._prepare(env, temp, clients, deadline)
            self._check_port_free(options["port"])
            daphne, log_path = self._start_daphne(
                env, temp, options["port"], options["asgi_app"], deadline
            )
            report: dict = {"clients": clients, "processes": processes, "rounds": []}
            failure = None
            try:
                run = self._run(options, data, daphne, deadline, report)
                asyncio.run(asyncio.wait_for(run, deadline.left()))
            except Exception as exc:  # Report what was measured, then fail.
                failure = exc
            report["server_log"] = self._log_summary(log_path)
            self._print(report, options)
            if failure is not None:
                raise CommandError(f"benchmark stopped early: {failure!r}") from failure
        finally:
            if daphne is not None and daphne.poll() is None:
                daphne.terminate()
                try:
                    daphne.wait(10)
                except subprocess.TimeoutExpired:
                    daphne.kill()
                    daphne.wait(5)
            if options["keep_temp"]:
                self.stderr.write(f"bench_signaling: kept {temp}")
            else:
                shutil.rmtree(temp, ignore_errors=True)

    # --- the set-up subprocess --------------------------------------------------------------

    def _setup(self, count: int, out: Path) -> None:
        """Create the host, N listeners, their sessions and one live room. Runs only in the
        subprocess that the benchmark starts, whose settings point at the benchmark's database.
        """
        if os.environ.get(SETUP_ENV_FLAG) != "1":
            raise CommandError("--setup-out is internal to bench_signaling")
        from importlib import import_module

        from django.contrib.auth.hashers import make_password
        from django.db import transaction

        from accounts.models import Member
        from rooms import services

        session_store = import_module(settings.SESSION_ENGINE).SessionStore
        tag = secrets.token_hex(4)
        people = [
            Member(
                email=f"bench-{tag}-{i}@bench.invalid",
                handle=f"bench-{tag}-{i}",
                display_name="Bench Host" if i == 0 else f"Bench Listener {i}",
                password=make_password(None),
            )
            for i in range(count + 1)
        ]
        with transaction.atomic():
            Member.objects.bulk_create(people, batch_size=500)
            members = list(Member.objects.filter(handle__startswith=f"bench-{tag}-").order_by("pk"))
            sessions = []
            for member in members:
                store = session_store()
                store["_auth_user_id"] = str(member.pk)
                store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
                store["_auth_user_hash"] = member.get_session_auth_hash()
                store.create()
                sessions.append(store.session_key)
        host = members[0]
        room = services.room_create(host=host, title=f"bench_signaling {tag}", max_speakers=20)
        services.room_start(actor=host, room=room)
        out.write_text(
            json.dumps(
                {
                    "room": room.pk,
                    "host": [host.pk, sessions[0]],
                    "listeners": [
                        [m.pk, s] for m, s in zip(members[1:], sessions[1:], strict=True)
                    ],
                }
            )
        )

    # --- preparing the server ---------------------------------------------------------------

    @staticmethod
    def _raise_fd_limit(clients: int) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = clients + 1000
        if soft < wanted:
            target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            if target < wanted:
                raise CommandError(f"open-file limit {hard} is too low for {clients} clients")

    @staticmethod
    def _server_env(temp: Path, options: dict) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "CHANNEL_LAYER_PREFIX")
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            PODIUM_VAR_DIR=str(temp),
            SECRET_KEY=secrets.token_urlsafe(50),
            DEBUG="true" if options["debug"] else "false",
            HTTPS="false",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            # A deployment keeps database connections open; so does the benchmark.
            DB_CONN_MAX_AGE="60",
        )
        if options["database_url"]:
            env["DATABASE_URL"] = options["database_url"]
        if options["redis_url"]:
            env["REDIS_URL"] = options["redis_url"]
            env["CHANNEL_LAYER_PREFIX"] = f"bench{secrets.token_hex(4)}"
        return env

    def _prepare(self, env: dict, temp: Path, clients: int, deadline: Deadline) -> dict:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        out = temp / "setup.json"
        steps = [
            ("migrate", [sys.executable, manage, "migrate", "--noinput", "-v", "0"]),
            (
                "set-up",
                [
                    *(sys.executable, manage, "bench_signaling"),
                    *("--clients", str(clients), "--setup-out", str(out)),
                ],
            ),
        ]
        for name, argv in steps:
            started = time.monotonic()
            result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
                argv,
                env={**env, SETUP_ENV_FLAG: "1"},
                cwd=settings.BASE_DIR,
                capture_output=True,
                text=True,
                timeout=deadline.left(),
                check=False,
            )
            if result.returncode != 0:
                raise CommandError(f"{name} failed:\n{result.stdout}\n{result.stderr}")
            self.stderr.write(f"bench_signaling: {name} done in {time.monotonic() - started:.1f} s")
        return json.loads(out.read_text())

    @staticmethod
    def _check_port_free(port: int) -> None:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((HOST, port)) == 0:
                raise CommandError(f"something already listens on {HOST}:{port}")

    def _start_daphne(self, env: dict, temp: Path, port: int, app: str, deadline: Deadline):
        log_path = temp / "daphne.log"
        log = log_path.open("wb")
        argv = [sys.executable, "-m", "daphne", "--websocket_connect_timeout", "30"]
        argv += ["-b", HOST, "-p", str(port), "-v", "0"]
        argv.append(app)
        daphne = subprocess.Popen(  # noqa: S603 - our own interpreter
            argv, env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        end = time.monotonic() + deadline.left(60)
        while time.monotonic() < end:
            if daphne.poll() is not None:
                raise CommandError(f"Daphne exited ({daphne.returncode}):\n{log_path.read_text()}")
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex((HOST, port)) == 0:
                    self.stderr.write(
                        f"bench_signaling: Daphne (pid {daphne.pid}) on {HOST}:{port}"
                    )
                    return daphne, log_path
            time.sleep(0.1)
        daphne.kill()
        raise CommandError("Daphne did not start listening in time")

    @staticmethod
    def _log_summary(log_path: Path) -> dict:
        """Line count, and the server's exceptions and warnings grouped by their message."""
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        lines = text.splitlines()
        kinds: dict[str, int] = {}
        in_traceback = False
        for line in lines:
            if line.startswith("Traceback"):
                in_traceback = True
                continue
            if in_traceback and line[:1].isspace():
                continue
            if in_traceback or "took too long to shut down" in line or "WARNING" in line:
                if "took too long to shut down" in line:
                    key = "Application instance took too long to shut down and was killed"
                else:
                    key = line
                kinds[key[:160]] = kinds.get(key[:160], 0) + 1
            in_traceback = False
        return {
            "lines": len(lines),
            "tracebacks": text.count("Traceback"),
            "kinds": sorted(kinds.items(), key=lambda kv: -kv[1])[:8],
        }

    # --- the measurement --------------------------------------------------------------------

    async def _run(self, options: dict, data: dict, daphne, deadline: Deadline, report) -> None:
        """Fill `report` as the measurements come in, so that a failure keeps what was seen."""
        from websockets.asyncio.client import connect

        port = options["port"]
        url = f"ws://{HOST}:{port}/ws/rooms/{data['room']}/"
        origin = f"http://{HOST}:{port}"
        listeners = data["listeners"]
        k = options["processes"]
        shares = [listeners[i::k] for i in range(k)]
        workers: list[WorkerProcess] = []
        host_ws = host = None
        cpu_before = machine_before = wall_before = own_before = None
        try:
            # Warm up: the host connects first (imports, DB connection, thread pool).
            _, host_session = data["host"]
            host_ws = await connect(
                url,
                origin=origin,
                additional_headers={"Cookie": f"sessionid={host_session}"},
                compression=None,
                proxy=None,
                open_timeout=deadline.left(30),
                ping_interval=None,
                max_size=2**24,
            )
            host = HostClient(host_ws)
            await host.wait_for(lambda: host.stage_versions, deadline.left(30))
            for i, share in enumerate(shares):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(WORKER_SCRIPT),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=2**26,
                )
                worker = WorkerProcess(i, proc, [m for m, _ in share])
                workers.append(worker)
                config = {
                    "url": url,
                    "origin": origin,
                    "clients": share,
                    "concurrency": options["concurrency"],
                    "open_timeout": 60,
                    "join_timeout": min(180.0, deadline.left()),
                }
                proc.stdin.write((json.dumps(config) + "\n").encode())
                await proc.stdin.drain()
            for worker in workers:
                await worker.read(deadline.left(30))
            await asyncio.sleep(SETTLE_SECONDS)
            rss_before = proc_rss_kib(daphne.pid)
            cpu_before = proc_cpu_s(daphne.pid)
            machine_before = machine_busy_s()
            wall_before = time.monotonic()
            own_before = time.process_time()
            report["load_before"] = os.getloadavg()[0]

            # Join storm: every client process starts at once.
            joins = await asyncio.gather(
                *(w.call({"cmd": "join"}, deadline.left()) for w in workers)
            )
            cpu_storm = proc_cpu_s(daphne.pid) - cpu_before
            latencies = [v for j in joins for v in j["latency_ns"]]
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
                "server_cpu_s": cpu_storm,
            }
            self.stderr.write(f"bench_signaling: join storm done ({report['join']['ok']} joined)")
            # An overloaded server goes on working (queued joins, coalesced updates) after the
            # last client is in: measure from quiet, and report how long that took.
            report["join"]["settle_s"] = await self._wait_idle(daphne.pid, deadline)
            rss_after = proc_rss_kib(daphne.pid)
            report["memory"] = {"before_kib": rss_before, "after_kib": rss_after}

            # Stage-change fan-out.
            await self._rounds(options, listeners, workers, host, deadline, report["rounds"])
        finally:
            if host is not None:
                report["audience_seen_by_host"] = host.audience
            with contextlib.suppress(Exception):
                report["stats"] = await asyncio.gather(
                    *(w.call({"cmd": "stats"}, 5) for w in workers)
                )
                report["server_cpu_total_s"] = proc_cpu_s(daphne.pid)
                report["server_rss_end_kib"] = proc_rss_kib(daphne.pid)
                if cpu_before is not None:
                    report["cpu"] = {
                        "wall_s": time.monotonic() - wall_before,
                        "machine_s": machine_busy_s() - machine_before,
                        "server_s": report["server_cpu_total_s"] - cpu_before,
                        "clients_s": sum(s["cpu_s"] for s in report["stats"]),
                        "coordinator_s": time.process_time() - own_before,
                    }
            await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
            if host_ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(host_ws.close(), 3)

    @staticmethod
    async def _wait_idle(pid: int, deadline: Deadline, limit: float = 120.0) -> float:
        """Wait until the server uses under a fifth of a core for two half-seconds running;
        return the seconds waited (at least SETTLE_SECONDS)."""
        started = time.monotonic()
        await asyncio.sleep(SETTLE_SECONDS)
        quiet = 0
        while quiet < 2 and time.monotonic() - started < deadline.left(limit):
            before = proc_cpu_s(pid)
            await asyncio.sleep(0.5)
            quiet = quiet + 1 if proc_cpu_s(pid) - before < 0.1 else 0
        return time.monotonic() - started

    async def _rounds(
        self, options, listeners, workers, host: HostClient, deadline, rounds
    ) -> None:
        n = len(listeners)
        step = max(1, n // options["rounds"])
        used: set[int] = set()
        for r in range(options["rounds"]):
            # A different listener each round, spread over the client processes.
            member = None
            for offset in range(n):
                candidate = listeners[(r * step + offset) % n][0]
                if candidate in used:
                    continue
                used.add(candidate)
                owner = next(w for w in workers if candidate in w.members)
                sent = await owner.call(
                    {"cmd": "send", "member": candidate, "text": '{"type":"hand.raise"}'},
                    deadline.left(10),
                )
                if sent["ok"]:
                    member = candidate
                    break
            if member is None:
                raise CommandError("no connected listener left to promote")
            await host.wait_for(lambda m=member: m in host.hand_queue, deadline.left(30))
            await asyncio.sleep(0.2)
            promote = await self._stage_change(
                host, workers, member, on_stage=True, verb="speaker.promote", deadline=deadline
            )
            await asyncio.sleep(SETTLE_SECONDS)
            demote = await self._stage_change(
                host, workers, member, on_stage=False, verb="speaker.demote", deadline=deadline
            )
            await asyncio.sleep(SETTLE_SECONDS)
            rounds.append({"member": member, "promote": promote, "demote": demote})

    async def _stage_change(self, host, workers, member, *, on_stage, verb, deadline) -> dict:
        before = host.version
        frame = json.dumps({"type": verb, "member": member})
        sent_ns = time.monotonic_ns()
        await host.ws.send(frame)
        version, host_ns = await host.wait_for(
            lambda: host.stage_change_with(member, on_stage, before), deadline.left(30)
        )
        replies = await asyncio.gather(
            *(
                w.call({"cmd": "collect", "version": version, "timeout": 20}, deadline.left(40))
                for w in workers
            )
        )
        delays = [t - sent_ns for rep in replies for t in rep["recv_ns"]]
        return {
            "version": version,
            "delivered": len(delays),
            "expected": sum(rep["expected"] for rep in replies),
            "saw_later_only": sum(rep["saw_later_only"] for rep in replies),
            "host_ns": host_ns - sent_ns,
            "delays": delays,
        }

    # --- the report -------------------------------------------------------------------------

    def _print(self, report: dict, options: dict) -> None:
        n = report["clients"]
        db = "PostgreSQL" if options["database_url"] else "SQLite"
        layer = "Redis pub/sub layer" if options["redis_url"] else "in-memory layer"
        out = self.stdout.write
        out(
            f"bench_signaling: {n} clients, {report['processes']} client processes, "
            f"{db} + {layer}, server DEBUG={'true' if options['debug'] else 'false'}"
            + (
                f", app {options['asgi_app']}"
                if options["asgi_app"] != "config.asgi:application"
                else ""
            )
        )
        j = report.get("join")
        if j and not j["ok"]:
            out(f"join storm: 0/{n} joined; server CPU {j['server_cpu_s']:.1f} s")
        if j and j["ok"]:
            out(
                f"join storm: {j['ok']}/{n} joined in {fmt_s(j['wall_ns'])}; connect->room.state "
                f"p50 {fmt_s(j['p50'])} p95 {fmt_s(j['p95'])} p99 {fmt_s(j['p99'])} "
                f"max {fmt_s(j['max'])}; server CPU {j['server_cpu_s']:.1f} s"
            )
        if j and j.get("settle_s", 0) > SETTLE_SECONDS + 1.5:
            out(f"  server busy for {j['settle_s']:.1f} s after the last room.state")
        if j and j["errors"]:
            out(f"  join failures (client-side errors): {j['errors']}")
        all_promote: list[int] = []
        all_demote: list[int] = []
        delivered = expected = 0
        for i, r in enumerate(report["rounds"], 1):
            p, d = r["promote"], r["demote"]
            all_promote += p["delays"]
            all_demote += d["delays"]
            delivered += p["delivered"]
            expected += p["expected"]
            out(
                f"  round {i}: promote member {r['member']} (v{p['version']}): "
                f"{p['delivered']}/{p['expected']}, host saw it after {fmt_ms(p['host_ns'])}, "
                f"p50 {fmt_ms(percentile(p['delays'], 50))} "
                f"p99 {fmt_ms(percentile(p['delays'], 99))} "
                f"max {fmt_ms(max(p['delays'], default=0))}"
                f"; demote p99 {fmt_ms(percentile(d['delays'], 99))}"
                + (
                    f"; {p['saw_later_only']} saw only a later version"
                    if p["saw_later_only"]
                    else ""
                )
            )
        rounds = len(report["rounds"])
        if rounds:
            out(
                f"stage change fan-out ({rounds} rounds): delivered {delivered}/{n * rounds} "
                f"(sockets open at the time: {expected}); "
                f"p50 {fmt_ms(percentile(all_promote, 50))} "
                f"p99 {fmt_ms(percentile(all_promote, 99))} "
                f"max {fmt_ms(max(all_promote, default=0))}"
            )
            out(
                f"  demote fan-out: p50 {fmt_ms(percentile(all_demote, 50))} "
                f"p99 {fmt_ms(percentile(all_demote, 99))} max {fmt_ms(max(all_demote, default=0))}"
            )
        m = report.get("memory")
        if m and (not j or j["ok"]):
            joined = j["ok"] if j else n
            per_client = (m["after_kib"] - m["before_kib"]) / max(1, joined)
            out(
                f"server memory: {m['before_kib'] / 1024:.1f} MiB before, "
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
            out(
                f"clients: {open_now}/{n} still open at the end"
                + (
                    f" (audience count last announced to the host: {seen})"
                    if seen is not None
                    else ""
                )
                + (f", close codes {codes}" if codes else "")
                + f"; events received {dict(sorted(types.items()))}; client CPU {cpu}"
            )
        log = report["server_log"]
        if "server_cpu_total_s" in report:
            out(
                f"server: CPU {report['server_cpu_total_s']:.1f} s in all, "
                f"RSS at the end {report['server_rss_end_kib'] / 1024:.1f} MiB; "
                f"log {log['lines']} lines, {log['tracebacks']} tracebacks"
            )
        c = report.get("cpu")
        if c:
            others = c["machine_s"] - c["server_s"] - c["clients_s"] - c["coordinator_s"]
            out(
                f"machine: {os.cpu_count()} CPUs, load average {report['load_before']:.2f} before "
                f"the storm; over the {c['wall_s']:.1f} s measured, CPU busy "
                f"{c['machine_s']:.1f} s: server {c['server_s']:.1f} s, "
                f"clients {c['clients_s']:.1f} s, other processes about {max(0.0, others):.1f} s"
            )
        for line, count in log["kinds"]:
            out(f"  server log: {count} x {line}")
