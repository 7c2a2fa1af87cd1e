"""TURN credentials that coturn (use-auth-secret) accepts and that expire."""

import base64
import hashlib
import hmac

from rooms.ice import browser_ice_servers, turn_credential
from tests.conftest import make_room


def test_it_signs_an_expiring_username_the_way_coturn_checks_it():
    credential = turn_credential("s3cret", 42, ttl=3600, now=1_000_000)
    assert credential["username"] == "1003600:42"
    expected = hmac.new(b"s3cret", b"1003600:42", hashlib.sha1).digest()
    assert base64.b64decode(credential["credential"]) == expected


def test_it_gives_browsers_the_configured_servers_and_a_turn_credential(settings, alice):
    settings.ICE_SERVERS = [{"urls": ["stun:stun.podium.example:3478"]}]
    settings.TURN_URLS = ["turns:turn.podium.example:5349?transport=tcp"]
    settings.TURN_SECRET = "s3cret"
    servers = browser_ice_servers(alice)
    assert servers[0] == {"urls": ["stun:stun.podium.example:3478"]}
    assert servers[1]["urls"] == ["turns:turn.podium.example:5349?transport=tcp"]
    assert servers[1]["username"].endswith(f":{alice.pk}")


def test_it_gives_no_turn_without_a_secret(settings, alice):
    settings.ICE_SERVERS = []
    settings.TURN_URLS = ["turn:turn.podium.example:3478"]
    settings.TURN_SECRET = ""
    assert browser_ice_servers(alice) == []


def test_the_room_page_hands_the_servers_to_the_browser(client, settings, alice):
    settings.TURN_URLS = ["turn:turn.podium.example:3478"]
    settings.TURN_SECRET = "s3cret"
    room = make_room(alice)
    client.force_login(alice)
    page = client.get(f"/rooms/{room.pk}/").content.decode()
    assert "turn:turn.podium.example:3478" in page
    assert f":{alice.pk}" in page
