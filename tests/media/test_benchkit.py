"""media/benchkit.py, what the two benchmarks share: percentile and the JSON-lines channel."""

import asyncio
import subprocess
import sys

import pytest

from media.benchkit import BenchError, Channel, RemoteError, percentile


def test_percentile_is_nearest_rank():
    values = [5, 1, 4, 2, 3]
    assert percentile(values, 50) == 3
    assert percentile(values, 99) == 5
    assert percentile(values, 1) == 1
    assert percentile([], 99) == 0.0


def _pair(handler):
    """Two channels wired to each other in memory: (the caller's end, the handler's end)."""
    to_caller, to_handler = asyncio.StreamReader(), asyncio.StreamReader()

    def writer(reader):
        async def write(data: bytes) -> None:
            reader.feed_data(data)

        return write

    caller = Channel(to_caller, writer(to_handler))
    answerer = Channel(to_handler, writer(to_caller), handler)
    return caller, answerer


@pytest.mark.asyncio
async def test_a_request_gets_its_reply_and_a_failure_its_error():
    async def handler(message):
        if message["op"] == "double":
            return message["n"] * 2
        raise ValueError("no such op")

    caller, answerer = _pair(handler)
    tasks = [asyncio.ensure_future(caller.serve()), asyncio.ensure_future(answerer.serve())]
    try:
        assert await caller.request("double", 5, n=21) == 42
        with pytest.raises(RemoteError, match="ValueError: no such op"):
            await caller.request("halve", 5, n=1)
    finally:
        for task in tasks:
            task.cancel()


@pytest.mark.asyncio
async def test_waiting_requests_fail_when_the_other_end_goes_away():
    caller, _ = _pair(None)
    serving = asyncio.ensure_future(caller.serve())
    waiting = asyncio.ensure_future(caller.request("anything", 5))
    await asyncio.sleep(0)
    caller.reader.feed_eof()
    with pytest.raises(BenchError, match="went away"):
        await waiting
    await serving


def test_the_signaling_client_processes_load_neither_aiortc_nor_django():
    code = (
        "import sys, rooms.bench.clients; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiortc', 'django'}))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
