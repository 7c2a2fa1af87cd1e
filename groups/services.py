"""State changes on groups and their memberships. Each checks the actor's right itself."""

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import NotificationKind
from accounts.notifications import notify
from groups.models import Group, GroupBan, Membership
from groups.selectors import manager_membership

# Addresses that /groups/<slug>/ can't have because the site's own pages use them.
RESERVED_SLUGS = frozenset({"new"})


def group_create(
    *, creator, name: str, description: str = "", is_private: bool = False, slug: str = ""
) -> Group:
    slug = slugify(slug or name)[:60]
    if not slug:
        raise ValueError("A group needs a name with letters or digits.")
    if slug in RESERVED_SLUGS:
        raise ValueError("That address is reserved; choose another.")
    with transaction.atomic():
        if Group.objects.filter(slug=slug).exists():
            raise ValueError("That address is taken; choose another.")
        group = Group.objects.create(
            name=name,
            slug=slug,
            description=description,
            is_private=is_private,
            created_by=creator,
        )
        Membership.objects.create(group=group, member=creator, role=Membership.Role.OWNER)
    return group


def group_join(*, group: Group, member) -> Membership:
    """Join a public group at once; ask to join a private one. A member the group banned
    can do neither until a manager lifts the ban."""
    if GroupBan.objects.filter(group=group, member=member).exists():
        raise PermissionDenied("You were banned from this group.")
    status = Membership.Status.PENDING if group.is_private else Membership.Status.ACTIVE
    try:
        with transaction.atomic():
            membership, _ = Membership.objects.get_or_create(
                group=group, member=member, defaults={"status": status}
            )
    except IntegrityError:
        membership = Membership.objects.get(group=group, member=member)
    return membership


def group_leave(*, group: Group, member) -> None:
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(group=group, member=member).first()
        )
        if membership is None:
            return
        if membership.role == Membership.Role.OWNER:
            raise PermissionDenied("The owner can't leave the group.")
        membership.delete()


def _require_manager(group: Group, actor) -> Membership:
    membership = manager_membership(group.pk, actor)
    if membership is None:
        raise PermissionDenied("Only the group's managers can do that.")
    return membership


def _lock(membership: Membership) -> Membership:
    """The membership re-read under a row lock, so that two managers deciding at once
    don't both act on what they saw."""
    locked = (
        Membership.objects.select_for_update()
        .select_related("group", "member")
        .filter(pk=membership.pk)
        .first()
    )
    if locked is None:
        raise ValueError("That member is no longer in the group.")
    return locked


def membership_approve(*, actor, membership: Membership) -> Membership:
    """Let a member in who asked to join; they hear about it (join_approved)."""
    with transaction.atomic():
        _require_manager(membership.group, actor)
        membership = _lock(membership)
        if membership.status != Membership.Status.PENDING:
            return membership
        membership.status = Membership.Status.ACTIVE
        membership.save(update_fields=["status"])
        group = membership.group
        notify(
            member=membership.member,
            kind=NotificationKind.JOIN_APPROVED,
            text=f"You're now a member of {group.name}.",
            url=group.get_absolute_url(),
            email=True,
        )
    return membership


def membership_reject(*, actor, membership: Membership) -> None:
    with transaction.atomic():
        _require_manager(membership.group, actor)
        if membership.status == Membership.Status.PENDING:
            membership.delete()


def membership_promote(*, actor, membership: Membership) -> Membership:
    """A manager (or the owner) makes an active member a manager."""
    with transaction.atomic():
        _require_manager(membership.group, actor)
        membership = _lock(membership)
        if membership.status != Membership.Status.ACTIVE:
            raise ValueError("Approve the request before making them a manager.")
        if membership.role != Membership.Role.MEMBER:
            raise ValueError(f"{membership.member} already manages {membership.group}.")
        membership.role = Membership.Role.MANAGER
        membership.save(update_fields=["role"])
    return membership


def membership_demote(*, actor, membership: Membership) -> Membership:
    """Only the owner turns a manager back into a member."""
    with transaction.atomic():
        mine = _require_manager(membership.group, actor)
        if mine.role != Membership.Role.OWNER:
            raise PermissionDenied("Only the group's owner can remove a manager.")
        membership = _lock(membership)
        if membership.role != Membership.Role.MANAGER:
            raise ValueError(f"{membership.member} isn't a manager of {membership.group}.")
        membership.role = Membership.Role.MEMBER
        membership.save(update_fields=["role"])
    return membership


def member_unban(*, group: Group, member) -> GroupBan | None:
    """Lift a member's ban; the ban lifted, or None if there was none. The caller has
    checked the actor's right and writes the audit entry (rooms.moderation.services)."""
    with transaction.atomic():
        ban = GroupBan.objects.select_for_update().filter(group=group, member=member).first()
        if ban is not None:
            ban.delete()
    return ban


def member_ban(*, group: Group, member, banned_by, reason: str = "") -> tuple[GroupBan, str | None]:
    """Keep a member out of the group: the ban stays and their membership ends. The owner
    can't be banned. Returns the ban and the membership role the member had.

    The caller has checked the actor's right and writes the audit entry
    (rooms.moderation.services.group_ban, which also takes the member out of live rooms)."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(group=group, member=member)
        current = membership.first()
        if current is not None and current.role == Membership.Role.OWNER:
            raise ValueError("The group's owner can't be banned.")
        ban, _ = GroupBan.objects.get_or_create(
            group=group, member=member, defaults={"banned_by": banned_by, "reason": reason[:500]}
        )
        membership.delete()
    return ban, current.role if current else None
