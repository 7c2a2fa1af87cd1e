"""Reminder emails to everyone who RSVP'd (Going or Interested): 24 hours and 15 minutes
before an event starts. `manage.py send_event_reminders` runs this every few minutes.

The rule, for an RSVP to a scheduled event that starts at S, when a run happens at `now`:

- The 15-minute reminder is due from S - 15 min until S. A run after S sends nothing: a
  "starts in 15 minutes" email about an event that has begun is stale. (By then the host's
  "Go live" has notified everyone anyway.)
- The 24-hour reminder is due from S - 24 h until the 15-minute one becomes due. A late run
  (say 3 h before S, after the scheduler was down) still sends it, saying "in 3 hours"; a
  run at S - 10 min sends only the 15-minute one, never both at once.
- Each reminder goes out at most once per RSVP. Before sending, a run claims the reminder
  with `UPDATE ... SET reminded_x_at = now WHERE pk = ... AND reminded_x_at IS NULL`: of two
  runs at the same moment, exactly one updates the row and sends. If sending fails, the claim
  is released so that a later run tries again.
- Once a member has had the 15-minute reminder, the 24-hour one is never sent.
- Changing an RSVP between Going and Interested keeps its reminders (same row); withdrawing
  and RSVPing again makes a new row, which is reminded afresh.
"""

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.utils import dateformat
from django.utils import timezone as django_timezone

from events.links import absolute_url
from events.models import RSVP, Event

logger = logging.getLogger(__name__)

DAY_BEFORE = timedelta(hours=24)
SHORTLY_BEFORE = timedelta(minutes=15)


@dataclass(frozen=True)
class Reminder:
    rsvp: RSVP
    kind: str  # "24h" or "15m"

    @property
    def field(self) -> str:
        return f"reminded_{self.kind}_at"


def _due(rsvp: RSVP, now: datetime) -> Reminder | None:
    starts_at = rsvp.event.starts_at
    if not (now < starts_at <= now + DAY_BEFORE):
        return None
    if rsvp.reminded_15m_at is not None:
        return None
    if starts_at - SHORTLY_BEFORE <= now:
        return Reminder(rsvp, "15m")
    if rsvp.reminded_24h_at is None:
        return Reminder(rsvp, "24h")
    return None


def _claim(reminder: Reminder, now: datetime) -> bool:
    """Mark the reminder sent, unless another run already has: True if this run won."""
    unsent = {f"{reminder.field}__isnull": True, "reminded_15m_at__isnull": True}
    with transaction.atomic():
        claimed = RSVP.objects.filter(pk=reminder.rsvp.pk, **unsent).update(**{reminder.field: now})
    return claimed == 1


def _release(reminder: Reminder, now: datetime) -> None:
    RSVP.objects.filter(pk=reminder.rsvp.pk, **{reminder.field: now}).update(
        **{reminder.field: None}
    )


def _in_words(delta: timedelta) -> str:
    minutes = max(1, round(delta.total_seconds() / 60))
    if minutes < 60:
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    return f"in {hours} hour{'s' if hours != 1 else ''}"


def _local_time(moment: datetime, zone_name: str) -> str:
    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone, zone_name = zoneinfo.ZoneInfo("UTC"), "UTC"
    local = django_timezone.localtime(moment, zone)
    return f"{dateformat.format(local, 'l j F Y, H:i T')} ({zone_name})"


def reminder_email(reminder: Reminder, now: datetime) -> tuple[str, str]:
    """The subject and body, with the start in the recipient's own zone."""
    rsvp, event = reminder.rsvp, reminder.rsvp.event
    member = rsvp.member
    when = _in_words(event.starts_at - now)
    subject = f"Reminder: “{event.title}” starts {when}"
    body = "\n".join(
        [
            f"Hi {member.get_short_name()},",
            "",
            f"“{event.title}”, hosted by {event.host.display_name}, starts {when}:",
            _local_time(event.starts_at, member.timezone),
            "",
            f"Join from the event page: {absolute_url(event.get_absolute_url())}",
            "",
            f"You're getting this because you said {rsvp.get_status_display()} on Podium.",
        ]
    )
    return subject, body


def event_reminders_send(*, now: datetime | None = None) -> list[Reminder]:
    """Send every reminder that is due at `now` (default: the current time) and return them."""
    now = now or django_timezone.now()
    candidates = (
        RSVP.objects.filter(
            event__status=Event.Status.SCHEDULED,
            event__starts_at__gt=now,
            event__starts_at__lte=now + DAY_BEFORE,
            reminded_15m_at__isnull=True,
            member__is_active=True,
        )
        .select_related("event__host", "member")
        .order_by("event__starts_at", "pk")
    )
    sent = []
    for rsvp in candidates:
        reminder = _due(rsvp, now)
        if reminder is None or not _claim(reminder, now):
            continue
        subject, body = reminder_email(reminder, now)
        try:
            send_mail(subject, body, None, [rsvp.member.email])
        except Exception:
            logger.exception("Reminder %s for RSVP %s not sent", reminder.kind, rsvp.pk)
            _release(reminder, now)
            continue
        sent.append(reminder)
    return sent
