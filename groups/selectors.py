"""Reads about groups. Other apps ask these, and only these, about group access."""

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.http import Http404

from groups.models import Group, GroupBan, Membership

# Owner first, then managers, then members.
ROLE_ORDER = Case(
    When(role=Membership.Role.OWNER, then=Value(0)),
    When(role=Membership.Role.MANAGER, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def membership_for(group: Group, member) -> Membership | None:
    if member is None or not member.is_authenticated:
        return None
    return Membership.objects.filter(group=group, member=member).first()


def active_group_ids(member) -> QuerySet:
    """A subquery of the ids of groups the member belongs to (empty for anonymous visitors)."""
    if member is None or not member.is_authenticated:
        return Group.objects.none().values("pk")
    return Membership.objects.filter(member=member, status=Membership.Status.ACTIVE).values(
        "group_id"
    )


def active_member_ids(group_id: int) -> QuerySet:
    """A subquery of the ids of the group's members (for narrowing who hears about a
    group-only room)."""
    return Membership.objects.filter(group_id=group_id, status=Membership.Status.ACTIVE).values(
        "member_id"
    )


def is_active_member(group_id: int, member) -> bool:
    if member is None or not member.is_authenticated:
        return False
    return Membership.objects.filter(
        group_id=group_id, member=member, status=Membership.Status.ACTIVE
    ).exists()


def manager_membership(group_id: int | None, member) -> Membership | None:
    """The member's membership if they manage the group (owner or manager), else None."""
    if group_id is None or member is None or not member.is_authenticated:
        return None
    return Membership.objects.filter(
        group_id=group_id,
        member=member,
        status=Membership.Status.ACTIVE,
        role__in=[Membership.Role.OWNER, Membership.Role.MANAGER],
    ).first()


def manages_group(member, group_id: int | None) -> bool:
    return manager_membership(group_id, member) is not None


def can_see_group_content(group: Group, member) -> bool:
    return not group.is_private or is_active_member(group.pk, member)


def group_get(slug: str) -> Group:
    try:
        return Group.objects.with_member_count().get(slug=slug)
    except Group.DoesNotExist:
        raise Http404("No such group") from None


def group_members(group: Group) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(group=group, status=Membership.Status.ACTIVE)
        .select_related("member")
        .order_by(ROLE_ORDER, "created_at")
    )


def pending_requests(group: Group) -> QuerySet[Membership]:
    return Membership.objects.filter(group=group, status=Membership.Status.PENDING).select_related(
        "member"
    )


def groups_for_profile(member, viewer) -> list[Membership]:
    """The member's groups as the viewer may see them: public ones, and private ones the
    viewer belongs to as well."""
    memberships = (
        Membership.objects.filter(member=member, status=Membership.Status.ACTIVE)
        .select_related("group")
        .order_by("group__name")
    )
    if viewer is None or viewer.pk != member.pk:
        memberships = memberships.filter(
            Q(group__is_private=False) | Q(group_id__in=active_group_ids(viewer))
        )
    return list(memberships[:20])


def groups_list(query: str = "") -> QuerySet[Group]:
    groups = Group.objects.with_member_count().order_by("-member_count", "name")
    if query:
        groups = groups.filter(name__icontains=query) | groups.filter(description__icontains=query)
    return groups


def groups_matching(query: str, *, limit: int) -> list[Group]:
    """Groups for a site search. Public groups are found by name or description; private
    ones by name only (and the search page shows only their name)."""
    groups = Group.objects.with_member_count().filter(
        Q(name__icontains=query) | Q(is_private=False, description__icontains=query)
    )
    return list(groups.order_by("-member_count", "name")[:limit])


def is_banned(group_id: int | None, member) -> bool:
    """Is the member banned from the group (and so from its rooms and events)?"""
    if group_id is None or member is None or not member.is_authenticated:
        return False
    return GroupBan.objects.filter(group_id=group_id, member=member).exists()


def group_bans(group: Group):
    """The group's bans, newest first, with the banned member's identity."""
    return GroupBan.objects.filter(group=group).select_related("member").order_by("-created_at")
