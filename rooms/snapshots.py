"""Read models sent to clients: the stage, the audience, the hand queue and "you".

Each builder costs a fixed number of queries however many people are in the room.
"""

import time
from collections.abc import Collection

from django.db.models import Case, IntegerField, Q, Value, When

from accounts.models import Block
from accounts.selectors import blocked_ids
from rooms.models import (
    STAGE_ROLES,
    Participant,
    Question,
    QuestionVote,
    Recording,
    RecordingConsent,
    Role,
    Room,
)

AUDIENCE_PAGE = 30
HAND_QUEUE_LIMIT = 100

_ROLE_RANK = Case(
    When(role=Role.HOST, then=Value(0)),
    When(role=Role.MODERATOR, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def person(participant: Participant) -> dict:
    member = participant.member
    return {
        "member": member.pk,
        "name": member.display_name,
        "headline": member.headline,
        "company": member.company,
        "verified": member.verified_domain,
        "avatar": member.avatar.url if member.avatar else "",
        "initials": member.initials,
        "url": member.get_absolute_url(),
        "handle": member.handle,
    }


def stage(room_id: int) -> list[dict]:
    people = (
        Participant.objects.filter(room_id=room_id, role__in=STAGE_ROLES, is_present=True)
        .select_related("member")
        .order_by(_ROLE_RANK, "pk")
    )
    return [{**person(p), "role": p.role, "muted": p.muted} for p in people]


# The stage as of a room's version, per process: every change to the stage bumps the version,
# so a join storm reads it once per version instead of once per join.
_stage_at: dict[int, tuple[int, list[dict]]] = {}


def stage_at(room_id: int, version: int) -> list[dict]:
    cached = _stage_at.get(room_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    people = stage(room_id)
    _stage_at[room_id] = (version, people)
    return people


def audience_count(room_id: int) -> int:
    return Participant.objects.filter(room_id=room_id, role=Role.LISTENER, is_present=True).count()


# The audience as last read in this process, per room: (monotonic time, count, first page),
# and the joins of the current AUDIENCE_FRESH window: (window start, joins).
# In a join storm (over BUSY_JOINS joins in a window: 16 a second) a join reuses a reading
# younger than AUDIENCE_FRESH instead of making its own two queries; the audience.changed
# that the join itself causes (coalesced, at most broadcast.AUDIENCE_INTERVAL later) brings
# the joiner up to date. At an ordinary pace every join reads the audience afresh, itself included.
AUDIENCE_FRESH = 0.5
BUSY_JOINS = 8
_audience_at: dict[int, tuple[float, int, list[dict]]] = {}
_joins_at: dict[int, tuple[float, int]] = {}


def audience(room_id: int, *, joining: bool = False) -> tuple[int, list[dict]]:
    """The listener count and the first page of listeners. Read afresh, unless `joining`
    in a join storm (see above)."""
    now = time.monotonic()
    if joining:
        start, joins = _joins_at.get(room_id, (now, 0))
        if now - start >= AUDIENCE_FRESH:
            start, joins = now, 0
        _joins_at[room_id] = (start, joins + 1)
        cached = _audience_at.get(room_id)
        if joins >= BUSY_JOINS and cached is not None and now - cached[0] < AUDIENCE_FRESH:
            return cached[1], cached[2]
    count, page = audience_count(room_id), audience_page(room_id)
    _audience_at[room_id] = (now, count, page)
    return count, page


def audience_page(room_id: int, *, offset: int = 0, limit: int = AUDIENCE_PAGE) -> list[dict]:
    people = (
        Participant.objects.filter(room_id=room_id, role=Role.LISTENER, is_present=True)
        .select_related("member")
        .order_by("joined_at", "pk")[offset : offset + limit]
    )
    return [person(p) for p in people]


def hand_queue(room_id: int, *, hide: Collection[int] = frozenset()) -> list[dict]:
    people = (
        Participant.objects.filter(
            room_id=room_id,
            role=Role.LISTENER,
            is_present=True,
            hand_raised_at__isnull=False,
        )
        .select_related("member")
        .order_by("hand_raised_at", "pk")[:HAND_QUEUE_LIMIT]
    )
    return [
        {**person(p), "raised_at": p.hand_raised_at.isoformat()}
        for p in people
        if p.member_id not in hide
    ]


QUESTIONS_LIMIT = 100


def questions(room_id: int) -> list[dict]:
    """The room's questions as everyone sees them, before each viewer's blocks: open ones by
    votes (then oldest first), then the answered ones in the same order."""
    rows = (
        Question.objects.filter(room_id=room_id, removed_at__isnull=True)
        .select_related("asker")
        .order_by(
            Case(When(answered_at__isnull=True, then=Value(0)), default=Value(1)),
            "-votes",
            "created_at",
            "-answered_at",
        )[:QUESTIONS_LIMIT]
    )
    return [
        {
            "id": q.pk,
            "member": q.asker_id,
            "name": q.asker.display_name,
            "handle": q.asker.handle,
            "headline": q.asker.headline,
            "company": q.asker.company,
            "verified": q.asker.verified_domain,
            "text": q.text,
            "votes": q.votes,
            "answered": q.answered_at is not None,
            "asked_at": q.created_at.isoformat(),
        }
        for q in rows
    ]


def questions_parts(room_id: int, members: list) -> dict[int, dict]:
    """member id -> the `questions` and `questions_voted` of their room.state: the
    questions they may see (none from members blocked either way) and their votes. Three
    queries however many members (a batch of joins), one if the room has no questions."""
    listed = questions(room_id)
    if not listed:
        return {m.pk: {"questions": [], "questions_voted": []} for m in members}
    ids = [m.pk for m in members]
    hidden: dict[int, set[int]] = {pk: set() for pk in ids}
    pairs = Block.objects.filter(Q(blocker_id__in=ids) | Q(blocked_id__in=ids)).values_list(
        "blocker_id", "blocked_id"
    )
    for blocker, blocked in pairs:
        if blocker in hidden:
            hidden[blocker].add(blocked)
        if blocked in hidden:
            hidden[blocked].add(blocker)
    voted: dict[int, list[int]] = {pk: [] for pk in ids}
    votes = QuestionVote.objects.filter(
        member_id__in=ids, question_id__in=[q["id"] for q in listed]
    ).values_list("member_id", "question_id")
    for member_id, question_id in votes:
        voted[member_id].append(question_id)
    parts = {}
    for pk in ids:
        shown = [q for q in listed if q["member"] not in hidden[pk]]
        seen = {q["id"] for q in shown}
        parts[pk] = {
            "questions": shown,
            "questions_voted": sorted(v for v in voted[pk] if v in seen),
        }
    return parts


def you(participant: Participant, *, platform: bool) -> dict:
    return {
        "member": participant.member_id,
        "role": participant.role,
        "hand_raised": participant.hand_raised_at is not None,
        "invited": participant.invited_at is not None,
        "muted": participant.muted,
        "can_moderate": participant.role in (Role.HOST, Role.MODERATOR) or platform,
        "is_host": participant.role == Role.HOST,
        "platform": platform,
        # Whether they agreed to be recorded: asked only of those on stage.
        "consent": _consent(participant) if participant.role in STAGE_ROLES else None,
    }


def _consent(participant: Participant) -> str | None:
    agreed = (
        RecordingConsent.objects.filter(
            room_id=participant.room_id, member_id=participant.member_id
        )
        .values_list("agreed", flat=True)
        .first()
    )
    return None if agreed is None else ("agreed" if agreed else "declined")


RECORDING_STATES = {Recording.Status.RECORDING: "on", Recording.Status.PAUSED: "paused"}


def recording(room: Room) -> dict:
    """What everyone in the room sees of its recording ("on", "paused" or "off") and
    whether the host has captions on."""
    status = Recording.objects.filter(room_id=room.pk).values_list("status", flat=True).first()
    return {"state": RECORDING_STATES.get(status, "off"), "captions": room.captions}


def room_snapshot(
    room: Room,
    participant: Participant,
    *,
    platform: bool,
    joining: bool = False,
    audience_now: tuple[int, list[dict]] | None = None,
    questions_now: dict | None = None,
) -> dict:
    """The room.state for one member. `joining`: sent on a join, which in a join storm may
    reuse a recent reading of the audience (see audience()). `audience_now`: a reading of
    audience() the caller made for a batch of joins."""
    me = you(participant, platform=platform)
    # One reading per room object: a batch of joins shares its room.
    on_record = getattr(room, "_recording_now", None)
    if on_record is None:
        on_record = room._recording_now = recording(room)
    if audience_now is None:
        audience_now = audience(room.pk, joining=joining)
    return {
        "version": room.version,
        "room": {
            "id": room.pk,
            "title": room.title,
            "status": room.status,
            "max_speakers": room.max_speakers,
        },
        "recording": on_record,
        "stage": stage_at(room.pk, room.version),
        "audience": dict(zip(("count", "first_page"), audience_now, strict=True)),
        "hand_queue": hand_queue(room.pk, hide=blocked_ids(participant.member))
        if me["can_moderate"]
        else [],
        "you": me,
    } | (questions_now or questions_parts(room.pk, [participant.member])[participant.member_id])
