"""When the database is away (stopped, restarting, unreachable): a clear, retryable answer
and nothing lost.

- Pages answer 503 with a page that retries by itself (`DatabaseDownMiddleware`), not a
  500 and a traceback. Django turns an exception in any middleware or view into a 500
  response where it is raised, so the exception is noted on the request by a
  `got_request_exception` receiver and the outermost middleware swaps the response.
- django.request logs such a request as one warning line (`DatabaseDownFilter`).
- The room socket answers a message it couldn't carry out with the error "unavailable" and
  a socket it couldn't admit closes with Close.UNAVAILABLE (rooms.consumers); the room page
  shows "Reconnecting…" and tries again by itself.
- Work that must happen even so (a leaving socket's leave) waits for the database to come
  back (`until_done`).
"""

import asyncio
import logging
import sys
import time

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

# What Django raises when it can't reach the database (psycopg's errors, wrapped): a
# refused or dropped connection, a server shutting down, a connection closed under us.
DATABASE_DOWN = (OperationalError, InterfaceError)

RETRY_AFTER = 5  # seconds, in the 503's Retry-After and the page's own refresh


def database_down(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_DOWN)


# --- Pages ------------------------------------------------------------------------------


@receiver(got_request_exception)
def _note_database_down(sender, request=None, **kwargs) -> None:
    if request is not None and database_down(sys.exc_info()[1]):
        request.podium_database_down = True


def unavailable_response() -> HttpResponse:
    """The 503 page: no database, no request context (both may be what failed)."""
    response = HttpResponse(render_to_string("site/unavailable.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # said once, as a warning, by DatabaseDownFilter
    return response


class DatabaseDownMiddleware:
    """First in MIDDLEWARE: a request that failed because the database is away gets the 503
    page instead of the 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, "podium_database_down", False):
            return unavailable_response()
        return response


class DatabaseDownFilter(logging.Filter):
    """On django.request: a request failed by the database being away is one warning line,
    not an error with a traceback (the traceback says nothing the line doesn't)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if database_down(error):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "%s: the database is unavailable (%s)"
            path = getattr(getattr(record, "request", None), "path", "?")
            record.args = (path, _first_line(error))
        return True


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# --- Work that must not be lost ---------------------------------------------------------

GIVE_UP_AFTER = 600.0  # seconds of outage after which the work is logged as lost
_later: set[asyncio.Task] = set()


async def until_done(call, *, what: str, every: float = 1.0, give_up: float = GIVE_UP_AFTER):
    """Await `call()` (a coroutine function) until it succeeds, retrying every `every`
    seconds while the database is away; other errors propagate. Returns its result, or None
    if the database stayed away for `give_up` seconds (logged as an error)."""
    started = time.monotonic()
    failures = 0
    while True:
        try:
            result = await call()
        except DATABASE_DOWN as exc:
            failures += 1
            if failures == 1:
                _warn(what, exc)
            if time.monotonic() - started > give_up:
                log.error("%s: given up after %.0f s without the database", what, give_up)
                return None
            await asyncio.sleep(every)
            continue
        if failures:
            log.info("%s: done after %.1f s", what, time.monotonic() - started)
        return result


async def now_or_later(call, *, what: str) -> None:
    """`await call()` now; if the database is away, keep retrying it in the background
    (`until_done`), so that a caller about to end (a closing socket, which Daphne gives
    only seconds) doesn't take the work with it."""
    try:
        await call()
    except DATABASE_DOWN:
        task = asyncio.ensure_future(until_done(call, what=what))
        _later.add(task)
        task.add_done_callback(_later.discard)


def _warn(what: str, exc: BaseException) -> None:
    log.warning("%s: the database is unavailable (%s); retrying", what, _first_line(exc))
