"""A real Daphne for one test, started as `make run` starts it, on the test's database:
what WebsocketCommunicator and Django's test client never run (the server's own edge)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.cluster.nodes import AT_SHUTDOWN, logged_tracebacks

REPO = Path(__file__).resolve().parents[1]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_daphne(transactional_db, tmp_path):
    """Start Daphne on 127.0.0.1 for one test; yield its base URL."""
    if connection.settings_dict["NAME"] == ":memory:" or "mode=memory" in str(
        connection.settings_dict["NAME"]
    ):
        pytest.skip("browser tests need a file or server database")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "true",
        "PODIUM_VAR_DIR": str(tmp_path / "var"),
        "DB_CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
        "MEDIA_HOST_ADDRESSES": "127.0.0.1",
    }
    log = open(tmp_path / "daphne.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "Daphne didn't start:\n" + (tmp_path / "daphne.log").read_text()
                    ) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        server_log = (tmp_path / "daphne.log").read_text()
        found = logged_tracebacks(server_log)
        assert all(AT_SHUTDOWN.covers(*traceback) for traceback in found), server_log
        assert "Traceback" not in server_log or found, server_log
