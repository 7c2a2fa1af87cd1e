"""What `make cluster` (config/cluster.py) makes sure of before it starts the nodes:
PostgreSQL and Redis running (local ones started as .ci/run does), the database there,
HAProxy installed; and the small socket and waiting helpers it shares."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


class ClusterError(Exception):
    """Start-up can't go on; the message says what to do."""


def say(message: str) -> None:
    print(f"== {message}", flush=True)


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def ensure_postgres(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    from config.env import parse_database_url

    db = parse_database_url("DATABASE_URL", database_url)
    params = {
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
        "user": db["USER"] or None,
        "password": db["PASSWORD"] or None,
        "connect_timeout": 3,
        **db["OPTIONS"],
    }

    def reachable() -> bool:
        try:
            psycopg.connect(dbname="postgres", **params).close()
        except psycopg.OperationalError:
            return False
        return True

    if not reachable():
        pg_ctlcluster = shutil.which("pg_ctlcluster")
        if db["HOST"] not in LOCAL_HOSTS or not pg_ctlcluster:
            raise ClusterError(
                f"Can't reach PostgreSQL at DATABASE_URL ({database_url}); start it, "
                "or set DATABASE_URL to one that runs."
            )
        versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
        if not versions:
            raise ClusterError("PostgreSQL isn't running and no cluster is in /etc/postgresql.")
        say("starting PostgreSQL")
        subprocess.run(  # noqa: S603 - Debian's tool, as .ci/run runs it
            [pg_ctlcluster, "--skip-systemctl-redirect", versions[0], "main", "start"],
            check=False,
        )
        if not wait_for(reachable, 30):
            raise ClusterError(f"PostgreSQL didn't start: can't reach {database_url}.")
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone()
        if not found:
            say(f"creating database {db['NAME']}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def ensure_redis(redis_url: str) -> None:
    from redis import Redis

    def reachable() -> bool:
        try:
            client = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
            client.ping()
            client.close()
        except Exception:
            return False
        return True

    if reachable():
        return
    parts = urlsplit(redis_url)
    redis_server = shutil.which("redis-server")
    if parts.hostname not in LOCAL_HOSTS or not redis_server:
        raise ClusterError(
            f"Can't reach Redis at REDIS_URL ({redis_url}); start it, "
            "or set REDIS_URL to one that runs."
        )
    say("starting Redis")
    # Like .ci/run: a throwaway Redis for this machine, left running for the next start.
    subprocess.run(  # noqa: S603 - as .ci/run runs it
        [
            redis_server,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(parts.port or 6379),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    if not wait_for(reachable, 30):
        raise ClusterError(f"Redis didn't start: can't reach {redis_url}.")


def find_haproxy() -> str | None:
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def ensure_haproxy() -> str:
    found = find_haproxy()
    if found:
        return found
    apt_get = shutil.which("apt-get")
    sudo = [] if os.geteuid() == 0 else [shutil.which("sudo") or "sudo"]
    if not apt_get:
        raise ClusterError("HAProxy is missing and there is no apt-get: install haproxy.")
    say("installing haproxy")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt_get, "update", "-qq"], [apt_get, "install", "-y", "-qq", "haproxy"]):
        # apt-get's own arguments, nothing from outside.
        if subprocess.run([*sudo, *command], env=env, check=False).returncode:  # noqa: S603
            raise ClusterError(f"`{' '.join([*sudo, *command])}` failed: install haproxy yourself.")
    found = find_haproxy()
    if not found:
        raise ClusterError("apt-get installed haproxy, yet there is no haproxy binary.")
    return found
