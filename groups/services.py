"""State changes on groups and their memberships. Each checks the actor's right itself."""

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from groups.models import Group, Membership

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
    """Join a public group at once; ask to join a private one."""
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


def _require_manager(group: Group, actor) -> None:
    if not Membership.objects.filter(
        group=group,
        member=actor,
        status=Membership.Status.ACTIVE,
        role__in=[Membership.Role.OWNER, Membership.Role.MANAGER],
    ).exists():
        raise PermissionDenied("Only the group's managers can do that.")


def membership_approve(*, actor, membership: Membership) -> Membership:
    with transaction.atomic():
        _require_manager(membership.group, actor)
        membership.status = Membership.Status.ACTIVE
        membership.save(update_fields=["status"])
    return membership


def membership_reject(*, actor, membership: Membership) -> None:
    with transaction.atomic():
        _require_manager(membership.group, actor)
        if membership.status == Membership.Status.PENDING:
            membership.delete()
