"""config/settings.py read fresh in a subprocess: a bad environment fails at start-up with the
variable named, and the production environment passes Django's deployment checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(settings.BASE_DIR)
# Everything config/settings.py reads, so that the caller's environment can't leak in.
SETTINGS_VARIABLES = {
    "ACCOUNT_EMAIL_VERIFICATION",
    "ALLOWED_HOSTS",
    "BEHIND_PROXY",
    "CHANNEL_LAYER_PREFIX",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "DEBUG",
    "DEFAULT_FROM_EMAIL",
    "DJANGO_SETTINGS_MODULE",
    "EMAIL_HOST",
    "HTTPS",
    "ICE_SERVERS",
    "LINKEDIN_CLIENT_ID",
    "LINKEDIN_CLIENT_SECRET",
    "LOG_LEVEL",
    "REDIS_URL",
    "SECRET_KEY",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
    "SERVE_FILES",
}
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(60)[:60],
    "ALLOWED_HOSTS": "podium.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://podium.example.com",
}


def _manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    environ.update(PODIUM_VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be one of true/false"),
        ({"DATABASE_URL": "mysql://podium@db/podium"}, "DATABASE_URL must start with postgres://"),
        ({"DATABASE_URL": "postgres://podium@db:port/podium"}, "DATABASE_URL has a malformed port"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL must look like redis://"),
        ({"ICE_SERVERS": "[{"}, "ICE_SERVERS is not valid JSON"),
        ({"ICE_SERVERS": '[{"urls": "http://x"}]'}, "ICE_SERVERS: 'http://x' is not a stun:"),
        ({"DEBUG": "false"}, "SECRET_KEY must be set when DEBUG is false"),
        ({"ALLOWED_HOSTS": "a,,b"}, "ALLOWED_HOSTS must be a comma-separated list"),
        ({"CSRF_TRUSTED_ORIGINS": "podium.example.com"}, "CSRF_TRUSTED_ORIGINS entries need"),
        ({"SECURE_HSTS_SECONDS": "-1"}, "SECURE_HSTS_SECONDS must be at least 0"),
        ({"ACCOUNT_EMAIL_VERIFICATION": "sometimes"}, "ACCOUNT_EMAIL_VERIFICATION must be"),
        ({"LINKEDIN_CLIENT_ID": "li-client"}, "Set both LINKEDIN_CLIENT_ID and"),
        ({"NODE_ID": "node one"}, "NODE_ID must be 1-64 letters"),
        ({"MEDIA_RELAY_ADDRESS": "10.0.0.5"}, "MEDIA_RELAY_ADDRESS must look like"),
        ({"MEDIA_RELAY_ADDRESS": "0.0.0.0:9400"}, "MEDIA_RELAY_ADDRESS must be this node's own"),
        ({"MEDIA_RELAY_SECRET": "short"}, "MEDIA_RELAY_SECRET must be at least 16"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else None,
)
def test_it_refuses_to_start_with_a_malformed_variable(tmp_path, env, named):
    result = _manage(tmp_path, "check", **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr


def test_it_starts_embedded_with_nothing_set(tmp_path):
    result = _manage(tmp_path, "check")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    # Generated state goes to PODIUM_VAR_DIR, not into the repository.
    assert (tmp_path / "var" / "secret_key").is_file()
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


def test_it_passes_the_deployment_checks_in_production(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert not (tmp_path / "var" / "secret_key").exists()


def test_it_passes_the_deployment_checks_with_postgres_and_redis(tmp_path):
    # check does not connect: the URLs only have to parse and the backends to import.
    result = _manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DATABASE_URL="postgres://podium:pw@db.internal:5432/podium",
        REDIS_URL="redis://cache.internal:6379/0",
        **PRODUCTION,
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
