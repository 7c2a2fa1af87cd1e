"""DESIGN.md section 3, cell by cell, through the real services.

Every action, for every actor role and every kind of target, gets a fresh live room. The
expected table below is written out from DESIGN.md by hand, on purpose without
rooms.permissions: a test that computed its expectation with the code under test could never
catch it lying.

Readings of the table where DESIGN.md leaves room for doubt (the code implements these):

- "platform" is a member holding rooms.moderate_platform who is present as a listener: they
  have a listener's own rights plus the platform column.
- Moderators demote only speakers, and mute speakers and other moderators, never the host.
- The host never leaves the stage and is never demoted, removed, banned or muted by another
  member, except that a platform moderator may mute the host.
- A platform moderator may demote, mute, remove and ban anyone but the host, and end the room.
- Making and unmaking moderators is for the host and platform moderators only.
- A target action aimed at yourself is refused, except the two the table grants on oneself:
  demoting yourself is leaving the stage, and muting yourself is mute.self.
- A target that is in another room, or not in this room at all, is not found.

An allowed cell must make exactly the expected change (compared over every Participant,
RoomBan and Room row) and queue a broadcast; a refused cell must raise a RoomError, change no
row and queue nothing.
"""

import itertools
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import Member
from rooms import protocol, services
from rooms.errors import NotFound, RoomError
from rooms.models import Participant, Recording, RecordingSpan, Role, Room, RoomBan
from tests.conftest import make_member, make_room
from tests.rooms.test_questions import QUESTION_ACTIONS

HOST, MODERATOR, SPEAKER, LISTENER = "host", "moderator", "speaker", "listener"
PLATFORM = "platform"  # a platform moderator, present in the room as a listener
ACTORS = (HOST, MODERATOR, SPEAKER, LISTENER, PLATFORM)

SELF = "self"
ELSEWHERE = "in-another-room"  # present in another live room, not in this one
ABSENT = "not-in-room"  # a member who is in no room at all
TARGETS = (SELF, HOST, MODERATOR, SPEAKER, LISTENER, ELSEWHERE, ABSENT)

# --- The expected table (DESIGN.md section 3) ---------------------------------------------

# Actions a member takes on themselves or on the whole room: who may take them.
EXPECTED_OWN: dict[str, set[str]] = {
    "hand.raise": {LISTENER, PLATFORM},
    "hand.lower": {LISTENER, PLATFORM},
    "invite.accept": {LISTENER, PLATFORM},
    "invite.decline": {LISTENER, PLATFORM},
    "stage.leave": {MODERATOR, SPEAKER},
    "mute.self": {HOST, MODERATOR, SPEAKER},
    "unmute.self": {HOST, MODERATOR, SPEAKER},
    "room.end": {HOST, PLATFORM},
    "reaction": {HOST, MODERATOR, SPEAKER, LISTENER, PLATFORM},
    "recording.start": {HOST},
    "recording.pause": {HOST},
    "recording.consent": {HOST, MODERATOR, SPEAKER, LISTENER, PLATFORM},
    "captions.set": {HOST, MODERATOR},
}

# Actions on a member: for each actor, the targets they may act on. Anyone missing is refused.
EXPECTED_ON: dict[str, dict[str, set[str]]] = {
    "hand.dismiss": {HOST: {LISTENER}, MODERATOR: {LISTENER}, PLATFORM: {LISTENER}},
    "speaker.invite": {HOST: {LISTENER}, MODERATOR: {LISTENER}, PLATFORM: {LISTENER}},
    "speaker.promote": {HOST: {LISTENER}, MODERATOR: {LISTENER}, PLATFORM: {LISTENER}},
    "speaker.demote": {
        HOST: {MODERATOR, SPEAKER},
        MODERATOR: {SPEAKER, SELF},
        SPEAKER: {SELF},
        PLATFORM: {MODERATOR, SPEAKER},
    },
    "mute": {
        HOST: {MODERATOR, SPEAKER, SELF},
        MODERATOR: {MODERATOR, SPEAKER, SELF},
        SPEAKER: {SELF},
        PLATFORM: {HOST, MODERATOR, SPEAKER},
    },
    "moderator.add": {HOST: {SPEAKER, LISTENER}, PLATFORM: {SPEAKER, LISTENER}},
    "moderator.remove": {HOST: {MODERATOR}, PLATFORM: {MODERATOR}},
    "member.remove": {
        HOST: {MODERATOR, SPEAKER, LISTENER},
        MODERATOR: {SPEAKER, LISTENER},
        PLATFORM: {MODERATOR, SPEAKER, LISTENER},
    },
    "member.ban": {
        HOST: {MODERATOR, SPEAKER, LISTENER},
        MODERATOR: {SPEAKER, LISTENER},
        PLATFORM: {MODERATOR, SPEAKER, LISTENER},
    },
}

