"""Hostile review of the native fan-out (media/_fanout.c, media/fanout.py), the parked
listener sockets (media/quiet.py) and their use in media/forwarder.py and
media/aiortc_glue.py.

A test that passes shows a defence holding. The tests marked DEFECT in their docstring fail
on the code as reviewed: each shows a crash, a leak or a misbehaviour, and says why.
Anything that could take the interpreter down (a segfault) runs in a subprocess.
"""

import asyncio
import gc
import logging
import os
import socket
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import weakref

import aioice.ice
import pylibsrtp
import pytest
from aioice import stun

from media import aiortc_glue, consent, fanout, quiet
from media.hub import MediaHub
from tests.media.peers import Browser, loopback_only, within
from tests.media.test_fanout import Listener, header
from tests.media.test_forwarder import ROOM, join

needs_native = pytest.mark.skipif(
    not fanout.native_available(), reason="media._fanout is not built"
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def native_group():
    return fanout._fanout.Group(fanout._PROTECT)


def run_script(script: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """A script in a fresh interpreter of ours, from the project root (a crash there is a
    return code here, not a dead test run)."""
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


@pytest.fixture
def listener():
    made = Listener(100)
    yield made
    made.close()


def delivered(group, listener, seq: int) -> bool:
    """A packet through `group` reaches `listener` and opens with its inbound session."""
    h = header(seq, 960 * seq)
    if group.send(h, b"\x42" * 40, -1) != 1:
        return False
    data, _ = listener.browser.recvfrom(2048)
    return listener.inbound.unprotect(data) == bytes(h) + b"\x42" * 40


# --- Group.set: bad targets -----------------------------------------------------------


def _bad_targets(t):
    srtp, fd, host, port, member = t
    return {
        "not a sequence": 5,
        "None": None,
        "short tuple": [t[:4]],
        "long tuple": [(*t, 1)],
        "bytes host": [(srtp, fd, host.encode(), port, member)],
        "host name": [(srtp, fd, "localhost", port, member)],
        "scoped ipv6": [(srtp, fd, "fe80::1%lo", port, member)],
        "surrogate host": [(srtp, fd, "\udcff", port, member)],
        "empty host": [(srtp, fd, "", port, member)],
        "negative fd": [(srtp, -1, host, port, member)],
        "huge fd": [(srtp, 2**40, host, port, member)],
        "negative port": [(srtp, fd, host, -1, member)],
        "port 65536": [(srtp, fd, host, 65536, member)],
        "huge port": [(srtp, fd, host, 2**80, member)],
        "huge member": [(srtp, fd, host, port, 2**70)],
        "null session": [(0, fd, host, port, member)],
        "float session": [(float(srtp), fd, host, port, member)],
        "str port": [(srtp, fd, host, str(port), member)],
        "good then bad": [t, (srtp, fd, "nope", port, member)],
    }


BAD_TARGET_CASES = list(_bad_targets((1, 1, "127.0.0.1", 1, 1)))


@needs_native
@pytest.mark.parametrize("case", BAD_TARGET_CASES)
def test_a_bad_target_raises_and_leaves_the_group_as_it_was(listener, case):
    group = native_group()
    good, keep = listener.target("native")
    group.set([good], [keep])
    bad = _bad_targets(good)[case]
    with pytest.raises((TypeError, ValueError, OverflowError)):
        group.set(bad, [keep])
    assert len(group) == 1
    assert delivered(group, listener, 1)


@needs_native
def test_a_target_given_as_a_list_raises_a_type_error(listener):
    """DEFECT (minor). A target as a list instead of a tuple raises SystemError ("new
    style getargs format but argument is not a tuple"), an interpreter-internal error, where
    the pure-Python group accepts any sequence. Cause: Group_set passes each item straight
    to PyArg_ParseTuple, which requires a real tuple."""
    group = native_group()
    good, keep = listener.target("native")
    group.set([good], [keep])
    with pytest.raises(TypeError):
        group.set([list(good)], [keep])
    assert delivered(group, listener, 1)


@needs_native
@pytest.mark.parametrize("address", [-1, 2**64 + 1, 2**70 + 12345])
def test_a_session_address_out_of_range_is_refused(listener, address):
    """DEFECT (minor). An srtp address below 0 or above 2**64-1 is silently wrapped
    (-1 becomes 0xffffffffffffffff, 2**64+1 becomes 1) and accepted, and the next send()
    calls srtp_protect on it: a segfault. Cause: the "K" format of PyArg_ParseTuple (in
    Group_set and Group_init) masks without overflow checking. Fix: parse with "O" and
    PyLong_AsUnsignedLongLong (or PyLong_AsVoidPtr), which raise OverflowError."""
    group = native_group()
    good, keep = listener.target("native")
    with pytest.raises((OverflowError, ValueError)):
        group.set([(address, *good[1:])], [keep])
    # Never send on the group here: if the set() was accepted, send() would crash.


@needs_native
def test_a_host_with_an_embedded_nul_is_refused(listener):
    """DEFECT (minor). "127.0.0.1\\x00anything" is accepted as 127.0.0.1. Cause:
    parse_address reads the host with PyUnicode_AsUTF8 and gives the C string to inet_pton,
    which stops at the NUL. Fix: PyUnicode_AsUTF8AndSize and refuse when strlen(text) !=
    size."""
    group = native_group()
    good, keep = listener.target("native")
    with pytest.raises(ValueError):
        group.set([(good[0], good[1], good[2] + "\x00evil", *good[3:])], [keep])


@needs_native
def test_an_empty_target_list_sends_nothing_and_the_group_can_be_refilled(listener):
    group = native_group()
    group.set([], [])
    assert len(group) == 0
    assert group.send(header(1, 0), b"\x01" * 20, -1) == 0
    good, keep = listener.target("native")
    group.set((good,), (keep,))  # any sequence, tuples too
    assert delivered(group, listener, 2)
    assert listener.nothing_waiting()


# --- Group.send: bad packets and arguments --------------------------------------------


@needs_native
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("abc", b"", -1), id="str header"),
        pytest.param((header(1, 0), "payload", -1), id="str payload"),
        pytest.param((None, b"", -1), id="None header"),
        pytest.param((header(1, 0), b"x", 2**70), id="huge skip"),
        pytest.param((header(1, 0), b"x", 1.5), id="float skip"),
        pytest.param((header(1, 0), b"x", None), id="None skip"),
        pytest.param((memoryview(bytes(range(24)))[::2], b"", -1), id="strided view"),
        pytest.param((header(1, 0), b"\x00" * 1345, -1), id="oversized"),
        pytest.param((header(1, 0), b"x"), id="missing skip"),
    ],
)
def test_a_bad_send_raises_and_the_group_still_sends(listener, args):
    group = native_group()
    good, keep = listener.target("native")
    group.set([good], [keep])
    with pytest.raises((TypeError, ValueError, OverflowError, BufferError)):
        group.send(*args)
    assert listener.nothing_waiting()
    assert delivered(group, listener, 5)


