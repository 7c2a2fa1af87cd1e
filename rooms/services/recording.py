"""Recording and captions in a live room: the host's switches and the speakers' consent.

The host starts recording (or the room starts with it, Room.record), pauses it ("off the
record") and resumes it; each stretch on the record is a RecordingSpan. Every start, pause
and resume writes an audit entry. Everyone in the room sees that it is recorded. Speakers
are written only once they agree (RecordingConsent); one who declines goes back to the
audience. The host's own start is their consent. The forwarder's recorder on the room's
brain node follows `plan` (rooms.recordings.live), sent on commit.

When the room ends, the open span closes and the recording waits for its worker
(rooms.recordings.processing), which the room's node starts once the tracks are saved.
"""

from django.db import transaction
from django.utils import timezone

from rooms import broadcast, media_bridge
from rooms.errors import Conflict
from rooms.models import (
    STAGE_ROLES,
    AuditAction,
    Participant,
    Recording,
    RecordingConsent,
    RecordingSpan,
    Role,
    Room,
)
from rooms.moderation.audit import audit
from rooms.services.change import RoomChange, acting, room_changing

# A replay is mixed from every span's tracks at once: past this many spans (a host toggling
# on and off), resuming is refused.
MAX_SPANS = 100


def recording_start(*, room_id: int, actor) -> None:
    """Start recording, or resume it when paused (at most MAX_SPANS stretches)."""
    with acting(
        room_id, actor, "recording.start", refusal="Only the host can record this room."
    ) as change:
        recording = Recording.objects.select_for_update().filter(room=change.room).first()
        if recording is not None and recording.status == Recording.Status.RECORDING:
            return
        if recording is None:
            recording = Recording.objects.create(room=change.room, started_by=actor)
            action = AuditAction.RECORDING_START
        elif recording.status == Recording.Status.PAUSED:
            if recording.spans.count() >= MAX_SPANS:
                raise Conflict(
                    f"This recording has been paused {MAX_SPANS} times; it can't be resumed."
                )
            recording.status = Recording.Status.RECORDING
            recording.save(update_fields=["status"])
            action = AuditAction.RECORDING_RESUME
        else:
            raise Conflict("This room's recording has ended.")
        _agree(change.room, actor)
        _open_span(recording)
        _mute_who_has_not_agreed(change)
        audit(actor=actor, action=action, room=change.room, after={"status": recording.status})
        _announce(change)


def recording_pause(*, room_id: int, actor) -> None:
    """Go off the record: nothing is written until the host resumes."""
    with acting(
        room_id, actor, "recording.pause", refusal="Only the host can pause the recording."
    ) as change:
        recording = Recording.objects.select_for_update().filter(room=change.room).first()
        if recording is None or recording.status != Recording.Status.RECORDING:
            return
        close_span(recording)
        recording.status = Recording.Status.PAUSED
        recording.save(update_fields=["status"])
        audit(
            actor=actor,
            action=AuditAction.RECORDING_PAUSE,
            room=change.room,
            before={"status": Recording.Status.RECORDING},
            after={"status": Recording.Status.PAUSED},
        )
        _announce(change)


def recording_consent(*, room_id: int, actor, agree: bool) -> None:
    """A member's answer. Declining on stage sends them back to the audience (the host,
    whose room it is, can't decline: they pause or never start)."""
    with acting(room_id, actor, "recording.consent") as change:
        me = change.me
        if not agree and me.role == Role.HOST:
            raise Conflict("As the host, pause the recording instead.")
        before = (
            RecordingConsent.objects.filter(room=change.room, member=actor)
            .values_list("agreed", flat=True)
            .first()
        )
        if before == agree and (agree or not me.on_stage):
            return  # the same answer again: nothing to change, no node to tell
        RecordingConsent.objects.update_or_create(
            room=change.room, member=actor, defaults={"agreed": agree}
        )
        if not agree and me.on_stage:
            me.take_role(Role.LISTENER)
            change.changed(stage=True, audience=True)
        change.changed(told=[me])
        room_id = change.room.pk
        transaction.on_commit(lambda: media_bridge.media_plan_soon(room_id))
        broadcast.media_plan(room_id)