# Role changes, mutes, removals and the end are seen by every client: one version each.
BUMPS_VERSION = {
    "invite.accept",
    "speaker.promote",
    "speaker.demote",
    "stage.leave",
    "mute.self",
    "unmute.self",
    "mute",
    "moderator.add",
    "moderator.remove",
    "member.remove",
    "member.ban",
    "room.end",
    "recording.start",
    "recording.pause",
    "captions.set",
}


def _call(action: str, room: Room, actor: Member, target: Member | None) -> None:
    room_id = room.pk
    match action:
        case "hand.raise":
            services.hand_raise(room_id=room_id, actor=actor)
        case "hand.lower":
            services.hand_lower(room_id=room_id, actor=actor)
        case "hand.dismiss":
            services.hand_dismiss(room_id=room_id, actor=actor, member_id=target.pk)
        case "speaker.invite":
            services.speaker_invite(room_id=room_id, actor=actor, member_id=target.pk)
        case "invite.accept":
            services.invite_accept(room_id=room_id, actor=actor)
        case "invite.decline":
            services.invite_decline(room_id=room_id, actor=actor)
        case "speaker.promote":
            services.speaker_promote(room_id=room_id, actor=actor, member_id=target.pk)
        case "speaker.demote":
            services.speaker_demote(room_id=room_id, actor=actor, member_id=target.pk)
        case "stage.leave":
            services.stage_leave(room_id=room_id, actor=actor)
        case "mute.self":
            services.mute_self(room_id=room_id, actor=actor)
        case "unmute.self":
            services.unmute_self(room_id=room_id, actor=actor)
        case "mute":
            services.mute(room_id=room_id, actor=actor, member_id=target.pk)
        case "moderator.add":
            services.moderator_add(room_id=room_id, actor=actor, member_id=target.pk)
        case "moderator.remove":
            services.moderator_remove(room_id=room_id, actor=actor, member_id=target.pk)
        case "member.remove":
            services.member_remove(room_id=room_id, actor=actor, member_id=target.pk)
        case "member.ban":
            services.member_ban(room_id=room_id, actor=actor, member_id=target.pk, reason="spam")
        case "room.end":
            services.room_end(room_id=room_id, actor=actor)
        case "reaction":
            services.reaction_send(room_id=room_id, actor=actor, emoji="👏")
        case "recording.start":
            services.recording_start(room_id=room_id, actor=actor)
        case "recording.pause":
            services.recording_pause(room_id=room_id, actor=actor)
        case "recording.consent":
            services.recording_consent(room_id=room_id, actor=actor, agree=True)
        case "captions.set":
            services.captions_set(room_id=room_id, actor=actor, on=True)
        case _:
            raise AssertionError(f"no service for {action}")


# --- Cells ---------------------------------------------------------------------------------


def _cells():
    for action, allowed in EXPECTED_OWN.items():
        for actor in ACTORS:
            yield pytest.param(action, actor, None, actor in allowed, id=f"{action}:{actor}")
    for action, rules in EXPECTED_ON.items():
        for actor in ACTORS:
            for target in TARGETS:
                if actor == HOST and target == HOST:
                    continue  # one host per room: that is the SELF cell
                allowed = target in rules.get(actor, set())
                yield pytest.param(action, actor, target, allowed, id=f"{action}:{actor}->{target}")


# --- Building a scene ----------------------------------------------------------------------

_connections = itertools.count(1)


def _join(room: Room, member: Member, role: str | None = None) -> None:
    services.participant_join(
        room_id=room.pk, member=member, connection=f"test-{next(_connections)}"
    )
    if role is not None:
        Participant.objects.filter(room=room, member=member).update(role=role)


