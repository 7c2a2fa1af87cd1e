"""Reads about events, with access checks."""

from django.db.models import Count, Q
from django.http import Http404

from events.models import RSVP, Event, Visibility
from groups.selectors import is_active_member


def _with_counts(events):
    return events.select_related("host", "group").annotate(
        going_count=Count("rsvps", filter=Q(rsvps__status=RSVP.Status.GOING)),
        interested_count=Count("rsvps", filter=Q(rsvps__status=RSVP.Status.INTERESTED)),
    )


def upcoming_events_for(member, *, group_id: int | None = None, limit: int = 50) -> list[Event]:
    events = Event.objects.upcoming().visible_to(member)
    if group_id is not None:
        events = events.filter(group_id=group_id)
    return list(_with_counts(events)[:limit])


def events_for_profile(member, viewer) -> list[Event]:
    """Upcoming events the member hosts or is going to, as the viewer may see them."""
    # A subquery, not a join, so that the RSVP counts stay whole.
    going = RSVP.objects.filter(member=member, status=RSVP.Status.GOING).values("event_id")
    events = Event.objects.upcoming().filter(Q(host=member) | Q(pk__in=going)).visible_to(viewer)
    return list(_with_counts(events)[:10])


def event_get_for_member(event_id: int, member) -> Event:
    event = _with_counts(Event.objects.filter(pk=event_id)).first()
    if event is None:
        raise Http404("No such event")
    if event.visibility == Visibility.GROUP and not is_active_member(event.group_id, member):
        raise Http404("No such event")
    return event


def event_attendees(event: Event, *, limit: int = 24):
    return (
        RSVP.objects.filter(event=event, status=RSVP.Status.GOING)
        .select_related("member")
        .order_by("created_at")[:limit]
    )
