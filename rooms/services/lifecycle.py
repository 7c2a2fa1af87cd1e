"""A room's life: created (scheduled), started (live), ended."""

from django.db import transaction
from django.utils import timezone

from accounts.notifications import notify_followers_live
from accounts.selectors import blocked_either_way
from groups.selectors import active_member_ids
from rooms import media_bridge
from rooms.errors import Conflict, NotAllowed
from rooms.models import AuditAction, Participant, Role, Room
from rooms.moderation.audit import audit
from rooms.services import recording
from rooms.services.change import acting


def room_create(
    *,
    host,
    title: str,
    description: str = "",
    speakers=(),
    group=None,
    visibility: str = Room.Visibility.PUBLIC,
    max_speakers: int = 20,
    event_id: int | None = None,
    moderators=(),
    record: bool = False,
    captions: bool = False,
) -> Room:
    """Create a room (not yet live) with its host and designated speakers and moderators."""
    if visibility == Room.Visibility.GROUP and group is None:
        raise ValueError("A group-only room needs a group.")
    speakers = [m for m in speakers if m.pk != host.pk]
    moderators = [m for m in moderators if m.pk != host.pk]
    if len(speakers) + len(moderators) + 1 > max_speakers:
        raise ValueError(f"The stage holds at most {max_speakers} people.")
    barred = blocked_either_way(host, [*speakers, *moderators])
    if barred:
        names = ", ".join(m.display_name for m in [*speakers, *moderators] if m.pk in barred)
        raise ValueError(f"You can't invite {names}.")
    with transaction.atomic():
        room = Room.objects.create(
            title=title,
            description=description,
            host=host,
            group=group,
            visibility=visibility,
            max_speakers=max_speakers,
            event_id=event_id,
            record=record,
            captions=captions,
        )
        people = [Participant(room=room, member=host, role=Role.HOST)]
        seen = {host.pk}
        for role, members in ((Role.MODERATOR, moderators), (Role.SPEAKER, speakers)):
            for member in members:
                if member.pk not in seen:
                    seen.add(member.pk)
                    people.append(Participant(room=room, member=member, role=role))
        Participant.objects.bulk_create(people)
    return room


def room_start(*, actor, room: Room) -> Room:
    """The host makes a scheduled room live."""
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room.pk)
        if room.host_id != actor.pk:
            raise NotAllowed("Only the host can start this room.")
        if room.status != Room.Status.SCHEDULED:
            raise Conflict("This room has already started or ended.")
        room.status = Room.Status.LIVE
        room.started_at = timezone.now()
        room.version += 1
        room.save(update_fields=["status", "started_at", "version"])
        if room.record:
            recording.start_with_room(room, actor)
        if room.record or room.captions:
            room_id = room.pk
            transaction.on_commit(lambda: media_bridge.media_plan_soon(room_id))
        if room.event_id is None:
            # An event's room is announced to its RSVPs by the event instead.
            notify_followers_live(
                host=actor,
                title=room.title,
                url=room.get_absolute_url(),
                among=active_member_ids(room.group_id)
                if room.visibility == Room.Visibility.GROUP
                else None,
            )
    return room


def room_end(*, room_id: int, actor) -> Room:
    """The host (or a platform moderator or group manager) ends the room for everyone."""
    with acting(
        room_id, actor, "room.end", actor_present=False, refusal="Only the host can end this room."
    ) as change:
        room = change.room
        audit(
            actor=actor,
            action=AuditAction.ROOM_END,
            room=room,
            before={"status": room.status},
            after={"status": Room.Status.ENDED},
        )
        room.status = Room.Status.ENDED
        room.ended_at = timezone.now()
        room.save(update_fields=["status", "ended_at"])
        Participant.objects.filter(room=room, is_present=True).update(
            is_present=False, connection="", left_at=room.ended_at
        )
        Participant.objects.filter(room=room).exclude(hand_raised_at=None).update(
            hand_raised_at=None
        )
        recording.end_with_room(room)
        change.ended = True
    return room
