"""A connected peer's STUN: its consent checks (RFC 7675), sent and answered cheaply.

Once a listener is connected, almost all the server still does for them with nobody
speaking is STUN: every 4-6 s the server asks the listener's browser for consent to keep
sending, and the browser pings the server (an aiortc listener as often, Chromium every
2.5 s). Done by aioice 0.13.0 (what aiortc 1.16.0 installs), each costs a parsed Message,
a Transaction with its Future and retransmission timer, a sleeping task per connection and
a serialisation: about 8% of a core for a thousand idle listeners (docs/benchmarks.md).

Here the same exchanges are made from bytes:

- `ConsentClock` replaces each connection's consent task (`Connection.query_consent`) by
  one timer per event loop on a CONSENT_GRID. Each connection still sends one binding
  request per nominated pair every CONSENT_INTERVAL x 0.8-1.2, counts a check unanswered
  after RETRY_RTO as a failure, and closes after CONSENT_FAILURES failures in a row, as
  aioice does. The request is aioice's own (`Connection.build_request`), serialised once
  per pair; each check only adds a new transaction id, MESSAGE-INTEGRITY and FINGERPRINT.
  Its answer is recognised whichever way it arrives: through aioice's protocol (an
  unparked socket) or through `answer()` (a parked one, media/quiet.py).
- `answer()` handles, for a parked socket, the two messages a connected listener sends:
  a binding request on the nominated pair (the browser's consent check, answered with the
  bytes aioice would send, with USE-CANDIDATE handled as aioice does) and the response to
  our check. Anything else, or anything the least unusual (a role conflict, an attribute
  aioice would read, another address, a bad signature or length), goes to aioice as
  before.

tests/media/test_consent.py checks byte for byte that the answers and requests are what
aioice builds for the same connection, and the consent timing against aioice's.
"""

from __future__ import annotations

import asyncio
import binascii
import hmac
import logging
import math
import os
import random
import socket
import struct

from aioice import ice, stun

log = logging.getLogger(__name__)

CONSENT_GRID = 0.25  # seconds: checks due within one step go out in one wake-up

_HEADER = struct.Struct("!HHI12s")
_ATTR = struct.Struct("!HH")
_FINGERPRINT = struct.Struct("!HHI")
_COOKIE = stun.COOKIE
_COOKIE_BYTES = struct.pack("!I", _COOKIE)
_BINDING_REQUEST = 0x0001
_BINDING_RESPONSE = 0x0101
_USERNAME = 0x0006
_MESSAGE_INTEGRITY = 0x0008
_XOR_MAPPED_ADDRESS = 0x0020
_PRIORITY = 0x0024
_USE_CANDIDATE = 0x0025
_FINGERPRINT_TYPE = 0x8028
_ICE_CONTROLLED = 0x8029
_ICE_CONTROLLING = 0x802A
_MI_ATTR = _ATTR.pack(_MESSAGE_INTEGRITY, 20)
# The (attribute, length) a valid check from the other side may carry, by the role the
# other side must hold (ICE-CONTROLLING when we are controlled). USE-CANDIDATE only from a
# controlling side.
_EXPECTED = {
    _ICE_CONTROLLING: {(_PRIORITY, 4), (_ICE_CONTROLLING, 8), (_USE_CANDIDATE, 0)},
    _ICE_CONTROLLED: {(_PRIORITY, 4), (_ICE_CONTROLLED, 8)},
}


def _integrity(data: bytes, pos: int, key: bytes) -> bytes:
    """MESSAGE-INTEGRITY for a message whose attribute would start at pos (RFC 8489)."""
    return hmac.digest(key, _with_length(data, pos, 24), "sha1")


def _fingerprint(data: bytes, pos: int) -> int:
    """FINGERPRINT for a message whose attribute would start at pos (RFC 8489)."""
    return binascii.crc32(_with_length(data, pos, 8)) ^ stun.FINGERPRINT_XOR


