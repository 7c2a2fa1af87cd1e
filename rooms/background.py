import asyncio

_running: set[asyncio.Task] = set()


def spawn(coro) -> asyncio.Task:
    """Run a coroutine in the background on the current loop, keeping a reference to the
    task until it ends (asyncio keeps only weak ones)."""
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task
