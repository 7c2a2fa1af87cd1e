"""Typed readers for environment variables.

Every reader raises ImproperlyConfigured naming the variable when its value is malformed,
so a typo in a deployment fails at start-up instead of misbehaving later.
"""

import json
import os
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    if not raw.strip():
        return []
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name} must be a comma-separated list with no empty items")
    return items


def parse_database_url(name: str, url: str) -> dict:
    """Turn postgres://user:password@host:port/dbname?sslmode=require into Django settings.

    sqlite:////absolute/path.sqlite3 names an SQLite file (the browser tests share theirs
    with the Daphne they start)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("//") or len(path) < 3:
            raise ImproperlyConfigured(f"{name} must use sqlite:////absolute/path.sqlite3")
        return sqlite_database(path[1:])
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"{name} must start with postgres:// (leave it unset for SQLite), not {url!r}"
        )
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise ImproperlyConfigured(f"{name} must name exactly one database, as in .../podium")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a malformed port") from None
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": dbname,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
    }


def sqlite_database(path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        # Consumers write concurrently: WAL, IMMEDIATE transactions and a busy timeout
        # keep SQLite from failing with "database is locked".
        "OPTIONS": {
            # synchronous=NORMAL is WAL's recommended setting: no fsync on every commit, and
            # still no corruption on a crash (the last commits may be lost on power loss).
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # SQLite connections are cheap to open; a deployment may keep them (DB_CONN_MAX_AGE).
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 0, minimum=0),
        # Browser tests run Daphne on this file; a file (not :memory:) lets it see the data.
        # One per test process, so that two test runs never share (or delete) one.
        "TEST": {"NAME": f"{str(path).removesuffix('.sqlite3')}-test-{os.getpid()}.sqlite3"},
    }


def parse_redis_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must look like redis://host:6379/0, not {url!r}")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a malformed port") from None
    return url


def parse_host_port(name: str, value: str) -> tuple[str, int]:
    """host:port, with a port from 0 (any free one) to 65535."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ImproperlyConfigured(f"{name} must look like 10.0.0.5:9400, not {value!r}")
    return host.strip("[]"), int(port)


def parse_ice_servers(name: str, raw: str) -> list[dict]:
    """ICE_SERVERS is a JSON list of RTCIceServer dicts: [{"urls": [...], ...}]."""
    if not raw.strip():
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, list):
        raise ImproperlyConfigured(f"{name} must be a JSON list of ICE server objects")
    for server in value:
        if not isinstance(server, dict) or "urls" not in server:
            raise ImproperlyConfigured(f'{name}: every ICE server needs "urls"')
        urls = server["urls"] if isinstance(server["urls"], list) else [server["urls"]]
        if not urls:
            raise ImproperlyConfigured(f'{name}: "urls" must not be empty')
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("stun:", "turn:", "turns:")):
                raise ImproperlyConfigured(f"{name}: {url!r} is not a stun:, turn: or turns: URL")
        if any(url.startswith("turn") for url in urls):
            # Browsers refuse a TURN server without both (WebRTC's RTCIceServer rules).
            for key in ("username", "credential"):
                if not isinstance(server.get(key), str) or not server[key]:
                    raise ImproperlyConfigured(f'{name}: a TURN server needs "{key}"')
        unknown = set(server) - {"urls", "username", "credential"}
        if unknown:
            raise ImproperlyConfigured(f"{name}: unknown ICE server keys {sorted(unknown)}")
    return value