@needs_native
@pytest.mark.parametrize(
    "packet",
    [
        pytest.param((b"", b""), id="empty"),
        pytest.param((b"\x80\x6f" + b"\x00" * 9, b""), id="11 bytes"),
        pytest.param((b"\xff" * 12, b"\x00" * 8), id="csrc count and extension past the end"),
        pytest.param((b"\x90\x6f" + b"\x00" * 10, b"\xbe\xde\xff\xff"), id="extension too long"),
    ],
)
def test_a_malformed_rtp_packet_is_refused_by_libsrtp_not_a_crash(listener, packet):
    group, python = native_group(), fanout.PythonGroup()
    good, keep = listener.target("native")
    group.set([good], [keep])
    python_good, python_keep = listener.target("python")
    python.set([python_good], [python_keep])
    assert group.send(*packet, -1) == 0
    assert group.protect_errors == 1
    assert python.send(*packet, -1) == 0
    assert python.protect_errors == 1
    assert listener.nothing_waiting()
    assert delivered(group, listener, 9)


@needs_native
def test_bytes_bytearray_and_memoryview_all_send_the_packet(listener):
    group = native_group()
    good, keep = listener.target("native")
    group.set([good], [keep])
    payload = b"\x07" * 50
    for seq, (h, p) in enumerate(
        [
            (bytes(header(1, 0)), payload),
            (header(2, 0), bytearray(payload)),
            (memoryview(header(3, 0)), memoryview(payload)),
            (memoryview(b"\x00" + bytes(header(4, 0)))[1:], memoryview(payload)[:]),
        ],
        start=1,
    ):
        assert group.send(h, p, -1) == 1
        data, _ = listener.browser.recvfrom(2048)
        assert listener.inbound.unprotect(data) == bytes(header(seq, 0)) + payload


@needs_native
def test_an_ipv6_target_is_sent_on_an_ipv6_socket_and_refused_on_an_ipv4_one(listener):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        browser6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        browser6.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this machine")
    server6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    server6.bind(("::1", 0))
    browser6.settimeout(2)
    try:
        srtp, _, _, _, member = listener.target("native")[0]
        port = browser6.getsockname()[1]
        group = native_group()
        group.set([(srtp, server6.fileno(), "::1", port, member)], [listener.sessions["native"]])
        assert group.send(header(1, 0), b"\x01" * 30, -1) == 1
        data, source = browser6.recvfrom(2048)
        assert source[1] == server6.getsockname()[1]
        assert listener.inbound.unprotect(data) == bytes(header(1, 0)) + b"\x01" * 30
        # An IPv6 address on the listener's IPv4 socket: the kernel refuses, it is counted.
        group.set(
            [(srtp, listener.server.fileno(), "::1", port, member)],
            [listener.sessions["native"]],
        )
        assert group.send(header(2, 0), b"\x01" * 30, -1) == 0
        assert group.send_errors == 1
    finally:
        browser6.close()
        server6.close()


# --- Reference counts and memory ------------------------------------------------------


