"""Joining, leaving and deciding join requests: /groups/<slug>/join/, leave/, requests/<id>/."""

from groups.models import Membership
from tests.conftest import make_group


def test_it_joins_a_public_group_at_once(client, alice, carol, flashes, section):
    group = make_group(alice, "Platform Engineering")
    client.force_login(carol)

    response = client.post(f"/groups/{group.slug}/join/", follow=True)

    membership = Membership.objects.get(group=group, member=carol)
    assert membership.status == Membership.Status.ACTIVE
    assert membership.role == Membership.Role.MEMBER
    assert ("success", "Welcome to Platform Engineering.") in flashes(response)
    assert "Carol Nguyen" in section(response, "members-heading")
    assert "Leave group" in response.content.decode()


def test_it_asks_to_join_a_private_group(client, alice, carol, flashes, section):
    group = make_group(alice, "Security Council", private=True)
    client.force_login(carol)

    response = client.post(f"/groups/{group.slug}/join/", follow=True)

    membership = Membership.objects.get(group=group, member=carol)
    assert membership.status == Membership.Status.PENDING
    assert ("info", "Request sent. A manager will review it.") in flashes(response)
    assert "Request pending" in response.content.decode()

    client.force_login(alice)
    owner_view = client.get(f"/groups/{group.slug}/")
    assert "Carol Nguyen" not in section(owner_view, "members-heading")
    assert "Carol Nguyen" in section(owner_view, "requests-heading")
    assert "1 member<" in owner_view.content.decode()


def test_it_keeps_one_membership_when_joining_twice(client, alice, carol):
    group = make_group(alice, "Security Council", private=True)
    client.force_login(carol)

    client.post(f"/groups/{group.slug}/join/")
    client.post(f"/groups/{group.slug}/join/")

    assert Membership.objects.filter(group=group, member=carol).count() == 1
    assert Membership.objects.get(group=group, member=carol).status == "pending"


def test_it_requires_login_to_join_and_leave(client, alice, bob):
    group = make_group(alice, "Platform Engineering", members=[bob])

    join = client.post(f"/groups/{group.slug}/join/")
    leave = client.post(f"/groups/{group.slug}/leave/")

    assert join.status_code == 302
    assert join["Location"].startswith("/accounts/login/")
    assert leave.status_code == 302
    assert leave["Location"].startswith("/accounts/login/")
    assert group.memberships.count() == 2


def test_it_only_joins_and_leaves_on_post(client, alice, bob, carol):
    group = make_group(alice, "Platform Engineering", members=[bob])

    client.force_login(carol)
    assert client.get(f"/groups/{group.slug}/join/").status_code == 405
    client.force_login(bob)
    assert client.get(f"/groups/{group.slug}/leave/").status_code == 405

    assert not Membership.objects.filter(member=carol).exists()
    assert Membership.objects.filter(group=group, member=bob).exists()


def test_it_leaves_a_group(client, alice, bob, flashes, section):
    group = make_group(alice, "Platform Engineering", members=[bob])
    client.force_login(bob)

    response = client.post(f"/groups/{group.slug}/leave/", follow=True)

    assert not Membership.objects.filter(group=group, member=bob).exists()
    assert ("success", "You left Platform Engineering.") in flashes(response)
    assert "Bob Okafor" not in section(response, "members-heading")
    assert "Join group" in response.content.decode()


def test_it_withdraws_a_join_request_on_leave(client, alice, carol):
    group = make_group(alice, "Security Council", private=True)
    Membership.objects.create(group=group, member=carol, status=Membership.Status.PENDING)
    client.force_login(carol)

    client.post(f"/groups/{group.slug}/leave/")

    assert not Membership.objects.filter(group=group, member=carol).exists()


def test_it_does_not_let_the_owner_leave(client, alice, bob, flashes):
    group = make_group(alice, "Platform Engineering", members=[bob])
    client.force_login(alice)

    page = client.get(f"/groups/{group.slug}/").content.decode()
    assert "Leave group" not in page

    response = client.post(f"/groups/{group.slug}/leave/", follow=True)

    assert ("error", "The owner can't leave the group.") in flashes(response)
    owner = Membership.objects.get(group=group, member=alice)
    assert owner.role == Membership.Role.OWNER


