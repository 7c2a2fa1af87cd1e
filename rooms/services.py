"""Every state change on rooms: one keyword-only function each, checking the actor's right
itself (rooms.permissions), inside a transaction that locks the room row. Views and the
websocket consumer both call these. Broadcasts go out on commit (rooms.broadcast).

Every change that all clients see bumps Room.version by one.
"""

from django.db import transaction
from django.utils import timezone

from accounts.models import Block, Member
from accounts.notifications import notify_followers_live
from groups.selectors import active_member_ids, manages_group
from rooms import broadcast, media_bridge, permissions, protocol, snapshots
from rooms.errors import Conflict, NotAllowed, NotFound, RoomNotLive, StageFull
from rooms.models import STAGE_ROLES, AuditAction, Participant, Role, Room, RoomBan
from rooms.moderation import audit, is_platform_moderator


def moderator_powers(room: Room, member) -> bool:
    """Moderator powers over a room without a role in it: platform moderators everywhere,
    group managers in their group's rooms."""
    return is_platform_moderator(member) or manages_group(member, room.group_id)


# --- Creating and starting ------------------------------------------------------------------


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
            raise NotAllowed("Only the host can start this room.")
        if room.status != Room.Status.SCHEDULED:
            raise Conflict("This room has already started or ended.")
        room.status = Room.Status.LIVE
        room.started_at = timezone.now()
        room.version += 1
        room.save(update_fields=["status", "started_at", "version"])
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


# --- Helpers --------------------------------------------------------------------------------


def _lock_live_room(room_id: int) -> Room:
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise NotFound("No such room.")
    if room.status != Room.Status.LIVE:
        raise RoomNotLive("This room isn't live.")
    return room


def _bump(room: Room) -> int:
    room.version += 1
    room.save(update_fields=["version"])
    return room.version


def _participant(room: Room, member_id: int, *, present: bool = True) -> Participant:
    """A member in this room; members of other rooms and absent ones are not found."""
    query = Participant.objects.select_for_update().filter(room=room, member_id=member_id)
    if present:
        query = query.filter(is_present=True)
    participant = query.select_related("member").first()
    if participant is None:
        raise NotFound("That member isn't in this room.")
    return participant


def _actor(room: Room, actor) -> tuple[Participant, bool]:
    """The actor's place in the room and whether they hold moderator powers over it. A
    platform moderator or group manager may act from outside the room (the dashboard)."""
    powers = moderator_powers(room, actor)
    participant = (
        Participant.objects.select_for_update()
        .filter(room=room, member=actor, is_present=True)
        .first()
    )
    if participant is None:
        if not powers:
            raise NotFound("You aren't in this room.")
        participant = Participant(room=room, member=actor, role="")
    return participant, powers


