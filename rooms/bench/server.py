"""The signaling benchmark's server side: its environment (a throwaway SQLite database in a
temporary directory unless told otherwise), the set-up of its members and room, Daphne
started (nodes.py starts runnode nodes and stops either), and a summary of a server's log."""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from media.benchkit import HOST, BenchError

SETUP_ENV_FLAG = "PODIUM_BENCH_SIGNALING_SETUP"


def server_env(temp: Path, opts) -> dict:
    """The environment of the set-up and of Daphne: var/ in `temp`, and no DATABASE_URL or
    REDIS_URL unless the options give them."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CHANNEL_LAYER_PREFIX")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PODIUM_VAR_DIR=str(temp),
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="true" if opts.debug else "false",
        HTTPS="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # A deployment keeps database connections open; so does the benchmark.
        DB_CONN_MAX_AGE="60",
    )
    if opts.database_url:
        env["DATABASE_URL"] = opts.database_url
    if opts.redis_url:
        env["REDIS_URL"] = opts.redis_url
        env["CHANNEL_LAYER_PREFIX"] = f"bench{secrets.token_hex(4)}"
    return env


def prepare(env: dict, temp: Path, clients: int, left: Callable, log: Callable) -> dict:
    """Migrate, then run `bench_signaling --setup-out` in a subprocess with the benchmark's
    environment; return what the set-up wrote (see create_members_and_room). `left()` is
    the time left before the benchmark's deadline."""
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
            timeout=left(),
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"{name} failed:\n{result.stdout}\n{result.stderr}")
        log(f"bench_signaling: {name} done in {time.monotonic() - started:.1f} s")
    return json.loads(out.read_text())


def create_members_and_room(count: int, out: Path) -> None:
    """Create the host, N listeners, their sessions and one live room; write their ids and
    session keys to `out`. Runs only in the subprocess that prepare() starts, whose settings
    point at the benchmark's database."""
    if os.environ.get(SETUP_ENV_FLAG) != "1":
        raise BenchError("--setup-out is internal to bench_signaling")
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
                "listeners": [[m.pk, s] for m, s in zip(members[1:], sessions[1:], strict=True)],
            }
        )
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def check_port_free(port: int) -> None:
    if _listening(port):
        raise BenchError(f"something already listens on {HOST}:{port}")


def start_daphne(env: dict, temp: Path, port: int, app: str, left: Callable, log: Callable):
    """Start Daphne on HOST:port and wait until it listens; return it and its log's path."""
    log_path = temp / "daphne.log"
    with log_path.open("wb") as log_file:
        argv = [sys.executable, "-m", "daphne", "--websocket_connect_timeout", "30"]
        argv += ["-b", HOST, "-p", str(port), "-v", "0", app]
        daphne = subprocess.Popen(  # noqa: S603 - our own interpreter
            argv, env=env, cwd=settings.BASE_DIR, stdout=log_file, stderr=subprocess.STDOUT
        )
    end = time.monotonic() + left(60)
    while time.monotonic() < end:
        if daphne.poll() is not None:
            raise BenchError(f"Daphne exited ({daphne.returncode}):\n{log_path.read_text()}")
        if _listening(port):
            log(f"bench_signaling: Daphne (pid {daphne.pid}) on {HOST}:{port}")
            return daphne, log_path
        time.sleep(0.1)
    daphne.kill()
    raise BenchError("Daphne did not start listening in time")


def log_summary(log_path: Path) -> dict:
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