@needs_native
def test_set_and_send_keep_reference_counts_balanced(listener):
    group = native_group()
    good, _ = listener.target("native")
    host = "".join(["127.0.0.", "1"])  # not interned: its count is ours alone
    target = (good[0], good[1], host, good[3], good[4])
    keep, other = object(), object()
    targets = [target]
    base_keep = sys.getrefcount(keep)
    base_host = sys.getrefcount(host)
    base_targets = sys.getrefcount(targets)
    for _ in range(1000):
        group.set(targets, keep)
    assert sys.getrefcount(keep) == base_keep + 1  # held once, however often it was set
    assert sys.getrefcount(host) == base_host
    assert sys.getrefcount(targets) == base_targets
    bad_keep = object()
    base_bad = sys.getrefcount(bad_keep)
    for _ in range(1000):
        with pytest.raises(ValueError):
            group.set([(good[0], good[1], "bad", good[3], good[4])], bad_keep)
    assert sys.getrefcount(bad_keep) == base_bad
    assert sys.getrefcount(keep) == base_keep + 1  # a failed set() keeps the old one
    group.set([], other)
    assert sys.getrefcount(keep) == base_keep
    group.set([target], listener.sessions["native"])

    h, payload = header(1, 0), bytearray(b"\x01" * 40)
    base_h, base_payload = sys.getrefcount(h), sys.getrefcount(payload)
    for seq in range(1, 501):
        struct.pack_into("!H", h, 2, seq)
        group.send(h, payload, -1)
        with pytest.raises(TypeError):
            group.send(h, payload, "skip")
    assert sys.getrefcount(h) == base_h
    assert sys.getrefcount(payload) == base_payload
    # Both buffers were released: a bytearray with an export left can't be resized.
    payload.extend(b"\x00")
    h.extend(b"\x00")
    del group
    gc.collect()
    assert sys.getrefcount(other) == 2


@needs_native
def test_a_hundred_thousand_sends_do_not_grow_memory(listener):
    group = native_group()
    good, keep = listener.target("native")
    group.set([good], [keep])
    # The listener doesn't read: its socket fills and the kernel drops, as a slow client.
    h, payload = header(0, 0), b"\x09" * 160

    def burst(start, count):
        for seq in range(start, start + count):
            struct.pack_into("!HI", h, 2, seq & 0xFFFF, (seq * 960) & 0xFFFFFFFF)
            group.send(h, payload, -1)

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    burst(0, 10_000)
    tracemalloc.start()
    try:
        before_py, before_rss = tracemalloc.get_traced_memory()[0], rss()
        burst(10_000, 100_000)
        after_py, after_rss = tracemalloc.get_traced_memory()[0], rss()
    finally:
        tracemalloc.stop()
    assert after_py - before_py < 64 * 1024
    assert after_rss - before_rss < 2 * 1024 * 1024
    assert group.protect_errors == 0  # 110,000 distinct indexes, across the 16-bit wrap


@needs_native
def test_a_group_in_a_reference_cycle_is_collected():
    """DEFECT (minor leak). A group whose `keep` refers back to it (directly or through
    any object graph) is never freed: the cycle collector can't see through it. Cause: the
    Group type has no Py_TPFLAGS_HAVE_GC, tp_traverse or tp_clear, though it holds an
    arbitrary object. Fix: add them (and PyObject_GC_UnTrack in Group_dealloc)."""

    class Holder:
        pass

    holder = Holder()
    holder.group = native_group()
    holder.group.set([], holder)
    alive = weakref.ref(holder)
    del holder
    gc.collect()
    assert alive() is None


# --- Memory safety (in a subprocess) --------------------------------------------------


@needs_native
def test_an_uninitialised_group_raises_instead_of_crashing():
    """DEFECT (segfault). Group.__new__(Group) makes a group whose protect pointer is NULL;
    set() accepts targets and send() calls NULL: SIGSEGV. Cause: tp_new is
    PyType_GenericNew and only tp_init sets `protect`; Group_send never checks it. Fix: in
    Group_send (and Group_set) raise RuntimeError when self->protect is NULL, or do the
    work of Group_init in tp_new."""
    done = run_script(
        """
        from media._fanout import Group
        from tests.media.test_fanout import Listener, header
        listener = Listener(1)
        target, keep = listener.target("native")
        group = Group.__new__(Group)
        try:
            group.set([target], [keep])
            group.send(header(1, 0), b"x" * 20, -1)
        except Exception as exc:
            print("raised", type(exc).__name__)
        """
    )
    assert done.returncode == 0, f"the interpreter died: {done.returncode} {done.stderr[-500:]}"
    assert "raised" in done.stdout


