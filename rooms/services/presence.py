"""Who is in the room: joins, leaves, ejections (suspensions and group bans), reactions."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rooms import broadcast
from rooms.errors import NotAllowed, NotFound, RoomNotLive
from rooms.models import STAGE_ROLES, Participant, Role, Room, RoomBan
from rooms.selectors import RoomAccess
from rooms.services.change import RoomChange, acting, lock_live_room, room_changing


def participant_join(
    *, room_id: int, member, connection: str, access: RoomAccess | None = None
) -> tuple[Room, Participant]:
    """The member's socket is in the room. Their role, hand and mute survive reconnects;
    a newer socket takes presence over from an older one. A listener's join locks only
    their own row and bumps nothing, so that a thousand can join at once; a speaker's
    changes the stage, which locks the room and bumps its version.

    `access`, from selectors.room_access just before (the socket's join), spares the
    queries that check has already made (the room, the member's stage role, a room ban)."""
    with transaction.atomic():
        on_stage = _on_stage(room_id, member) if access is None else access.on_stage
        if on_stage:
            room = lock_live_room(room_id)
        else:
            room = Room.objects.filter(pk=room_id).first() if access is None else access.room
            if room is None:
                raise NotFound("No such room.")
            if room.status != Room.Status.LIVE:
                raise RoomNotLive("This room isn't live.")
        if access is None and RoomBan.objects.filter(room=room, member=member).exists():
            raise NotAllowed("You've been removed from this room.")
        with room_changing(room) as change:
            here = _here(connection, at=timezone.now())
            participant = (
                Participant.objects.select_for_update().filter(room=room, member=member).first()
            )
            if participant is None:
                # A first join: one INSERT, which a second socket of the same member racing
                # this one turns into an UPDATE instead of an IntegrityError.
                participant = Participant(room=room, member=member, role=Role.LISTENER, **here)
                Participant.objects.bulk_create(
                    [participant],
                    update_conflicts=True,
                    unique_fields=["room", "member"],
                    update_fields=list(here),
                )
            else:
                previous = participant.connection if participant.is_present else ""
                for field, value in here.items():
                    setattr(participant, field, value)
                participant.save(update_fields=list(here))
                if previous and previous != connection:
                    broadcast.session_replaced(room.pk, member.pk, connection)
            _came_or_went(change, participant)
    participant.member = member
    return room, participant


def listeners_join(*, room: Room, joiners: list[tuple]) -> list[Participant]:
    """Many listeners' sockets are in one live room at once (a batch of joins, rooms.joins):
    for each (member, connection), what participant_join does, in three queries for them
    all. Each member appears once; the caller has checked their access to the room
    (selectors.room_access_many) and that none holds a stage role."""
    now = timezone.now()
    with transaction.atomic():
        existing = {
            p.member_id: p
            for p in Participant.objects.select_for_update()
            .filter(room=room, member_id__in=[member.pk for member, _ in joiners])
            .order_by("member_id")  # one lock order for every node's batches: no deadlock
        }
        joined, new, replaced = [], [], []
        for member, connection in joiners:
            here = _here(connection, at=now)
            participant = existing.get(member.pk)
            if participant is None:
                participant = Participant(room=room, member=member, role=Role.LISTENER, **here)
                new.append(participant)
            else:
                if participant.is_present and participant.connection not in ("", connection):
                    replaced.append((member.pk, connection))
                for field, value in here.items():
                    setattr(participant, field, value)
            participant.member = member
            joined.append(participant)
        if existing:
            Participant.objects.bulk_update(existing.values(), fields=list(here))
        if new:
            # As in participant_join: a racing second socket of a member makes it an UPDATE.
            Participant.objects.bulk_create(
                new,
                update_conflicts=True,
                unique_fields=["room", "member"],
                update_fields=list(here),
            )
        with room_changing(room) as change:
            for participant in joined:
                _came_or_went(change, participant)
        for member_id, connection in replaced:
            broadcast.session_replaced(room.pk, member_id, connection)
    return joined


def participant_leave(*, room_id: int, member, connection: str) -> None:
    """The socket closed. Only the socket that holds presence can end it."""
    with transaction.atomic():
        if _on_stage(room_id, member):
            room = Room.objects.select_for_update().filter(pk=room_id).first()
        else:
            room = Room.objects.filter(pk=room_id).first()
        if room is None:
            return
        participant = (
            Participant.objects.select_for_update()
            .filter(room=room, member=member, connection=connection, is_present=True)
            .first()
        )
        if participant is None:
            return
        _absent(participant, at=timezone.now())
        if room.status == Room.Status.LIVE:
            with room_changing(room) as change:
                _came_or_went(change, participant)


def participants_reap(*, node: str) -> int:
    """A node stopped heart-beating: its participants' sockets are gone with it. Mark them
    absent room by room, as if each had left, so that no ghost stays on a stage or in an
    audience. Returns how many were reaped. Called by the cluster agent (rooms.cluster)."""
    reaped = 0
    room_ids = (
        Participant.objects.filter(node=node, is_present=True)
        .values_list("room_id", flat=True)
        .distinct()
    )
    for room_id in list(room_ids):
        with transaction.atomic():
            room = Room.objects.select_for_update().filter(pk=room_id).first()
            if room is None:
                continue
            ghosts = Participant.objects.select_for_update().filter(
                room=room, node=node, is_present=True
            )
            with room_changing(room) as change:
                for participant in ghosts:
                    _absent(participant, at=timezone.now())
                    if room.status == Room.Status.LIVE:
                        _came_or_went(change, participant)
                    reaped += 1
    return reaped


def _here(connection: str, *, at) -> dict:
    """The fields of a participant whose socket `connection` on this node just joined."""
    return {
        "is_present": True,
        "connection": connection,
        "node": settings.NODE_ID,
        "joined_at": at,
        "left_at": None,
    }


def _on_stage(room_id: int, member) -> bool:
    return Participant.objects.filter(room_id=room_id, member=member, role__in=STAGE_ROLES).exists()


def _absent(participant: Participant, *, at) -> None:
    participant.is_present = False
    participant.connection = ""
    participant.left_at = at
    participant.save(update_fields=["is_present", "connection", "left_at"])


def _came_or_went(change: RoomChange, participant: Participant) -> None:
    if participant.on_stage:
        change.changed(stage=True)
    else:
        change.changed(audience=True, queue=participant.hand_raised_at is not None)


def participant_eject(*, member, reason: str, room_ids: list[int] | None = None) -> None:
    """Take the member out of every live room (or those given) at once, for a suspension or
    a group ban: presence ends, the stage and audience update, and on commit the member's
    sockets close with `reason` and their audio is dropped. Call inside the moderation
    action's transaction, which has checked the right and writes the audit entry."""
    present = Participant.objects.select_for_update().filter(
        member=member, is_present=True, room__status=Room.Status.LIVE
    )
    if room_ids is not None:
        present = present.filter(room_id__in=room_ids)
    for participant in present:
        room = Room.objects.select_for_update().get(pk=participant.room_id)
        with room_changing(room) as change:
            change.changed(stage=participant.on_stage, audience=True, queue=True, bump=True)
            participant.send_away(at=timezone.now(), keep_host=True)
            change.sent_away(member.pk, banned=None)
    broadcast.member_ejected(member.pk, reason=reason, room_ids=room_ids)


def reaction_send(*, room_id: int, actor, emoji: str) -> None:
    with acting(room_id, actor, "reaction") as change:
        broadcast.reaction(change.room.pk, actor.pk, emoji)