def _platform_moderator() -> Member:
    member = make_member("Platform Mod")
    member.user_permissions.add(
        Permission.objects.get(codename="moderate_platform", content_type__app_label="rooms")
    )
    return Member.objects.get(pk=member.pk)  # no stale permission cache


# The role a target has in the other room: one this action would accept if it looked there.
_ELSEWHERE_ROLE = {
    "hand.dismiss": LISTENER,
    "speaker.invite": LISTENER,
    "speaker.promote": LISTENER,
    "moderator.add": LISTENER,
    "speaker.demote": SPEAKER,
    "mute": SPEAKER,
    "moderator.remove": MODERATOR,
    "member.remove": LISTENER,
    "member.ban": LISTENER,
}


def _make_it_matter(action: str, room_id: int, member: Member) -> None:
    """Put the subject of the action in the state where only the role check can refuse it:
    the hand is up to be lowered or approved, the invitation is there to be accepted, the
    microphone is open to be muted, and so on."""
    p = Participant.objects.filter(room_id=room_id, member=member)
    role = p.values_list("role", flat=True).first()
    if action in {"hand.lower", "hand.dismiss", "speaker.promote"} and role == LISTENER:
        p.update(hand_raised_at=timezone.now())
    elif action in {"invite.accept", "invite.decline"}:
        p.update(invited_at=timezone.now())
    elif action in {"mute.self", "mute", "speaker.demote"}:
        p.update(muted=False)
    elif action == "unmute.self":
        p.update(muted=True)
    elif action == "recording.pause":
        recording = Recording.objects.get_or_create(room_id=room_id)[0]
        RecordingSpan.objects.get_or_create(
            recording=recording, ended_at=None, defaults={"started_at": timezone.now()}
        )


@dataclass
class Scene:
    room: Room
    actor: Member
    target: Member | None


def _scene(action: str, actor_kind: str, target_kind: str | None) -> Scene:
    host = make_member("Host")
    room = make_room(host)
    _join(room, host)
    if actor_kind == HOST:
        actor = host
    elif actor_kind == PLATFORM:
        actor = _platform_moderator()
        _join(room, actor)  # as a listener
    else:
        actor = make_member(actor_kind.title())
        _join(room, actor, actor_kind)

    target = None
    if target_kind is None or target_kind == SELF:
        target = actor if target_kind == SELF else None
        _make_it_matter(action, room.pk, actor)
    elif target_kind == HOST:
        target = host
        _make_it_matter(action, room.pk, host)
    elif target_kind in (MODERATOR, SPEAKER, LISTENER):
        target = make_member(f"Target {target_kind}")
        _join(room, target, target_kind)
        _make_it_matter(action, room.pk, target)
    elif target_kind == ELSEWHERE:
        target = make_member("Elsewhere")
        other = make_room(make_member("Other Host"))
        _join(other, target, _ELSEWHERE_ROLE[action])
        _make_it_matter(action, other.pk, target)
    else:
        assert target_kind == ABSENT
        target = make_member("Absent")
    return Scene(Room.objects.get(pk=room.pk), actor, target)


# --- Snapshots -----------------------------------------------------------------------------


def _snapshot() -> dict:
    """Every row a room action may touch, in every room."""
    return {
        "participants": {
            (p["room_id"], p["member_id"]): p
            for p in Participant.objects.values(
                "room_id",
                "member_id",
                "role",
                "hand_raised_at",
                "invited_at",
                "muted",
                "is_present",
            )
        },
        "bans": set(RoomBan.objects.values_list("room_id", "member_id")),
        "rooms": {r["pk"]: r for r in Room.objects.values("pk", "status", "version", "captions")},
        "recordings": dict(Recording.objects.values_list("room_id", "status")),
    }


def _shape(snapshot: dict) -> dict:
    """The snapshot with timestamps reduced to set / not set."""
    return {
        "participants": {
            key: {
                **row,
                "hand_raised_at": row["hand_raised_at"] is not None,
                "invited_at": row["invited_at"] is not None,
            }
            for key, row in snapshot["participants"].items()
        },
        "bans": set(snapshot["bans"]),
        "rooms": {pk: dict(row) for pk, row in snapshot["rooms"].items()},
        "recordings": dict(snapshot["recordings"]),
    }