def _signed(head: bytes, body: bytes, key: bytes) -> bytes:
    """A message of type and transaction id `head` (20 header bytes, any length) with
    attributes `body`, plus MESSAGE-INTEGRITY and FINGERPRINT as aioice adds them."""
    unsigned = head[:20] + body
    signed = unsigned + _MI_ATTR + _integrity(unsigned, len(unsigned), key)
    signed = _with_length(signed, len(signed), 8)
    return signed + _FINGERPRINT.pack(_FINGERPRINT_TYPE, 4, _fingerprint(signed, len(signed)))


def _authentic(data: bytes, mi_pos: int, fp_pos: int | None, key: bytes) -> bool:
    """Whether MESSAGE-INTEGRITY at mi_pos (and FINGERPRINT at fp_pos, if any) hold."""
    stated = struct.unpack_from("!I", data, fp_pos + 4)[0] if fp_pos is not None else None
    if fp_pos is not None and stated != _fingerprint(data, fp_pos):
        return False
    return hmac.compare_digest(data[mi_pos + 4 : mi_pos + 24], _integrity(data, mi_pos, key))


def _with_length(data: bytes, pos: int, extra: int) -> bytes:
    """data[:pos] with the header's length set as if the message ended `extra` bytes on."""
    return data[:2] + (pos - 20 + extra).to_bytes(2, "big") + data[4:pos]


def _scan(data: bytes) -> tuple[int | None, int | None, dict[int, tuple[int, int]]] | None:
    """The positions of MESSAGE-INTEGRITY and FINGERPRINT, and the (position, length) of
    the attributes before MESSAGE-INTEGRITY, or None if the message isn't well-formed STUN."""
    size = len(data)
    if size < 20 or data[4:8] != _COOKIE_BYTES or 20 + int.from_bytes(data[2:4], "big") != size:
        return None
    pos = 20
    mi_pos = fp_pos = None
    seen: dict[int, tuple[int, int]] = {}
    while pos + 4 <= size:
        kind, length = _ATTR.unpack_from(data, pos)
        if pos + 4 + length > size:
            return None
        if kind == _FINGERPRINT_TYPE:
            if length != 4 or pos + 8 != size:
                return None
            fp_pos = pos
        elif mi_pos is None:
            if kind == _MESSAGE_INTEGRITY:
                if length != 20:
                    return None
                mi_pos = pos
            else:
                seen[kind] = (pos, length)
        pos += 4 + length + (-length % 4)
    if pos != size:
        return None
    return mi_pos, fp_pos, seen


def _xor_mapped_address(addr: tuple, transaction_id: bytes) -> bytes | None:
    host, port = addr[0], addr[1]
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except (OSError, TypeError):
        return None  # not a plain address (a scoped IPv6 one, say): aioice answers it
    pad = _COOKIE_BYTES + transaction_id
    value = (port ^ (_COOKIE >> 16)).to_bytes(2, "big") + bytes(
        b ^ p for b, p in zip(packed, pad, strict=False)
    )
    family = b"\x00\x01" if len(packed) == 4 else b"\x00\x02"
    return _ATTR.pack(_XOR_MAPPED_ADDRESS, 4 + len(packed)) + family + value


