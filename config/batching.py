"""Many callers' database work in one trip to the ORM thread.

Every ORM call of a websocket consumer runs on one thread (database_sync_to_async), one
call after another. In a join storm each socket's call waits for all those before it, and
each call pays its own hop: a thread switch, the connection's health check, and one round
trip to the database per query. A Batcher gathers the requests that arrive while its
previous batch runs and hands them to one function in one hop, which can answer them all
with a query per kind instead of a query per request.

It adds no delay: a request that finds the Batcher idle goes at once, alone; a batch forms
only while the ORM thread is busy, which is exactly when waiting was going to happen.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from channels.db import database_sync_to_async

log = logging.getLogger(__name__)

BATCH_LIMIT = 64


class Batcher:
    """`await batcher.submit(item)` returns what `run_batch` answered for `item`, or raises
    the exception it answered with.

    `run_batch(items)` runs on the ORM thread and returns one answer per item, in order: a
    value, or an exception instance for that item alone. When an exception escapes it, each
    item of the batch is run again alone, so that it reaches only the caller it belongs to
    (run_batch must therefore be safe to repeat for an item).

    A caller cancelled before its batch starts is left out of it. One cancelled while its
    batch runs, or after its answer came, has been served all the same;
    `abandoned(item, answer)`, when given, is called on the event loop with what it was
    served, so that it can be undone."""

    def __init__(
        self,
        run_batch: Callable[[list[Any]], Sequence[Any]],
        *,
        abandoned: Callable[[Any, Any], None] | None = None,
        limit: int = BATCH_LIMIT,
    ) -> None:
        self._run = database_sync_to_async(run_batch)
        self._abandoned = abandoned
        self._limit = limit
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._draining: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (each test has its own): what the old one left can't run.
            self._loop, self._pending, self._draining = loop, [], None
        future = loop.create_future()
        self._pending.append((item, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.ensure_future(self._drain())
        try:
            return await future
        except asyncio.CancelledError:
            # Cancelled after its answer came but before this task resumed: it was served.
            if future.done() and not future.cancelled() and future.exception() is None:
                self._undo(item, future.result())
            raise

    async def _drain(self) -> None:
        while self._pending:
            batch = [(i, f) for i, f in self._pending[: self._limit] if not f.cancelled()]
            del self._pending[: self._limit]
            if batch:
                await self._serve(batch)

    async def _serve(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            answers = await self._run([item for item, _ in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(answers)} answers")
        except Exception as exc:
            if len(batch) > 1:
                # One request's fault must not fail the others (nor leave half a batch
                # done): serve each alone, so the error reaches only its own caller.
                log.warning("a batch of %d failed (%r); serving each alone", len(batch), exc)
                for pair in batch:
                    await self._serve([pair])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (item, future), answer in zip(batch, answers, strict=True):
            if future.cancelled():
                if not isinstance(answer, BaseException):
                    self._undo(item, answer)
            elif isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    def _undo(self, item: Any, answer: Any) -> None:
        if self._abandoned is None:
            return
        try:
            self._abandoned(item, answer)
        except Exception:
            log.exception("undoing an abandoned batch answer failed")
