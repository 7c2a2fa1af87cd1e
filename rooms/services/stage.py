"""Hands, invitations and the stage: who speaks, and their own mute."""

from django.utils import timezone

from accounts.models import Block
from rooms import protocol
from rooms.errors import Conflict, NotAllowed, StageFull
from rooms.models import STAGE_ROLES, AuditAction, Participant, Role, Room
from rooms.moderation.audit import audit
from rooms.services.change import RoomChange, acting
from rooms.services.recording import needs_consent


def hand_raise(*, room_id: int, actor) -> None:
    with acting(room_id, actor, "hand.raise") as change:
        _set_hand(change, change.me, raised=True)


def hand_lower(*, room_id: int, actor) -> None:
    with acting(room_id, actor, "hand.lower") as change:
        _set_hand(change, change.me, raised=False)


def hand_dismiss(*, room_id: int, actor, member_id: int) -> None:
    with acting(room_id, actor, "hand.dismiss", target=member_id) as change:
        if change.target.hand_raised_at is None:
            raise Conflict("That hand isn't raised any more.")
        _set_hand(change, change.target, raised=False)


def _set_hand(change: RoomChange, participant: Participant, *, raised: bool) -> None:
    if (participant.hand_raised_at is not None) == raised:
        return
    participant.hand_raised_at = timezone.now() if raised else None
    participant.save(update_fields=["hand_raised_at"])
    change.changed(queue=True, told=[participant])


def speaker_invite(*, room_id: int, actor, member_id: int) -> None:
    with acting(room_id, actor, "speaker.invite", target=member_id) as change:
        target = change.target
        if Block.objects.filter(blocker=actor, blocked_id=member_id).exists():
            raise NotAllowed("You've blocked this member.")
        if Block.objects.filter(blocker_id=member_id, blocked=actor).exists():
            raise NotAllowed("You can't invite this member.")
        require_seat(change.room)
        if target.invited_at is not None:
            return
        target.invited_at = timezone.now()
        target.save(update_fields=["invited_at"])
        by = actor.display_name
        change.notice(member_id, lambda version: protocol.invited(version=version, by=by))
        change.changed(told=[target])


def invite_accept(*, room_id: int, actor) -> None:
    with acting(room_id, actor, "invite.accept") as change:
        if change.me.invited_at is None:
            raise Conflict("You don't have an invitation to speak.")
        take_seat(change, change.me)


def invite_decline(*, room_id: int, actor) -> None:
    with acting(room_id, actor, "invite.decline") as change:
        if change.me.invited_at is None:
            return
        change.me.invited_at = None
        change.me.save(update_fields=["invited_at"])
        change.changed(told=[change.me])


def speaker_promote(*, room_id: int, actor, member_id: int) -> None:
    """Approve a raised hand: the listener goes on stage at once."""
    with acting(room_id, actor, "speaker.promote", target=member_id) as change:
        if change.target.hand_raised_at is None:
            raise Conflict("That member hasn't raised a hand.")
        take_seat(change, change.target)


def take_seat(change: RoomChange, participant: Participant, role: str = Role.SPEAKER) -> None:
    """A listener takes a seat on the stage (arriving muted)."""
    require_seat(change.room)
    had_hand = participant.hand_raised_at is not None
    participant.take_role(role)
    change.changed(stage=True, audience=True, queue=had_hand, told=[participant])


def require_seat(room: Room) -> None:
    if Participant.objects.filter(room=room, role__in=STAGE_ROLES).count() >= room.max_speakers:
        raise StageFull(f"The stage is full ({room.max_speakers} people).")


def speaker_demote(*, room_id: int, actor, member_id: int) -> None:
    if member_id == actor.pk:
        return stage_leave(room_id=room_id, actor=actor)
    with acting(room_id, actor, "speaker.demote", target=member_id, target_present=False) as change:
        target = change.target
        before = {"role": target.role}
        _to_audience(change, target)
        audit(
            actor=actor,
            action=AuditAction.SPEAKER_DEMOTE,
            room=change.room,
            target_member=target.member,
            before=before,
            after={"role": target.role},
        )
    return None


def stage_leave(*, room_id: int, actor) -> None:
    with acting(room_id, actor, "stage.leave") as change:
        _to_audience(change, change.me)


def _to_audience(change: RoomChange, participant: Participant) -> None:
    participant.take_role(Role.LISTENER)
    change.changed(stage=True, audience=participant.is_present, told=[participant])


def mute_self(*, room_id: int, actor) -> None:
    _set_own_mute(room_id, actor, "mute.self", True)


def unmute_self(*, room_id: int, actor) -> None:
    """Unmuting is only ever the speaker's own act."""
    _set_own_mute(room_id, actor, "unmute.self", False)


def _set_own_mute(room_id: int, actor, action: str, value: bool) -> None:
    with acting(room_id, actor, action) as change:
        if change.me.muted == value:
            return
        if not value and needs_consent(change.room, change.me):
            raise Conflict(
                "This room is recorded: agree to be recorded to speak, or leave the stage.",
                code="consent_required",
            )
        change.me.muted = value
        change.me.save(update_fields=["muted"])
        change.changed(stage=True, told=[change.me])
