"""Managers: promoting a member (owner or manager) and demoting a manager (owner only).

groups.services.membership_promote / membership_demote, and their pages
/groups/<slug>/members/<id>/promote/ and demote/.
"""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from groups import services
from groups.models import Membership
from tests.conftest import make_group, make_member


@pytest.fixture
def council(alice, bob, carol):
    """alice owns it, bob manages it, carol is a member."""
    group = make_group(alice, "Security Council", private=True, members=[carol])
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)
    return group


def _of(group, member) -> Membership:
    return Membership.objects.get(group=group, member=member)


# --- The services -----------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["alice", "bob"])
def test_the_owner_and_managers_promote_members(council, carol, actor, request):
    manager = request.getfixturevalue(actor)

    membership = services.membership_promote(actor=manager, membership=_of(council, carol))

    assert membership.role == Membership.Role.MANAGER
    assert _of(council, carol).role == Membership.Role.MANAGER


def test_members_pending_members_and_outsiders_cannot_promote(council, carol, dan):
    erin = make_member("Erin Park")
    Membership.objects.create(group=council, member=dan, status=Membership.Status.PENDING)

    for actor in (carol, dan, erin):
        with pytest.raises(PermissionDenied):
            services.membership_promote(actor=actor, membership=_of(council, carol))

    assert _of(council, carol).role == Membership.Role.MEMBER


def test_a_manager_of_another_group_cannot_promote_here(council, carol, dan):
    make_group(dan, "Platform Engineering")

    with pytest.raises(PermissionDenied):
        services.membership_promote(actor=dan, membership=_of(council, carol))


def test_only_active_plain_members_can_be_promoted(council, alice, bob, dan):
    pending = Membership.objects.create(group=council, member=dan, status=Membership.Status.PENDING)

    with pytest.raises(ValueError, match="Approve the request"):
        services.membership_promote(actor=alice, membership=pending)
    with pytest.raises(ValueError, match="already manages"):
        services.membership_promote(actor=alice, membership=_of(council, bob))
    with pytest.raises(ValueError, match="already manages"):
        services.membership_promote(actor=alice, membership=_of(council, alice))

    assert _of(council, dan).role == Membership.Role.MEMBER
    assert _of(council, alice).role == Membership.Role.OWNER


def test_the_owner_demotes_a_manager(council, alice, bob):
    membership = services.membership_demote(actor=alice, membership=_of(council, bob))

    assert membership.role == Membership.Role.MEMBER
    assert _of(council, bob).role == Membership.Role.MEMBER


def test_managers_and_members_cannot_demote(council, alice, bob, carol):
    other = make_member("Erin Park")
    services.membership_promote(
        actor=alice, membership=Membership.objects.create(group=council, member=other)
    )

    for actor in (bob, carol):
        with pytest.raises(PermissionDenied, match="Only the group's"):
            services.membership_demote(actor=actor, membership=_of(council, other))
    # Nor may a manager step the owner down.
    with pytest.raises(PermissionDenied):
        services.membership_demote(actor=bob, membership=_of(council, alice))

    assert _of(council, other).role == Membership.Role.MANAGER
    assert _of(council, alice).role == Membership.Role.OWNER


def test_only_managers_can_be_demoted(council, alice, carol):
    with pytest.raises(ValueError, match="isn't a manager"):
        services.membership_demote(actor=alice, membership=_of(council, carol))
    with pytest.raises(ValueError, match="isn't a manager"):
        services.membership_demote(actor=alice, membership=_of(council, alice))

    assert _of(council, alice).role == Membership.Role.OWNER


def test_a_demoted_manager_loses_the_managers_powers(council, alice, bob, dan):
    request = Membership.objects.create(group=council, member=dan, status=Membership.Status.PENDING)
    services.membership_demote(actor=alice, membership=_of(council, bob))

    with pytest.raises(PermissionDenied):
        services.membership_approve(actor=bob, membership=request)


# --- The pages --------------------------------------------------------------------------------


def _url(group, membership: Membership, action: str) -> str:
    return f"/groups/{group.slug}/members/{membership.pk}/{action}/"


def test_the_owner_sees_promote_and_demote_buttons(client, council, alice, bob, carol, section):
    client.force_login(alice)

    members = section(client.get(f"/groups/{council.slug}/"), "members-heading")

    assert _url(council, _of(council, carol), "promote") in members
    assert _url(council, _of(council, bob), "demote") in members
    assert _url(council, _of(council, alice), "promote") not in members
    assert _url(council, _of(council, alice), "demote") not in members


def test_a_manager_sees_promote_buttons_only(client, council, alice, bob, carol, section):
    client.force_login(bob)

    members = section(client.get(f"/groups/{council.slug}/"), "members-heading")

    assert _url(council, _of(council, carol), "promote") in members
    assert "/demote/" not in members


def test_a_member_sees_neither(client, council, carol, section):
    client.force_login(carol)

    members = section(client.get(f"/groups/{council.slug}/"), "members-heading")

    assert "/promote/" not in members
    assert "/demote/" not in members


def test_it_promotes_and_demotes_through_the_pages(client, council, alice, carol, flashes):
    client.force_login(alice)
    carols = _of(council, carol)

    promoted = client.post(_url(council, carols, "promote"), follow=True)
    assert ("success", "Carol Nguyen is now a manager of Security Council.") in flashes(promoted)
    assert _of(council, carol).role == Membership.Role.MANAGER

    demoted = client.post(_url(council, carols, "demote"), follow=True)
    assert ("success", "Carol Nguyen is now a member of Security Council.") in flashes(demoted)
    assert _of(council, carol).role == Membership.Role.MEMBER


def test_it_shows_refusals_as_errors(client, council, bob, carol, flashes):
    client.force_login(bob)
    manager = Membership.objects.create(
        group=council, member=make_member("Erin Park"), role=Membership.Role.MANAGER
    )

    response = client.post(_url(council, manager, "demote"), follow=True)

    assert ("error", "Only the group's owner can remove a manager.") in flashes(response)
    assert Membership.objects.get(pk=manager.pk).role == Membership.Role.MANAGER


def test_it_changes_roles_only_on_post_with_a_csrf_token(client, council, alice, carol):
    carols = _of(council, carol)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    client.force_login(alice)

    assert client.get(_url(council, carols, "promote")).status_code == 405
    assert strict.post(_url(council, carols, "promote")).status_code == 403
    assert _of(council, carol).role == Membership.Role.MEMBER


def test_it_needs_a_signed_in_member(client, council, carol):
    response = client.post(_url(council, _of(council, carol), "promote"))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert _of(council, carol).role == Membership.Role.MEMBER


def test_it_404s_a_membership_of_another_group(client, council, alice, dan):
    theirs = make_group(dan, "Platform Engineering", members=[make_member("Erin Park")])
    erins = Membership.objects.get(group=theirs, role=Membership.Role.MEMBER)
    client.force_login(alice)

    response = client.post(_url(council, erins, "promote"))

    assert response.status_code == 404
    assert Membership.objects.get(pk=erins.pk).role == Membership.Role.MEMBER
