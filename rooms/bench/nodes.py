"""The signaling benchmark's servers: one Daphne (the default), or with --nodes N that many
`manage.py runnode` processes on shared PostgreSQL and Redis; and the throwaway PostgreSQL
database a run creates when the one it is given does not exist."""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

from media.benchkit import HOST, BenchError

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/podium_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
DRAIN_SECONDS = 5  # a node's --drain-seconds: the clients have closed their sockets by then


@dataclass
class Server:
    """One server process of the benchmark: Daphne, or a node."""

    name: str  # "daphne", or the node's NODE_ID
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


# --- The throwaway database -------------------------------------------------------------------


def _admin_connection(url: str):
    """An autocommit connection to the `postgres` database of the server `url` names, and
    the name of the database `url` names."""
    import psycopg

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if not name or "/" in name:
        raise BenchError(f"--database-url must name one database: {url}")
    conn = psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or "") or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )
    return conn, name


def ensure_database(url: str, log: Callable) -> bool:
    """Create the database `url` names if it does not exist; True if this run created it
    (and so drops it at the end). An existing database is used as it is."""
    from psycopg import sql

    try:
        conn, name = _admin_connection(url)
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"can't reach PostgreSQL for {url}: {exc}") from None
    with conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"bench_signaling: using the existing database {name!r}")
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log(f"bench_signaling: created the throwaway database {name!r}")
    return True


def drop_database(url: str, log: Callable) -> None:
    from psycopg import sql

    try:
        conn, name = _admin_connection(url)
        with conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        log(f"bench_signaling: dropped the throwaway database {name!r}")
    except Exception as exc:  # the report is worth more than the clean-up
        log(f"bench_signaling: could not drop the throwaway database: {exc!r}")


# --- Nodes ------------------------------------------------------------------------------------


def node_env(env: dict, index: int) -> dict:
    return {
        **env,
        "NODE_ID": f"bench-node-{index + 1}",
        "MEDIA_RELAY_ADDRESS": f"{HOST}:0",
        "MEDIA_HOST_ADDRESSES": HOST,
    }


def _healthy(port: int) -> bool:
    url = f"http://{HOST}:{port}/healthz"  # our own node on 127.0.0.1
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def start_nodes(env: dict, temp: Path, ports: list[int], left: Callable, log: Callable):
    """Start `manage.py runnode` on each port (NODE_ID bench-node-1..N, one relay secret for
    all), and wait until every /healthz answers 200."""
    env = {**env, "MEDIA_RELAY_SECRET": secrets.token_hex(16)}
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    nodes: list[Server] = []
    try:
        for index, port in enumerate(ports):
            node = node_env(env, index)
            log_path = temp / f"{node['NODE_ID']}.log"
            with log_path.open("wb") as log_file:
                argv = [sys.executable, manage, "runnode", "--host", HOST, "--port", str(port)]
                argv += ["--drain-seconds", str(DRAIN_SECONDS)]
                proc = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
                    argv,
                    env=node,
                    cwd=settings.BASE_DIR,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            nodes.append(Server(node["NODE_ID"], port, proc, log_path))
        end = time.monotonic() + left(90)
        waiting = list(nodes)
        while waiting and time.monotonic() < end:
            for node in list(waiting):
                if node.proc.poll() is not None:
                    tail = node.log_path.read_text(errors="replace")[-3000:]
                    raise BenchError(f"{node.name} exited ({node.proc.returncode}):\n{tail}")
                if _healthy(node.port):
                    waiting.remove(node)
            time.sleep(0.2)
        if waiting:
            raise BenchError(f"{', '.join(n.name for n in waiting)}: /healthz not 200 in time")
        log(
            "bench_signaling: "
            + ", ".join(f"{n.name} (pid {n.pid}) on {HOST}:{n.port}" for n in nodes)
        )
        return nodes
    except BaseException:
        stop(nodes)
        raise


def stop(servers: list[Server]) -> None:
    """SIGTERM every server (a node drains, at most DRAIN_SECONDS), then kill what is left."""
    for s in servers:
        if s.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(s.pid, signal.SIGTERM)
    end = time.monotonic() + DRAIN_SECONDS + 10
    for s in servers:
        try:
            s.proc.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(5)