def _request(group, member) -> Membership:
    return Membership.objects.create(group=group, member=member, status=Membership.Status.PENDING)


def test_it_shows_join_requests_to_managers_only(client, alice, bob, carol, dan, section):
    group = make_group(alice, "Security Council", private=True, members=[carol])
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)
    _request(group, dan)
    url = f"/groups/{group.slug}/"

    for manager in (alice, bob):
        client.force_login(manager)
        requests = section(client.get(url), "requests-heading")
        assert "Dan Silva" in requests
        assert 'value="approve"' in requests
        assert 'value="reject"' in requests

    client.force_login(carol)
    response = client.get(url)
    assert section(response, "requests-heading") == ""
    assert "Dan Silva" not in response.content.decode()


def test_it_lets_a_manager_approve_a_request(client, alice, bob, dan, flashes, section):
    group = make_group(alice, "Security Council", private=True)
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)
    request = _request(group, dan)
    client.force_login(bob)

    response = client.post(
        f"/groups/{group.slug}/requests/{request.pk}/", {"decision": "approve"}, follow=True
    )

    request.refresh_from_db()
    assert request.status == Membership.Status.ACTIVE
    assert ("success", "Dan Silva joined Security Council.") in flashes(response)
    assert "Dan Silva" in section(response, "members-heading")
    assert section(response, "requests-heading") == ""


def test_it_lets_the_owner_decline_a_request(client, alice, dan, flashes):
    group = make_group(alice, "Security Council", private=True)
    request = _request(group, dan)
    client.force_login(alice)

    response = client.post(
        f"/groups/{group.slug}/requests/{request.pk}/", {"decision": "reject"}, follow=True
    )

    assert not Membership.objects.filter(pk=request.pk).exists()
    assert ("success", "Request declined.") in flashes(response)


def test_it_refuses_a_decision_from_a_plain_member(client, alice, carol, dan, flashes):
    group = make_group(alice, "Security Council", private=True, members=[carol])
    request = _request(group, dan)
    client.force_login(carol)

    approve = client.post(
        f"/groups/{group.slug}/requests/{request.pk}/", {"decision": "approve"}, follow=True
    )
    decline = client.post(
        f"/groups/{group.slug}/requests/{request.pk}/", {"decision": "reject"}, follow=True
    )

    for response in (approve, decline):
        assert ("error", "Only the group's managers can do that.") in flashes(response)
    request.refresh_from_db()
    assert request.status == Membership.Status.PENDING


def test_it_refuses_a_pending_member_approving_themselves(client, alice, dan, flashes):
    group = make_group(alice, "Security Council", private=True)
    request = _request(group, dan)
    client.force_login(dan)

    response = client.post(
        f"/groups/{group.slug}/requests/{request.pk}/", {"decision": "approve"}, follow=True
    )

    assert ("error", "Only the group's managers can do that.") in flashes(response)
    request.refresh_from_db()
    assert request.status == Membership.Status.PENDING


def test_it_does_not_let_a_manager_decide_another_groups_requests(client, alice, bob, dan):
    mine = make_group(alice, "Platform Engineering")
    theirs = make_group(bob, "Security Council", private=True)
    request = _request(theirs, dan)
    client.force_login(alice)

    response = client.post(f"/groups/{mine.slug}/requests/{request.pk}/", {"decision": "approve"})

    assert response.status_code == 404
    request.refresh_from_db()
    assert request.status == Membership.Status.PENDING


def test_it_decides_only_on_post_and_for_signed_in_members(client, alice, dan):
    group = make_group(alice, "Security Council", private=True)
    request = _request(group, dan)
    url = f"/groups/{group.slug}/requests/{request.pk}/"

    anonymous = client.post(url, {"decision": "approve"})
    client.force_login(alice)
    by_get = client.get(url, {"decision": "approve"})

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert by_get.status_code == 405
    request.refresh_from_db()
    assert request.status == Membership.Status.PENDING
