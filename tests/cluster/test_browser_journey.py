"""Two people in two Chromiums, through HAProxy, on different nodes: the host's 440 Hz
reaches the listener's page through the relay between the nodes, and the listener's 880 Hz
reaches the host once they are on stage."""

import subprocess
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from config.cluster import Node as PlannedNode
from config.cluster import haproxy_config
from config.cluster_services import find_haproxy
from rooms.models import Participant
from tests.browser.conftest import open_signed_in, tone_browsers  # noqa: F401 - fixture
from tests.browser.test_room_audio import LISTEN, hears
from tests.cluster.nodes import free_port, wait_for
from tests.conftest import make_room

pytestmark = [pytest.mark.cluster, pytest.mark.browser]


@pytest.fixture
def balancer(cluster, tmp_path):
    """Two nodes behind a real HAProxy, as `make cluster` runs them; yields its base URL."""
    haproxy = find_haproxy()
    if haproxy is None:
        pytest.skip("needs haproxy")
    nodes = cluster.start("east", "west")
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    planned = [PlannedNode(id=n.id, port=n.port, env={}) for n in nodes]
    config.write_text(haproxy_config(host="127.0.0.1", port=port, nodes=planned))
    log = open(tmp_path / "haproxy.log", "w")  # noqa: SIM115 - closed below
    proxy = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=log, stderr=log)  # noqa: S603
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _status(url) == 200, timeout=15, what="haproxy serving")
        yield url
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


def _status(url: str) -> int | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
            return response.status
    except (urllib.error.URLError, OSError):
        return None


def _node_of(room, member) -> str:
    row = Participant.objects.filter(room=room, member=member, is_present=True).first()
    return row.node if row is not None else ""


def test_a_speaker_and_a_listener_on_different_nodes_hear_each_other(
    balancer,
    tone_browsers,  # noqa: F811 - the browser tests' fixture, imported above
    alice,
    carol,
):
    room = make_room(alice, title="Across the nodes")
    host = open_signed_in(tone_browsers(440), balancer, alice)
    listener = open_signed_in(tone_browsers(880), balancer, carol)
    host.goto(f"/rooms/{room.pk}/")
    wait_for(lambda: _node_of(room, alice), timeout=15, what="the host's socket")
    # The balancer hands out sockets in turn; load the listener's page until theirs lands
    # on the other node.
    for _ in range(6):
        listener.goto(f"/rooms/{room.pk}/")
        wait_for(lambda: _node_of(room, carol), timeout=15, what="the listener's socket")
        if _node_of(room, carol) != _node_of(room, alice):
            break
        # A page load opens a fixed number of connections (the page, its scripts, the
        # socket): when that number is even the socket lands on the same node every time.
        # One more connection of our own moves the turn on by one.
        with urllib.request.urlopen(f"{balancer}/healthz", timeout=5) as answer:  # noqa: S310
            answer.read()
    assert _node_of(room, carol) != _node_of(room, alice)
    for page in (host, listener):
        expect(page.locator("[data-audio-status]")).to_have_text("Audio connected", timeout=15_000)

    host.get_by_role("button", name="Unmute").click()
    hears(listener, 440)
    expect(listener.locator(".stage-person.is-speaking")).to_contain_text(
        "Alice Moreau", timeout=10_000
    )

    listener.get_by_role("button", name="Raise hand").click()
    host.get_by_role("button", name="Approve Carol Nguyen").click()
    expect(listener.get_by_role("button", name="Unmute")).to_be_visible()
    listener.get_by_role("button", name="Unmute").click()
    hears(host, 880)

    # The host mutes on one node; the listener's page on the other stops hearing 440 Hz.
    host.get_by_role("button", name="Mute", exact=False).first.click()
    time.sleep(1.0)
    heard = listener.evaluate(LISTEN, 0.5)
    assert not any(abs(s["hz"] - 440) < 20 and s["db"] > -70 for s in heard), heard
    assert host.errors == [] and listener.errors == []
