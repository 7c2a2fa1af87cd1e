"""Who is in the room: joins, leaves, ejections (suspensions and group bans), reactions."""

from django.db import transaction
from django.utils import timezone

from rooms import broadcast
from rooms.errors import NotAllowed
from rooms.models import Participant, Role, Room, RoomBan
from rooms.services.change import RoomChange, acting, lock_live_room, room_changing


def participant_join(*, room_id: int, member, connection: str) -> tuple[Room, Participant]:
    """The member's socket is in the room. Their role, hand and mute survive reconnects;
    a newer socket takes presence over from an older one."""
    with transaction.atomic():
        room = lock_live_room(room_id)
        if RoomBan.objects.filter(room=room, member=member).exists():
            raise NotAllowed("You've been removed from this room.")
        with room_changing(room) as change:
            participant, _ = Participant.objects.select_for_update().get_or_create(
                room=room, member=member, defaults={"role": Role.LISTENER}
            )
            previous = participant.connection if participant.is_present else ""
            participant.is_present = True
            participant.connection = connection
            participant.joined_at = timezone.now()
            participant.left_at = None
            participant.save(update_fields=["is_present", "connection", "joined_at", "left_at"])
            if previous and previous != connection:
                broadcast.session_replaced(room.pk, member.pk, connection)
            _came_or_went(change, participant)
    participant.member = member
    return room, participant


def participant_leave(*, room_id: int, member, connection: str) -> None:
    """The socket closed. Only the socket that holds presence can end it."""
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id).first()
        if room is None:
            return
        participant = (
            Participant.objects.select_for_update()
            .filter(room=room, member=member, connection=connection, is_present=True)
            .first()
        )
        if participant is None:
            return
        participant.is_present = False
        participant.connection = ""
        participant.left_at = timezone.now()
        participant.save(update_fields=["is_present", "connection", "left_at"])
        if room.status == Room.Status.LIVE:
            with room_changing(room) as change:
                _came_or_went(change, participant)


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
