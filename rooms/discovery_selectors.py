"""Read-only room queries for discovery (the home page) and search.

Ranking happens in the database: every room comes back annotated with why the member would
care about it (how many people they follow are in it, how many colleagues, whether it is in
one of their groups or their industry), and ordered by that. The explanation on each card is
made from these annotations, never from a query per card.
"""

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerChoices,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from accounts.models import Follow
from groups.selectors import active_group_ids
from rooms.models import STAGE_ROLES, Participant, Room
from rooms.selectors import _with_stage_preview


class Tier(IntegerChoices):
    """Why something is shown to a member, best reason first."""

    FOLLOWED = 0, "People you follow"
    COLLEAGUES = 1, "Colleagues"
    GROUP = 2, "Your groups"
    INDUSTRY = 3, "Your industry"
    POPULAR = 4, "Popular"


def subquery_count(queryset: QuerySet, outer_field: str) -> Coalesce:
    """COUNT(*) of a queryset correlated to the outer row through `outer_field`, 0 if none."""
    counted = queryset.order_by().values(outer_field).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _with_relevance(rooms: QuerySet[Room], member) -> QuerySet[Room]:
    """Annotate followed_here, host_followed, followed_name, colleagues_here and
    discovery_tier for `member` (everything zero and POPULAR for visitors)."""
    if member is None or not member.is_authenticated:
        return rooms.annotate(
            followed_here=Value(0),
            host_followed=Value(False),
            followed_name=Value(""),
            colleagues_here=Value(0),
            discovery_tier=Value(int(Tier.POPULAR)),
        )
    # In the room: on stage (even if their tab dropped) or present in the audience.
    here = (
        Participant.objects.filter(room=OuterRef("pk"))
        .filter(Q(role__in=STAGE_ROLES) | Q(is_present=True))
        .exclude(member=member)
    )
    followed_here = here.filter(
        member__in=Follow.objects.filter(follower=member).values("followee")
    )
    company = member.company.strip()
    rooms = rooms.annotate(
        followed_here=subquery_count(followed_here, "room"),
        host_followed=Exists(Follow.objects.filter(follower=member, followee=OuterRef("host"))),
        followed_name=Coalesce(
            Subquery(followed_here.order_by("pk").values("member__display_name")[:1]),
            Value(""),
        ),
        colleagues_here=(
            subquery_count(here.filter(member__company__iexact=company), "room")
            if company
            else Value(0)
        ),
    )
    tiers = [
        When(Q(followed_here__gt=0) | Q(host_followed=True), then=Value(int(Tier.FOLLOWED))),
        When(colleagues_here__gt=0, then=Value(int(Tier.COLLEAGUES))),
        When(group_id__in=active_group_ids(member), then=Value(int(Tier.GROUP))),
    ]
    if member.industry:
        same_industry = Q(host__industry=member.industry) & ~Q(host=member)
        tiers.append(When(same_industry, then=Value(int(Tier.INDUSTRY))))
    return rooms.annotate(
        discovery_tier=Case(*tiers, default=Value(int(Tier.POPULAR)), output_field=IntegerField())
    )


def live_rooms_ranked_for(member, *, limit: int) -> list[Room]:
    """Live rooms the member may see, best reason first, then by audience size."""
    rooms = _with_relevance(_with_stage_preview(Room.objects.live().visible_to(member)), member)
    ordered = rooms.order_by("discovery_tier", "-audience_count", "-started_at", "-pk")
    return list(ordered[:limit])


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
