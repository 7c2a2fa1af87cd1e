"""`manage.py process_recordings`: make the replays of recorded rooms that have ended.

A room's end starts this for its recording (rooms.recordings.processing.process_soon); run
it from cron too, every few minutes, to retry what failed. One line per recording, so that
the cron log says what happened. Two runs at once are safe: each attempt is claimed first.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db.models import F
from django.utils import timezone

from rooms.models import Recording
from rooms.recordings.processing import MAX_ATTEMPTS, process

# Left alone this long after the room's end: its node is still saving the speakers' tracks,
# and starts the worker itself once they are saved.
SETTLE = timedelta(minutes=2)


class Command(BaseCommand):
    help = "Mix, transcribe and publish the replays of ended recorded rooms."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--recording", type=int, help="Only this recording (by default: all pending)."
        )

    def handle(self, *args, recording: int | None = None, **options) -> None:
        if recording is not None:
            pending = [recording]
        else:
            pending = list(
                Recording.objects.filter(
                    status=Recording.Status.PROCESSING,
                    attempts__lt=MAX_ATTEMPTS,
                    ended_at__lte=timezone.now() - SETTLE,
                )
                .order_by(F("ended_at").asc(nulls_last=True), "pk")
                .values_list("pk", flat=True)
            )
        for recording_id in pending:
            before = Recording.objects.filter(pk=recording_id).values_list("attempts", flat=True)
            attempts = before.first()
            process(recording_id)
            self.stdout.write(self._outcome(recording_id, attempts))

    def _outcome(self, recording_id: int, attempts_before: int | None) -> str:
        recording = Recording.objects.filter(pk=recording_id).first()
        if recording is None:
            return f"recording {recording_id}: no such recording"
        said = f"recording {recording_id} (room {recording.room_id})"
        if recording.status == Recording.Status.READY:
            return f"{said}: ready, {recording.duration_ms // 1000} s"
        if recording.status == Recording.Status.FAILED:
            return f"{said}: failed after {recording.attempts} attempts: {recording.last_error}"
        if recording.status != Recording.Status.PROCESSING:
            return f"{said}: skipped, it is {recording.get_status_display().lower()}"
        if recording.attempts == attempts_before:
            if recording.attempts >= MAX_ATTEMPTS:
                return f"{said}: skipped, no attempts left"
            return f"{said}: skipped, another worker has it"
        return (
            f"{said}: retry later (attempt {recording.attempts} of {MAX_ATTEMPTS}): "
            f"{recording.last_error}"
        )