@needs_native
def test_set_while_a_send_is_running_cannot_free_the_targets_under_it():
    """DEFECT (use-after-free, segfault). Group_send releases the GIL and walks
    self->targets and self->buffer; any Python code that runs meanwhile (another thread
    calling set() or send() on the same group) frees the array under it, drops `keep`
    (and with it the libsrtp sessions the loop is protecting with), or overwrites the shared
    buffer. The protect function here is a ctypes callback that calls set() on its first
    call, which is exactly what a second thread can do at that moment, made deterministic;
    250,000 targets make the array big enough for malloc to unmap it on free. Observed:
    SIGSEGV. Fix: a `busy` counter in the Group, raised by send() before it releases the GIL
    and lowered after; set() (and a second send()) raise RuntimeError while it is non-zero.
    Alternatively take a private copy (targets array, a reference to keep) before releasing
    the GIL and use a stack buffer; or do not release the GIL (the forwarder is
    single-threaded, the loop is microseconds)."""
    done = run_script(
        """
        import ctypes
        from media import fanout
        from media._fanout import Group
        from tests.media.test_fanout import Listener, header
        listener = Listener(1)
        target, keep = listener.target("native")
        PROTECT = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)
        )
        calls = []

        @PROTECT
        def protect(ctx, buffer, length):
            calls.append(1)
            if len(calls) == 1:
                try:
                    group.set([], None)
                except Exception as exc:
                    print("set refused:", type(exc).__name__)
            return 1  # "refused": nothing is sent

        group = Group(ctypes.cast(protect, ctypes.c_void_p).value)
        group.set([target] * 250_000, [keep])
        try:
            print("sent", group.send(header(1, 0), b"x" * 20, -1))
        except Exception as exc:
            print("send refused:", type(exc).__name__)
        print("survived")
        """
    )
    assert done.returncode == 0, f"the interpreter died: {done.returncode} {done.stderr[-500:]}"
    assert "survived" in done.stdout


@needs_native
def test_a_target_list_emptied_while_it_is_parsed_is_not_a_crash():
    """DEFECT (use-after-free, segfault). Converting a target's fields may run Python code
    (an int-like fd, port or member with __index__); if that code empties the list being
    parsed, Group_set goes on reading items the list no longer holds (a freed tuple, then
    index 1 of a list whose item array is gone). Observed: SIGSEGV. Cause: Group_set uses
    PySequence_Fast, which for a list returns the caller's own mutable list, and
    PySequence_Fast_GET_ITEM's borrowed items, with the size read once. Fix: take a private
    copy with PySequence_Tuple(targets) and parse that (its items are owned by the copy)."""
    done = run_script(
        """
        from media import fanout
        from media._fanout import Group
        from tests.media.test_fanout import Listener
        listener = Listener(1)
        (srtp, fd, host, port, member), keep = listener.target("native")

        class Sneaky:
            def __index__(self):
                targets.clear()
                return fd

        targets = [(srtp, Sneaky(), host, port, member), (srtp, fd, host, port, member + 1)]
        group = Group(fanout._PROTECT)
        try:
            group.set(targets, [keep])
        except Exception as exc:
            print("raised", type(exc).__name__)
        print("survived")
        """
    )
    assert done.returncode == 0, f"the interpreter died: {done.returncode} {done.stderr[-500:]}"
    assert "survived" in done.stdout


@needs_native
def test_the_native_group_sends_on_the_numbers_it_was_given(listener):
    """The group's contract (media/_fanout.c): it keeps descriptor numbers, not sockets, so
    whoever closes one calls set() before the next send(). Shown here with a number reused
    by a TCP connection: the bytes go where the number now points. The forwarder never
    gives a group a descriptor anyone else can close: each listener's is a dup() of its
    own, closed only by Peer.release(), which regroups first
    (test_the_forwarder_never_sends_on_a_closed_descriptor)."""
    group = native_group()
    good, keep = listener.target("native")
    group.set([good], [keep])
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    accepted.settimeout(2)
    fd = listener.server.fileno()
    listener.server.close()
    try:
        os.dup2(client.fileno(), fd)  # the number comes back, as the kernel reuses it
        group.send(header(2, 0), b"secret", -1)
        assert accepted.recv(4096)  # sent where the number points now: hence the contract
        group.set([], None)
        assert group.send(header(3, 0), b"secret", -1) == 0
    finally:
        os.close(fd)
        for s in (client, accepted, server):
            s.close()


# --- The forwarder with real peers ----------------------------------------------------


@pytest.fixture
def hub(monkeypatch):
    """A hub on loopback with the native fan-out (else the Python one)."""
    fanout.set_mode("native" if fanout.native_available() else "python")
    loopback_only(monkeypatch)
    yield MediaHub(ice_servers=[])
    fanout.set_mode(None)


def parked(hub, member_id) -> bool:
    room = hub.rooms[ROOM]
    peer = room.peers[member_id]
    return room.parking is not None and peer._transport._sock_fd in room.parking._parked


def in_selector(peer) -> bool:
    loop = asyncio.get_running_loop()
    try:
        key = loop._selector.get_key(peer._transport._sock_fd)
    except KeyError:
        return False
    return key.data[0] is not None


async def close_all(hub, *browsers):
    await within(hub.close_room(ROOM))
    for browser in browsers:
        await browser.close()


VIOLATIONS: list = []


