"""State changes on members: follows, blocks, and the verified work domain."""

from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q

from accounts.freemail import email_domain, is_work_domain
from accounts.models import Block, Follow, Member


def follow_create(*, follower: Member, followee: Member) -> Follow:
    if follower.pk == followee.pk:
        raise PermissionDenied("You can't follow yourself.")
    with transaction.atomic():
        # A block in either direction rules following out.
        if Block.objects.filter(
            Q(blocker=followee, blocked=follower) | Q(blocker=follower, blocked=followee)
        ).exists():
            raise PermissionDenied("You can't follow this member.")
        follow, _ = Follow.objects.get_or_create(follower=follower, followee=followee)
    return follow


def follow_delete(*, follower: Member, followee: Member) -> None:
    Follow.objects.filter(follower=follower, followee=followee).delete()


def block_create(*, blocker: Member, blocked: Member) -> Block:
    """Block a member; following ends in both directions."""
    if blocker.pk == blocked.pk:
        raise PermissionDenied("You can't block yourself.")
    with transaction.atomic():
        block, _ = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
        Follow.objects.filter(follower=blocker, followee=blocked).delete()
        Follow.objects.filter(follower=blocked, followee=blocker).delete()
    return block


def block_delete(*, blocker: Member, blocked: Member) -> None:
    Block.objects.filter(blocker=blocker, blocked=blocked).delete()


def member_sync_verified_domain(*, member: Member) -> str:
    """Recompute the "Verified · example.com" badge from the member's verified addresses.

    The primary address wins when it qualifies; otherwise the earliest verified work address.
    Free-mail domains never count.
    """
    addresses = EmailAddress.objects.filter(user=member, verified=True).order_by("-primary", "pk")
    domain = ""
    for address in addresses:
        candidate = email_domain(address.email)
        if is_work_domain(candidate):
            domain = candidate
            break
    if domain != member.verified_domain:
        member.verified_domain = domain
        member.save(update_fields=["verified_domain"])
    return domain