def _to_audience(row: dict) -> None:
    row.update(role=LISTENER, muted=True, hand_raised_at=False, invited_at=False)


def _to_stage(row: dict, role: str = SPEAKER) -> None:
    row.update(role=role, muted=True, hand_raised_at=False, invited_at=False)


def _expected(action: str, scene: Scene, before: dict) -> dict:
    """The shape of the database after the allowed action, from its shape before."""
    after = _shape(before)
    room_id = scene.room.pk
    people = after["participants"]
    subject = scene.target if scene.target is not None else scene.actor
    row = people.get((room_id, subject.pk))
    match action:
        case "hand.raise":
            row["hand_raised_at"] = True
        case "hand.lower" | "hand.dismiss":
            row["hand_raised_at"] = False
        case "speaker.invite":
            row["invited_at"] = True
        case "invite.decline":
            row["invited_at"] = False
        case "invite.accept" | "speaker.promote":
            _to_stage(row)
        case "speaker.demote" | "stage.leave":
            _to_audience(row)
        case "mute.self" | "mute":
            row["muted"] = True
        case "unmute.self":
            row["muted"] = False
        case "moderator.add":
            if row["role"] == LISTENER:
                _to_stage(row, MODERATOR)
            else:
                row["role"] = MODERATOR
        case "moderator.remove":
            row["role"] = SPEAKER
        case "member.remove" | "member.ban":
            _to_audience(row)
            row["is_present"] = False
            if action == "member.ban":
                after["bans"].add((room_id, subject.pk))
        case "room.end":
            after["rooms"][room_id]["status"] = Room.Status.ENDED
            for (rid, _), person in people.items():
                if rid == room_id:
                    person.update(is_present=False, hand_raised_at=False)
        case "reaction" | "recording.consent":
            pass
        case "recording.start":
            after["recordings"][room_id] = Recording.Status.RECORDING
        case "recording.pause":
            after["recordings"][room_id] = Recording.Status.PAUSED
        case "captions.set":
            after["rooms"][room_id]["captions"] = True
        case _:
            raise AssertionError(f"no expectation for {action}")
    return after


# --- The test ------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "actor_kind", "target_kind", "allowed"), list(_cells()))
def test_it_follows_the_permission_table(
    db, django_capture_on_commit_callbacks, action, actor_kind, target_kind, allowed
):
    scene = _scene(action, actor_kind, target_kind)
    room_id = scene.room.pk
    before = _snapshot()

    with django_capture_on_commit_callbacks() as broadcasts:
        if allowed:
            _call(action, scene.room, scene.actor, scene.target)
        else:
            missing = target_kind in (ELSEWHERE, ABSENT)
            with pytest.raises(NotFound if missing else RoomError) as refusal:
                _call(action, scene.room, scene.actor, scene.target)
            if missing:
                assert refusal.value.code == "not_found"
    after = _snapshot()

    if not allowed:
        assert after == before, "a refused action changed the database"
        assert broadcasts == [], "a refused action queued a broadcast"
        return

    expected = _expected(action, scene, before)
    got = _shape(after)
    version_before = expected["rooms"][room_id].pop("version")
    version_after = got["rooms"][room_id].pop("version")
    assert got == expected
    if action in BUMPS_VERSION:
        assert version_after == version_before + 1
    else:
        assert version_after in (version_before, version_before + 1)
    assert broadcasts, "an allowed action announced nothing"


def test_the_table_covers_every_room_action_of_the_protocol():
    """A guard on the table itself: a new inbound action can't slip in without its row."""
    not_room_actions = {"rtc.offer", "rtc.candidate", "state.sync"}
    # Questions act on a question, not a member: their own table, tests/rooms/test_questions.py.
    not_room_actions |= QUESTION_ACTIONS
    assert set(EXPECTED_OWN) | set(EXPECTED_ON) == protocol.INBOUND_TYPES - not_room_actions
    own = len(EXPECTED_OWN) * len(ACTORS)
    on = len(EXPECTED_ON) * (len(ACTORS) * len(TARGETS) - 1)
    assert len(list(_cells())) == own + on == 371
    assert {HOST, MODERATOR, SPEAKER, LISTENER} == set(Role.values)
