"""groups.services: creating groups and changing memberships, with their permission checks."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from groups import services
from groups.models import Group, Membership
from tests.conftest import make_group, make_member


def test_it_creates_a_group_owned_by_its_creator(alice):
    group = services.group_create(creator=alice, name="Platform Engineering", is_private=True)

    assert group.slug == "platform-engineering"
    assert group.is_private
    owner = Membership.objects.get(group=group)
    assert (owner.member, owner.role, owner.status) == (alice, "owner", "active")


def test_it_refuses_a_taken_slug(alice, bob):
    services.group_create(creator=alice, name="Postgres")

    with pytest.raises(ValueError, match="taken"):
        services.group_create(creator=bob, name="Another", slug="postgres")

    assert Group.objects.count() == 1
    assert not Membership.objects.filter(member=bob).exists()


def test_it_refuses_a_name_without_letters(alice):
    with pytest.raises(ValueError, match="letters or digits"):
        services.group_create(creator=alice, name="!!!")

    assert not Group.objects.exists()


def test_it_joins_public_groups_and_asks_to_join_private_ones(alice, carol):
    public = make_group(alice, "Platform Engineering")
    private = make_group(alice, "Security Council", private=True)

    assert services.group_join(group=public, member=carol).status == "active"
    assert services.group_join(group=private, member=carol).status == "pending"


def test_it_returns_the_existing_membership_on_a_second_join(alice, bob):
    group = make_group(alice, "Platform Engineering")
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)

    membership = services.group_join(group=group, member=bob)

    assert membership.role == Membership.Role.MANAGER
    assert Membership.objects.filter(group=group, member=bob).count() == 1


def test_it_leaves_and_ignores_leaving_a_group_one_is_not_in(alice, bob, dan):
    group = make_group(alice, "Platform Engineering", members=[bob])

    services.group_leave(group=group, member=bob)
    services.group_leave(group=group, member=dan)

    assert list(group.memberships.values_list("member", flat=True)) == [alice.pk]


def test_it_refuses_the_owner_leaving(alice):
    group = make_group(alice, "Platform Engineering")

    with pytest.raises(PermissionDenied):
        services.group_leave(group=group, member=alice)

    assert group.memberships.filter(member=alice, role="owner").exists()


def test_it_lets_owners_and_managers_approve(alice, bob, carol, dan):
    group = make_group(alice, "Security Council", private=True)
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)
    first = Membership.objects.create(group=group, member=carol, status="pending")
    second = Membership.objects.create(group=group, member=dan, status="pending")

    services.membership_approve(actor=alice, membership=first)
    services.membership_approve(actor=bob, membership=second)

    assert Membership.objects.get(pk=first.pk).status == "active"
    assert Membership.objects.get(pk=second.pk).status == "active"


def test_it_refuses_approval_by_members_pending_members_and_outsiders(alice, bob, carol, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    request = Membership.objects.create(group=group, member=carol, status="pending")
    Membership.objects.create(group=group, member=dan, status="pending")

    outsider = make_member("Erin Park")

    for actor in (bob, carol, dan, outsider):
        with pytest.raises(PermissionDenied):
            services.membership_approve(actor=actor, membership=request)
        with pytest.raises(PermissionDenied):
            services.membership_reject(actor=actor, membership=request)

    assert Membership.objects.get(pk=request.pk).status == "pending"


def test_it_rejects_only_pending_requests(alice, bob, carol):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    request = Membership.objects.create(group=group, member=carol, status="pending")
    active = Membership.objects.get(group=group, member=bob)

    services.membership_reject(actor=alice, membership=request)
    services.membership_reject(actor=alice, membership=active)

    assert not Membership.objects.filter(pk=request.pk).exists()
    assert Membership.objects.filter(pk=active.pk).exists()


def test_the_database_allows_one_owner_and_one_membership_per_member(alice, bob):
    group = make_group(alice, "Platform Engineering", members=[bob])

    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(group=group, member=bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(member=bob).update(role=Membership.Role.OWNER)


def test_the_database_keeps_pending_members_plain(alice, carol):
    group = make_group(alice, "Security Council", private=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            group=group, member=carol, role=Membership.Role.MANAGER, status="pending"
        )