def captions_set(*, room_id: int, actor, on: bool) -> None:
    """The host or a moderator turns the room's captions on or off; each viewer still
    shows or hides them."""
    with acting(
        room_id, actor, "captions.set", refusal="Only the host or a moderator can do that."
    ) as change:
        if change.room.captions == on:
            return
        change.room.captions = on
        change.room.save(update_fields=["captions"])
        _announce(change)


def captions_failed(*, room_id: int, message: str) -> None:
    """The caption worker gave up: captions go off, and the room is told why."""
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id, captions=True).first()
        if room is None or room.status != Room.Status.LIVE:
            return
        with room_changing(room) as change:
            room.captions = False
            room.save(update_fields=["captions"])
            change.changed(recording=True)
            change.recording_note = message


def start_with_room(room: Room, host) -> None:
    """A room created to be recorded starts recording when it goes live (in room_start's
    transaction; the host's choice at creation is their consent)."""
    recording = Recording.objects.create(room=room, started_by=host)
    _agree(room, host)
    _open_span(recording)
    audit(actor=host, action=AuditAction.RECORDING_START, room=room, after={"status": "recording"})


def end_with_room(room: Room) -> int | None:
    """The room ended (in room_end's transaction): close the record; the tracks are saved
    and the worker started once the forwarder's recorder has stopped. Returns the
    recording's id, if it was on the air. Ended while paused, no recorder runs anywhere,
    and the worker is started here, on commit."""
    recording = Recording.objects.select_for_update().filter(room=room).first()
    if recording is None or not recording.on_air:
        return None
    if recording.status == Recording.Status.PAUSED:
        from rooms.recordings import processing

        recording_id = recording.pk
        transaction.on_commit(lambda: processing.process_soon(recording_id))
    close_span(recording)
    recording.status = Recording.Status.PROCESSING
    recording.ended_at = room.ended_at
    recording.duration_ms = sum(
        int((s.ended_at - s.started_at).total_seconds() * 1000) for s in recording.spans.all()
    )
    recording.save(update_fields=["status", "ended_at", "duration_ms"])
    return recording.pk


def needs_consent(room: Room, participant) -> bool:
    """Is the room on the record while this member (not its host) hasn't agreed?"""
    if participant.role == Role.HOST:
        return False
    on_air = Recording.objects.filter(
        room=room, status__in=(Recording.Status.RECORDING, Recording.Status.PAUSED)
    ).exists()
    return (
        on_air
        and not RecordingConsent.objects.filter(
            room=room, member_id=participant.member_id, agreed=True
        ).exists()
    )


def close_span(recording: Recording) -> None:
    RecordingSpan.objects.filter(recording=recording, ended_at=None).update(ended_at=timezone.now())


def _open_span(recording: Recording) -> None:
    offset = sum(
        int((s.ended_at - s.started_at).total_seconds() * 1000)
        for s in recording.spans.exclude(ended_at=None)
    )
    RecordingSpan.objects.create(recording=recording, started_at=timezone.now(), offset_ms=offset)


def _mute_who_has_not_agreed(change: RoomChange) -> None:
    """Speakers who haven't agreed are muted as the record starts, and asked: nobody is
    heard on a recorded stage without saying yes (unmuting asks for it too). A speaker away
    at the time is muted too: their mute outlives a reconnect."""
    agreed = RecordingConsent.objects.filter(room=change.room, agreed=True).values("member_id")
    speaking = (
        Participant.objects.select_for_update()
        # Absent ones too: their mute outlives a reconnect, so they come back asked.
        .filter(room=change.room, role__in=STAGE_ROLES, muted=False)
        .exclude(role=Role.HOST)
        .exclude(member_id__in=agreed)
        .select_related("member")
    )
    for participant in speaking:
        participant.muted = True
        participant.save(update_fields=["muted"])
        change.changed(stage=True, told=[participant])


def _agree(room: Room, member) -> None:
    RecordingConsent.objects.update_or_create(room=room, member=member, defaults={"agreed": True})


def _announce(change: RoomChange) -> None:
    change.changed(recording=True)