def answer(protocol, data: bytes, addr: tuple) -> bool:
    """Handle a STUN datagram read from a parked socket the cheap way; False when it must
    go to aioice's `protocol.datagram_received` instead (nothing has been done then)."""
    if len(data) < 20:
        return False
    kind = (data[0] << 8) | data[1]
    if kind == _BINDING_RESPONSE:
        check = protocol.transactions.get(data[8:20])
        if not isinstance(check, _Sent):
            return False
        scanned = _scan(data)
        if (
            scanned is not None
            and scanned[0] is not None
            and _authentic(data, scanned[0], scanned[1], check.key)
        ):
            check.answered = True
        return True  # as aioice: an unauthenticated response to our check is ignored
    if kind != _BINDING_REQUEST:
        return False
    connection = protocol.receiver
    if connection._closing or not connection._early_checks_done:
        return False
    pair = connection._nominated.get(protocol.local_candidate.component)
    if (
        pair is None
        or pair.protocol is not protocol
        or pair.state != ice.CandidatePair.State.SUCCEEDED
        or (addr[0], addr[1]) != tuple(pair.remote_addr)
        or connection.remote_username is None
    ):
        return False
    scanned = _scan(data)
    if scanned is None:
        return False
    mi_pos, fp_pos, seen = scanned
    if mi_pos is None:
        return False
    role = _ICE_CONTROLLED if connection.ice_controlling else _ICE_CONTROLLING
    for attribute, (_, length) in seen.items():
        if attribute == _USERNAME or (attribute, length) in _EXPECTED[role]:
            continue
        if attribute in stun.ATTRIBUTES_BY_TYPE or attribute < 0x8000:
            # A role conflict, anything else aioice reads or should refuse (a
            # comprehension-required attribute it doesn't know), or a bad length.
            return False
    at, length = seen.get(_USERNAME, (0, -1))
    username = f"{connection.local_username}:{connection.remote_username}".encode()
    if length != len(username) or data[at + 4 : at + 4 + length] != username:
        return False
    key = connection.local_password.encode("utf8")
    if not _authentic(data, mi_pos, fp_pos, key):
        return False
    mapped = _xor_mapped_address(addr, data[8:20])
    if mapped is None:
        return False
    protocol.transport.sendto(_signed(b"\x01\x01\x00\x00" + data[4:20], mapped, key), addr)
    if _USE_CANDIDATE in seen:
        # What aioice's check_incoming does for a nominating check on a pair that
        # succeeded (Chromium sets USE-CANDIDATE on every check of the pair it selected).
        pair.remote_nominated = True
        pair.nominated = True
        connection.check_complete(pair)
    return True


class _Sent:
    """A consent check in flight: what aioice's protocol finds in `transactions` under its
    id, so that a response read there (an unparked socket) counts too."""

    __slots__ = ("answered", "key")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.answered = False

    def response_received(self, message: stun.Message, addr) -> None:
        if message.message_class == stun.Class.RESPONSE and message.check_message_integrity(
            self.key
        ):
            self.answered = True


class _Consent:
    """One connection's consent: its checks in flight, its failures, and its end."""

    __slots__ = ("connection", "failures", "in_flight", "lost", "sent_at", "template")

    def __init__(self, connection: ice.Connection, lost: asyncio.Future) -> None:
        self.connection = connection
        self.lost = lost
        self.failures = 0
        self.sent_at = 0.0
        self.in_flight: list[tuple] = []  # (protocol, transaction id, _Sent)
        self.template: tuple = (None, b"")  # (what it was built for, the request's body)

    def send(self) -> int:
        """One binding request on each nominated pair, as aioice's query_consent sends;
        the number sent."""
        connection = self.connection
        key = connection.remote_password.encode("utf8")
        for pair in connection._nominated.values():
            protocol = pair.protocol
            if protocol.transport is None or protocol.transport.is_closing():
                continue
            shape = (pair, connection.ice_controlling, connection.remote_username)
            if self.template[0] != shape:
                request = connection.build_request(pair, nominate=False)
                # No attribute depends on the transaction id.
                self.template = (shape, bytes(request)[20:])
            body = self.template[1]
            tid = os.urandom(12)
            sent = _Sent(key)
            protocol.transactions[tid] = sent
            self.in_flight.append((protocol, tid, sent))
            head = _HEADER.pack(_BINDING_REQUEST, 0, _COOKIE, tid)
            protocol.transport.sendto(_signed(head, body, key), pair.remote_addr)
        return len(self.in_flight)

    def judge(self) -> int:
        """After RETRY_RTO: count the checks unanswered (the number answered is returned)."""
        answered = 0
        for protocol, tid, sent in self.in_flight:
            protocol.transactions.pop(tid, None)
            if sent.answered:
                self.failures = 0
                answered += 1
            else:
                self.failures += 1
        self.in_flight.clear()
        return answered

    def forget(self) -> None:
        for protocol, tid, _ in self.in_flight:
            protocol.transactions.pop(tid, None)
        self.in_flight.clear()


