"""The one shape of a state change on a live room.

Every room service is: lock the live room, find the actor and the target, check the
permission (rooms.permissions), change rows, then say what changed. `acting()` does the
first part and hands back a `RoomChange`; the service records on it what it changed, and
when the block ends without an error the change is announced in one place (`_announce`):
the version is bumped when everyone's view changed, and the broadcasts and forwarder updates
go out on commit, in a fixed order.

    with acting(room_id, actor, "hand.raise") as change:
        if change.me.hand_raised_at is None:
            ...
            change.changed(queue=True, told=[change.me])
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction

from rooms import broadcast, media_bridge, permissions, snapshots
from rooms.errors import NotAllowed, NotFound, RoomNotLive
from rooms.models import Participant, Room


@dataclass
class RoomChange:
    """A locked live room, who acts in it and on whom, and what the service changed."""

    room: Room
    me: Participant | None = None
    platform: bool = False
    target: Participant | None = None
    stage: bool = False
    audience: bool = False
    queue: bool = False
    bump: bool = False
    ended: bool = False
    # The room's recording or captions state changed (rooms/services/recording.py), and
    # what to tell the room with it, if anything.
    recording: bool = False
    recording_note: str = ""
    told: list[Participant] = field(default_factory=list)
    notices: list[tuple[int, Callable[[int], str]]] = field(default_factory=list)
    removed: list[tuple[int, bool]] = field(default_factory=list)
    detached: list[int] = field(default_factory=list)

    def changed(
        self,
        *,
        stage: bool = False,
        audience: bool = False,
        queue: bool = False,
        bump: bool = False,
        recording: bool = False,
        told: tuple[Participant, ...] | list[Participant] = (),
    ) -> None:
        """Record what changed: the stage (bumps the version), the audience (a coalesced
        update), the hand queue (moderators), `bump` for other room-wide changes, and the
        participants whose own state changed (`told`: they get role.changed, and the
        forwarder learns whether they may be heard). `recording`: the recording or captions
        state, which everyone sees and the forwarder's recorder follows."""
        self.stage |= stage
        self.recording |= recording
        self.audience |= audience
        self.queue |= queue
        self.bump |= bump
        self.told.extend(told)

    def notice(self, member_id: int, render: Callable[[int], str]) -> None:
        """A personal event for one member, rendered with the room's final version."""
        self.notices.append((member_id, render))

    def sent_away(self, member_id: int, *, banned: bool | None) -> None:
        """The member left the room by force: their audio is dropped and, unless `banned` is
        None (the caller closes their sockets itself), they get `removed`."""
        if banned is not None:
            self.removed.append((member_id, banned))
        self.detached.append(member_id)


def lock_live_room(room_id: int) -> Room:
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise NotFound("No such room.")
    if room.status != Room.Status.LIVE:
        raise RoomNotLive("This room isn't live.")
    return room


@contextmanager
def room_changing(room: Room) -> Iterator[RoomChange]:
    """Collect the changes to a room already locked in the caller's transaction, and
    announce them when the block ends without an error."""
    change = RoomChange(room=room)
    yield change
    _announce(change)


@contextmanager
def acting(
    room_id: int,
    actor,
    action: str,
    *,
    target: int | None = None,
    target_present: bool = True,
    actor_present: bool = True,
    refusal: str = "You can't do that in this room.",
) -> Iterator[RoomChange]:
    """In one transaction: lock the live room, find the actor (`change.me`, with
    `change.platform` for moderator powers from outside the room) and the target member,
    check that the actor may take `action`, then run the block and announce its changes."""
    with transaction.atomic():
        room = lock_live_room(room_id)
        with room_changing(room) as change:
            change.me, change.platform = _actor(room, actor, present=actor_present)
            if target is not None:
                change.target = _participant(room, target, present=target_present)
            if not permissions.allowed(
                action,
                actor_role=change.me.role,
                platform=change.platform,
                target_role=change.target.role if change.target is not None else None,
                target_is_self=change.target is not None
                and change.target.member_id == change.me.member_id,
            ):
                raise NotAllowed(refusal)
            yield change


def _actor(room: Room, actor, *, present: bool) -> tuple[Participant, bool]:
    """The actor's place in the room and whether they hold moderator powers over it. A
    platform moderator or group manager may act from outside the room (the dashboard)."""
    powers = permissions.moderator_powers(room, actor)
    query = Participant.objects.select_for_update().filter(room=room, member=actor)
    if present:
        query = query.filter(is_present=True)
    participant = query.first()
    if participant is None:
        if present and not powers:
            raise NotFound("You aren't in this room.")
        # No role: only moderator powers (or nothing, and the permission check refuses).
        participant = Participant(room=room, member=actor, role="")
    participant.member = actor  # saves a query wherever the actor's row is read again
    return participant, powers


def _participant(room: Room, member_id: int, *, present: bool) -> Participant:
    """A member in this room; members of other rooms and absent ones are not found."""
    query = Participant.objects.select_for_update().filter(room=room, member_id=member_id)
    if present:
        query = query.filter(is_present=True)
    participant = query.select_related("member").first()
    if participant is None:
        raise NotFound("That member isn't in this room.")
    return participant


def _announce(change: RoomChange) -> None:
    room = change.room
    if change.stage or change.bump or change.ended or change.recording:
        room.version += 1
        room.save(update_fields=["version"])
    version = room.version
    for member_id, banned in change.removed:
        broadcast.member_removed(room.pk, member_id, version, banned=banned)
    for member_id in change.detached:
        transaction.on_commit(lambda r=room.pk, m=member_id: media_bridge.detach_soon(r, m))
        broadcast.media_publishing(room.pk, member_id, False)  # on every other node too
    if change.stage:
        broadcast.stage_changed(room.pk, version)
    if change.audience:
        broadcast.audience_changed(room.pk)
    if change.queue:
        broadcast.hand_queue_changed(room.pk, version)
    if change.recording:
        broadcast.recording_changed(
            room.pk, version, snapshots.recording(room), change.recording_note
        )
        broadcast.media_plan(room.pk)
        transaction.on_commit(lambda: media_bridge.media_plan_soon(room.pk))
    for member_id, render in change.notices:
        broadcast.to_member(room.pk, member_id, render(version))
    for participant in change.told:
        _tell(room, participant, version)
    if change.ended:
        broadcast.room_ended(room.pk, version)
        transaction.on_commit(lambda: media_bridge.close_room_soon(room.pk))
        # Its recorder and caption feed stop (and the recorder's tracks are saved).
        broadcast.media_plan(room.pk)
        transaction.on_commit(lambda: media_bridge.media_plan_soon(room.pk))


def _tell(room: Room, participant: Participant, version: int) -> None:
    """Send the participant their own new state, and tell the forwarder whether their
    audio may now be heard (on stage and unmuted)."""
    platform = permissions.moderator_powers(room, participant.member)
    broadcast.role_changed(
        room.pk, participant.member_id, version, snapshots.you(participant, platform=platform)
    )
    allowed = participant.on_stage and not participant.muted
    room_id, member_id = room.pk, participant.member_id
    transaction.on_commit(lambda: media_bridge.publishing_soon(room_id, member_id, allowed))
    broadcast.media_publishing(room_id, member_id, allowed)
