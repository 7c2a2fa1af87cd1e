"""The two fan-outs of media/fanout.py send the same datagrams.

A browser can't tell which path served it only if every copy is byte for byte the same: the
same SRTP protection, in the same order of sequence numbers, to the same address from the
same socket. Each listener here has two identical libsrtp sessions (one key, one policy), one
for each path, and a UDP socket of its own; the same packets go through both paths and
what arrives is compared.
"""

import os
import socket
import subprocess
import sys

import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media import fanout
from media.forwarder import _HEADER, MAX_PAYLOAD

needs_native = pytest.mark.skipif(
    not fanout.native_available(), reason="media._fanout is not built"
)
PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80


def session(key: bytes) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(
        key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE
    )
    return pylibsrtp.Session(policy)


class Listener:
    """A listener's socket pair (the server's ICE socket, the browser's) and two copies of
    its outbound SRTP session."""

    def __init__(self, member: int) -> None:
        self.member = member
        key = os.urandom(30)
        self.sessions = {"python": session(key), "native": session(key)}
        self.inbound = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE
            )
        )
        self.browser = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.browser.bind(("127.0.0.1", 0))
        self.browser.settimeout(2)
        self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.setblocking(False)

    def target(self, path: str) -> tuple[tuple, tuple]:
        host, port = self.browser.getsockname()
        srtp = self.sessions[path]
        return (
            (fanout.srtp_address(srtp), self.server.fileno(), host, port, self.member),
            (srtp, self.server),
        )

    def received(self, count: int) -> list[tuple[bytes, tuple]]:
        return [self.browser.recvfrom(2048) for _ in range(count)]

    def nothing_waiting(self) -> bool:
        self.browser.setblocking(False)
        try:
            self.browser.recvfrom(2048)
        except BlockingIOError:
            return True
        finally:
            self.browser.settimeout(2)
        return False

    def close(self) -> None:
        self.browser.close()
        self.server.close()


@pytest.fixture
def listeners():
    made = [Listener(member) for member in range(100, 106)]
    yield made
    for listener in made:
        listener.close()


def groups(listeners):
    python, native = fanout.PythonGroup(), fanout._fanout.Group(fanout._PROTECT)
    for path, group in (("python", python), ("native", native)):
        routes = [listener.target(path) for listener in listeners]
        group.set([r[0] for r in routes], [r[1] for r in routes])
    return python, native


def header(seq: int, ts: int, marker: int = 0, pt: int = 111, ssrc: int = 0x1234ABCD):
    buffer = bytearray(12)
    _HEADER.pack_into(buffer, 0, 0x80, marker | pt, seq, ts, ssrc)
    return buffer


def run_both(listeners, packets, skip=-1):
    """Each packet through both paths; per path, per listener, what arrived."""
    python, native = groups(listeners)
    seen = {}
    for path, group in (("python", python), ("native", native)):
        copies = [group.send(h, payload, skip) for h, payload in packets]
        expected = sum(1 for listener in listeners if listener.member != skip)
        assert copies == [expected] * len(packets)
        seen[path] = [
            listener.received(len(packets)) if listener.member != skip else []
            for listener in listeners
        ]
        assert all(listener.nothing_waiting() for listener in listeners)
    return seen, python, native


@needs_native
def test_both_paths_send_the_same_datagrams_from_the_same_sockets(listeners):
    packets = [
        (header(40_000 + i, 960 * i, 0x80 if i == 0 else 0), bytes([i]) * 80) for i in range(20)
    ]
    seen, _, _ = run_both(listeners, packets)
    assert seen["native"] == seen["python"]
    for listener, datagrams in zip(listeners, seen["native"], strict=True):
        assert {source for _, source in datagrams} == {listener.server.getsockname()}
        # And they are real SRTP for that listener: its inbound session opens them.
        for (data, _), (h, payload) in zip(datagrams, packets, strict=True):
            assert listener.inbound.unprotect(data) == bytes(h) + payload


