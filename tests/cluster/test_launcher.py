"""`make cluster` (config/cluster.py) without starting a cluster: the HAProxy config it writes
is one HAProxy accepts, and each node gets the environment it needs. The nodes themselves are
tested in the other tests here."""

import json
import socket
import subprocess
import sys
from argparse import Namespace

import pytest
from django.conf import settings

from config import cluster
from config.cluster_services import find_haproxy

NO_ENV = {"PATH": "/usr/bin:/bin"}


def test_haproxy_accepts_the_config_for_three_nodes(tmp_path):
    haproxy = find_haproxy()
    if haproxy is None:
        pytest.skip("needs haproxy (apt-get install haproxy)")
    nodes = cluster.plan_nodes(3, host="127.0.0.1", port=8000, environ=NO_ENV)
    text = cluster.haproxy_config(host="127.0.0.1", port=8000, nodes=nodes)
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)

    result = subprocess.run(  # noqa: S603 - HAProxy checking a file, binding nothing
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in text.splitlines()]
    assert "bind 127.0.0.1:8000" in lines
    assert [line for line in lines if line.startswith("server ")] == [
        "server node1 127.0.0.1:8101 check",
        "server node2 127.0.0.1:8102 check",
        "server node3 127.0.0.1:8103 check",
    ]
    for expected in (
        "mode http",
        "balance roundrobin",
        "option httpchk GET /healthz",
        "http-check expect status 200",
        "default-server inter 500ms fall 1 rise 2",
        "option redispatch",
        "retries 3",
        "option forwardfor",
        "timeout tunnel 1h",
    ):
        assert expected in lines, expected
    # The health check names a host the nodes allow (ALLOWED_HOSTS checks it too).
    assert "http-check send ver HTTP/1.1 hdr Host 127.0.0.1" in lines


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])  # noqa: S104 - checked, not bound
def test_haproxy_accepts_a_wildcard_bind(tmp_path, host):
    haproxy = find_haproxy()
    if haproxy is None:
        pytest.skip("needs haproxy (apt-get install haproxy)")
    nodes = cluster.plan_nodes(2, host=host, port=8000, environ=NO_ENV)
    config = tmp_path / "haproxy.cfg"
    config.write_text(cluster.haproxy_config(host=host, port=8000, nodes=nodes))

    result = subprocess.run(  # noqa: S603 - HAProxy checking a file, binding nothing
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_each_node_has_its_id_port_relay_and_media_addresses():
    nodes = cluster.plan_nodes(3, host="127.0.0.1", port=8000, environ=NO_ENV)

    assert [(n.id, n.port, n.url) for n in nodes] == [
        ("node1", 8101, "http://127.0.0.1:8101/"),
        ("node2", 8102, "http://127.0.0.1:8102/"),
        ("node3", 8103, "http://127.0.0.1:8103/"),
    ]
    for node in nodes:
        assert node.env["NODE_ID"] == node.id
        assert node.env["MEDIA_RELAY_ADDRESS"] == "127.0.0.1:0"
        assert node.env["MEDIA_HOST_ADDRESSES"] == "127.0.0.1"
        assert node.env["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/podium"
        assert node.env["REDIS_URL"] == "redis://127.0.0.1:6379/0"
        assert node.env["ALLOWED_HOSTS"] == "127.0.0.1,localhost"
        assert node.env["PATH"] == NO_ENV["PATH"]


def test_the_callers_services_are_kept_and_the_node_names_are_not():
    environ = {
        **NO_ENV,
        "DATABASE_URL": "postgres://podium@db.internal:5432/podium",
        "REDIS_URL": "redis://cache.internal:6379/2",
        "NODE_ID": "left-over",
        "MEDIA_RELAY_ADDRESS": "10.0.0.5:9400",
        "DEBUG": "false",
    }

    nodes = cluster.plan_nodes(2, host="127.0.0.1", port=9000, environ=environ)

    assert [n.port for n in nodes] == [9101, 9102]
    for node in nodes:
        assert node.env["DATABASE_URL"] == environ["DATABASE_URL"]
        assert node.env["REDIS_URL"] == environ["REDIS_URL"]
        assert node.env["DEBUG"] == "false"
    assert [n.env["NODE_ID"] for n in nodes] == ["node1", "node2"]
    assert {n.env["MEDIA_RELAY_ADDRESS"] for n in nodes} == {"127.0.0.1:0"}


@pytest.mark.parametrize(
    ("host", "environ", "expected"),
    [
        ("127.0.0.1", {}, "127.0.0.1,localhost"),
        ("podium.lan", {}, "127.0.0.1,localhost,podium.lan"),
        ("::1", {}, "127.0.0.1,localhost,[::1]"),
        ("0.0.0.0", {}, "127.0.0.1,localhost"),  # noqa: S104 - a name, not a bind
        ("podium.lan", {"ALLOWED_HOSTS": "podium.example.com"}, "podium.example.com"),
    ],
)
def test_the_address_people_open_is_an_allowed_host(host, environ, expected):
    nodes = cluster.plan_nodes(1, host=host, port=8000, environ={**NO_ENV, **environ})

    assert nodes[0].env["ALLOWED_HOSTS"] == expected


def test_settings_read_the_node_environment(tmp_path):
    """What a node's settings make of the environment the launcher gives it."""
    env = cluster.plan_nodes(2, host="127.0.0.1", port=8000, environ=NO_ENV)[1].env
    env["PODIUM_VAR_DIR"] = str(tmp_path)
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.NODE_ID, s.MEDIA_RELAY_ADDRESS, s.MEDIA_HOST_ADDRESSES, "
        "s.ALLOWED_HOSTS, s.DATABASES['default']['ENGINE'], bool(s.REDIS_URL)]))"
    )

    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "node2",
        ["127.0.0.1", 0],
        ["127.0.0.1"],
        ["127.0.0.1", "localhost"],
        "django.db.backends.postgresql",
        True,
    ]


def test_a_busy_node_port_stops_the_launcher_before_it_starts_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("PODIUM_VAR_DIR", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = Namespace(host="127.0.0.1", port=port - 101, nodes=1, drain_seconds=1.0)
        launcher = cluster.Cluster(args)

        with pytest.raises(cluster.ClusterError, match=f"127.0.0.1:{port}"):
            launcher.start()

    assert launcher.procs == {}
    assert launcher.haproxy is None
