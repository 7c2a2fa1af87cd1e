"""One ranking for what discovery shows a member, rooms and events alike.

Best reason first: people the member follows take part (host, speak or, in a live room,
listen), then colleagues (the same non-empty company, whatever its case), then the member's
groups, then the host's industry being the member's, then the rest by popularity; within a
reason, the more popular first. The database does the ranking; each card's one-line reason
is made from the same annotations, never from a query per card. Visitors get popularity order.
"""

from collections.abc import Sequence

from django.db.models import (
    Case,
    Exists,
    Func,
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

from accounts.models import Follow, Industry
from groups.selectors import active_group_ids


class Tier(IntegerChoices):
    """Why something is shown to a member, best reason first."""

    FOLLOWED = 0, "People you follow"
    COLLEAGUES = 1, "Colleagues"
    GROUP = 2, "Your groups"
    INDUSTRY = 3, "Your industry"
    POPULAR = 4, "Popular"


def subquery_count(queryset: QuerySet) -> Subquery:
    """COUNT(*) of a queryset correlated to the outer row, as a subquery."""
    # Func, not Count: an aggregate would make Django group the subquery by its columns.
    counted = queryset.order_by().annotate(n=Func("pk", function="COUNT")).values("n")
    return Subquery(counted, output_field=IntegerField())


def ranked_for(
    member, items: QuerySet, people: QuerySet, *, by: Sequence[str], count_host: bool = False
) -> QuerySet:
    """`items` (rooms or events: each has a `host` and a `group`) ordered for `member`: best
    reason first, then by the `by` order_by terms.

    `people` say who takes part in an item: rows with a `member`, correlated to the item
    with OuterRef("pk"). A room's host is one of its participants; an event's host has no
    speaker row, so `count_host` counts them on top.

    Annotates followed_count (people the member follows who take part, the host included),
    host_followed, followed_name (the first of the followed among `people`, "" if none),
    colleague_count and discovery_tier: everything zero and POPULAR for visitors.
    """
    return _with_relevance(items, member, people, count_host=count_host).order_by(
        "discovery_tier", *by
    )


def _with_relevance(items: QuerySet, member, people: QuerySet, *, count_host: bool) -> QuerySet:
    if member is None or not member.is_authenticated:
        return items.annotate(
            followed_count=Value(0),
            host_followed=Value(False),
            followed_name=Value(""),
            colleague_count=Value(0),
            discovery_tier=Value(int(Tier.POPULAR)),
        )
    if count_host:
        people = people.exclude(member=OuterRef("host"))
    people = people.exclude(member=member)
    followed = people.filter(member__in=Follow.objects.filter(follower=member).values("followee"))
    followed_count = subquery_count(followed)
    company = member.company.strip()
    colleague_count = (
        subquery_count(people.filter(member__company__iexact=company)) if company else Value(0)
    )
    if count_host:
        followed_count = followed_count + Case(
            When(host_followed=True, then=Value(1)), default=Value(0)
        )
        if company:
            host_is_colleague = Q(host__company__iexact=company) & ~Q(host=member)
            colleague_count = colleague_count + Case(
                When(host_is_colleague, then=Value(1)), default=Value(0)
            )
    items = items.annotate(
        # First, so that followed_count can add the host in.
        host_followed=Exists(Follow.objects.filter(follower=member, followee=OuterRef("host"))),
        followed_count=followed_count,
        followed_name=Coalesce(
            Subquery(followed.order_by("pk").values("member__display_name")[:1]), Value("")
        ),
        colleague_count=colleague_count,
    )
    tiers = [
        When(Q(followed_count__gt=0) | Q(host_followed=True), then=Value(int(Tier.FOLLOWED))),
        When(colleague_count__gt=0, then=Value(int(Tier.COLLEAGUES))),
        When(group_id__in=active_group_ids(member), then=Value(int(Tier.GROUP))),
    ]
    if member.industry:
        same_industry = Q(host__industry=member.industry) & ~Q(host=member)
        tiers.append(When(same_industry, then=Value(int(Tier.INDUSTRY))))
    return items.annotate(
        discovery_tier=Case(*tiers, default=Value(int(Tier.POPULAR)), output_field=IntegerField())
    )


# --- The one line on each card --------------------------------------------------------------


def reason(item, member, *, taking_part: str, popular: str) -> str:
    """Why a ranked item is shown, from its annotations. `taking_part` says what the people
    are doing ("here", "speaking"); `popular` is the line for the rest."""
    tier = item.discovery_tier
    if tier == Tier.FOLLOWED:
        if item.host_followed and item.followed_count <= 1:
            return f"Hosted by {item.host.display_name}, whom you follow"
        if item.followed_count == 1:
            return f"{item.followed_name}, whom you follow, is {taking_part}"
        return f"{_people(item.followed_count)} {taking_part}"
    if tier == Tier.COLLEAGUES:
        return f"{_colleagues(item.colleague_count, member.company.strip())} {taking_part}"
    if tier == Tier.GROUP:
        return f"From your group {item.group.name}"
    if tier == Tier.INDUSTRY:
        return f"Popular in {Industry(item.host.industry).label}"
    return popular


def same_company(company: str, other: str) -> bool:
    # The database compares with iexact; casefold() is the closest Python has.
    return company.strip().casefold() == other.strip().casefold()


def _people(n: int) -> str:
    return "1 person you follow is" if n == 1 else f"{n} people you follow are"


def _colleagues(n: int, company: str) -> str:
    return f"1 colleague from {company} is" if n == 1 else f"{n} colleagues from {company} are"
