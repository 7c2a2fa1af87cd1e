"""Email reminders 24 hours and 15 minutes before events. Run it every few minutes (cron,
a systemd timer); running it twice, or late, sends nothing twice (see events.reminders)."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from events.reminders import event_reminders_send

LABELS = {"24h": "24-hour", "15m": "15-minute"}


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--now must be an ISO 8601 date and time, not {value!r}") from None
    if timezone.is_naive(moment):
        raise CommandError("--now needs a UTC offset, e.g. 2030-03-10T03:15:00+00:00")
    return moment


class Command(BaseCommand):
    help = "Send event reminder emails that are due (24 hours and 15 minutes before the start)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            type=_instant,
            default=None,
            help="Act as if it were this moment (ISO 8601 with offset). For tests and replays.",
        )

    def handle(self, *args, now: datetime | None = None, **options) -> None:
        sent = event_reminders_send(now=now)
        for reminder in sent:
            rsvp = reminder.rsvp
            self.stdout.write(
                f"Sent the {LABELS[reminder.kind]} reminder for “{rsvp.event.title}” "
                f"(event {rsvp.event.pk}) to {rsvp.member.email}"
            )
        self.stdout.write(f"{len(sent)} reminder{'s' if len(sent) != 1 else ''} sent.")
