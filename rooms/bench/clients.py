"""The signaling benchmark's client processes (`python -m rooms.bench.clients`): one asyncio
loop holding this process's share of the listeners' websockets, steered by the coordinator
over a benchkit channel. Imports neither Django nor the rest of Podium, so that a client
process stays small; events are not JSON-parsed (the type is read from the frame's prefix,
which rooms.protocol writes first, and only stage.changed frames have their version read)."""

import asyncio
import contextlib
import json
import os
import resource
import time
from collections import Counter

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from media import benchkit

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
        "node",
        "reader",
        "session",
        "stage_seen",
        "started_ns",
        "state_ns",
        "ws",
    )

    def __init__(self, member: int, session: str, node: int = 0):
        self.member = member
        self.session = session
        self.node = node  # with --nodes N: the index of the node this socket connects to
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.started_ns = 0
        self.state_ns = 0
        self.stage_seen: dict[int, int] = {}  # stage.changed version -> receive time
        self.close_code: int | None = None
        self.error = ""


class Worker:
    def __init__(self, config: dict):
        # One URL and Origin per node; a client's third field says which (default: the one).
        self.urls = config.get("urls") or [config["url"]]
        self.origins = config.get("origins") or [config["origin"]]
        self.open_timeout = float(config.get("open_timeout", 60))
        self.join_timeout = float(config.get("join_timeout", 120))
        self.concurrency = int(config.get("concurrency") or 0)
        self.clients = [Client(*entry) for entry in config["clients"]]
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
                self.urls[client.node],
                origin=self.origins[client.node],
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
        """Open every connection at once (or at most `concurrency` handshakes at a time);
        return when each has received its room.state, failed, or timed out."""
        gate = asyncio.Semaphore(self.concurrency) if self.concurrency > 0 else None
        openers = [asyncio.create_task(self.open_one(c, gate)) for c in self.clients]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.joined.wait(), self.join_timeout)
        await asyncio.gather(*openers, return_exceptions=True)
        ok = [c for c in self.clients if c.state_ns]
        return {
            "ok": len(ok),
            "errors": dict(self.errors),
            "first_start_ns": min((c.started_ns for c in self.clients if c.started_ns), default=0),
            "last_state_ns": max((c.state_ns for c in ok), default=0),
            # Per client: from starting its connect to receiving its room.state.
            "latency_ns": [c.state_ns - c.started_ns for c in ok],
            "latency_node": [c.node for c in ok],
        }

    async def send(self, member: int, text: str) -> bool:
        """Send one frame on that member's socket; False if it is not open."""
        client = self.by_member.get(member)
        if client is None or client.ws is None or client.close_code is not None:
            return False
        await client.ws.send(text)
        return True

    def _open_clients(self) -> list[Client]:
        return [c for c in self.clients if c.ws is not None and c.close_code is None]

    async def collect(self, version: int, timeout: float) -> dict:
        """Wait until every open socket has seen the stage.changed of that version; return
        the receive times."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stage_counts[version] >= len(self._open_clients()):
                break
            await asyncio.sleep(0.01)
        seen = [c for c in self.clients if version in c.stage_seen]
        times = [c.stage_seen[version] for c in seen]
        later = sum(
            1
            for c in self.clients
            if version not in c.stage_seen and any(v > version for v in c.stage_seen)
        )
        return {
            "recv_ns": times,
            "recv_node": [c.node for c in seen],
            "expected": len(self._open_clients()),
            "saw_later_only": later,
        }

    def stats(self) -> dict:
        codes = Counter(str(c.close_code) for c in self.clients if c.close_code is not None)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "open": len(self._open_clients()),
            "close_codes": dict(codes),
            "types": dict(self.types),
            "cpu_s": usage.ru_utime + usage.ru_stime,
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


async def main() -> None:
    channel, config = await benchkit.child_channel()
    worker = Worker(config)
    loop = asyncio.get_running_loop()

    async def handle(message: dict) -> object:
        op = message["op"]
        if op == "ready":
            return True
        if op == "join":
            return await worker.join()
        if op == "send":
            return await worker.send(int(message["member"]), message["text"])
        if op == "collect":
            return await worker.collect(int(message["version"]), float(message["timeout"]))
        if op == "stats":
            return worker.stats()
        if op == "quit":
            await worker.quit()
            loop.call_later(0.05, os._exit, 0)
            return True
        raise benchkit.RemoteError(f"unknown op {op!r}")

    channel.handler = handle
    await channel.serve()  # stdin closed: the coordinator is gone
    await worker.quit()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
