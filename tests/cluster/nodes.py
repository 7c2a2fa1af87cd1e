"""Real nodes for the cluster tests: `manage.py runnode` subprocesses on 127.0.0.1, sharing the
pytest test database and a Redis of their own, and a redis-server the tests may kill.

    cluster = Cluster(tmp_path, redis_url="redis://127.0.0.1:6379/11")
    a, b = cluster.start("a", "b")          # waits for each node's /healthz
    ...
    cluster.stop()                          # SIGTERM (drain), SIGKILL past a bound, log checks
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import redis

REPO = Path(__file__).resolve().parents[2]
RELAY_SECRET = "cluster-tests-relay-secret-000000"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
DRAIN_SECONDS = 5.0
READY = re.compile(r"^node (\S+) serving http://\S+, relay ([\d.]+):(\d+)$", re.MULTILINE)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(db: dict) -> str:
    """The test database (pytest-django's, already created) as the nodes' DATABASE_URL."""
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(condition, *, timeout: float, every: float = 0.05, what: str = "condition"):
    """Poll `condition()` until it returns something truthy; return that, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(every)


async def eventually(condition, *, timeout: float, every: float = 0.05, what: str = "condition"):
    """`wait_for` for async tests: polls without blocking the test's event loop (where its
    own peers' packets are received)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(every)


# --- Logs ---------------------------------------------------------------------------------

_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_TRACEBACK = "Traceback (most recent call last):"


def logged_tracebacks(text: str) -> list[tuple[str, str]]:
    """(the log line before it, its final exception line) for each traceback in a log; a
    chain of exceptions counts once."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        if lines[i] != _TRACEBACK:
            i += 1
            continue
        message = lines[i - 1] if i else ""
        j = i + 1
        while True:
            while j < len(lines) and (lines[j].startswith(" ") or lines[j] == _TRACEBACK):
                j += 1
            error = lines[j] if j < len(lines) else ""
            chained = lines[j + 1 : j + 5]
            if len(chained) == 4 and chained[1] in _CHAINED and chained[3] == _TRACEBACK:
                j += 5
                continue
            break
        found.append((message, error))
        i = j + 1
    return found


@dataclass(frozen=True)
class Tolerated:
    """A traceback a test expects: the log line before it and its exception both match."""

    message: str
    error: str

    def covers(self, message: str, error: str) -> bool:
        return bool(re.search(self.message, message) and re.search(self.error, error))


# Daphne cancels what is left of each connection's application when it stops, and
# channels-redis's pub/sub layer logs the cancellation of its own unsubscribe in that
# cancelled receive as a traceback. It happens only as the server exits, and Redis drops
# the subscriptions with the connection anyway.
AT_SHUTDOWN = Tolerated("Unexpected exception while cleaning-up channel", r"CancelledError")


# --- Nodes ----------------------------------------------------------------------------------


@dataclass
class Node:
    id: str
    port: int
    process: subprocess.Popen
    log_path: Path
    relay: tuple[str, int] | None = None
    killed: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.url

    def ws_url(self, room_id: int) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/rooms/{room_id}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self) -> int | None:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def kill(self) -> None:
        """SIGKILL: the node dies without draining, as a crashed host would."""
        self.killed = True
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def terminate(self) -> None:
        """SIGTERM: the node drains (moves its sockets away) and exits by itself."""
        self.process.send_signal(signal.SIGTERM)

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"node {self.id} exited ({self.process.returncode}):\n{self.log()}")
        if self.relay is None:
            match = READY.search(self.log())
            if match is None:
                return False
            self.relay = (match.group(2), int(match.group(3)))
        return self.health() == 200


