"""Reads about events, with access checks."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.http import Http404

from events.models import RSVP, Event, EventSpeaker, Visibility
from groups.selectors import is_active_member
from rooms.models import STAGE_ROLES, Participant, Role, Room

# The feed lists at most this many events (a member's next few months, in practice).
FEED_LIMIT = 200


def with_counts(events: QuerySet[Event]) -> QuerySet[Event]:
    """What an event card shows: host, group, going and interested counts."""
    return events.select_related("host", "group").annotate(
        going_count=Count("rsvps", filter=Q(rsvps__status=RSVP.Status.GOING)),
        interested_count=Count("rsvps", filter=Q(rsvps__status=RSVP.Status.INTERESTED)),
    )


def upcoming_events_for(member, *, group_id: int | None = None, limit: int = 50) -> list[Event]:
    events = Event.objects.upcoming().visible_to(member)
    if group_id is not None:
        events = events.filter(group_id=group_id)
    return list(with_counts(events)[:limit])


def events_for_profile(member, viewer) -> list[Event]:
    """Upcoming events the member hosts or is going to, as the viewer may see them."""
    # A subquery, not a join, so that the RSVP counts stay whole.
    going = RSVP.objects.filter(member=member, status=RSVP.Status.GOING).values("event_id")
    events = Event.objects.upcoming().filter(Q(host=member) | Q(pk__in=going)).visible_to(viewer)
    return list(with_counts(events)[:10])


def speakers_of_event() -> QuerySet[EventSpeaker]:
    """The outer event's accepted speakers and co-hosts, correlated on OuterRef("pk")."""
    return EventSpeaker.objects.filter(event=OuterRef("pk"), status=EventSpeaker.Status.ACCEPTED)


def event_get_for_member(event_id: int, member) -> Event:
    """The event, with its host, group, room and RSVP counts, if the member may see it:
    group-only events don't exist for anyone outside the group."""
    event = with_counts(Event.objects.filter(pk=event_id)).select_related("room").first()
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


@dataclass
class EventPeople:
    """Who the event page shows on its stage, and the viewer's own invitation."""

    cohosts: list[EventSpeaker] = field(default_factory=list)
    speakers: list[EventSpeaker] = field(default_factory=list)
    invitation: EventSpeaker | None = None


def event_people(event: Event, viewer) -> EventPeople:
    """Accepted co-hosts and speakers (invitations still open or declined stay private
    between the host and the invitee), plus the viewer's own invitation, in one query."""
    rows = EventSpeaker.objects.filter(event=event)
    if viewer is not None and viewer.is_authenticated:
        rows = rows.filter(Q(status=EventSpeaker.Status.ACCEPTED) | Q(member=viewer))
    else:
        rows = rows.filter(status=EventSpeaker.Status.ACCEPTED)
    people = EventPeople()
    for row in rows.select_related("member").order_by("invited_at", "pk"):
        if viewer is not None and row.member_id == viewer.pk:
            people.invitation = row
        if row.status != EventSpeaker.Status.ACCEPTED:
            continue
        if row.role == EventSpeaker.Role.COHOST:
            people.cohosts.append(row)
        else:
            people.speakers.append(row)
    return people


def event_invitations(event: Event) -> list[EventSpeaker]:
    """Every invitation and its answer: for the host's eyes only."""
    return list(
        EventSpeaker.objects.filter(event=event)
        .select_related("member")
        .order_by("role", "invited_at", "pk")
    )


@dataclass
class RoomSummary:
    duration: timedelta | None
    peak_listeners: int
    speakers: list[Participant]

    @property
    def duration_text(self) -> str:
        """ "1 h 05 min", "42 min", "under a minute"; "unknown" without both timestamps."""
        if self.duration is None:
            return "unknown"
        minutes = int(self.duration.total_seconds() // 60)
        if minutes < 1:
            return "under a minute"
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


STAGE_ORDER = Case(
    When(role=Role.HOST, then=Value(0)),
    When(role=Role.MODERATOR, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def event_room_summary(event: Event) -> RoomSummary | None:
    """How the event's room went, once it has ended: how long, how many listened at the
    peak, and who spoke (held a stage role and actually came; designated speakers who never
    joined aren't counted)."""
    room = event.room
    if room is None or room.status != Room.Status.ENDED:
        return None
    duration = None
    if room.started_at is not None and room.ended_at is not None:
        duration = room.ended_at - room.started_at
    speakers = list(
        Participant.objects.filter(room=room, role__in=STAGE_ROLES, joined_at__isnull=False)
        .select_related("member")
        .order_by(STAGE_ORDER, "joined_at", "pk")
    )
    return RoomSummary(duration=duration, peak_listeners=room.peak_audience, speakers=speakers)


def feed_events_for(member) -> list[Event]:
    """The member's upcoming events for their calendar feed: the ones they host, speak or
    co-host at (accepted), or RSVP'd to (Going or Interested), that they may still see."""
    rsvped = RSVP.objects.filter(member=member).values("event_id")
    speaking = EventSpeaker.objects.filter(
        member=member, status=EventSpeaker.Status.ACCEPTED
    ).values("event_id")
    events = (
        Event.objects.upcoming()
        .filter(Q(host=member) | Q(pk__in=rsvped) | Q(pk__in=speaking))
        .visible_to(member)
        .select_related("host")
    )
    return list(events[:FEED_LIMIT])
