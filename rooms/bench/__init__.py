"""The signaling benchmark of the room websocket, driven by `python manage.py bench_signaling`.

coordinator.py runs it, server.py prepares the database and runs Daphne, host.py is the
room's host (in the coordinator), clients.py the client processes holding the listeners'
sockets, report.py the printed figures. Method and caveats: docs/benchmarks.md.
"""

# Time for coalesced audience.changed updates (500 ms) to go out between measurements.
SETTLE_SECONDS = 1.0
