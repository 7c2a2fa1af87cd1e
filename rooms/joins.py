"""A socket's join: the access check, presence and its room.state, for many sockets at once.

The room consumer awaits `join()`. Joins that arrive while the ORM thread is busy with the
previous batch go together (config.batching): per room, one access query for all their
members (selectors.room_access_many), one read and at most two writes of their participant
rows (services.listeners_join), one reading of the audience. A member with a stage role
joins alone through services.participant_join, which locks the room; so does a second
socket of a member already in the batch, which then replaces the first as it would have a
moment later.
"""

from collections import defaultdict
from dataclasses import dataclass

from channels.db import database_sync_to_async

from config import outage
from config.batching import Batcher
from rooms import selectors, services, snapshots
from rooms.errors import RoomError
from rooms.eventloop import spawn
from rooms.models import Room


@dataclass(frozen=True)
class JoinRequest:
    room_id: int
    member: object
    connection: str


def run_joins(requests: list[JoinRequest]) -> list:
    """For each request, its room.state snapshot or the exception refusing it (Http404,
    PermissionDenied, RoomError); ORM thread only."""
    answers: list = [None] * len(requests)
    by_room: dict[int, list[int]] = defaultdict(list)
    for index, request in enumerate(requests):
        by_room[request.room_id].append(index)
    for room_id, indexes in by_room.items():
        accesses = selectors.room_access_many(room_id, [requests[i].member for i in indexes])
        listeners: list[tuple[int, selectors.RoomAccess]] = []
        alone: list[tuple[int, selectors.RoomAccess]] = []
        batched_members = set()
        for index in indexes:
            member = requests[index].member
            access = accesses[member.pk]
            if isinstance(access, Exception):
                answers[index] = access
            elif access.room.status != Room.Status.LIVE:
                answers[index] = _not_live(access.room)
            elif access.on_stage or member.pk in batched_members:
                alone.append((index, access))
            else:
                batched_members.add(member.pk)
                listeners.append((index, access))
        if listeners:
            room = listeners[0][1].room
            joined = services.listeners_join(
                room=room,
                joiners=[(requests[i].member, requests[i].connection) for i, _ in listeners],
            )
            audience = snapshots.audience(room_id, joining=True)
            parts = snapshots.questions_parts(room_id, [p.member for p in joined])
            for (index, access), participant in zip(listeners, joined, strict=True):
                answers[index] = snapshots.room_snapshot(
                    room,
                    participant,
                    platform=access.moderator_powers,
                    audience_now=audience,
                    questions_now=parts[participant.member_id],
                )
        for index, access in alone:
            answers[index] = _join_alone(requests[index], access)
    return answers


def _join_alone(request: JoinRequest, access: selectors.RoomAccess):
    try:
        room, participant = services.participant_join(
            room_id=request.room_id,
            member=request.member,
            connection=request.connection,
            access=access,
        )
    except RoomError as exc:
        return exc
    return snapshots.room_snapshot(
        room, participant, platform=access.moderator_powers, joining=True
    )


def _not_live(room: Room) -> RoomError:
    return RoomError(
        "This room has ended."
        if room.status == Room.Status.ENDED
        else "This room hasn't started yet.",
        code="room_not_live",
    )


def _abandoned(request: JoinRequest, snapshot: dict) -> None:
    # The socket went away while its join ran: the join happened, so the matching leave
    # follows it on the ORM thread; no ghost listeners.
    spawn(
        outage.until_done(
            lambda: database_sync_to_async(services.participant_leave)(
                room_id=request.room_id, member=request.member, connection=request.connection
            ),
            what=f"room {request.room_id}: member {request.member.pk}'s abandoned join",
        )
    )


_batcher = Batcher(run_joins, abandoned=_abandoned)


async def join(room_id: int, member, connection: str) -> dict:
    """The member's socket `connection` joins the room: its room.state snapshot. Raises
    Http404, PermissionDenied or RoomError when the member may not be in the room."""
    return await _batcher.submit(JoinRequest(room_id, member, connection))
