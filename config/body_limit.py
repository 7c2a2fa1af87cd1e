"""A limit on request bodies at the server, before anything is buffered.

Daphne (4.2) has none: Twisted spools a body to a temporary file as it arrives, and
Daphne then reads the whole file into its application queue at once, so two
unauthenticated 300 MiB POSTs grew the server by 257 MiB before Django, whose
DATA_UPLOAD_MAX_MEMORY_SIZE only bounds form parsing, saw a byte. `install()` makes
Daphne's request refuse a body over MAX_REQUEST_BODY with 413 and close the connection:
at once when Content-Length says so, else (chunked) when the bytes received pass it. This
is how Twisted answers a malformed request (`HTTPChannel._respondToBadRequestAndDisconnect`);
the response is written raw because no request has been processed yet.

MAX_REQUEST_BODY (bytes) is a setting; the default leaves room for the largest upload a
page takes (an avatar, AVATAR_MAX_BYTES) and its form.
"""

import logging

from django.conf import settings

log = logging.getLogger(__name__)

_BODY = b"<!DOCTYPE html><title>Too large</title><p>That request is too large.</p>\n"
_RESPONSE = (
    b"HTTP/1.1 413 Payload Too Large\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n\r\n" + _BODY
)


def _limit() -> int:
    return settings.MAX_REQUEST_BODY


def _refuse(request) -> None:
    if getattr(request, "_podium_refused", False):
        return
    request._podium_refused = True
    log.info("refused a request body over %s bytes from %s", _limit(), request.client_addr)
    transport = request.channel.transport
    transport.write(_RESPONSE)
    transport.loseConnection()


def install() -> None:
    """Patch Daphne's WebRequest (idempotent)."""
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "_podium_body_limit", False):
        return
    got_length = WebRequest.gotLength
    handle_chunk = WebRequest.handleContentChunk

    def gotLength(self, length):
        self._podium_received = 0
        if length is not None and length > _limit():
            _refuse(self)
            length = 0  # nothing of it is kept
        got_length(self, length)

    def handleContentChunk(self, data):
        if getattr(self, "_podium_refused", False):
            return
        self._podium_received = getattr(self, "_podium_received", 0) + len(data)
        if self._podium_received > _limit():
            _refuse(self)
            return
        handle_chunk(self, data)

    def process(self):
        if getattr(self, "_podium_refused", False):
            return  # answered already; the connection is closing
        return original_process(self)

    original_process = WebRequest.process
    WebRequest.gotLength = gotLength
    WebRequest.handleContentChunk = handleContentChunk
    WebRequest.process = process
    WebRequest._podium_body_limit = True
