"""Listeners at rest: their ICE sockets read in one batch every POLL seconds.

A connected listener who may not publish sends the server nothing it acts on quickly:
RTCP receiver reports (which the forwarder has no use for) and STUN consent checks and
responses (RFC 7675: answered within a few hundred milliseconds is plenty). Read the usual
way, each such datagram wakes the event loop on its own, about four a second per aiortc
listener; that wake-up, not the datagram, was most of the idle cost (docs/benchmarks.md).

So once a listener's route is known, the forwarder parks its nominated ICE socket here:
the socket leaves the event loop's selector for an epoll set of its own, which one timer
reads every POLL seconds (a single epoll_wait for all parked sockets, then each ready
socket drained). On Linux a socket filter makes the kernel drop the RTP and RTCP that
reach it (a member who may not publish sends only receiver reports, which the forwarder
has no use for). What is read is handled as before, the usual STUN by media/consent.py,
and RTP or RTCP that got in anyway is dropped before aiortc parses it. A member who may publish
(on stage and not muted) is unparked at once: the microphone's packets are read the moment
they arrive.

Works with asyncio's selector event loops (the default on Linux, and the one Daphne's
asyncio reactor runs on); on any other loop nothing is parked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import select
import socket
import sys
from asyncio.selector_events import BaseSelectorEventLoop

from media import consent

log = logging.getLogger(__name__)

POLL = 0.04  # seconds a parked socket's datagram may wait: far below STUN's 500 ms RTO
MAX_READS = 64  # datagrams drained from one socket per poll; the rest wait for the next


def _kernel_filter():
    """A classic BPF socket filter (Linux's SO_ATTACH_FILTER) that drops RTP and RTCP, by
    RFC 7983's first byte, before they are queued: the datagram a parked listener's
    receiver reports make never wakes anyone. The program reads the payload's first byte
    (offset 8, after the UDP header, which is where a UDP socket's filter starts) and
    keeps everything else, STUN and DTLS. None where it can't be built."""
    if not sys.platform.startswith("linux"):
        return None, None

    class Instruction(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_uint16),
            ("jt", ctypes.c_uint8),
            ("jf", ctypes.c_uint8),
            ("k", ctypes.c_uint32),
        ]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Instruction))]

    code = [
        (0x30, 0, 0, 8),  # ld byte [8]: the payload's first byte
        (0x35, 0, 2, 128),  # jge 128 ? next : keep
        (0x35, 1, 0, 192),  # jge 192 ? keep : drop
        (0x06, 0, 0, 0),  # drop: RTP or RTCP
        (0x06, 0, 0, 0x40000),  # keep the whole datagram
    ]
    instructions = (Instruction * len(code))(*[Instruction(*i) for i in code])
    program = Program(len(code), ctypes.cast(instructions, ctypes.POINTER(Instruction)))
    # The kernel copies the instructions at setsockopt; they must only live until then,
    # and live here for the process's life.
    return instructions, ctypes.string_at(ctypes.addressof(program), ctypes.sizeof(program))


_FILTER_CODE, _FILTER = _kernel_filter()
_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
_SO_DETACH_FILTER = getattr(socket, "SO_DETACH_FILTER", 27)


class Parking:
    """The parked sockets of one event loop, and the timer that reads them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._parked: dict[int, tuple] = {}  # fd -> (transport, peer)
        self._timer: asyncio.TimerHandle | None = None
        self.dropped = 0  # RTP/RTCP datagrams from non-publishing members, dropped here
        self.refused = 0  # datagrams aioice raised on
        self.answered = 0  # STUN handled by media/consent.py rather than aioice
        self.filtered = 0  # sockets parked with the kernel filter that drops RTP and RTCP

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, transport, peer) -> bool:
        """Move a datagram transport's socket here; False if it can't be (then it stays a
        normal reader)."""
        fd = transport._sock_fd  # private: asyncio's selector transports
        if fd in self._parked or transport.is_closing():
            return fd in self._parked
        self.loop._remove_reader(fd)  # private: what transport.pause_reading() calls
        self._epoll.register(fd, select.EPOLLIN)
        self._parked[fd] = (transport, peer)
        if _FILTER is not None:
            try:
                transport._sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, _FILTER)
                self.filtered += 1
            except OSError:
                pass  # then RTP and RTCP are dropped in _drain, as before
        if self._timer is None:
            self._timer = self.loop.call_later(POLL, self._poll)
        return True

    def unpark(self, transport) -> None:
        """Back to the event loop's own selector (a member who may now publish)."""
        fd = transport._sock_fd
        if self._parked.pop(fd, None) is None:
            return
        self._epoll.unregister(fd)
        if not transport.is_closing():
            self._unfilter(transport)
            self.loop._add_reader(fd, transport._read_ready)

    @staticmethod
    def _unfilter(transport) -> None:
        if _FILTER is not None:
            with contextlib.suppress(OSError):  # it had none
                transport._sock.setsockopt(socket.SOL_SOCKET, _SO_DETACH_FILTER, 0)

    def forget(self, transport) -> None:
        """The socket is closing: stop watching it (asyncio closes the descriptor next)."""
        fd = transport._sock_fd
        if self._parked.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._epoll.close()
        self._parked.clear()

    def _poll(self) -> None:
        self._timer = None
        try:
            ready = self._epoll.poll(0)
            for fd, _ in ready:
                entry = self._parked.get(fd)
                if entry is not None:
                    self._drain(*entry)
        except Exception:
            log.exception("reading the parked listener sockets failed")
        finally:
            if self._parked:
                self._timer = self.loop.call_later(POLL, self._poll)

    def _drain(self, transport, peer) -> None:
        sock = transport._sock
        protocol = transport._protocol  # the aioice StunProtocol
        for _ in range(MAX_READS):
            if transport.is_closing() or transport._sock_fd not in self._parked:
                return
            try:
                data, addr = sock.recvfrom(transport.max_size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
                return
            first = data[0] if data else 255
            if 127 < first < 192 and not peer.publishing:  # RTP or RTCP (RFC 7983)
                self.dropped += 1
                continue
            try:
                if first < 2 and consent.answer(protocol, data, addr):  # STUN, the usual
                    self.answered += 1
                    continue
                protocol.datagram_received(data, addr)
            except Exception:
                # aioice raises on some malformed STUN (a short PRIORITY is a struct.error):
                # that datagram is lost, and the other parked sockets are still read.
                self.refused += 1
                log.debug("a datagram from %s broke aioice", addr, exc_info=True)
            if peer.publishing:
                # Promoted while we read: the rest is for the microphone, read it now.
                return


_parkings: dict[asyncio.AbstractEventLoop, Parking] = {}


def parking() -> Parking | None:
    """This event loop's Parking, or None where sockets can't be parked."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, BaseSelectorEventLoop) or not hasattr(select, "epoll"):
        return None
    found = _parkings.get(loop)
    if found is None or found.loop.is_closed():
        for old in [k for k in _parkings if k.is_closed()]:
            _parkings.pop(old).close()
        found = _parkings[loop] = Parking(loop)
    return found
