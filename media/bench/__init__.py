"""The fan-out benchmark of the forwarder, driven by `python manage.py bench_fanout`.

coordinator.py starts and steers the processes, server.py (and ordinary.py, aiortc's own path
for comparison) is the server process (one per node with --nodes N), clients.py the speaker
and listener processes, report.py turns the measurements into the printed figures
(report_nodes.py those of several nodes). Method and caveats:
docs/benchmarks.md. Nothing here imports Django.
"""

from dataclasses import dataclass

SPEAKER_BASE = 1  # member ids 1..S are the speakers
REQUEST_TIMEOUT = 90.0  # one offer/answer round trip through the coordinator


@dataclass
class Options:
    listeners: int = 500
    speakers: int = 1
    seconds: float = 20.0
    baseline: bool | None = None  # None: on with one node, off with several
    baseline_listeners: int = 5
    processes: int = 4
    concurrency: int = 8  # connection set-ups in flight per listener process
    idle_seconds: float = 3.0
    warmup_seconds: float = 2.0
    grace_seconds: float = 1.5
    drain_limit: float = 30.0  # at most this long after the window for late arrivals
    client_nice: int = 10  # listener processes yield the CPU to the server
    listener_hook: str = "receiver"  # receiver, socket or batch (batch by default with --pin)
    nodes: int = 1  # pass-through server processes, each a node with a relay
    reference: bool = True  # with nodes > 1: also one node at the listeners per node
    pin: bool = False  # each server on a CPU of its own, every other process on the rest
    keep_logs: bool = False
    taps: bool = False  # recording and live captions on, as in a recorded, captioned room
    command: str = ""
