"""What moderators do to others in a room: mute, make or unmake moderator, remove, ban.
Each writes its one audit entry (rooms.moderation.audit) in the same transaction."""

from django.utils import timezone

from rooms import protocol
from rooms.models import AuditAction, Role, RoomBan
from rooms.moderation.audit import audit
from rooms.services.change import RoomChange, acting
from rooms.services.questions import questions_remove_by
from rooms.services.stage import mute_self, take_seat


def _audit(change: RoomChange, action: str, **details) -> None:
    audit(
        actor=change.me.member,  # the actor
        action=action,
        room=change.room,
        target_member=change.target.member,
        **details,
    )


def mute(*, room_id: int, actor, member_id: int) -> None:
    if member_id == actor.pk:
        return mute_self(room_id=room_id, actor=actor)
    with acting(room_id, actor, "mute", target=member_id, target_present=False) as change:
        target = change.target
        if target.muted:
            return None
        target.muted = True
        target.save(update_fields=["muted"])
        _audit(change, AuditAction.MUTE, before={"muted": False}, after={"muted": True})
        by = actor.display_name
        change.notice(member_id, lambda version: protocol.muted(version=version, by=by))
        change.changed(stage=True, told=[target])
    return None


def moderator_add(*, room_id: int, actor, member_id: int) -> None:
    with acting(room_id, actor, "moderator.add", target=member_id) as change:
        target = change.target
        _audit(
            change,
            AuditAction.MODERATOR_ADD,
            before={"role": target.role},
            after={"role": Role.MODERATOR},
        )
        if target.role == Role.LISTENER:
            take_seat(change, target, Role.MODERATOR)
        else:
            target.role = Role.MODERATOR
            target.save(update_fields=["role"])
            change.changed(stage=True, audience=True, told=[target])


def moderator_remove(*, room_id: int, actor, member_id: int) -> None:
    with acting(
        room_id, actor, "moderator.remove", target=member_id, target_present=False
    ) as change:
        target = change.target
        _audit(
            change,
            AuditAction.MODERATOR_REMOVE,
            before={"role": target.role},
            after={"role": Role.SPEAKER},
        )
        target.role = Role.SPEAKER
        target.save(update_fields=["role"])
        change.changed(stage=True, told=[target])


def member_remove(*, room_id: int, actor, member_id: int) -> None:
    _send_away(room_id, actor, member_id, banned=False, reason="")


def member_ban(*, room_id: int, actor, member_id: int, reason: str = "") -> None:
    _send_away(room_id, actor, member_id, banned=True, reason=reason)


def _send_away(room_id: int, actor, member_id: int, *, banned: bool, reason: str) -> None:
    action = "member.ban" if banned else "member.remove"
    # A ban reaches members who already left; a removal only those here.
    with acting(room_id, actor, action, target=member_id, target_present=not banned) as change:
        target = change.target
        _audit(
            change,
            AuditAction.MEMBER_BAN if banned else AuditAction.MEMBER_REMOVE,
            reason=reason,
            before={"role": target.role, "present": target.is_present},
            after={"present": False, "banned": banned},
        )
        change.changed(stage=target.on_stage, audience=True, queue=True, bump=True)
        target.send_away(at=timezone.now())
        if banned:
            RoomBan.objects.get_or_create(
                room=change.room,
                member_id=member_id,
                defaults={"banned_by": actor, "reason": reason},
            )
            questions_remove_by(room_id=room_id, member_id=member_id, actor=actor)
        change.sent_away(member_id, banned=banned)