def _audit(
    actor,
    action: str,
    room: Room,
    target: Participant | None,
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    audit(
        actor=actor,
        action=action,
        room=room,
        target_member=target.member if target is not None else None,
        reason=reason,
        before=before,
        after=after,
    )


def _check(action: str, actor_p: Participant, platform: bool, target: Participant | None = None):
    ok = permissions.allowed(
        action,
        actor_role=actor_p.role,
        platform=platform,
        target_role=target.role if target is not None else None,
        target_is_self=target is not None and target.member_id == actor_p.member_id,
    )
    if not ok:
        raise NotAllowed("You can't do that in this room.")


def _stage_size(room: Room) -> int:
    return Participant.objects.filter(room=room, role__in=STAGE_ROLES).count()


def _require_seat(room: Room) -> None:
    if _stage_size(room) >= room.max_speakers:
        raise StageFull(f"The stage is full ({room.max_speakers} people).")


def _save(participant: Participant, *fields: str) -> None:
    participant.save(update_fields=list(fields))


def _tell(room: Room, participant: Participant, version: int) -> None:
    """Send the participant their own new state, and tell the forwarder whether their
    audio may now be heard (on stage and unmuted)."""
    platform = moderator_powers(room, participant.member)
    broadcast.role_changed(
        room.pk, participant.member_id, version, snapshots.you(participant, platform=platform)
    )
    allowed = participant.on_stage and not participant.muted
    room_id, member_id = room.pk, participant.member_id
    transaction.on_commit(lambda: media_bridge.publishing_soon(room_id, member_id, allowed))


def _to_stage(participant: Participant, role: str = Role.SPEAKER) -> None:
    participant.role = role
    participant.hand_raised_at = None
    participant.invited_at = None
    participant.muted = True  # Everyone arrives on stage muted and unmutes themselves.
    _save(participant, "role", "hand_raised_at", "invited_at", "muted")


def _to_audience(participant: Participant) -> None:
    participant.role = Role.LISTENER
    participant.muted = True
    participant.hand_raised_at = None
    participant.invited_at = None
    _save(participant, "role", "muted", "hand_raised_at", "invited_at")


# --- Presence -------------------------------------------------------------------------------


def participant_join(*, room_id: int, member, connection: str) -> tuple[Room, Participant]:
    """The member's socket is in the room. Their role, hand and mute survive reconnects;
    a newer socket takes presence over from an older one."""
    with transaction.atomic():
        room = _lock_live_room(room_id)
        if RoomBan.objects.filter(room=room, member=member).exists():
            raise NotAllowed("You've been removed from this room.")
        participant, _ = Participant.objects.select_for_update().get_or_create(
            room=room, member=member, defaults={"role": Role.LISTENER}
        )
        previous = participant.connection if participant.is_present else ""
        participant.is_present = True
        participant.connection = connection
        participant.joined_at = timezone.now()
        participant.left_at = None
        _save(participant, "is_present", "connection", "joined_at", "left_at")
        if previous and previous != connection:
            broadcast.session_replaced(room.pk, member.pk, connection)
        if participant.on_stage:
            broadcast.stage_changed(room.pk, _bump(room))
        else:
            broadcast.audience_changed(room.pk)
            if participant.hand_raised_at is not None:
                broadcast.hand_queue_changed(room.pk, room.version)
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
        _save(participant, "is_present", "connection", "left_at")
        if room.status != Room.Status.LIVE:
            return
        if participant.on_stage:
            broadcast.stage_changed(room.pk, _bump(room))
        else:
            broadcast.audience_changed(room.pk)
            if participant.hand_raised_at is not None:
                broadcast.hand_queue_changed(room.pk, room.version)


# --- Hands and invitations ------------------------------------------------------------------


def hand_raise(*, room_id: int, actor) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        _check("hand.raise", me, platform)
        if me.hand_raised_at is not None:
            return
        me.hand_raised_at = timezone.now()
        _save(me, "hand_raised_at")
        broadcast.hand_queue_changed(room.pk, room.version)
        _tell(room, me, room.version)


def hand_lower(*, room_id: int, actor) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        _check("hand.lower", me, platform)
        if me.hand_raised_at is None:
            return
        me.hand_raised_at = None
        _save(me, "hand_raised_at")
        broadcast.hand_queue_changed(room.pk, room.version)
        _tell(room, me, room.version)


def hand_dismiss(*, room_id: int, actor, member_id: int) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        target = _participant(room, member_id)
        _check("hand.dismiss", me, platform, target)
        if target.hand_raised_at is None:
            raise Conflict("That hand isn't raised any more.")
        target.hand_raised_at = None
        _save(target, "hand_raised_at")
        broadcast.hand_queue_changed(room.pk, room.version)
        _tell(room, target, room.version)


def speaker_invite(*, room_id: int, actor, member_id: int) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        target = _participant(room, member_id)
        _check("speaker.invite", me, platform, target)
        if Block.objects.filter(blocker=actor, blocked_id=member_id).exists():
            raise NotAllowed("You've blocked this member.")
        _require_seat(room)
        if target.invited_at is not None:
            return
        target.invited_at = timezone.now()
        _save(target, "invited_at")
        broadcast.to_member(
            room.pk, target.member_id, protocol.invited(version=room.version, by=actor.display_name)
        )
        _tell(room, target, room.version)


def invite_accept(*, room_id: int, actor) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        _check("invite.accept", me, platform)
        if me.invited_at is None:
            raise Conflict("You don't have an invitation to speak.")
        _require_seat(room)
        had_hand = me.hand_raised_at is not None
        _to_stage(me)
        version = _bump(room)
        broadcast.stage_changed(room.pk, version)
        broadcast.audience_changed(room.pk)
        if had_hand:
            broadcast.hand_queue_changed(room.pk, version)
        _tell(room, me, version)


def invite_decline(*, room_id: int, actor) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        _check("invite.decline", me, platform)
        if me.invited_at is None:
            return
        me.invited_at = None
        _save(me, "invited_at")
        _tell(room, me, room.version)


def speaker_promote(*, room_id: int, actor, member_id: int) -> None:
    """Approve a raised hand: the listener goes on stage at once."""
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        target = _participant(room, member_id)
        _check("speaker.promote", me, platform, target)
        if target.hand_raised_at is None:
            raise Conflict("That member hasn't raised a hand.")
        _require_seat(room)
        _to_stage(target)
        version = _bump(room)
        broadcast.stage_changed(room.pk, version)
        broadcast.audience_changed(room.pk)
        broadcast.hand_queue_changed(room.pk, version)
        _tell(room, target, version)


# --- Stage ----------------------------------------------------------------------------------


def speaker_demote(*, room_id: int, actor, member_id: int) -> None:
    if member_id == actor.pk:
        return stage_leave(room_id=room_id, actor=actor)
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        target = _participant(room, member_id, present=False)
        _check("speaker.demote", me, platform, target)
        before = {"role": target.role}
        _to_audience(target)
        _audit(
            actor,
            AuditAction.SPEAKER_DEMOTE,
            room,
            target,
            before=before,
            after={"role": target.role},
        )
        _after_stage_exit(room, target)
    return None


def stage_leave(*, room_id: int, actor) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        _check("stage.leave", me, platform)
        _to_audience(me)
        _after_stage_exit(room, me)


def _after_stage_exit(room: Room, participant: Participant) -> None:
    version = _bump(room)
    broadcast.stage_changed(room.pk, version)
    if participant.is_present:
        broadcast.audience_changed(room.pk)
    _tell(room, participant, version)


def mute_self(*, room_id: int, actor) -> None:
    _set_own_mute(room_id, actor, "mute.self", True)


def unmute_self(*, room_id: int, actor) -> None:
    """Unmuting is only ever the speaker's own act."""
    _set_own_mute(room_id, actor, "unmute.self", False)


def _set_own_mute(room_id: int, actor, action: str, value: bool) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        _check(action, me, platform)
        if me.muted == value:
            return
        me.muted = value
        _save(me, "muted")
        version = _bump(room)
        broadcast.stage_changed(room.pk, version)
        _tell(room, me, version)


def mute(*, room_id: int, actor, member_id: int) -> None:
    if member_id == actor.pk:
        return mute_self(room_id=room_id, actor=actor)
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        target = _participant(room, member_id, present=False)
        _check("mute", me, platform, target)
        if target.muted:
            return None
        target.muted = True
        _save(target, "muted")
        _audit(
            actor, AuditAction.MUTE, room, target, before={"muted": False}, after={"muted": True}
        )
        version = _bump(room)
        broadcast.stage_changed(room.pk, version)
        broadcast.to_member(
            room.pk, target.member_id, protocol.muted(version=version, by=actor.display_name)
        )
        _tell(room, target, version)
    return None


def moderator_add(*, room_id: int, actor, member_id: int) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        target = _participant(room, member_id)
        _check("moderator.add", me, platform, target)
        _audit(
            actor,
            AuditAction.MODERATOR_ADD,
            room,
            target,
            before={"role": target.role},
            after={"role": Role.MODERATOR},
        )
        if target.role == Role.LISTENER:
            _require_seat(room)
            _to_stage(target, Role.MODERATOR)
        else:
            target.role = Role.MODERATOR
            _save(target, "role")
        version = _bump(room)
        broadcast.stage_changed(room.pk, version)
        broadcast.audience_changed(room.pk)
        _tell(room, target, version)


def moderator_remove(*, room_id: int, actor, member_id: int) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        target = _participant(room, member_id, present=False)
        _check("moderator.remove", me, platform, target)
        _audit(
            actor,
            AuditAction.MODERATOR_REMOVE,
            room,
            target,
            before={"role": target.role},
            after={"role": Role.SPEAKER},
        )
        target.role = Role.SPEAKER
        _save(target, "role")
        version = _bump(room)
        broadcast.stage_changed(room.pk, version)
        _tell(room, target, version)


# --- Removal, bans, the end -----------------------------------------------------------------


def member_remove(*, room_id: int, actor, member_id: int) -> None:
    _remove(room_id, actor, member_id, action="member.remove", reason="")


def member_ban(*, room_id: int, actor, member_id: int, reason: str = "") -> None:
    _remove(room_id, actor, member_id, action="member.ban", reason=reason)


def _remove(room_id: int, actor, member_id: int, *, action: str, reason: str) -> None:
    banned = action == "member.ban"
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        target = _participant(room, member_id, present=not banned)
        _check(action, me, platform, target)
        was_on_stage = target.on_stage
        _audit(
            actor,
            AuditAction.MEMBER_BAN if banned else AuditAction.MEMBER_REMOVE,
            room,
            target,
            reason=reason,
            before={"role": target.role, "present": target.is_present},
            after={"present": False, "banned": banned},
        )
        target.send_away(at=timezone.now())
        if banned:
            RoomBan.objects.get_or_create(
                room=room, member_id=member_id, defaults={"banned_by": actor, "reason": reason}
            )
        version = _bump(room)
        broadcast.member_removed(room.pk, member_id, version, banned=banned)
        room_id = room.pk
        transaction.on_commit(lambda: media_bridge.detach_soon(room_id, member_id))
        if was_on_stage:
            broadcast.stage_changed(room.pk, version)
        broadcast.audience_changed(room.pk)
        broadcast.hand_queue_changed(room.pk, version)


def room_end(*, room_id: int, actor) -> Room:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        participant = Participant.objects.filter(room=room, member=actor).first()
        platform = moderator_powers(room, actor)
        role = participant.role if participant is not None else ""
        if not permissions.allowed("room.end", actor_role=role, platform=platform):
            raise NotAllowed("Only the host can end this room.")
        audit(
            actor=actor,
            action=AuditAction.ROOM_END,
            room=room,
            before={"status": room.status},
            after={"status": Room.Status.ENDED},
        )
        room.status = Room.Status.ENDED
        room.ended_at = timezone.now()
        room.version += 1
        room.save(update_fields=["status", "ended_at", "version"])
        Participant.objects.filter(room=room, is_present=True).update(
            is_present=False, connection="", left_at=room.ended_at
        )
        Participant.objects.filter(room=room).exclude(hand_raised_at=None).update(
            hand_raised_at=None
        )
        broadcast.room_ended(room.pk, room.version)
        room_id = room.pk
        transaction.on_commit(lambda: media_bridge.close_room_soon(room_id))
    return room


def reaction_send(*, room_id: int, actor, emoji: str) -> None:
    with transaction.atomic():
        room = _lock_live_room(room_id)
        me, platform = _actor(room, actor)
        _check("reaction", me, platform)
        broadcast.reaction(room.pk, actor.pk, emoji)


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
