"""A connected peer's STUN made from bytes (media/consent.py): what it sends must be, byte
for byte, what aioice would send for the same connection, and whatever it doesn't
recognise must reach aioice untouched. Real aiortc peers on loopback; aioice's own
`stun.Message` serialiser is the reference."""

import asyncio
import os
import random
import struct

import aioice.ice
import aioice.stun
import pytest
from aioice import stun

from media import consent
from media.hub import MediaHub
from tests.media.peers import Browser, loopback_only, within
from tests.media.test_forwarder import ROOM, join


@pytest.fixture
def hub(monkeypatch):
    loopback_only(monkeypatch)
    return MediaHub(ice_servers=[])


def aioice_connection(pc):
    return pc.getTransceivers()[0].sender.transport.transport._connection


def aioice_answer(server, request: stun.Message, addr) -> bytes:
    """What aioice's Connection.request_received (0.13.0) sends for a valid request."""
    response = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.RESPONSE,
        transaction_id=request.transaction_id,
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = addr
    response.add_message_integrity(server.local_password.encode("utf8"))
    return bytes(response)


def browser_check(browser_side, *, nominate=False) -> stun.Message:
    """A consent check as the listener's own aioice builds it, signed."""
    pair = browser_side._nominated[1]
    request = browser_side.build_request(pair, nominate=nominate)
    request.add_message_integrity(browser_side.remote_password.encode("utf8"))
    return request


class Heard:
    """The datagrams one side's nominated socket receives, raw."""

    def __init__(self, protocol) -> None:
        self.datagrams: list[bytes] = []
        real = protocol.datagram_received

        def hear(data, addr):
            self.datagrams.append(data)
            real(data, addr)

        protocol.datagram_received = hear


@pytest.mark.asyncio
async def test_the_answer_to_a_browsers_check_is_aioices_byte_for_byte(hub):
    listener = await join(hub, 2, Browser())
    try:
        room = hub.rooms[ROOM]
        server = room.peers[2]._ice
        assert room.parking is not None
        browser_side = aioice_connection(listener.pc)
        pair = browser_side._nominated[1]
        heard = Heard(pair.protocol)
        handled = room.parking.answered
        for nominate in (False, True, False, True):  # Chromium nominates on every check
            request = browser_check(browser_side, nominate=nominate)
            heard.datagrams.clear()
            response, _ = await within(
                pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=browser_side.remote_password.encode("utf8"),
                    retransmissions=3,
                )
            )
            assert response.message_class == stun.Class.RESPONSE
            local = pair.protocol.transport.get_extra_info("sockname")[:2]
            answers = [d for d in heard.datagrams if d[8:20] == request.transaction_id]
            assert answers == [aioice_answer(server, request, local)]
            assert server._nominated[1].nominated and server._check_list_done
        assert room.parking.answered - handled >= 4  # answered here, not by aioice
        assert listener.pc.connectionState == "connected"
    finally:
        await within(hub.close_room(ROOM))
        await listener.close()


@pytest.mark.asyncio
async def test_the_servers_checks_are_aioices_request_byte_for_byte(hub, monkeypatch):
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(consent, "CONSENT_GRID", 0.05)
    listener = await join(hub, 2, Browser())
    try:
        server = hub.rooms[ROOM].peers[2]._ice
        browser_side = aioice_connection(listener.pc)
        heard = Heard(browser_side._nominated[1].protocol)
        await asyncio.sleep(1.5)
        checks = [d for d in heard.datagrams if d[:2] == b"\x00\x01"]
        assert len(checks) >= 2
        for data in checks:
            expected = server.build_request(server._nominated[1], nominate=False)
            expected.transaction_id = data[8:20]
            expected.add_message_integrity(server.remote_password.encode("utf8"))
            assert data == bytes(expected)
        assert len({d[8:20] for d in checks}) == len(checks)  # a new id each time
    finally:
        await within(hub.close_room(ROOM))
        await listener.close()


def test_the_xor_mapped_address_is_aioices_for_ipv4_and_ipv6():
    rng = random.Random(7)
    for host in ["127.0.0.1", "192.0.2.200", "::1", "2001:db8::17", "fe80::1:2:3:4"]:
        for _ in range(20):
            tid = bytes(rng.randrange(256) for _ in range(12))
            port = rng.randrange(65536)
            value = stun.pack_xor_address((host, port), tid)
            assert consent._xor_mapped_address((host, port), tid) == (
                struct.pack("!HH", 0x0020, len(value)) + value
            )
    assert consent._xor_mapped_address(("not-an-address", 1), bytes(12)) is None


def by_hand(server, key: bytes, *attributes: tuple[int, bytes]) -> bytes:
    """A check signed with the right key, with a USERNAME and the given raw attributes."""
    username = f"{server.local_username}:{server.remote_username}".encode()
    body = b""
    for kind, value in [(0x0006, username), *attributes]:
        body += struct.pack("!HH", kind, len(value)) + value + bytes(-len(value) % 4)
    head = struct.pack("!HHI", 0x0001, 0, stun.COOKIE) + os.urandom(12)
    return consent._signed(head, body, key)


