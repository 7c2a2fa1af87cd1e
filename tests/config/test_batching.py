"""config/batching.py: requests that queue for the ORM thread go in one hop, on the real
database_sync_to_async thread."""

import asyncio
import threading

import pytest

from config.batching import Batcher


class Recorder:
    """A run_batch that records its batches and can be held while one runs."""

    def __init__(self, answer=lambda item: item * 10):
        self.batches: list[list] = []
        self.threads: set[int] = set()
        self.hold = threading.Event()
        self.hold.set()
        self.started = threading.Event()
        self.answer = answer

    def __call__(self, items: list) -> list:
        self.threads.add(threading.get_ident())
        self.batches.append(list(items))
        self.started.set()
        self.hold.wait(5)
        return [self.answer(item) for item in items]


async def _started(recorder: Recorder) -> None:
    while not recorder.started.is_set():
        await asyncio.sleep(0.005)


@pytest.mark.asyncio
async def test_a_lone_request_goes_at_once_alone():
    recorder = Recorder()
    batcher = Batcher(recorder)
    assert await batcher.submit(4) == 40
    assert recorder.batches == [[4]]
    assert threading.get_ident() not in recorder.threads


@pytest.mark.asyncio
async def test_requests_that_arrive_while_a_batch_runs_go_together_in_order():
    recorder = Recorder()
    recorder.hold.clear()
    batcher = Batcher(recorder)
    first = asyncio.ensure_future(batcher.submit(1))
    await _started(recorder)
    rest = [asyncio.ensure_future(batcher.submit(n)) for n in range(2, 12)]
    await asyncio.sleep(0.05)
    recorder.hold.set()
    assert await first == 10
    assert [await r for r in rest] == [n * 10 for n in range(2, 12)]
    assert recorder.batches == [[1], list(range(2, 12))]


@pytest.mark.asyncio
async def test_a_batch_is_at_most_limit_long():
    recorder = Recorder()
    recorder.hold.clear()
    batcher = Batcher(recorder, limit=4)
    first = asyncio.ensure_future(batcher.submit(0))
    await _started(recorder)
    rest = [asyncio.ensure_future(batcher.submit(n)) for n in range(1, 10)]
    recorder.hold.set()
    await asyncio.gather(first, *rest)
    assert [len(b) for b in recorder.batches] == [1, 4, 4, 1]


@pytest.mark.asyncio
async def test_an_exception_answers_its_own_request_only():
    def answer(item):
        return ValueError(f"bad {item}") if item == 2 else item

    batcher = Batcher(Recorder(answer))
    results = await asyncio.gather(*(batcher.submit(n) for n in (1, 2, 3)), return_exceptions=True)
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad 2"


@pytest.mark.asyncio
async def test_cancelled_before_its_batch_is_left_out_and_cancelled_during_is_undone():
    abandoned = []
    recorder = Recorder()
    recorder.hold.clear()
    batcher = Batcher(recorder, abandoned=lambda item, answer: abandoned.append((item, answer)))
    running = asyncio.ensure_future(batcher.submit(1))
    await _started(recorder)
    waiting = asyncio.ensure_future(batcher.submit(2))
    kept = asyncio.ensure_future(batcher.submit(3))
    await asyncio.sleep(0.01)
    waiting.cancel()  # before its batch starts: never run
    running.cancel()  # while its batch runs: served, then undone
    recorder.hold.set()
    assert await kept == 30
    assert recorder.batches == [[1], [3]]
    assert abandoned == [(1, 10)]
    assert running.cancelled() and waiting.cancelled()


def test_a_new_event_loop_is_served_whatever_an_old_one_left_pending():
    batcher = Batcher(Recorder())
    old = asyncio.new_event_loop()
    # What a test's loop can leave behind when it closes: a drain that never finished and
    # a request still waiting.
    batcher._loop, batcher._draining = old, old.create_future()
    batcher._pending = [(2, old.create_future())]
    old.close()

    fresh = asyncio.new_event_loop()
    try:
        assert fresh.run_until_complete(asyncio.wait_for(batcher.submit(3), 5)) == 30
    finally:
        fresh.close()


@pytest.mark.asyncio
async def test_a_request_that_breaks_its_batch_fails_alone_and_the_others_are_served():
    def answer(item):
        if item == "poison":
            raise OverflowError("no such number")
        return item.upper()

    recorder = Recorder(answer)
    recorder.hold.clear()
    batcher = Batcher(recorder)
    first = asyncio.ensure_future(batcher.submit("first"))
    await _started(recorder)
    batch = [asyncio.ensure_future(batcher.submit(x)) for x in ("a", "poison", "b")]
    recorder.hold.set()
    assert await first == "FIRST"
    results = await asyncio.gather(*batch, return_exceptions=True)
    assert results[0] == "A" and results[2] == "B"
    assert isinstance(results[1], OverflowError)
    assert recorder.batches == [["first"], ["a", "poison", "b"], ["a"], ["poison"], ["b"]]


@pytest.mark.asyncio
async def test_a_caller_cancelled_after_its_answer_came_is_undone(monkeypatch):
    abandoned = []
    batcher = Batcher(Recorder(), abandoned=lambda item, answer: abandoned.append((item, answer)))
    serve, waiting = batcher._serve, {}

    async def serve_then_cancel(batch):
        await serve(batch)
        waiting["task"].cancel()  # answered, and the task has not run again yet

    monkeypatch.setattr(batcher, "_serve", serve_then_cancel)
    waiting["task"] = asyncio.ensure_future(batcher.submit(7))
    with pytest.raises(asyncio.CancelledError):
        await waiting["task"]
    assert abandoned == [(7, 70)]
