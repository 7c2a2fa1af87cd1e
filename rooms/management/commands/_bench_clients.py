"""Websocket client worker for `manage.py bench_signaling` (not a command itself).

Run as a plain script (`python _bench_clients.py`): it imports neither Django nor Podium, so
a worker process stays small. One asyncio loop holds this worker's share of the connections.

The coordinator talks to it over stdin/stdout, one JSON object per line. The first stdin line
is the configuration; after that each line is a command and gets one reply line:

- {"cmd": "join"}: open every connection at once (or at most `concurrency` handshakes at a
  time); reply when each has received its room.state, failed, or timed out.
- {"cmd": "send", "member": id, "text": "..."}: send one frame on that member's socket.
- {"cmd": "collect", "version": v, "timeout": s}: wait until every open socket has seen the
  stage.changed event with that version; reply with the receive times.
- {"cmd": "stats"}: counters (open and closed sockets, close codes, events by type, CPU).
- {"cmd": "quit"}: close the sockets and exit.

Commands may carry an "id", echoed in the reply; they run concurrently.

Times are time.monotonic_ns() (CLOCK_MONOTONIC, one clock for every process on the machine).
Events are not JSON-parsed: the type is read from the frame's prefix (rooms.protocol writes
"type" first), and only stage.changed frames have their version read.
"""

import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from collections import Counter

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

TYPE_PREFIX = '{"type":"'
STAGE_CHANGED = '{"type":"stage.changed"'
ROOM_STATE = '{"type":"room.state"'
VERSION_KEY = '"version":'


def frame_type(text: str) -> str:
    if not text.startswith(TYPE_PREFIX):
        return "?"
    end = text.find('"', len(TYPE_PREFIX))
    return text[len(TYPE_PREFIX) : end] if end > 0 else "?"


def frame_version(text: str) -> int | None:
    start = text.find(VERSION_KEY)
    if start < 0:
        return None
    start += len(VERSION_KEY)
    end = start
    while end < len(text) and text[end].isdigit():
        end += 1
    if end == start:
        with contextlib.suppress(ValueError):
            return int(json.loads(text).get("version"))
        return None
    return int(text[start:end])


class Client:
    __slots__ = (
        "close_code",
        "error",
        "member",
        "reader",
        "session",
        "stage_seen",
        "started_ns",
        "state_ns",
        "ws",
    )

    def __init__(self, member: int, session: str):
        self.member = member
        self.session = session
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.started_ns = 0
        self.state_ns = 0
        self.stage_seen: dict[int, int] = {}  # stage.changed version -> receive time
        self.close_code: int | None = None
        self.error = ""


