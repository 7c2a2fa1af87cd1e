"""What the two benchmarks share (media/bench/ for the forwarder, rooms/bench/ for signaling):
a percentile, readings from /proc, CPU pinning, and the JSON-lines channel between a
coordinator and the child processes it starts. See docs/benchmarks.md.

Standard library only and no other Podium module: the signaling benchmark's client processes
load this one file without the media package (rooms/bench/clients.py says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

HOST = "127.0.0.1"  # every socket of a benchmark is on this address
LINE_LIMIT = 1 << 28  # the largest JSON line a channel accepts

Handler = Callable[[dict], Awaitable[object]]


class BenchError(Exception):
    """The benchmark could not run to the end; the message says where."""


class RemoteError(Exception):
    """A request failed in the other process."""


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


# --- Readings from /proc ----------------------------------------------------------------------


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s(cpus: list[int] | None = None) -> float:
    """CPU seconds the whole machine (or only the CPUs `cpus`) has been busy, from
    /proc/stat."""
    lines = Path("/proc/stat").read_text().splitlines()
    wanted = {"cpu"} if cpus is None else {f"cpu{c}" for c in cpus}
    busy = 0
    for line in lines:
        name, *values = line.split()
        if name in wanted:
            fields = [int(x) for x in values]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
            busy += sum(fields[:8]) - idle
    return busy / os.sysconf("SC_CLK_TCK")


def socket_drops(pid: int | str = "self") -> tuple[int, int]:
    """Datagrams the kernel dropped (full receive buffer) on UDP sockets: (this process's
    sockets, every other socket on the machine), from the drops column of /proc/net/udp."""
    mine: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                mine.add(target[8:-1])
    own = other = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 13:
                    if fields[9] in mine:
                        own += int(fields[-1])
                    else:
                        other += int(fields[-1])
    return own, other


def udp_drops(pids: list[int]) -> list[int]:
    """Datagrams the kernel dropped (full receive buffer) on each process's UDP sockets, in
    the order of `pids`: socket_drops for several processes, reading /proc/net/udp once."""
    owner: dict[str, int] = {}
    for k, pid in enumerate(pids):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        owner[target[8:-1]] = k
    drops = [0] * len(pids)
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 13 and fields[9] in owner:
                    drops[owner[fields[9]]] += int(fields[-1])
    return drops


# --- CPU affinity ------------------------------------------------------------------------------


def _threads(pid: int | str) -> list[int]:
    return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]


def pin(pid: int | str, cpus: list[int]) -> None:
    """Restrict every thread of a process to `cpus` (os.sched_setaffinity acts on one
    thread; threads started later inherit it from the thread that starts them)."""
    for tid in _threads(pid):
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(tid, cpus)


def affinity(pid: int | str) -> list[int]:
    """The CPUs any thread of a process may run on (their union), sorted."""
    cpus: set[int] = set()
    for tid in _threads(pid):
        with contextlib.suppress(ProcessLookupError):
            cpus |= os.sched_getaffinity(tid)
    return sorted(cpus)


# --- A JSON-lines channel over a pair of pipes ------------------------------------------------


class Channel:
    """Requests and replies both ways over one reader and one writer.

    A request is {"id": n, "op": ..., ...}; its reply is {"re": n, "ok": result} or
    {"re": n, "error": "..."}. Incoming requests run concurrently, each in its own task.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        write: Callable[[bytes], Awaitable[None]],
        handler: Handler | None = None,
    ) -> None:
        self.reader = reader
        self._write = write
        self.handler = handler
        self._next = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()

    async def send(self, message: dict) -> None:
        await self._write((json.dumps(message, separators=(",", ":")) + "\n").encode())

    async def request(self, op: str, wait: float, /, **fields) -> object:
        self._next += 1
        rid = self._next
        future = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            await self.send({"id": rid, "op": op, **fields})
            return await asyncio.wait_for(future, wait)
        except TimeoutError:
            raise BenchError(f"no reply to {op!r} within {wait:.0f} s") from None
        finally:
            self._waiting.pop(rid, None)

    async def serve(self) -> None:
        """Read until the other end closes; then fail every request still waiting."""
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    break
                message = json.loads(line)
                if "re" in message:
                    future = self._waiting.get(message["re"])
                    if future is not None and not future.done():
                        if "error" in message:
                            future.set_exception(RemoteError(message["error"]))
                        else:
                            future.set_result(message.get("ok"))
                else:
                    task = asyncio.ensure_future(self._answer(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(BenchError("the other process went away"))

    async def _answer(self, message: dict) -> None:
        try:
            if self.handler is None:
                raise RemoteError("this end takes no requests")
            reply = {"re": message["id"], "ok": await self.handler(message)}
        except Exception as exc:
            reply = {"re": message["id"], "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(Exception):
            await self.send(reply)


async def child_channel() -> tuple[Channel, dict]:
    """A child process's end: the first line on stdin is its configuration, then requests
    come on stdin and replies go to the real stdout. File descriptor 1 is pointed at stderr
    so that nothing else can write into the protocol. Exits if stdin closes at once, and with
    status 3 once the configuration's "deadline" (seconds), if any, has passed."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)

    async def write(data: bytes) -> None:
        out.write(data)  # blocking, and fine: the coordinator is always reading
        out.flush()

    line = await reader.readline()
    if not line:
        raise SystemExit(0)
    config = json.loads(line)
    if "deadline" in config:
        loop.call_later(config["deadline"], os._exit, 3)
    return Channel(reader, write), config


# --- The coordinator's side -------------------------------------------------------------------


class Child:
    """A child process started by `spawn`, and the coordinator's channel to it."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log_path: Path | None):
        self.name = name
        self.proc = proc
        self.log_path = log_path
        self.channel: Channel | None = None
        self.serving: asyncio.Task | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def request(self, op: str, wait: float, /, **fields) -> object:
        try:
            return await self.channel.request(op, wait, **fields)
        except RemoteError as exc:
            raise BenchError(f"{self.name}: {op} failed: {exc}") from None
        except BenchError as exc:
            raise BenchError(f"{self.name}: {exc}{self.log_tail()}") from None

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return ("\n  " + "\n  ".join(text)) if text else ""


async def spawn(
    name: str,
    module: str,
    config: dict,
    *,
    cwd: Path,
    handler: Handler | None = None,
    log_path: Path | None = None,
    cpus: list[int] | None = None,
) -> Child:
    """Start `python -m module` in `cwd` and send it `config` as the first line. Its stderr
    goes to `log_path` (else to ours); `handler` answers the child's own requests. With
    `cpus`, the child is pinned to them (pin) before it is sent its configuration, so
    before it can start a thread of its own."""
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(log_path.open("wb")) if log_path is not None else None
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=str(cwd),
            limit=LINE_LIMIT,
        )
    child = Child(name, proc, log_path)
    if cpus is not None:
        pin(proc.pid, cpus)

    async def write(data: bytes) -> None:
        proc.stdin.write(data)
        await proc.stdin.drain()

    child.channel = Channel(proc.stdout, write, handler)
    child.serving = asyncio.ensure_future(child.channel.serve())
    await write((json.dumps(config) + "\n").encode())
    return child


async def close_children(children: list[Child], wait: float = 3.0) -> None:
    """Ask every child to quit, give each `wait` seconds to exit, then kill it."""
    for child in children:
        if child.proc.returncode is None and child.channel is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(child.channel.send({"id": 0, "op": "quit"}), 1)
    for child in children:
        try:
            await asyncio.wait_for(child.proc.wait(), wait)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.proc.wait(), 3)
        if child.serving is not None:
            child.serving.cancel()
