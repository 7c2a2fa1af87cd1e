"""The room's host in the signaling benchmark: one websocket in the coordinator's own loop,
which sends the promotions and demotions and follows the stage, the hand queue and the
audience count. Few events reach it, so these are JSON-parsed."""

import asyncio
import contextlib
import json
import sys
import time

from media.benchkit import BenchError


async def connect_host(url: str, origin: str, session: str, timeout: float) -> "HostClient":
    """The host's socket, with the host's session cookie."""
    from websockets.asyncio.client import connect

    ws = await connect(
        url,
        origin=origin,
        additional_headers={"Cookie": f"sessionid={session}"},
        compression=None,
        proxy=None,
        open_timeout=timeout,
        ping_interval=None,
        max_size=2**24,
    )
    return HostClient(ws)


class HostClient:
    """The host's socket and what it has seen."""

    def __init__(self, ws):
        self.ws = ws
        self.version = 0
        self.stage_versions: list[tuple[int, set[int], int]] = []  # (version, stage, recv ns)
        self.hand_queue: set[int] = set()
        self.audience = -1  # The audience count the server last announced.
        self.changed = asyncio.Event()
        self.closed_code: int | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                now = time.monotonic_ns()
                event = json.loads(text)
                kind = event.get("type")
                self.version = max(self.version, int(event.get("version") or 0))
                if kind in ("room.state", "stage.changed"):
                    stage = {p["member"] for p in event["stage"]}
                    self.stage_versions.append((int(event["version"]), stage, now))
                    if kind == "room.state":
                        self.hand_queue = {p["member"] for p in event["hand_queue"]}
                        self.audience = int(event["audience"]["count"])
                elif kind == "audience.changed":
                    self.audience = int(event["count"])
                elif kind == "hand.queue":
                    self.hand_queue = {p["member"] for p in event["queue"]}
                elif kind == "error":
                    sys.stderr.write(f"bench_signaling: host got an error: {text}\n")
                self.changed.set()
        finally:
            self.closed_code = self.ws.close_code
            self.changed.set()

    async def wait_for(self, predicate, timeout: float):
        end = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if self.closed_code is not None:
                raise BenchError(f"the host's socket closed ({self.closed_code})")
            left = end - time.monotonic()
            if left <= 0:
                raise BenchError("timed out waiting for the host to see an event")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    def stage_change_with(self, member: int, on_stage: bool, after_version: int):
        for version, stage, recv_ns in self.stage_versions:
            if version > after_version and (member in stage) == on_stage:
                return version, recv_ns
        return None
