"""State changes on events. Each checks the actor's right itself."""

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction

from events.models import RSVP, Event, Visibility
from groups.selectors import is_active_member


def event_create(
    *,
    host,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    timezone: str,
    description: str = "",
    group=None,
    visibility: str = Visibility.PUBLIC,
    cover=None,
) -> Event:
    if ends_at <= starts_at:
        raise ValueError("An event must end after it starts.")
    if visibility == Visibility.GROUP and group is None:
        raise ValueError("A group-only event needs a group.")
    if group is not None and not is_active_member(group.pk, host):
        raise PermissionDenied("Only members of a group can schedule its events.")
    with transaction.atomic():
        event = Event.objects.create(
            host=host,
            title=title,
            description=description,
            starts_at=starts_at,
            ends_at=ends_at,
            timezone=timezone,
            group=group,
            visibility=visibility,
            cover=cover or "",
        )
    return event


def rsvp_set(*, event: Event, member, status: str | None) -> RSVP | None:
    """Mark the member Going or Interested, or withdraw the RSVP with status=None."""
    if status is None:
        RSVP.objects.filter(event=event, member=member).delete()
        return None
    if status not in RSVP.Status.values:
        raise ValueError("Unknown RSVP status")
    if event.status in {Event.Status.ENDED, Event.Status.CANCELLED}:
        raise PermissionDenied("This event is over.")
    with transaction.atomic():
        rsvp, _ = RSVP.objects.update_or_create(
            event=event, member=member, defaults={"status": status}
        )
    return rsvp