class AuditedGroup:
    """A fan-out group that checks, before every send(), that each target's descriptor is
    still open on the very socket (inode) its listener's socket was when given."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.routes: list = []

    def __len__(self) -> int:
        return len(self.inner)

    def set(self, targets, keep) -> None:
        self.inner.set(targets, keep)
        self.routes = [
            (target[1], target[4], os.fstat(sock.fileno()).st_ino)
            for target, (_, sock) in zip(targets, keep, strict=True)
        ]

    def send(self, header, payload, skip) -> int:
        for fd, member, inode in self.routes:
            try:
                now = os.fstat(fd).st_ino
            except OSError:
                now = None
            if now != inode:
                VIOLATIONS.append((fd, member))
        return self.inner.send(header, payload, skip)


@pytest.mark.asyncio
async def test_the_forwarder_never_sends_on_a_closed_descriptor(hub, monkeypatch):
    made = fanout.new_group
    VIOLATIONS.clear()
    monkeypatch.setattr(fanout, "new_group", lambda: AuditedGroup(made()))
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    gone, stays = Browser(), Browser()
    stays.count_packets()
    await join(hub, 2, gone)
    await join(hub, 3, stays)
    spies = []
    try:
        room = hub.rooms[ROOM]
        await asyncio.sleep(0.3)
        assert sum(len(p) for p in stays.packets.values()) > 5
        # Listener 2's server socket dies under the forwarder (not a detach), and new
        # sockets take the freed descriptor numbers at once.
        room.peers[2]._transport.close()
        await asyncio.sleep(0)
        spies = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        await asyncio.sleep(0.4)
        await within(hub.detach(ROOM, 3))  # and one detached while packets flow
        spies += [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        await asyncio.sleep(0.3)
        assert room.packets_in > 20
        assert VIOLATIONS == []
        assert 2 not in room.peers or room.peers[2]._sock.fileno() == -1
    finally:
        for spy in spies:
            spy.close()
        await close_all(hub, speaker, gone, stays)


@pytest.mark.asyncio
async def test_one_listener_route_the_native_group_refuses_does_not_cut_off_the_room(hub):
    """DEFECT (one listener takes the whole room's audio down and disconnects the speaker).
    Peer.route() accepts any host that ipaddress.ip_address() accepts, and that includes
    scoped IPv6 ("fe80::1%1", what a link-local candidate looks like), but the native
    group's parse_address (inet_pton) refuses it: Group.set() raises ValueError, so
    _rebuild_groups raises on every packet (the room stays dirty), no listener of the room
    gets anything, and the exception leaves forward() into aiortc's RTCDtlsTransport.__run,
    which closes the speaker's DTLS transport. Simulated here by giving a listener the
    route route() would have accepted for such a pair (loopback has no link-local address).
    Fix: (1) route() must refuse what the group can't send to (or parse with
    getaddrinfo(AI_NUMERICHOST) and pass the scope id to C); (2) _rebuild_groups must drop
    one bad target, not the whole room (validate each target before set(), or have set()
    skip and count bad ones); (3) forward(), called from aiortc's receive loop, should never
    let an exception out."""
    import ipaddress

    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    hostile = await join(hub, 2, Browser())
    good = Browser()
    good.count_packets()
    await join(hub, 3, good)
    try:
        room = hub.rooms[ROOM]
        await asyncio.sleep(0.3)
        peer = room.peers[2]
        scoped = ("fe80::1%1", peer._addr[1])
        ipaddress.ip_address(scoped[0])  # route()'s guard lets it through
        peer._addr = scoped
        room.regroup_soon()
        await asyncio.sleep(0.2)
        before = sum(len(p) for p in good.packets.values())
        await asyncio.sleep(0.6)
        heard = sum(len(p) for p in good.packets.values()) - before
        assert 1 in room.peers, f"the speaker was disconnected ({speaker.pc.connectionState})"
        assert room.peers[1].pc.connectionState == "connected"
        assert heard > 10, f"the other listener got {heard} packets in 0.6 s"
    finally:
        await close_all(hub, speaker, hostile, good)


def malformed_stun() -> bytes:
    """A STUN binding request whose PRIORITY attribute is 1 byte long: aioice's
    parse_message raises struct.error (not ValueError) on it."""
    attribute = struct.pack("!HH", 0x0024, 1) + b"\x01\x00\x00\x00"
    return struct.pack("!HHI", 0x0001, len(attribute), stun.COOKIE) + os.urandom(12) + attribute


def test_aioice_raises_struct_error_on_the_malformed_stun():
    """The premise of the next test: the error escapes aioice's datagram_received."""
    with pytest.raises(struct.error):
        stun.parse_message(malformed_stun())


