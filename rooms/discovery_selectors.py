"""Read-only room queries for discovery (the home page) and search.

What a room brings to the site's ranking (config/site/ranking.py): the live rooms a member may
see, annotated for their cards, and who is in each one. The ranking itself, and the reason on
each card, are the site's.
"""

from django.db.models import OuterRef, Q, QuerySet

from rooms.models import STAGE_ROLES, Participant, Room
from rooms.selectors import _with_stage_preview


def live_rooms_visible_to(member) -> QuerySet[Room]:
    """Live rooms the member may see, with their cards' counts and stage faces; unordered."""
    return _with_stage_preview(Room.objects.live().visible_to(member))


def people_in_room() -> QuerySet[Participant]:
    """Who is in the outer room (correlated on OuterRef("pk")): on stage, even if their tab
    dropped, or present in the audience. The host is one of them while on stage."""
    return Participant.objects.filter(room=OuterRef("pk")).filter(
        Q(role__in=STAGE_ROLES) | Q(is_present=True)
    )


def rooms_matching(member, query: str, *, limit: int) -> list[Room]:
    """Live and not-yet-started rooms whose title or description mentions `query`, among
    those the member may see (group-only rooms only for the group's members)."""
    rooms = (
        Room.objects.filter(status__in=[Room.Status.LIVE, Room.Status.SCHEDULED])
        .visible_to(member)
        .filter(Q(title__icontains=query) | Q(description__icontains=query))
    )
    # Live ones first ("live" sorts before "scheduled").
    return list(_with_stage_preview(rooms).order_by("status", "-created_at")[:limit])