@needs_native
def test_the_skipped_member_gets_nothing_on_either_path(listeners):
    packets = [(header(7 + i, 960 * i), b"\x01" * 60) for i in range(5)]
    seen, _, _ = run_both(listeners, packets, skip=listeners[2].member)
    assert seen["native"] == seen["python"]
    assert seen["native"][2] == []


@needs_native
def test_a_copy_libsrtp_refuses_is_skipped_and_counted_alike(listeners):
    # The same sequence number twice: libsrtp's replay check refuses the second protect.
    again = (header(500, 0), b"\x02" * 40)
    python, native = groups(listeners)
    for group in (python, native):
        assert group.send(*again, -1) == len(listeners)
        assert group.send(*again, -1) == 0
        assert group.protect_errors == len(listeners)
        assert group.send_errors == 0
    for listener in listeners:
        first_python, first_native = listener.received(2)
        assert first_python[0] == first_native[0]
        assert listener.nothing_waiting()


@needs_native
def test_a_closed_socket_is_counted_as_a_send_error_and_the_rest_still_get_theirs(listeners):
    python, native = groups(listeners)
    gone = listeners[0]
    gone.server.close()  # the group still holds the number of the closed descriptor
    # The pure-Python path has the socket object; the native one gets EBADF.
    for group, seq in ((python, 1), (native, 1)):
        sent = group.send(header(seq, 0), b"\x03" * 30, -1)
        assert sent == len(listeners) - 1
        assert group.send_errors == 1
    for listener in listeners[1:]:
        a, b = listener.received(2)
        assert a[0] == b[0]


@needs_native
def test_an_oversized_packet_is_refused_by_both_paths_and_sends_nothing(listeners):
    python, native = groups(listeners)
    too_long = b"\x00" * (MAX_PAYLOAD + 1)
    for group in (python, native):
        with pytest.raises(ValueError):
            group.send(header(1, 0), too_long, -1)
    assert all(listener.nothing_waiting() for listener in listeners)
    # The largest allowed one goes through both, identically.
    seen, _, _ = run_both(listeners, [(header(2, 960), b"\x05" * MAX_PAYLOAD)])
    assert seen["native"] == seen["python"]


@needs_native
@settings(max_examples=40, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=MAX_PAYLOAD), min_size=1, max_size=6),
    start=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    pt=st.integers(96, 127),
)
def test_any_packets_come_out_byte_identical(payloads, start, ts, pt):
    made = [Listener(member) for member in range(3)]
    try:
        packets = [
            (header((start + i) & 0xFFFF, (ts + 960 * i) & 0xFFFFFFFF, pt=pt), payload)
            for i, payload in enumerate(payloads)
        ]
        seen, _, _ = run_both(made, packets)
        assert seen["native"] == seen["python"]
    finally:
        for listener in made:
            listener.close()


def test_the_native_fan_out_was_built():
    """`pip install -e .` builds media._fanout where there is a C compiler (setup.py); CI
    has one, so a missing build is a failure here rather than a silent fallback."""
    assert fanout.native_available(), f"media._fanout is missing: {fanout._missing}"


def test_without_the_native_part_the_forwarder_falls_back_and_says_so_once():
    # A process in which media._fanout can't be imported, as on a machine without a compiler.
    script = """
import logging, sys
sys.modules["media._fanout"] = None
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from media import fanout
assert not fanout.native_available()
groups = [fanout.new_group() for _ in range(3)]
assert all(isinstance(g, fanout.PythonGroup) for g in groups)
print("mode", fanout.mode())
"""
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "mode python" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if "pure-Python fan-out" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING")


def test_the_setting_forces_the_python_path():
    script = "from media import fanout; print(type(fanout.new_group()).__name__)"
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PODIUM_FANOUT": "python"},
    )
    assert done.stdout.strip() == "PythonGroup", done.stderr