@pytest.mark.asyncio
async def test_malformed_stun_from_one_parked_listener_does_not_starve_the_others(hub, monkeypatch):
    """DEFECT (denial of service on every parked listener of the process). One listener
    sends its server socket a STUN message that makes aioice raise struct.error. In
    Parking._poll the try/except is around the whole batch: the exception ends the poll,
    and the sockets after the attacker's in the epoll list are not read. A socket that stays
    readable stays ahead of sockets that become readable later, so with a few such datagrams
    every 40 ms the others are never read again: their consent checks go unanswered and
    their connections die within about 30 s (6 s here, with consent sped up). Observed: the
    victim's socket receives nothing while the attack lasts. Fix: in Parking._drain, catch
    Exception around protocol.datagram_received per datagram (log it, rate-limited, via
    loop.call_exception_handler as asyncio does) and go on; at least catch per socket in
    _poll."""
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(consent, "CONSENT_GRID", 0.05)
    attacker = await join(hub, 2, Browser())
    victim = await join(hub, 3, Browser())
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        room = hub.rooms[ROOM]
        assert parked(hub, 2) and parked(hub, 3)
        target = room.peers[2]._transport._sock.getsockname()
        # What the victim's browser hears back from its parked socket: answers to its own
        # consent checks, and the server's checks (neither goes out unless it is read).
        protocol = listener_connection(victim)._nominated[1].protocol
        received = []
        real = protocol.datagram_received

        def counting(data, addr):
            received.append(time.monotonic())
            real(data, addr)

        protocol.datagram_received = counting
        logging.getLogger("media.quiet").disabled = True  # one traceback per poll
        start = time.monotonic()
        while time.monotonic() - start < 2.0:
            for _ in range(10):
                flood.sendto(malformed_stun(), target)
            await asyncio.sleep(0.1)
        late = [t for t in received if t > start + 0.5]
        assert len(late) >= 3, f"the victim heard from its socket {len(late)} times in 1.5 s"
    finally:
        logging.getLogger("media.quiet").disabled = False
        flood.close()
        await close_all(hub, attacker, victim)


@pytest.mark.asyncio
async def test_a_flood_while_parked_is_read_in_bounded_batches_and_the_loop_stays_responsive(
    hub, caplog
):
    listener = await join(hub, 2, Browser())
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        room = hub.rooms[ROOM]
        peer = room.peers[2]
        parking = room.parking
        assert parked(hub, 2)
        target = peer._transport._sock.getsockname()
        protocol = peer._transport._protocol
        seen = [0]
        real = protocol.datagram_received

        def counting(data, addr):
            seen[0] += 1
            real(data, addr)

        protocol.datagram_received = counting
        batches = []
        drain = parking._drain

        def measured(transport, who):
            before = parking.dropped + seen[0]
            drain(transport, who)
            batches.append(parking.dropped + seen[0] - before)

        parking._drain = measured
        unauthenticated = stun.Message(
            message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST
        )
        kinds = [
            b"\x80\x6f" + os.urandom(170),  # RTP-like: dropped by the kernel's filter
            b"\x81\xc9" + os.urandom(40),  # RTCP-like: dropped by the kernel's filter
            b"\xff" + os.urandom(60),  # neither: to aioice, then the DTLS transport
            b"\x17\xfe\xfd" + os.urandom(40),  # a DTLS record that fails
            bytes(unauthenticated),  # STUN without credentials: a 400 answer
        ]
        lags = []
        loop = asyncio.get_running_loop()
        with caplog.at_level(logging.ERROR, logger="media.quiet"):
            for round_ in range(4):
                for i in range(300):
                    flood.sendto(kinds[(i + round_) % len(kinds)], target)
                until = loop.time() + 0.25
                while loop.time() < until:
                    before = loop.time()
                    await asyncio.sleep(0.005)
                    lags.append(loop.time() - before - 0.005)
        await asyncio.sleep(0.3)
        assert max(batches) == quiet.MAX_READS  # the bound was reached, and held
        # RTP and RTCP never reached Python: the kernel's filter dropped them.
        assert parking.filtered >= 1 and parking.dropped == 0
        assert max(lags) < 0.1, f"the loop stalled {max(lags) * 1000:.0f} ms"
        assert [r for r in caplog.records if r.name == "media.quiet"] == []
        assert peer.pc.connectionState == "connected"
        assert listener.pc.connectionState == "connected"
        assert parked(hub, 2)
    finally:
        flood.close()
        await close_all(hub, listener)


@pytest.mark.asyncio
async def test_rapid_promotion_and_mute_leave_the_socket_in_exactly_one_reader(hub):
    member = await join(hub, 1, Browser(tone=660), publishing=False)
    ears = await join(hub, 2, Browser())
    try:
        room = hub.rooms[ROOM]
        peer = room.peers[1]
        for i in range(400):
            hub.set_publishing(ROOM, 1, i % 2 == 0)
            assert parked(hub, 1) != in_selector(peer)
            if i % 50 == 0:
                await asyncio.sleep(0.05)  # let the parking poll between flips
                assert parked(hub, 1) != in_selector(peer)
        hub.set_publishing(ROOM, 1, True)
        hub.set_publishing(ROOM, 1, True)  # twice: idempotent
        assert not parked(hub, 1) and in_selector(peer)
        assert await within(ears.hear(slot=0)) == pytest.approx(660, abs=15)
        hub.set_publishing(ROOM, 1, False)
        hub.set_publishing(ROOM, 1, False)
        assert parked(hub, 1) and not in_selector(peer)
        await asyncio.sleep(0.5)
        assert peer.pc.connectionState == "connected"
    finally:
        await close_all(hub, member, ears)


