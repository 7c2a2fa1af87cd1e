"""Discovery on the home page: "Live now" and "Upcoming", ranked for the member.

Best reason first: people the member follows host or speak (or, in a live room, listen),
then colleagues (the same non-empty company, whatever its case), then the member's groups,
then the host's industry being the member's, then the rest by popularity (audience for
rooms, people going for events). Within a reason, the more
popular first. The ranking is done by the database (rooms.discovery_selectors and
_with_relevance below); each card's one-line reason is made from the same annotations.
Visitors get popularity order.
"""

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from accounts.models import Follow, Industry
from events.models import RSVP, Event, EventSpeaker
from groups.selectors import active_group_ids
from rooms.discovery_selectors import Tier, live_rooms_ranked_for, subquery_count
from rooms.models import Room

HOME_ROOMS = 30
HOME_EVENTS = 20


def live_rooms_for_home(member) -> list[Room]:
    rooms = live_rooms_ranked_for(member, limit=HOME_ROOMS)
    for room in rooms:
        room.discovery_reason = room_reason(room, member)
    return rooms


def upcoming_events_for_home(member) -> list[Event]:
    events = upcoming_events_ranked_for(member, limit=HOME_EVENTS)
    for event in events:
        event.discovery_reason = event_reason(event, member)
    return events


def with_counts(events: QuerySet[Event]) -> QuerySet[Event]:
    """What an event card shows: host, group, going and interested counts."""
    return events.select_related("host", "group").annotate(
        going_count=Count("rsvps", filter=Q(rsvps__status=RSVP.Status.GOING)),
        interested_count=Count("rsvps", filter=Q(rsvps__status=RSVP.Status.INTERESTED)),
    )


def upcoming_events_ranked_for(member, *, limit: int) -> list[Event]:
    events = with_counts(Event.objects.upcoming().visible_to(member))
    ordered = _with_relevance(events, member).order_by(
        "discovery_tier", "-going_count", "starts_at", "pk"
    )
    return list(ordered[:limit])


def _with_relevance(events: QuerySet[Event], member) -> QuerySet[Event]:
    """Annotate followed_count, host_followed, followed_name, colleague_count and
    discovery_tier. The host counts among the people speaking."""
    if member is None or not member.is_authenticated:
        return events.annotate(
            followed_count=Value(0),
            host_followed=Value(False),
            followed_name=Value(""),
            colleague_count=Value(0),
            discovery_tier=Value(int(Tier.POPULAR)),
        )
    speakers = (
        EventSpeaker.objects.filter(event=OuterRef("pk"), status=EventSpeaker.Status.ACCEPTED)
        .exclude(member=OuterRef("host"))
        .exclude(member=member)
    )
    followed = Follow.objects.filter(follower=member).values("followee")
    followed_speakers = speakers.filter(member__in=followed)
    company = member.company.strip()
    colleague_count = Value(0)
    if company:
        host_is_colleague = Q(host__company__iexact=company) & ~Q(host=member)
        colleague_count = subquery_count(
            speakers.filter(member__company__iexact=company), "event"
        ) + Case(When(host_is_colleague, then=Value(1)), default=Value(0))
    events = events.annotate(
        host_followed=Exists(Follow.objects.filter(follower=member, followee=OuterRef("host"))),
        followed_count=subquery_count(followed_speakers, "event")
        + Case(When(host_followed=True, then=Value(1)), default=Value(0)),
        followed_name=Coalesce(
            Subquery(followed_speakers.order_by("pk").values("member__display_name")[:1]),
            Value(""),
        ),
        colleague_count=colleague_count,
    )
    tiers = [
        When(followed_count__gt=0, then=Value(int(Tier.FOLLOWED))),
        When(colleague_count__gt=0, then=Value(int(Tier.COLLEAGUES))),
        When(group_id__in=active_group_ids(member), then=Value(int(Tier.GROUP))),
    ]
    if member.industry:
        same_industry = Q(host__industry=member.industry) & ~Q(host=member)
        tiers.append(When(same_industry, then=Value(int(Tier.INDUSTRY))))
    return events.annotate(
        discovery_tier=Case(*tiers, default=Value(int(Tier.POPULAR)), output_field=IntegerField())
    )


# --- The one line on each card --------------------------------------------------------------


def _people(n: int) -> str:
    return "1 person you follow is" if n == 1 else f"{n} people you follow are"


def _colleagues(n: int, company: str) -> str:
    return f"1 colleague from {company} is" if n == 1 else f"{n} colleagues from {company} are"


def _same(company: str, other: str) -> bool:
    # The database compares with iexact; casefold() is the closest Python has.
    return company.strip().casefold() == other.strip().casefold()


def room_reason(room: Room, member) -> str:
    tier = room.discovery_tier
    if tier == Tier.FOLLOWED:
        if room.host_followed and room.followed_here <= 1:
            return f"Hosted by {room.host.display_name}, whom you follow"
        if room.followed_here == 1:
            return f"{room.followed_name}, whom you follow, is here"
        return f"{_people(room.followed_here)} here"
    if tier == Tier.COLLEAGUES:
        return f"{_colleagues(room.colleagues_here, member.company.strip())} here"
    if tier == Tier.GROUP:
        return f"From your group {room.group.name}"
    if tier == Tier.INDUSTRY:
        return f"Popular in {Industry(room.host.industry).label}"
    return f"{room.audience_count} listening"


def event_reason(event: Event, member) -> str:
    tier = event.discovery_tier
    if tier == Tier.FOLLOWED:
        if event.host_followed and event.followed_count == 1:
            return f"Hosted by {event.host.display_name}, whom you follow"
        if event.followed_count == 1:
            return f"{event.followed_name}, whom you follow, is speaking"
        return f"{_people(event.followed_count)} speaking"
    if tier == Tier.COLLEAGUES:
        company = member.company.strip()
        host = event.host
        if event.colleague_count == 1 and host.pk != member.pk and _same(host.company, company):
            return f"Hosted by {host.display_name}, a colleague from {company}"
        return f"{_colleagues(event.colleague_count, company)} speaking"
    if tier == Tier.GROUP:
        return f"From your group {event.group.name}"
    if tier == Tier.INDUSTRY:
        return f"Popular in {Industry(event.host.industry).label}"
    return f"{event.going_count} going"
