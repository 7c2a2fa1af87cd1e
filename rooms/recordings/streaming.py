"""A stored file as an HTTP response, with byte ranges (RFC 9110 section 14), for the
replay's <audio>: browsers ask for the end of an Ogg file to learn its length, and for
the middle of it to seek.

One range per request: a request for several is answered with the whole file, as RFC 9110
allows, and so is a Range header that doesn't parse. A range that parses but lies past the
end of the file gets 416.
"""

import re

from asgiref.sync import sync_to_async
from django.core.files.storage import Storage
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

CHUNK = 64 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)
# Longer numbers than this are past the end of any file (and int() refuses very long ones).
_DIGITS_MAX = 18


class Unsatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The first and last byte (inclusive) that a Range header asks for, of a file of
    `size` bytes; None to send the whole file. Raises Unsatisfiable for a range that starts
    past the end."""
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = (_number(group) for group in match.groups())
    if first is None and last is None:
        return None
    if first is None:  # "bytes=-500": the last 500 bytes
        if last == 0 or size == 0:
            raise Unsatisfiable
        return max(size - last, 0), size - 1
    if last is not None and last < first:
        return None  # not a valid range: ignored
    if first >= size:
        raise Unsatisfiable
    return first, size - 1 if last is None else min(last, size - 1)


def _number(digits: str) -> int | None:
    if not digits:
        return None
    return int(digits) if len(digits) <= _DIGITS_MAX else 10**_DIGITS_MAX


def file_response(
    request: HttpRequest, storage: Storage, name: str, *, content_type: str
) -> HttpResponseBase:
    """The stored file `name`, whole (200) or the range asked for (206), or 416. Http404
    when it isn't there. The caller checks who may have it; the response may be cached by
    the browser only."""
    try:
        size = storage.size(name)
    except OSError:
        raise Http404("No such file") from None
    # If-Range names a version of the file; with no validators of ours to compare it to,
    # the safe answer is the whole file.
    header = "" if "If-Range" in request.headers else request.headers.get("Range", "")
    try:
        wanted = parse_range(header, size)
    except Unsatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _headed(response)
    start, end = wanted if wanted is not None else (0, size - 1)
    length = max(end - start + 1, 0)
    status = 200 if wanted is None else 206
    if request.method == "HEAD":
        response = HttpResponse(status=status, content_type=content_type)
    else:
        # Daphne reads a synchronous iterator whole into memory before it sends a byte
        # (StreamingHttpResponse.__aiter__); under ASGI the chunks come asynchronously.
        chunks = AsyncChunks if isinstance(request, ASGIRequest) else Chunks
        body = chunks(storage.open(name, "rb"), start, length)
        response = StreamingHttpResponse(body, status=status, content_type=content_type)
    response["Content-Length"] = str(length)
    if wanted is not None:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _headed(response)


def _headed(response: HttpResponseBase) -> HttpResponseBase:
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private"
    return response


class _FileBody:
    """`length` bytes of an open file from `start`, for a response to send in chunks. The
    response closes the file (StreamingHttpResponse calls a body's close())."""

    def __init__(self, file, start: int, length: int):
        self.file = file
        self.start = start
        self.length = length

    def close(self) -> None:
        self.file.close()


class Chunks(_FileBody):
    def __iter__(self):
        self.file.seek(self.start)
        left = self.length
        while left > 0:
            chunk = self.file.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


class AsyncChunks(_FileBody):
    """The same, each chunk read in a worker thread (a storage may be remote). No
    __iter__: StreamingHttpResponse takes any body it can iterate as synchronous."""

    async def __aiter__(self):
        await sync_to_async(self.file.seek)(self.start)
        left = self.length
        while left > 0:
            chunk = await sync_to_async(self.file.read)(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
