"""Reads about rooms, with access checks. Each returns the object or raises."""

import functools
from dataclasses import dataclass

from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Block, Member
from groups.models import GroupBan, Membership
from rooms import snapshots
from rooms.errors import NotAllowed, NotFound, RoomNotLive
from rooms.models import (
    MODERATING_ROLES,
    STAGE_ROLES,
    Participant,
    Recording,
    RecordingConsent,
    RecordingSpan,
    Room,
    RoomBan,
)
from rooms.permissions import PLATFORM_PERMISSION, moderator_powers

STAGE_PREVIEW = 6
# The largest primary key the databases hold: a URL's <int:room_id> can be any length, and
# SQLite raises on a larger number instead of finding nothing.
ROOM_ID_MAX = 2**63 - 1


def _with_stage_preview(rooms: QuerySet[Room]) -> QuerySet[Room]:
    """Attach counts and the first few people on stage without a query per room."""
    return (
        rooms.select_related("host", "group")
        .annotate(
            audience_count=Count(
                "participants",
                filter=Q(participants__is_present=True, participants__role="listener"),
            ),
            # Live: who is on stage now. Not yet live: the speakers lined up.
            stage_count=Count(
                "participants",
                filter=Q(participants__role__in=STAGE_ROLES)
                & (Q(participants__is_present=True) | ~Q(status=Room.Status.LIVE)),
            ),
        )
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=Participant.objects.filter(role__in=STAGE_ROLES)
                .select_related("member")
                .order_by("pk"),
                to_attr="stage_people",
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
    return room_access(room_id, member).room


def room_shareable(room_id: int) -> Room | None:
    """The room, if anyone may read of it signed out (a link preview): public, and not in a
    private group. With its host and group; None otherwise."""
    if not 0 < room_id <= ROOM_ID_MAX:
        return None
    return (
        Room.objects.filter(pk=room_id, visibility=Room.Visibility.PUBLIC)
        .exclude(group__is_private=True)
        .select_related("host", "group")
        .first()
    )


def room_check_access(room: Room, member) -> None:
    """May the member be in this room? Raises as room_access does."""
    room_access(room.pk, member)


@dataclass(frozen=True)
class RoomAccess:
    """A room the member may be in, with what the access check learnt on the way:
    `platform` (a platform moderator), `manages_group` (an owner or manager of the room's
    group) and `on_stage` (the member holds a stage role in it)."""

    room: Room
    platform: bool
    manages_group: bool
    on_stage: bool

    @property
    def moderator_powers(self) -> bool:
        """Moderator powers without a role in the room (permissions.moderator_powers)."""
        return self.platform or self.manages_group


def room_access(room_id: int, member) -> RoomAccess:
    """May the member be in the room? Checked at page load, at websocket connect and (through
    presence) at every media offer. Raises Http404 for a room that doesn't exist or that the
    member may not know of, and PermissionDenied with the reason otherwise.

    One query, whatever the rules: a join storm makes this check once per join, so each rule
    is an EXISTS on the room's row (see _ACCESS_SQL) instead of a query of its own."""
    if not 0 < room_id <= ROOM_ID_MAX:
        raise Http404("No such room")
    if member is None or not member.is_authenticated:
        if not Room.objects.filter(pk=room_id).exists():
            raise Http404("No such room")
        raise PermissionDenied("Sign in to join rooms.")
    answer = room_access_many(room_id, [member])[member.pk]
    if isinstance(answer, Exception):
        raise answer
    return answer


def room_access_many(room_id: int, members: list) -> dict[int, RoomAccess | Exception]:
    """room_access for many signed-in members of one room in one query (a batch of joins):
    for each member's pk, their RoomAccess or the Http404 or PermissionDenied that
    room_access would raise."""
    if not 0 < room_id <= ROOM_ID_MAX:
        return {member.pk: Http404("No such room") for member in members}
    rooms = {
        room.access_member_id: room
        for room in Room.objects.raw(_access_sql(len(members)), _access_params(room_id, members))
    }
    answers: dict[int, RoomAccess | Exception] = {}
    for member in members:
        room = rooms.get(member.pk)
        try:
            if room is None:
                raise Http404("No such room")
            answers[member.pk] = _access_of(room, member)
        except (Http404, PermissionDenied) as exc:
            answers[member.pk] = exc
    return answers


def _access_of(room: Room, member) -> RoomAccess:
    """The rules of room_access, on a row of _ACCESS_SQL."""
    if member.is_suspended:
        raise PermissionDenied("Your account is suspended.")
    platform = member.is_active and (member.is_superuser or bool(room.has_platform_permission))
    access = RoomAccess(
        room=room,
        platform=platform,
        manages_group=bool(room.manages_its_group),
        on_stage=bool(room.member_on_stage),
    )
    if platform:
        # Platform moderators may open any room, group-only ones included.
        return access
    if room.visibility == Room.Visibility.GROUP and not room.in_its_group:
        # Group-only rooms don't exist for outsiders.
        raise Http404("No such room")
    if room.banned_from_group:
        raise PermissionDenied("You've been banned from this group.")
    if room.removed_from_room:
        raise PermissionDenied("You've been removed from this room.")
    if room.blocked_by_moderator:
        # Blocked by the host or a moderator of this room.
        raise PermissionDenied("You can't join this room.")
    return access


# Written as SQL, not as annotations: Django took longer to build and compile the seven
# subqueries than the database took to run them (about 1 ms of the ORM thread per join).
# Plain SQL that SQLite and PostgreSQL both run; the tables and columns come from the models.
_ACCESS_SQL = """
SELECT r.*, u.id AS access_member_id,
  (EXISTS (SELECT 1 FROM {perm} p JOIN {ct} ct ON ct.id = p.content_type_id
           JOIN {member_perm} mp ON mp.{member_perm_perm} = p.id
           WHERE ct.app_label = %s AND p.codename = %s AND mp.{member_perm_member} = u.id)
   OR EXISTS (SELECT 1 FROM {perm} p JOIN {ct} ct ON ct.id = p.content_type_id
           JOIN {group_perm} gp ON gp.{group_perm_perm} = p.id
           JOIN {member_group} mg ON mg.{member_group_group} = gp.{group_perm_group}
           WHERE ct.app_label = %s AND p.codename = %s AND mg.{member_group_member} = u.id)
  ) AS has_platform_permission,
  EXISTS (SELECT 1 FROM {membership} m
          WHERE m.group_id = r.group_id AND m.member_id = u.id AND m.status = %s) AS in_its_group,
  EXISTS (SELECT 1 FROM {membership} m
          WHERE m.group_id = r.group_id AND m.member_id = u.id AND m.status = %s
            AND m.role IN (%s, %s)) AS manages_its_group,
  EXISTS (SELECT 1 FROM {group_ban} b
          WHERE b.group_id = r.group_id AND b.member_id = u.id) AS banned_from_group,
  EXISTS (SELECT 1 FROM {room_ban} b
          WHERE b.room_id = r.id AND b.member_id = u.id) AS removed_from_room,
  EXISTS (SELECT 1 FROM {block} k JOIN {participant} p ON p.member_id = k.blocker_id
          WHERE p.room_id = r.id AND p.role IN ({moderating}) AND k.blocked_id = u.id
  ) AS blocked_by_moderator,
  EXISTS (SELECT 1 FROM {participant} p
          WHERE p.room_id = r.id AND p.member_id = u.id AND p.role IN ({stage})) AS member_on_stage
FROM {room} r, {member} u WHERE r.id = %s AND u.id IN ({members})
"""


@functools.cache
def _access_sql(members: int) -> str:
    """_ACCESS_SQL for this many members."""
    member_perm = Member._meta.get_field("user_permissions")
    member_group = Member._meta.get_field("groups")
    group_perm = AuthGroup._meta.get_field("permissions")
    return _ACCESS_SQL.format(
        perm=Permission._meta.db_table,
        ct=ContentType._meta.db_table,
        member_perm=member_perm.m2m_db_table(),
        member_perm_member=member_perm.m2m_column_name(),
        member_perm_perm=member_perm.m2m_reverse_name(),
        member_group=member_group.m2m_db_table(),
        member_group_member=member_group.m2m_column_name(),
        member_group_group=member_group.m2m_reverse_name(),
        group_perm=group_perm.m2m_db_table(),
        group_perm_group=group_perm.m2m_column_name(),
        group_perm_perm=group_perm.m2m_reverse_name(),
        membership=Membership._meta.db_table,
        group_ban=GroupBan._meta.db_table,
        room_ban=RoomBan._meta.db_table,
        block=Block._meta.db_table,
        participant=Participant._meta.db_table,
        room=Room._meta.db_table,
        member=Member._meta.db_table,
        members=", ".join(["%s"] * members),
        moderating=", ".join(["%s"] * len(MODERATING_ROLES)),
        stage=", ".join(["%s"] * len(STAGE_ROLES)),
    )


def _access_params(room_id: int, members: list) -> list:
    """The parameters of _access_sql(len(members)), in its order."""
    app_label, codename = PLATFORM_PERMISSION.split(".")
    active = Membership.Status.ACTIVE
    managers = [Membership.Role.OWNER, Membership.Role.MANAGER]
    return [
        *(app_label, codename, app_label, codename),
        active,
        *(active, *managers),
        *MODERATING_ROLES,
        *STAGE_ROLES,
        room_id,
        *(member.pk for member in members),
    ]


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


def media_plan(room_id: int) -> dict:
    """What the forwarder's recorder and caption feed of a room should do now
    (rooms.recordings.live): record which span, and whom; and whether to caption."""
    room = Room.objects.filter(pk=room_id).only("status", "captions").first()
    live = room is not None and room.status == Room.Status.LIVE
    plan = {"live": live, "captions": live and room.captions, "recording": None}
    if not live:
        return plan
    span = (
        RecordingSpan.objects.filter(
            recording__room_id=room_id,
            recording__status=Recording.Status.RECORDING,
            ended_at=None,
        )
        .values("pk", "recording_id", "started_at", "offset_ms")
        .first()
    )
    if span is not None:
        plan["recording"] = {
            "id": span["recording_id"],
            "span": span["pk"],
            "offset_ms": span["offset_ms"],
            "started_at": span["started_at"].timestamp(),
            "members": list(
                RecordingConsent.objects.filter(room_id=room_id, agreed=True).values_list(
                    "member_id", flat=True
                )
            ),
        }
    return plan
