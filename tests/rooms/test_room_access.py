"""selectors.room_access: every rule of who may be in a room, in its one query.

The rules are written once, as SQL (see rooms/selectors.py); each case here sets up one
fact in the database and checks the verdict, the powers it reports and the query count."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Block, Member
from groups.models import GroupBan, Membership
from rooms.models import Participant, Role, Room, RoomBan
from rooms.permissions import is_platform_moderator, moderator_powers
from rooms.selectors import room_access
from tests.conftest import make_group, make_member, make_room

pytestmark = pytest.mark.django_db


def _permission() -> Permission:
    return Permission.objects.get(codename="moderate_platform", content_type__app_label="rooms")


@pytest.fixture
def scene(alice):
    group = make_group(alice, "Platform Guild")
    public = make_room(alice, title="Open talk", group=group)
    private = make_room(alice, title="Members only", group=group, visibility=Room.Visibility.GROUP)
    return group, public, private


def _check(room, member):
    """room_access in exactly one query; returns the access or the exception raised."""
    member = Member.objects.get(pk=member.pk)
    with CaptureQueriesContext(connection) as queries:
        try:
            outcome = room_access(room.pk, member)
        except (Http404, PermissionDenied) as exc:
            outcome = exc
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]
    return outcome


def test_an_ordinary_member_may_join_a_public_room(scene, bob):
    _, public, _ = scene
    access = _check(public, bob)
    assert access.room.pk == public.pk
    assert (access.platform, access.manages_group, access.on_stage) == (False, False, False)


def test_a_group_only_room_does_not_exist_for_outsiders(scene, bob):
    _, _, private = scene
    assert isinstance(_check(private, bob), Http404)


def test_a_group_only_room_is_open_to_active_members_only(scene, bob):
    group, _, private = scene
    membership = Membership.objects.create(group=group, member=bob)
    assert _check(private, bob).room.pk == private.pk
    membership.status = Membership.Status.PENDING
    membership.save()
    assert isinstance(_check(private, bob), Http404)


def test_the_group_owner_and_managers_have_moderator_powers(scene, alice, bob):
    group, public, _ = scene
    assert _check(public, alice).manages_group  # alice owns the group
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)
    access = _check(public, bob)
    assert access.manages_group and access.moderator_powers
    assert moderator_powers(public, Member.objects.get(pk=bob.pk))


def test_a_plain_group_member_has_no_powers(scene, bob):
    group, public, _ = scene
    Membership.objects.create(group=group, member=bob)
    assert not _check(public, bob).moderator_powers


def test_the_permission_given_directly_makes_a_platform_moderator(scene, bob):
    _, _, private = scene
    bob.user_permissions.add(_permission())
    access = _check(private, bob)
    assert access.platform and access.moderator_powers
    assert is_platform_moderator(Member.objects.get(pk=bob.pk))


def test_the_permission_through_an_auth_group_makes_a_platform_moderator(scene, bob):
    _, _, private = scene
    team = AuthGroup.objects.create(name="Trust and safety")
    team.permissions.add(_permission())
    bob.groups.add(team)
    assert _check(private, bob).platform
    assert is_platform_moderator(Member.objects.get(pk=bob.pk))


def test_an_inactive_account_is_no_platform_moderator(scene, bob):
    _, _, private = scene
    bob.user_permissions.add(_permission())
    Member.objects.filter(pk=bob.pk).update(is_active=False)
    assert isinstance(_check(private, bob), Http404)


def test_a_superuser_is_a_platform_moderator(scene, staff):
    _, _, private = scene
    assert _check(private, staff).platform


def test_a_group_ban_keeps_the_member_out(scene, bob):
    group, public, _ = scene
    GroupBan.objects.create(group=group, member=bob)
    outcome = _check(public, bob)
    assert isinstance(outcome, PermissionDenied) and "banned" in str(outcome)


def test_a_room_ban_keeps_the_member_out(scene, bob):
    _, public, _ = scene
    RoomBan.objects.create(room=public, member=bob)
    outcome = _check(public, bob)
    assert isinstance(outcome, PermissionDenied) and "removed" in str(outcome)


def test_a_block_by_the_host_or_a_moderator_keeps_the_member_out(scene, bob, carol):
    _, public, _ = scene
    Participant.objects.create(room=public, member=carol, role=Role.SPEAKER)
    Block.objects.create(blocker=carol, blocked=bob)
    # A speaker's block is theirs alone: it keeps nobody out of the room.
    assert _check(public, bob).room.pk == public.pk
    Participant.objects.filter(room=public, member=carol).update(role=Role.MODERATOR)
    assert isinstance(_check(public, bob), PermissionDenied)


def test_a_block_in_another_room_does_not_count(scene, alice, bob):
    _, public, _ = scene
    elsewhere = make_room(bob, title="Bob's room")
    assert elsewhere.pk != public.pk
    Block.objects.create(blocker=bob, blocked=alice)
    assert _check(public, alice).room.pk == public.pk


def test_the_stage_role_is_reported(scene, bob):
    _, public, _ = scene
    Participant.objects.create(room=public, member=bob, role=Role.SPEAKER)
    assert _check(public, bob).on_stage
    Participant.objects.filter(room=public, member=bob).update(role=Role.LISTENER)
    assert not _check(public, bob).on_stage


def test_a_suspended_member_is_refused(scene, bob):
    _, public, _ = scene
    Member.objects.filter(pk=bob.pk).update(suspended_until=timezone.now() + timedelta(days=1))
    outcome = _check(public, bob)
    assert isinstance(outcome, PermissionDenied) and "suspended" in str(outcome)


def test_an_unknown_room_is_not_found(bob):
    assert isinstance(_check(Room(pk=987654), bob), Http404)


def test_a_signed_out_visitor_is_asked_to_sign_in(scene):
    from django.contrib.auth.models import AnonymousUser

    _, public, _ = scene
    with pytest.raises(PermissionDenied, match="Sign in"):
        room_access(public.pk, AnonymousUser())
    with pytest.raises(Http404):
        room_access(987654, AnonymousUser())


def test_the_verdict_does_not_leak_between_members(scene, bob, carol):
    _, public, _ = scene
    RoomBan.objects.create(room=public, member=bob)
    Participant.objects.create(room=public, member=carol, role=Role.SPEAKER)
    assert isinstance(_check(public, bob), PermissionDenied)
    assert _check(public, carol).on_stage
    assert _check(public, make_member("Eve")).on_stage is False


@pytest.mark.parametrize("path", ["/rooms/{n}/", "/rooms/{n}/audience/"])
def test_a_room_number_past_any_primary_key_is_not_found(client, carol, path):
    client.force_login(carol)
    assert client.get(path.format(n=10**20)).status_code == 404
    with pytest.raises(Http404):
        room_access(10**20, carol)
