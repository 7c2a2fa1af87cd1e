"""Many Podium nodes on one PostgreSQL and one Redis (DESIGN section 6): heartbeats, which
nodes serve each room, room leases (the room's brain) and reaping (`registry`, `agent`).
The embedded default (one process, `make run`) uses none of it."""
