"""Reads about rooms, with access checks. Each returns the object or raises."""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Block, Member
from groups.selectors import is_active_member, is_banned
from rooms import snapshots
from rooms.errors import NotAllowed, NotFound, RoomNotLive
from rooms.models import MODERATING_ROLES, STAGE_ROLES, Participant, Room, RoomBan
from rooms.permissions import is_platform_moderator, moderator_powers

STAGE_PREVIEW = 6


def _with_stage_preview(rooms: QuerySet[Room]) -> QuerySet[Room]:
    """Attach counts and the first few people on stage without a query per room."""
    return (
        rooms.select_related("host", "group")
        .annotate(
            audience_count=Count(
                "participants",
                filter=Q(participants__is_present=True, participants__role="listener"),
            ),
            stage_count=Count(
                "participants",
                filter=Q(participants__role__in=STAGE_ROLES),
            ),
        )
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=Participant.objects.filter(role__in=STAGE_ROLES)
                .select_related("member")
                .order_by("pk"),
                to_attr="stage_preview",
            )
        )
    )


def live_rooms_for(member, *, group_id: int | None = None, limit: int = 50) -> list[Room]:
    rooms = Room.objects.live().visible_to(member).order_by("-started_at")
    if group_id is not None:
        rooms = rooms.filter(group_id=group_id)
    return list(_with_stage_preview(rooms)[:limit])


def rooms_for_profile(member, viewer) -> list[Room]:
    """Rooms the member hosts or speaks in, live or scheduled, that the viewer may see."""
    # A subquery, not a join, so that the stage and audience counts stay whole.
    on_stage = Participant.objects.filter(member=member, role__in=STAGE_ROLES).values("room_id")
    rooms = (
        Room.objects.filter(status__in=[Room.Status.LIVE, Room.Status.SCHEDULED])
        .filter(pk__in=on_stage)
        .visible_to(viewer)
        .order_by("-created_at")
    )
    return list(_with_stage_preview(rooms)[:10])


def room_get_for_member(room_id: int, member) -> Room:
    """The room, if the member may be in it: it exists, the member may see its group,
    is not banned and is not blocked by its host."""
    room = Room.objects.select_related("host", "group").filter(pk=room_id).first()
    if room is None:
        raise Http404("No such room")
    room_check_access(room, member)
    return room


def room_check_access(room: Room, member) -> None:
    """May the member be in the room? Checked at page load, at websocket connect and (through
    presence) at every media offer."""
    if member is None or not member.is_authenticated:
        raise PermissionDenied("Sign in to join rooms.")
    if member.is_suspended:
        raise PermissionDenied("Your account is suspended.")
    if is_platform_moderator(member):
        # Platform moderators may open any room, group-only ones included.
        return
    if room.visibility == Room.Visibility.GROUP and not is_active_member(room.group_id, member):
        # Group-only rooms don't exist for outsiders.
        raise Http404("No such room")
    if is_banned(room.group_id, member):
        raise PermissionDenied("You've been banned from this group.")
    if RoomBan.objects.filter(room=room, member=member).exists():
        raise PermissionDenied("You've been removed from this room.")
    moderators = Participant.objects.filter(room=room, role__in=MODERATING_ROLES).values(
        "member_id"
    )
    if Block.objects.filter(blocker_id__in=moderators, blocked=member).exists():
        # Blocked by the host or a moderator of this room.
        raise PermissionDenied("You can't join this room.")


def room_state(*, room_id: int, member) -> dict:
    """The full snapshot for one member (room.state), read in one transaction."""
    with transaction.atomic():
        room = Room.objects.filter(pk=room_id).first()
        if room is None:
            raise NotFound("No such room.")
        participant = Participant.objects.filter(room=room, member=member).first()
        if participant is None:
            raise NotFound("You aren't in this room.")
        participant.member = member
        return snapshots.room_snapshot(room, participant, platform=moderator_powers(room, member))


def media_offer_allowed(*, room_id: int, member, connection: str) -> bool:
    """May this socket attach audio? Returns whether the member may be heard now.

    Checked at every offer: the member must be present in the live room through this very
    socket (so banned and removed members, and old tabs, are refused)."""
    room = Room.objects.filter(pk=room_id, status=Room.Status.LIVE).first()
    if room is None:
        raise RoomNotLive("This room isn't live.")
    participant = Participant.objects.filter(
        room=room, member=member, is_present=True, connection=connection
    ).first()
    if participant is None or RoomBan.objects.filter(room=room, member=member).exists():
        raise NotAllowed("You aren't in this room.")
    if Member.objects.filter(pk=member.pk, suspended_until__gt=timezone.now()).exists():
        raise NotAllowed("Your account is suspended.")
    return participant.on_stage and not participant.muted