@pytest.mark.asyncio
async def test_detach_reoffer_and_close_while_parked_leave_nothing_behind(hub):
    errors = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    speaker = await join(hub, 1, Browser(tone=440), publishing=True)
    first, second, third = Browser(), Browser(), Browser()
    await join(hub, 2, first)
    await join(hub, 3, third)
    try:
        room = hub.rooms[ROOM]
        parking = room.parking
        assert parked(hub, 2) and parked(hub, 3)
        old = room.peers[2]._transport
        # A re-offer for the same member while parked: the old connection goes first.
        await join(hub, 2, second)
        assert old.is_closing()
        assert parked(hub, 2)
        assert parking._parked[room.peers[2]._transport._sock_fd][0] is room.peers[2]._transport
        assert all(entry[0] is not old for entry in parking._parked.values())
        assert await within(second.hear(slot=0)) == pytest.approx(440, abs=15)
        # Detach while parked.
        await within(hub.detach(ROOM, 3))
        assert len(parking) == 1
        # Close the room while parked; the poll timer stops once nothing is parked.
        await within(hub.close_room(ROOM))
        assert len(parking) == 0
        await asyncio.sleep(2 * quiet.POLL)
        assert parking._timer is None
        # The same loop's next room parks again.
        listener = await join(hub, 5, Browser())
        try:
            assert parked(hub, 5)
            assert hub.rooms[ROOM].parking is parking
        finally:
            await close_all(hub, listener)
        assert [e for e in errors if "quiet" in repr(e) or "Parking" in repr(e)] == []
    finally:
        loop.set_exception_handler(None)
        await close_all(hub, speaker, first, second, third)


class _Quiet:
    publishing = False


class _Counting(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def datagram_received(self, data, addr) -> None:
        self.got.append(data)


def test_the_kernel_filter_drops_rtp_and_rtcp_while_parked_and_only_then():
    """What the filter keeps and drops, by first byte (RFC 7983), on IPv4 and IPv6
    sockets; unparked, the socket receives everything again."""
    loop = asyncio.new_event_loop()
    firsts = [0, 1, 3, 20, 63, 64, 127, 128, 150, 191, 192, 255]

    async def run(host):
        transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            _Counting, local_addr=(host, 0)
        )
        parking = quiet.parking()
        sender = socket.socket(transport._sock.family, socket.SOCK_DGRAM)
        where = transport.get_extra_info("sockname")[:2]

        async def send_all():
            protocol.got.clear()
            for first in firsts:
                sender.sendto(bytes([first]) + b"payload", where)
            await asyncio.sleep(quiet.POLL * 3)
            return sorted(d[0] for d in protocol.got)

        try:
            assert parking.park(transport, _Quiet())
            parked_got = await send_all()
            parking.unpark(transport)
            unparked_got = await send_all()
        finally:
            sender.close()
            transport.close()
            await asyncio.sleep(0)
        return parked_got, unparked_got

    try:
        for host in ("127.0.0.1", "::1"):
            parked_got, unparked_got = loop.run_until_complete(run(host))
            assert parked_got == [f for f in firsts if not 127 < f < 192], host
            assert unparked_got == firsts, host
    finally:
        loop.close()


def test_a_new_event_loop_gets_a_fresh_parking_and_the_closed_loops_is_closed():
    """Each test (each Daphne restart) runs its own loop: a Parking left on a closed loop,
    with a socket still parked in it, must not leak into the next."""
    first = asyncio.new_event_loop()

    async def park_one():
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            _Counting, local_addr=("127.0.0.1", 0)
        )
        parking = quiet.parking()
        assert parking.park(transport, _Quiet())
        return parking, transport

    old, old_transport = first.run_until_complete(park_one())
    first.close()  # with the socket still parked and its timer pending
    old_transport._sock.close()
    second = asyncio.new_event_loop()

    async def park_again():
        transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            _Counting, local_addr=("127.0.0.1", 0)
        )
        parking = quiet.parking()
        assert parking is not old
        assert parking.park(transport, _Quiet())
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.sendto(b"\x00hello", transport.get_extra_info("sockname"))
        sender.sendto(b"\x80dropped", transport.get_extra_info("sockname"))
        deadline = time.monotonic() + 2
        while not protocol.got and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        sender.close()
        parking.forget(transport)
        transport.close()
        await asyncio.sleep(0)
        return parking, protocol.got

    try:
        parking, got = second.run_until_complete(park_again())
    finally:
        second.close()
    assert got == [b"\x00hello"]
    assert parking.filtered == 1 and parking.dropped == 0  # the kernel dropped the RTP
    assert old._epoll.closed
    assert first not in quiet._parkings


