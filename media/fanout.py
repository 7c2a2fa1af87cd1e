"""The per-listener part of the fan-out: SRTP protect and send, for every listener of a
slot that expects one payload type (a "group").

Two implementations with one interface, `set(targets, keep)` and `send(header, payload,
skip) -> copies`:

- `media._fanout.Group`, a small C extension (media/_fanout.c, built by `pip install -e .`
  through setup.py): the whole loop below Python, with the GIL released;
- `PythonGroup`: pylibsrtp's `Session.protect` and the socket's `sendto` per listener.

They send the same bytes (tests/media/test_fanout.py checks it datagram for datagram): the
C loop calls the very srtp_protect that pylibsrtp's cffi module holds, on the same
sessions aiortc negotiated. Which one the forwarder uses is chosen once per process: the
native one when it was built, unless PODIUM_FANOUT=python says otherwise; the choice is
logged once.
"""

from __future__ import annotations

import logging
import os

import pylibsrtp
from pylibsrtp._binding import ffi, lib

log = logging.getLogger(__name__)

try:
    from media import _fanout
except ImportError as exc:  # no C compiler or Python headers at install time
    _fanout = None
    _missing = str(exc)
else:
    _missing = ""

_PROTECT = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))


def srtp_address(session: pylibsrtp.Session) -> int:
    """The srtp_t inside a pylibsrtp Session (private: its cffi `_srtp`, pylibsrtp 1.0)."""
    return int(ffi.cast("uintptr_t", session._srtp[0]))


class PythonGroup:
    """The fallback: the same work as media._fanout.Group, a Python call per listener."""

    def __init__(self) -> None:
        self._targets: list[tuple] = []
        self.protect_errors = 0
        self.send_errors = 0

    def set(self, targets, keep) -> None:
        # keep is (session, socket) per target: what the native group needs kept alive is
        # what this one calls.
        self._targets = [
            (session.protect, sock.sendto, (host, port), member)
            for (_, _, host, port, member), (session, sock) in zip(targets, keep, strict=True)
        ]

    def __len__(self) -> int:
        return len(self._targets)

    def send(self, header, payload, skip: int) -> int:
        data = bytes(header) + payload
        sent = 0
        for protect, sendto, address, member in self._targets:
            if member == skip:
                continue
            try:
                packet = protect(data)
            except pylibsrtp.Error:
                self.protect_errors += 1  # a replay-window refusal: this copy is skipped
                continue
            try:
                sendto(packet, address)
            except OSError:
                self.send_errors += 1  # a full send buffer drops the copy, as in C
                continue
            sent += 1
        return sent


def native_available() -> bool:
    return _fanout is not None


_chosen: str | None = None


def mode() -> str:
    """ "native" or "python": what new groups are, decided (and logged) on first use."""
    global _chosen
    if _chosen is None:
        wanted = os.environ.get("PODIUM_FANOUT", "auto")
        if wanted == "python":
            _chosen = "python"
            log.info("media: pure-Python fan-out (PODIUM_FANOUT=python)")
        elif _fanout is None:
            _chosen = "python"
            log.warning(
                "media: pure-Python fan-out; the native one (media._fanout) was not built: %s. "
                "Reinstall with a C compiler and Python headers (pip install -e .) for it.",
                _missing,
            )
        else:
            _chosen = "native"
            log.info("media: native fan-out (media._fanout: SRTP and send in one C call)")
    return _chosen


def set_mode(value: str | None) -> None:
    """Tests run both paths: "native", "python", or None to choose again from the setting."""
    global _chosen
    if value == "native" and _fanout is None:
        raise RuntimeError(f"media._fanout is not built: {_missing}")
    _chosen = value


def new_group():
    if mode() == "native":
        return _fanout.Group(_PROTECT)
    return PythonGroup()
