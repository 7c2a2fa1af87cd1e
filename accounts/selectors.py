"""Reads about members, each a bounded number of queries."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Block, Member

PEOPLE_PREVIEW = 12


def member_get(handle: str) -> Member:
    """The active member with this handle, or 404."""
    return get_object_or_404(Member, handle=handle, is_active=True)


def member_followers(member: Member) -> QuerySet[Member]:
    return Member.objects.filter(following_set__followee=member, is_active=True).order_by(
        "-following_set__created_at"
    )


def member_following(member: Member) -> QuerySet[Member]:
    return Member.objects.filter(follower_set__follower=member, is_active=True).order_by(
        "-follower_set__created_at"
    )


def is_blocked_between(a: Member, b: Member) -> bool:
    """True when either member has blocked the other."""
    return (
        Block.objects.filter(blocker=a, blocked=b).exists()
        or Block.objects.filter(blocker=b, blocked=a).exists()
    )


def blocked_either_way(member: Member, others) -> set[int]:
    """Ids of those among `others` who blocked `member` or whom `member` blocked (one
    query). Such a pair can't invite each other to anything, whoever blocked whom."""
    ids = {o.pk for o in others}
    if not ids:
        return set()
    pairs = Block.objects.filter(
        Q(blocker=member, blocked_id__in=ids) | Q(blocked=member, blocker_id__in=ids)
    ).values_list("blocker_id", "blocked_id")
    return {b if a == member.pk else a for a, b in pairs}


def blocked_between_ids(member: Member) -> set[int]:
    """Ids of members this member blocked or who blocked this member (one query)."""
    pairs = Block.objects.filter(Q(blocker=member) | Q(blocked=member)).values_list(
        "blocker_id", "blocked_id"
    )
    return {b if a == member.pk else a for a, b in pairs}


def blocked_ids(member: Member) -> set[int]:
    """Ids of members this member has blocked."""
    return set(Block.objects.filter(blocker=member).values_list("blocked_id", flat=True))


SUGGEST_LIMIT = 8


def members_to_suggest(actor: Member, query: str, *, among=None) -> list[Member]:
    """Members the actor might name as a speaker or co-host, matching `query` by name or
    handle: active, not suspended, not the actor, and never one either of them blocked.
    `among` (a queryset of member ids, e.g. a group's) narrows it further. One query."""
    query = " ".join(query.split())
    if len(query) < 2:
        return []
    blocked = Block.objects.filter(
        Q(blocker=actor, blocked=OuterRef("pk")) | Q(blocker=OuterRef("pk"), blocked=actor)
    )
    members = (
        Member.objects.filter(is_active=True)
        .filter(Q(display_name__icontains=query) | Q(handle__istartswith=query.lstrip("@")))
        .exclude(pk=actor.pk)
        .exclude(suspended_until__gt=timezone.now())
        .exclude(Exists(blocked))
    )
    if among is not None:
        members = members.filter(pk__in=among)
    return list(members.order_by("display_name", "pk")[:SUGGEST_LIMIT])
