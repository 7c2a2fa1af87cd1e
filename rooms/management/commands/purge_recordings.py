"""Delete the replays kept longer than RECORDING_RETENTION_DAYS after their room ended.
Run it daily (cron, a systemd timer); a second run, or one on another node at the same
time, deletes nothing twice (see rooms.recordings.deletion.purge_expired)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from rooms.recordings.deletion import purge_expired


class Command(BaseCommand):
    help = (
        "Delete replays (audio, tracks and transcripts) of rooms that ended more than "
        "RECORDING_RETENTION_DAYS days ago."
    )

    def handle(self, *args, **options) -> None:
        deleted = purge_expired()
        self.stdout.write(
            f"{deleted} replay{'s' if deleted != 1 else ''} deleted "
            f"(kept for {settings.RECORDING_RETENTION_DAYS} days)."
        )
