"""Deleting a replay: by its host, by a platform moderator, or by the retention rule.

Deleting removes what was said: the replay's file and every speaker's track from the
"recordings" storage, and the transcript and track rows. What is left is the Recording row,
status "deleted" (the room's page says the host deleted it), its spans (times only) and the
audit entry. The files go once the transaction has committed, so a deletion that fails
leaves a replay that still plays.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rooms import permissions
from rooms.errors import Conflict, NotAllowed, NotFound
from rooms.models import AuditAction, Recording, RecordingTrack, Room, TranscriptSegment
from rooms.models.recordings import recordings_storage
from rooms.moderation.audit import audit
from rooms.recordings.replay import RETENTION

log = logging.getLogger(__name__)

# A replay can be deleted once its room is off the air, while its worker prepares it too:
# the worker publishes only a recording still "processing", and otherwise discards what
# it made (rooms.recordings.processing._publish).
DELETABLE = (Recording.Status.PROCESSING, Recording.Status.READY, Recording.Status.FAILED)


def may_delete(room: Room, member) -> bool:
    """May the member delete the room's replay? Its host, and platform moderators (who may
    end any room and remove anyone from it). A group's managers may end its rooms, but the
    replay is the host's talk: not theirs to delete."""
    return room.host_id == member.pk or permissions.is_platform_moderator(member)


def recording_delete(*, actor, recording_id: int) -> Recording:
    """Delete a replay for everyone, with its transcript and tracks, and audit it."""
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update(of=("self",))
            .select_related("room")
            .filter(pk=recording_id)
            .first()
        )
        if recording is None:
            raise NotFound("No such replay.")
        if not may_delete(recording.room, actor):
            raise NotAllowed("Only the host can delete this replay.")
        if recording.status == Recording.Status.DELETED:
            raise Conflict("This replay has already been deleted.")
        if recording.status not in DELETABLE:
            raise Conflict("The room is still on the record. End it first.")
        _erase(recording, actor=actor)
    return recording


def purge_expired(now: datetime | None = None) -> int:
    """Delete the replays whose room ended more than RECORDING_RETENTION_DAYS ago, in
    whatever state (a worker that hasn't finished in that time never will). Each in its own
    transaction, audited with "retention" as reason and the host as actor (an audit entry
    always has one, and no member stands for the system). Returns how many
    were deleted; running it twice, or at once on two nodes, deletes nothing twice."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.RECORDING_RETENTION_DAYS)
    expired = list(
        Recording.objects.filter(room__ended_at__lt=cutoff)
        .exclude(status=Recording.Status.DELETED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    deleted = 0
    for recording_id in expired:
        with transaction.atomic():
            recording = (
                Recording.objects.select_for_update(of=("self",))
                .select_related("room__host")
                .filter(pk=recording_id)
                .exclude(status=Recording.Status.DELETED)
                .first()
            )
            if recording is None:  # deleted meanwhile
                continue
            _erase(recording, actor=recording.room.host, reason=RETENTION)
            deleted += 1
    return deleted


def _erase(recording: Recording, *, actor, reason: str = "") -> None:
    """Inside the caller's transaction, with the recording locked."""
    names = list(RecordingTrack.objects.filter(recording=recording).values_list("file", flat=True))
    if recording.audio:
        names.append(recording.audio.name)
    before = {"status": recording.status}
    TranscriptSegment.objects.filter(recording=recording).delete()
    RecordingTrack.objects.filter(recording=recording).delete()
    recording.status = Recording.Status.DELETED
    recording.deleted_at = timezone.now()
    recording.audio = ""
    recording.save(update_fields=["status", "deleted_at", "audio"])
    audit(
        actor=actor,
        action=AuditAction.RECORDING_DELETE,
        room=recording.room,
        reason=reason,
        before=before,
        after={"status": Recording.Status.DELETED},
    )
    transaction.on_commit(lambda: _remove_files([name for name in names if name]))


def _remove_files(names: list[str]) -> None:
    storage = recordings_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            # The rows are gone and nothing links to the file any more; say so, loudly,
            # for whoever looks after the storage.
            log.exception("Couldn't remove the recording file %s", name)
