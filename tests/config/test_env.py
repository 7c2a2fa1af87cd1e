"""The typed environment readers in config/env.py: good values in, loud failures out."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    parse_database_url,
    parse_ice_servers,
    parse_redis_url,
)

VAR = "PODIUM_TEST_VALUE"


@pytest.fixture
def setenv(monkeypatch):
    def set_value(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(VAR, raising=False)
        else:
            monkeypatch.setenv(VAR, value)

    return set_value


def test_env_str_reads_the_value_or_the_default(setenv):
    setenv(None)
    assert env_str(VAR, "fallback") == "fallback"
    setenv("hello")
    assert env_str(VAR, "fallback") == "hello"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_env_bool_reads_the_usual_words(setenv, raw, expected):
    setenv(raw)

    assert env_bool(VAR, not expected) is expected


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_env_bool_falls_back_when_unset_or_blank(setenv, raw):
    setenv(raw)

    assert env_bool(VAR, True) is True
    assert env_bool(VAR, False) is False


@pytest.mark.parametrize("raw", ["maybe", "y", "2", "truee"])
def test_env_bool_rejects_other_words_naming_the_variable(setenv, raw):
    setenv(raw)

    with pytest.raises(ImproperlyConfigured, match=f"^{VAR} must be one of"):
        env_bool(VAR, True)


def test_env_int_reads_a_number(setenv):
    setenv(" 587 ")
    assert env_int(VAR, 25) == 587
    setenv(None)
    assert env_int(VAR, 25) == 25
    setenv("")
    assert env_int(VAR, 25) == 25


@pytest.mark.parametrize("raw", ["abc", "1.5", "12abc", "0x10"])
def test_env_int_rejects_what_is_not_a_whole_number(setenv, raw):
    setenv(raw)

    with pytest.raises(ImproperlyConfigured, match=f"^{VAR} must be a whole number"):
        env_int(VAR, 1)


def test_env_int_enforces_the_minimum(setenv):
    setenv("0")
    with pytest.raises(ImproperlyConfigured, match=f"^{VAR} must be at least 1, not 0"):
        env_int(VAR, 587, minimum=1)
    setenv("1")
    assert env_int(VAR, 587, minimum=1) == 1


def test_env_list_reads_comma_separated_items(setenv):
    setenv(" podium.example.com , www.podium.example.com")
    assert env_list(VAR, ["localhost"]) == ["podium.example.com", "www.podium.example.com"]
    setenv(None)
    default = ["localhost"]
    assert env_list(VAR, default) == ["localhost"]
    assert env_list(VAR, default) is not default


@pytest.mark.parametrize("raw", ["a,,b", "a,", ",a", "a, ,b"])
def test_env_list_rejects_empty_items_naming_the_variable(setenv, raw):
    setenv(raw)

    with pytest.raises(ImproperlyConfigured, match=f"^{VAR} must be a comma-separated list"):
        env_list(VAR, [])


def test_parse_database_url_reads_a_postgres_url(monkeypatch):
    monkeypatch.delenv("DB_CONN_MAX_AGE", raising=False)  # the services test run sets it
    url = "postgres://podium:s%40cret%2Fpw@db.internal:6432/podium_prod?sslmode=require"

    assert parse_database_url("DATABASE_URL", url) == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "podium_prod",
        "USER": "podium",
        "PASSWORD": "s@cret/pw",
        "HOST": "db.internal",
        "PORT": "6432",
        "OPTIONS": {"sslmode": "require"},
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def test_parse_database_url_accepts_postgresql_and_no_port_or_credentials():
    settings = parse_database_url("DATABASE_URL", "postgresql://localhost/podium")

    assert settings["NAME"] == "podium"
    assert settings["HOST"] == "localhost"
    assert settings["PORT"] == ""
    assert settings["USER"] == ""
    assert settings["PASSWORD"] == ""
    assert settings["OPTIONS"] == {}


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mysql://u:p@db/podium", "must start with postgres://"),
        ("sqlite://relative.sqlite3", "must use sqlite:////absolute/path.sqlite3"),
        ("sqlite:///relative.sqlite3", "must use sqlite:////absolute/path.sqlite3"),
        ("db.internal/podium", "must start with postgres://"),
        ("postgres://u:p@db:5432", "must name exactly one database"),
        ("postgres://u:p@db:5432/", "must name exactly one database"),
        ("postgres://u:p@db:5432/a/b", "must name exactly one database"),
        ("postgres://u:p@db:port/podium", "has a malformed port"),
        ("postgres://u:p@db:99999/podium", "has a malformed port"),
    ],
)
def test_parse_database_url_rejects_malformed_urls_naming_the_variable(url, complaint):
    with pytest.raises(ImproperlyConfigured, match=f"^DATABASE_URL {complaint}"):
        parse_database_url("DATABASE_URL", url)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://:token@cache.internal:6380/1", "redis://r"]
)
def test_parse_redis_url_accepts_redis_urls(url):
    assert parse_redis_url("REDIS_URL", url) == url


@pytest.mark.parametrize("url", ["http://x", "redis://", "127.0.0.1:6379", "redis:///0"])
def test_parse_redis_url_rejects_other_urls_naming_the_variable(url):
    with pytest.raises(ImproperlyConfigured, match=r"^REDIS_URL must look like redis://"):
        parse_redis_url("REDIS_URL", url)


def test_parse_redis_url_rejects_a_malformed_port():
    with pytest.raises(ImproperlyConfigured, match=r"^REDIS_URL has a malformed port"):
        parse_redis_url("REDIS_URL", "redis://cache:sixty/0")


def test_parse_ice_servers_reads_a_list_of_servers():
    servers = [
        {"urls": "stun:stun.podium.example.com:3478"},
        {
            "urls": ["turn:turn.podium.example.com:3478", "turns:turn.podium.example.com:5349"],
            "username": "podium",
            "credential": "s3cret",
        },
    ]

    assert parse_ice_servers("ICE_SERVERS", json.dumps(servers)) == servers


@pytest.mark.parametrize("raw", ["", "   "])
def test_parse_ice_servers_reads_blank_as_none(raw):
    assert parse_ice_servers("ICE_SERVERS", raw) == []


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ('[{"urls": "stun:x"', "is not valid JSON"),
        ("stun:stun.example.com", "is not valid JSON"),
        ('{"urls": "stun:x"}', "must be a JSON list"),
        ('"stun:x"', "must be a JSON list"),
        ('[{"url": "stun:x"}]', 'every ICE server needs "urls"'),
        ('["stun:x"]', 'every ICE server needs "urls"'),
        ('[{"urls": "http://stun.example.com"}]', "is not a stun:, turn: or turns: URL"),
        ('[{"urls": ["stun:x", "turnx:y"]}]', "is not a stun:, turn: or turns: URL"),
        ('[{"urls": [3478]}]', "is not a stun:, turn: or turns: URL"),
        ('[{"urls": "stun:x", "password": "p"}]', "unknown ICE server keys"),
    ],
)
def test_parse_ice_servers_rejects_malformed_values_naming_the_variable(raw, complaint):
    with pytest.raises(ImproperlyConfigured) as excinfo:
        parse_ice_servers("ICE_SERVERS", raw)

    message = str(excinfo.value)
    assert message.startswith("ICE_SERVERS")
    assert complaint in message


def test_parse_ice_servers_rejects_a_server_without_urls():
    with pytest.raises(ImproperlyConfigured, match=r"^ICE_SERVERS"):
        parse_ice_servers("ICE_SERVERS", '[{"urls": []}]')


def test_parse_ice_servers_rejects_turn_without_credentials():
    with pytest.raises(ImproperlyConfigured, match=r"^ICE_SERVERS"):
        parse_ice_servers("ICE_SERVERS", '[{"urls": "turn:turn.podium.example.com:3478"}]')


def test_env_list_reads_an_empty_value_as_an_empty_list(setenv):
    setenv("  ")
    assert env_list(VAR, ["localhost"]) == []


def test_parse_database_url_reads_an_sqlite_file():
    settings = parse_database_url("DATABASE_URL", "sqlite:////tmp/podium/db.sqlite3")
    assert settings["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["NAME"] == "/tmp/podium/db.sqlite3"
    assert settings["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