class Worker:
    def __init__(self, config: dict):
        self.url = config["url"]
        self.origin = config["origin"]
        self.open_timeout = float(config.get("open_timeout", 60))
        self.join_timeout = float(config.get("join_timeout", 120))
        self.concurrency = int(config.get("concurrency") or 0)
        self.clients = [Client(member, session) for member, session in config["clients"]]
        self.by_member = {c.member: c for c in self.clients}
        self.types: Counter[str] = Counter()
        self.stage_counts: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.joined = asyncio.Event()
        self.pending_joins = len(self.clients)

    # --- one connection ---------------------------------------------------------------------

    async def open_one(self, client: Client, gate: asyncio.Semaphore | None) -> None:
        if gate is not None:
            await gate.acquire()
        client.started_ns = time.monotonic_ns()
        try:
            client.ws = await connect(
                self.url,
                origin=self.origin,
                additional_headers={"Cookie": f"sessionid={client.session}"},
                compression=None,
                proxy=None,
                open_timeout=self.open_timeout,
                ping_interval=None,
                close_timeout=2,
                max_size=2**22,
                user_agent_header="podium-bench-signaling",
            )
        except InvalidStatus as exc:
            client.error = f"http {exc.response.status_code}"
        except InvalidMessage:
            client.error = "handshake dropped by the server (InvalidMessage)"
        except Exception as exc:
            client.error = type(exc).__name__
        if client.ws is None:
            self.errors[client.error] += 1
            self._join_done(gate)
            return
        client.reader = asyncio.create_task(self.read(client, gate))

    async def read(self, client: Client, gate: asyncio.Semaphore | None) -> None:
        ws = client.ws
        waiting_state = True
        try:
            async for text in ws:
                now = time.monotonic_ns()
                if isinstance(text, bytes):
                    self.types["<binary>"] += 1
                    continue
                if text.startswith(STAGE_CHANGED):
                    self.types["stage.changed"] += 1
                    version = frame_version(text)
                    if version is not None and version not in client.stage_seen:
                        client.stage_seen[version] = now
                        self.stage_counts[version] += 1
                elif waiting_state and text.startswith(ROOM_STATE):
                    self.types["room.state"] += 1
                    client.state_ns = now
                    waiting_state = False
                    self._join_done(gate)
                else:
                    self.types[frame_type(text)] += 1
        except ConnectionClosed:
            pass
        except Exception as exc:
            client.error = type(exc).__name__
        finally:
            client.close_code = ws.close_code if ws.close_code is not None else 1006
            if waiting_state:
                self.errors[f"closed {client.close_code} before room.state"] += 1
                self._join_done(gate)

    def _join_done(self, gate: asyncio.Semaphore | None) -> None:
        if gate is not None:
            gate.release()
        self.pending_joins -= 1
        if self.pending_joins <= 0:
            self.joined.set()

    # --- commands ---------------------------------------------------------------------------

    async def join(self) -> dict:
        gate = asyncio.Semaphore(self.concurrency) if self.concurrency > 0 else None
        started = time.monotonic_ns()
        openers = [asyncio.create_task(self.open_one(c, gate)) for c in self.clients]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.joined.wait(), self.join_timeout)
        await asyncio.gather(*openers, return_exceptions=True)
        ok = [c for c in self.clients if c.state_ns]
        return {
            "ev": "joined",
            "started_ns": started,
            "ok": len(ok),
            "failed": len(self.clients) - len(ok),
            "errors": dict(self.errors),
            "first_start_ns": min((c.started_ns for c in self.clients if c.started_ns), default=0),
            "last_state_ns": max((c.state_ns for c in ok), default=0),
            # Per client: from starting its connect to receiving its room.state.
            "latency_ns": [c.state_ns - c.started_ns for c in ok],
            # Per client: from the worker's start of the storm to its room.state.
            "since_start_ns": [c.state_ns - started for c in ok],
        }

    async def send(self, member: int, text: str) -> dict:
        client = self.by_member.get(member)
        if client is None or client.ws is None or client.close_code is not None:
            return {"ev": "sent", "ok": False}
        await client.ws.send(text)
        return {"ev": "sent", "ok": True, "sent_ns": time.monotonic_ns()}

    def _open_clients(self) -> list[Client]:
        return [c for c in self.clients if c.ws is not None and c.close_code is None]

    async def collect(self, version: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stage_counts[version] >= len(self._open_clients()):
                break
            await asyncio.sleep(0.01)
        times = [c.stage_seen[version] for c in self.clients if version in c.stage_seen]
        later = sum(
            1
            for c in self.clients
            if version not in c.stage_seen and any(v > version for v in c.stage_seen)
        )
        return {
            "ev": "collected",
            "version": version,
            "recv_ns": times,
            "expected": len(self._open_clients()),
            "saw_later_only": later,
        }

    def stats(self) -> dict:
        codes = Counter(str(c.close_code) for c in self.clients if c.close_code is not None)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "ev": "stats",
            "open": len(self._open_clients()),
            "closed": sum(codes.values()),
            "close_codes": dict(codes),
            "types": dict(self.types),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "maxrss_kib": usage.ru_maxrss,
        }

    async def quit(self) -> None:
        sockets = [c.ws for c in self.clients if c.ws is not None and c.close_code is None]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True), 5
            )
        for c in self.clients:
            if c.reader is not None:
                c.reader.cancel()


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout

    def reply(obj: dict) -> None:
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        out.flush()

    line = await reader.readline()
    if not line:
        return
    worker = Worker(json.loads(line))
    reply({"ev": "ready", "pid": os.getpid(), "clients": len(worker.clients)})
    # Each command runs as its own task, so that "stats" and "quit" answer even while a join
    # is under way; every reply carries the command's "id".
    tasks: set[asyncio.Task] = set()

    async def run(command: dict) -> None:
        name = command.get("cmd")
        if name == "join":
            result = await worker.join()
        elif name == "send":
            result = await worker.send(int(command["member"]), command["text"])
        elif name == "collect":
            result = await worker.collect(int(command["version"]), float(command["timeout"]))
        elif name == "stats":
            result = worker.stats()
        else:
            result = {"ev": "error", "message": f"unknown command {name!r}"}
        reply({**result, "id": command.get("id")})

    while True:
        line = await reader.readline()
        command = json.loads(line) if line else {"cmd": "quit"}
        if command.get("cmd") == "quit":  # Or the coordinator went away: stop.
            for task in tasks:
                task.cancel()
            await worker.quit()
            reply({"ev": "bye", "id": command.get("id")})
            return
        task = asyncio.create_task(run(command))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