# --- The receiver's lazy RTCP task ----------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("when", ["cancelled before it starts", "stopped once started"])
async def test_a_speaker_detached_right_after_their_first_packet_closes_promptly(
    hub, monkeypatch, when
):
    from media.forwarder import RoomForwarder

    real = RoomForwarder.forward
    seen = {}
    done = asyncio.get_running_loop().create_future()

    def forward(self, peer, packet):
        if getattr(peer, "member_id", None) == 1 and 1 not in seen:
            receiver = peer.pc.getTransceivers()[0].receiver
            task = seen[1] = receiver._RTCRtpReceiver__rtcp_task
            if when == "cancelled before it starts":
                task.cancel()

            async def leave():
                try:
                    await self.hub.detach(ROOM, 1)
                    done.set_result(receiver)
                except Exception as exc:
                    done.set_exception(exc)

            self.hub.spawn(leave())
        real(self, peer, packet)

    monkeypatch.setattr(RoomForwarder, "forward", forward)
    listener = await join(hub, 2, Browser())
    speaker = Browser(tone=440)
    offer = await speaker.offer()
    answer = await within(hub.attach(ROOM, 1, "socket-1", offer, publishing=True))
    await speaker.accept(answer)
    try:
        receiver = await within(done, 10)
        task = seen[1]
        assert isinstance(task, asyncio.Task) and task.done()
        assert receiver._RTCRtpReceiver__rtcp_exited.is_set()
        assert 1 not in hub.rooms[ROOM].peers
    finally:
        await close_all(hub, listener, speaker)


@pytest.mark.asyncio
async def test_a_speaker_detached_before_any_packet_closes_promptly(hub):
    silent = await join(hub, 1, Browser(), publishing=True)  # no microphone track
    try:
        receiver = hub.rooms[ROOM].peers[1].pc.getTransceivers()[0].receiver
        assert receiver._RTCRtpReceiver__rtcp_task is aiortc_glue._DONE
        started = time.monotonic()
        assert await within(hub.detach(ROOM, 1), 5)
        assert time.monotonic() - started < 2
        assert receiver._RTCRtpReceiver__rtcp_task is aiortc_glue._DONE
    finally:
        await silent.close()


# --- Consent on the clock ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_closing_while_a_consent_check_is_in_flight_ends_promptly(hub, monkeypatch):
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(consent, "CONSENT_GRID", 0.05)
    listener = await join(hub, 2, Browser())
    try:
        peer = hub.rooms[ROOM].peers[2]
        protocol = peer._ice._nominated[1].protocol
        # The listener stops answering, so the server's checks stay in flight.
        listening = listener_connection(listener)
        listening.request_received = lambda *args: None
        deadline = time.monotonic() + 5
        while not any(isinstance(t, consent._Sent) for t in protocol.transactions.values()):
            assert time.monotonic() < deadline, "no consent check went out"
            await asyncio.sleep(0.01)
        task = peer._ice._query_consent_task
        assert task is not None and not task.done()
        started = time.monotonic()
        await within(hub.detach(ROOM, 2), 5)
        assert time.monotonic() - started < 2
        assert task.cancelled()
        assert not any(isinstance(t, consent._Sent) for t in protocol.transactions.values())
    finally:
        await close_all(hub, listener)


@pytest.mark.asyncio
async def test_lost_consent_closes_the_connection_and_the_forwarder_lets_go(hub, monkeypatch):
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(consent, "CONSENT_GRID", 0.05)
    listener = await join(hub, 2, Browser())
    try:
        room = hub.rooms[ROOM]
        peer = room.peers[2]
        parking = room.parking
        assert parked(hub, 2)
        lost = consent.clock().lost
        # The listener's browser goes silent: it answers none of our checks any more.
        listener_connection(listener).request_received = lambda *args: None
        deadline = time.monotonic() + 8
        while ROOM in hub.rooms and 2 in hub.rooms[ROOM].peers:
            assert time.monotonic() < deadline, f"still {peer.pc.connectionState}"
            await asyncio.sleep(0.05)
        assert consent.clock().lost == lost + 1
        assert peer._transport.is_closing()
        assert all(entry[0] is not peer._transport for entry in parking._parked.values())
    finally:
        await close_all(hub, listener)


def listener_connection(browser):
    """The aioice Connection of a test browser (an aiortc peer)."""
    return browser.pc.getTransceivers()[0].sender.transport.transport._connection


@needs_native
def test_the_srtp_address_stays_valid_while_the_group_keeps_the_session():
    """keep is what keeps libsrtp's memory alive: the sessions may be dropped by everyone
    else (aiortc drops its reference when the DTLS transport closes) and the group still
    protects with them."""
    made = Listener(7)
    try:
        group = native_group()
        target, keep = made.target("native")
        made.sessions["native"] = None  # nobody else holds it now
        group.set([target], [keep])
        del keep
        gc.collect()
        churn = [pylibsrtp.Session() for _ in range(200)]  # reuse what was freed, if it was
        assert group.send(header(1, 0), b"\x01" * 30, -1) == 1
        data, _ = made.browser.recvfrom(2048)
        assert made.inbound.unprotect(data) == bytes(header(1, 0)) + b"\x01" * 30
        del churn
    finally:
        made.close()