class ConsentClock:
    """The consent checks of one event loop's connections, on one timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._due: dict[int, list[tuple[_Consent, bool]]] = {}  # grid step -> (consent, judge?)
        self.sent = 0  # checks sent
        self.answered = 0  # checks answered in time
        self.lost = 0  # connections closed for want of consent
        self._timer: asyncio.TimerHandle | None = None
        self._next_step: int | None = None

    def start(self, consent: _Consent) -> None:
        self._schedule_send(consent)

    def stop(self, consent: _Consent) -> None:
        consent.forget()
        consent.connection = None  # marks it gone for the steps it is still listed in

    def _at(self, when: float, consent: _Consent, judge: bool) -> None:
        step = math.ceil(when / CONSENT_GRID)
        self._due.setdefault(step, []).append((consent, judge))
        if self._next_step is None or step < self._next_step:
            if self._timer is not None:
                self._timer.cancel()
            self._arm(step)

    def _arm(self, step: int) -> None:
        self._next_step = step
        self._timer = self.loop.call_at(step * CONSENT_GRID, self._run)

    def _schedule_send(self, consent: _Consent, since: float | None = None) -> None:
        """The next check, CONSENT_INTERVAL x 0.8-1.2 after `since` (default: now)."""
        now = self.loop.time()
        since = now if since is None else since
        delay = ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random())
        self._at(max(now, since + delay), consent, False)

    def _run(self) -> None:
        self._timer = None
        self._next_step = None
        now_step = math.floor(self.loop.time() / CONSENT_GRID + 1e-6)
        for step in sorted(s for s in self._due if s <= now_step):
            for consent, judge in self._due.pop(step):
                if consent.connection is None:
                    continue
                try:
                    self._step(consent, judge)
                except Exception:  # one connection's fault stops nobody else's checks
                    log.exception("a consent check failed; the next one is scheduled")
                    consent.forget()
                    self._schedule_send(consent)
        if self._due:
            self._arm(min(self._due))

    def _step(self, consent: _Consent, judge: bool) -> None:
        if consent.connection._closing:
            return
        if judge:
            self.answered += consent.judge()
            if consent.failures >= ice.CONSENT_FAILURES:
                self.lost += 1
                if not consent.lost.done():
                    consent.lost.set_result(None)
                return
            # aioice waits CONSENT_INTERVAL x 0.8-1.2 from the answer (from the timeout,
            # when there was none); an answer's exact moment is not kept, so from the send.
            self._schedule_send(consent, consent.sent_at)
        else:
            consent.sent_at = self.loop.time()
            self.sent += consent.send()
            self._at(consent.sent_at + stun.RETRY_RTO, consent, True)


_clocks: dict[asyncio.AbstractEventLoop, ConsentClock] = {}


def clock() -> ConsentClock:
    loop = asyncio.get_running_loop()
    found = _clocks.get(loop)
    if found is None:
        for old in [k for k in _clocks if k.is_closed()]:
            del _clocks[old]
        found = _clocks[loop] = ConsentClock(loop)
    return found


def consent_on_the_clock(connection: ice.Connection) -> None:
    """Replace aioice's consent task for this connection by the event loop's ConsentClock.
    Must be called before the connection's connect() starts the task."""

    async def query_consent() -> None:
        assert connection.remote_password is not None
        the_clock = clock()
        consent = _Consent(connection, the_clock.loop.create_future())
        the_clock.start(consent)
        try:
            await consent.lost
        finally:
            the_clock.stop(consent)
        connection._query_consent_task = None
        await connection.close()

    connection.query_consent = query_consent
