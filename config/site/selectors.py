"""Reads for the site's pages: the home page's "Live now" and "Upcoming", and site search.

Each is a bounded number of queries whatever it shows: the ranking (ranking.py) and the
reason on each card come from one query per kind.
"""

from collections.abc import Callable

from django.db.models import Q, QuerySet

from accounts.models import Member
from config.site.ranking import Tier, ranked_for, reason, same_company
from events.models import Event
from events.selectors import speakers_of_event, with_counts
from rooms.discovery_selectors import live_rooms_visible_to, people_in_room
from rooms.models import Room

HOME_ROOMS = 30
HOME_EVENTS = 20
# Within a reason, the more popular first.
ROOMS_BY_AUDIENCE = ("-audience_count", "-started_at", "-pk")
EVENTS_BY_GOING = ("-going_count", "starts_at", "pk")


def live_rooms_for_home(member) -> list[Room]:
    """Live rooms the member may see, ranked for them, each with its reason."""
    rooms = live_rooms_visible_to(member)
    ranked = ranked_for(member, rooms, people_in_room(), by=ROOMS_BY_AUDIENCE)
    return _with_reasons(ranked[:HOME_ROOMS], member, _room_reason)


def upcoming_events_for_home(member) -> list[Event]:
    """Upcoming events the member may see, ranked for them, each with its reason. The host,
    who has no speaker row, counts among the people speaking."""
    events = with_counts(Event.objects.upcoming().visible_to(member))
    ranked = ranked_for(member, events, speakers_of_event(), count_host=True, by=EVENTS_BY_GOING)
    return _with_reasons(ranked[:HOME_EVENTS], member, _event_reason)


def _with_reasons(ranked: QuerySet, member, reason_for: Callable) -> list:
    cards = list(ranked)
    for card in cards:
        card.discovery_reason = reason_for(card, member)
    return cards


def _room_reason(room: Room, member) -> str:
    return reason(room, member, taking_part="here", popular=f"{room.audience_count} listening")


def _event_reason(event: Event, member) -> str:
    host = event.host
    if (
        event.discovery_tier == Tier.COLLEAGUES
        and event.colleague_count == 1
        and host.pk != member.pk
        and same_company(host.company, member.company)
    ):
        return f"Hosted by {host.display_name}, a colleague from {member.company.strip()}"
    return reason(event, member, taking_part="speaking", popular=f"{event.going_count} going")


# --- Search ---------------------------------------------------------------------------------


def people_matching(query: str, *, limit: int) -> list[Member]:
    people = Member.objects.filter(is_active=True).filter(
        Q(display_name__icontains=query)
        | Q(headline__icontains=query)
        | Q(company__icontains=query)
    )
    return list(people.order_by("display_name", "pk")[:limit])


def events_matching(member, query: str, *, limit: int) -> list[Event]:
    """Upcoming and live events that mention the query, among those the member may see."""
    events = (
        Event.objects.upcoming()
        .visible_to(member)
        .filter(Q(title__icontains=query) | Q(description__icontains=query))
    )
    return list(with_counts(events)[:limit])