def server_side(hub, listener, monkeypatch):
    """The server's end of the listener's nominated pair, for calling consent.answer()
    directly: its Connection and protocol, the listener's Connection, the listener's
    address, the key its checks are signed with, and a list that gets whatever the
    protocol's transport would send."""
    server = hub.rooms[ROOM].peers[2]._ice
    protocol = server._nominated[1].protocol
    sent: list[bytes] = []
    monkeypatch.setattr(protocol.transport, "sendto", lambda data, to=None: sent.append(data))
    addr = tuple(server._nominated[1].remote_addr)
    key = server.local_password.encode("utf8")
    return server, protocol, aioice_connection(listener.pc), addr, key, sent


def with_attribute(request: stun.Message, name: str, value, key: bytes) -> bytes:
    request.attributes[name] = value
    request.add_message_integrity(key)
    return bytes(request)


@pytest.mark.asyncio
async def test_anything_unusual_goes_to_aioice_and_nothing_is_sent(hub, monkeypatch):
    listener = await join(hub, 2, Browser())
    try:
        server, protocol, browser_side, addr, key, sent = server_side(hub, listener, monkeypatch)

        def fresh():
            return browser_check(browser_side)

        good = bytes(fresh())
        assert consent.answer(protocol, good, addr)
        assert len(sent) == 1
        sent.clear()

        wrong_key = fresh()
        wrong_key.add_message_integrity(b"not the password")
        unsigned = fresh()
        unsigned.attributes.pop("MESSAGE-INTEGRITY")
        unsigned.attributes.pop("FINGERPRINT")
        unsigned.add_fingerprint()
        stranger = fresh()
        stranger.attributes["USERNAME"] = "someone:else"
        stranger.add_message_integrity(key)
        conflict = fresh()
        conflict.attributes.pop("ICE-CONTROLLING", None)
        bad_fingerprint = bytearray(good)
        bad_fingerprint[-1] ^= 1
        unusual = {
            "signed with another key": bytes(wrong_key),
            "a PRIORITY of 6 bytes": by_hand(server, key, (0x0024, bytes(6))),
            "a comprehension-required unknown": by_hand(
                server, key, (0x0024, bytes(4)), (0x7777, b"")
            ),
            "no MESSAGE-INTEGRITY": bytes(unsigned),
            "another username": bytes(stranger),
            "a role conflict": with_attribute(conflict, "ICE-CONTROLLED", 1, key),
            "a bad fingerprint": bytes(bad_fingerprint),
            "truncated": good[:-3],
            "a length that lies": good[:2] + b"\x01\x00" + good[4:],
            "no cookie": good[:4] + b"\x00\x00\x00\x00" + good[8:],
            "a header only": good[:20],
            "an indication": b"\x00\x11" + good[2:],
            "an unknown response": b"\x01\x01" + good[2:8] + os.urandom(12) + good[20:],
        }
        for what, data in unusual.items():
            assert not consent.answer(protocol, data, addr), what
        assert not consent.answer(protocol, good, ("127.0.0.1", 9)), "another address"
        assert sent == []
    finally:
        await within(hub.close_room(ROOM))
        await listener.close()


@pytest.mark.asyncio
async def test_fuzzed_checks_are_answered_only_when_aioice_would_answer_them_the_same(
    hub, monkeypatch
):
    """5,000 mutations of a real check: answer() never raises, and whenever it answers,
    aioice would have taken the same message as a valid check and sent the same bytes."""
    listener = await join(hub, 2, Browser())
    try:
        server, protocol, browser_side, addr, key, sent = server_side(hub, listener, monkeypatch)
        rng = random.Random(20261202)
        good = bytes(browser_check(browser_side))
        answered = 0
        for _ in range(5000):
            data = bytearray(good)
            for _ in range(rng.randint(1, 3)):
                action = rng.random()
                if action < 0.5 and data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                elif action < 0.7:
                    del data[rng.randrange(len(data) + 1) :]
                else:
                    data[rng.randrange(len(data) + 1) : 0] = os.urandom(rng.randint(1, 8))
            if rng.random() < 0.3:  # re-sign it, so that the integrity check passes
                data = bytearray(resigned(bytes(data), key))
            data = bytes(data)
            sent.clear()
            if consent.answer(protocol, data, addr):
                answered += 1
                message = stun.parse_message(data)  # aioice takes it as STUN...
                assert message.message_method == stun.Method.BINDING
                assert message.message_class == stun.Class.REQUEST
                assert message.check_message_integrity(key)  # ...signed for us
                assert message.attributes["USERNAME"] == (
                    f"{server.local_username}:{server.remote_username}"
                )
                assert "ICE-CONTROLLED" not in message.attributes
                assert sent == [aioice_answer(server, message, addr)]
            else:
                assert sent == []
        assert answered > 0
    finally:
        await within(hub.close_room(ROOM))
        await listener.close()


def resigned(data: bytes, key: bytes) -> bytes:
    """A mutated check with its MESSAGE-INTEGRITY and FINGERPRINT made valid again where
    they can still be found."""
    scanned = consent._scan(data)
    if scanned is None or scanned[0] is None:
        return data
    mi_pos = scanned[0]
    return consent._signed(data[:20], data[20:mi_pos], key)
