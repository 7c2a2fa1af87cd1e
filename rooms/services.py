"""Every state change on rooms: one keyword-only function each, checking the actor's right
itself, inside a transaction. Views and consumers both call these."""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from rooms.models import Participant, Role, Room


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
) -> Room:
    """Create a room (not yet live) with its host and designated speakers and moderators."""
    if visibility == Room.Visibility.GROUP and group is None:
        raise ValueError("A group-only room needs a group.")
    speakers = [m for m in speakers if m.pk != host.pk]
    moderators = [m for m in moderators if m.pk != host.pk]
    if len(speakers) + len(moderators) + 1 > max_speakers:
        raise ValueError(f"The stage holds at most {max_speakers} people.")
    with transaction.atomic():
        room = Room.objects.create(
            title=title,
            description=description,
            host=host,
            group=group,
            visibility=visibility,
            max_speakers=max_speakers,
            event_id=event_id,
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
            raise PermissionDenied("Only the host can start this room.")
        if room.status != Room.Status.SCHEDULED:
            raise PermissionDenied("This room has already started or ended.")
        room.status = Room.Status.LIVE
        room.started_at = timezone.now()
        room.version += 1
        room.save(update_fields=["status", "started_at", "version"])
    return room
