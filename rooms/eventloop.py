"""The rooms app's one door onto the server's event loop, and its background tasks.

Services run in sync threads (database_sync_to_async); aiortc and timed work run on the
event loop. `bind()` remembers the loop (the room consumer and the media hub call it);
`call_soon()` hops onto it from any thread; `spawn()` runs a coroutine in the background.
"""

import asyncio
import contextvars

_loop: asyncio.AbstractEventLoop | None = None
_running: set[asyncio.Task] = set()


def bind(loop: asyncio.AbstractEventLoop) -> None:
    global _loop
    _loop = loop


def current() -> asyncio.AbstractEventLoop | None:
    """The bound loop while it runs; None in a management command or a plain test."""
    loop = _loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


def call_soon(callback, *args) -> bool:
    """Run `callback(*args)` on the bound loop, from any thread. False when no loop runs."""
    loop = current()
    if loop is None:
        return False
    # A fresh context: the caller's belongs to asgiref's sync thread, and a task that
    # inherited it could not call back into that thread.
    loop.call_soon_threadsafe(callback, *args, context=contextvars.Context())
    return True


def spawn(coro) -> asyncio.Task:
    """Run a coroutine in the background on the running loop, keeping a reference to the
    task until it ends (asyncio keeps only weak ones)."""
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task