@dataclass
class Cluster:
    tmp_path: Path
    redis_url: str
    database: dict
    secret_key: str
    prefix: str
    nodes: dict[str, Node] = field(default_factory=dict)
    tolerated: list[Tolerated] = field(default_factory=list)

    def start(self, *ids: str, redis_url: str | None = None, **env_by_node) -> list[Node]:
        """Start nodes (in parallel) and wait until each serves /healthz with 200.
        `env_by_node={"c": {"MEDIA_RELAY_SECRET": ...}}` adds to one node's environment."""
        started = []
        for node_id in ids:
            port = free_port()
            log_path = self.tmp_path / f"node-{node_id}.log"
            env = {
                **os.environ,
                "DATABASE_URL": database_url(self.database),
                "REDIS_URL": redis_url or self.redis_url,
                # Pub/sub ignores Redis database numbers: a prefix keeps these nodes' groups
                # apart from any other test run's on the same server.
                "CHANNEL_LAYER_PREFIX": self.prefix,
                "SECRET_KEY": self.secret_key,
                "DEBUG": "true",
                "DB_CONN_MAX_AGE": "0",
                "PODIUM_VAR_DIR": str(self.tmp_path / f"var-{node_id}"),
                "NODE_ID": node_id,
                "MEDIA_RELAY_ADDRESS": "127.0.0.1:0",
                "MEDIA_RELAY_SECRET": RELAY_SECRET,
                "MEDIA_HOST_ADDRESSES": "127.0.0.1",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                "PYTHONFAULTHANDLER": "1",  # a node hung at teardown shows where
                **env_by_node.get(node_id, {}),
            }
            env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            log = open(log_path, "w")  # noqa: SIM115 - the child keeps it; closed below
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
                [
                    sys.executable,
                    "manage.py",
                    "runnode",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--drain-seconds",
                    str(DRAIN_SECONDS),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            node = self.nodes[node_id] = Node(node_id, port, process, log_path)
            started.append(node)
        for node in started:
            wait_for(node._ready, timeout=START_TIMEOUT, every=0.1, what=f"node {node.id} ready")
        return started

    def tolerate(self, *, message: str, error: str) -> None:
        """Let one kind of traceback (an induced outage's) pass the log check."""
        self.tolerated.append(Tolerated(message, error))

    def stop(self) -> None:
        """SIGTERM every node (they drain), SIGKILL those still running after a bound; then
        each log must be free of tracebacks the test did not expect."""
        running = [n for n in self.nodes.values() if n.process.poll() is None]
        for node in running:
            node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        hung = []
        for node in running:
            try:
                node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Python's fault handler writes every thread's stack to the log on SIGABRT.
                node.process.send_signal(signal.SIGABRT)
                try:
                    node.process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                node.process.wait()
                hung.append(node.id)
        problems = []
        for node in self.nodes.values():
            text = node.log()
            unexpected = [
                (message, error)
                for message, error in logged_tracebacks(text)
                if not any(t.covers(message, error) for t in [*self.tolerated, AT_SHUTDOWN])
            ]
            if unexpected or ("Traceback" in text and not logged_tracebacks(text)):
                problems.append(f"--- node {node.id} ({unexpected}) ---\n{text}")
        assert not hung, f"nodes {hung} didn't stop within {STOP_TIMEOUT} s of SIGTERM"
        assert not problems, "\n".join(problems)

    # --- Redis, as the nodes see it -------------------------------------------------------

    def redis(self, url: str | None = None) -> redis.Redis:
        return redis.Redis.from_url(url or self.redis_url, socket_timeout=2)

    def lease_holder(self, room_id: int, url: str | None = None) -> tuple[str, int] | None:
        """(node, fencing token) of the room's brain lease, or None."""
        value = self.redis(url).get(f"podium:lease:room:{room_id}")
        if value is None:
            return None
        node, token = value.decode().rsplit(":", 1)
        return node, int(token)


class RedisServer:
    """A redis-server of the test's own, without persistence, so that it can be killed and
    restarted (empty, as after a crash) without touching the shared one."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path / "redis"
        self.dir.mkdir(exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.dir / "redis.log", "a")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(  # noqa: S603
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)

        def pong() -> bool:
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(pong, timeout=10, what="redis-server up")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class DatabaseDoor:
    """A TCP proxy in front of PostgreSQL for the nodes, which the test can shut: `cut()`
    resets every connection through it and stops listening, so that the nodes see what a
    stopped server gives them (connections dropped, new ones refused) while the test itself
    still reads the real database directly; `restore()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def url(self, db: dict) -> str:
        return database_url({**db, "HOST": "127.0.0.1", "PORT": self.port})

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            listener.close()
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close() sends a reset, as a server process that exits does;
                # SHUT_RD first wakes the pump blocked reading it.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
