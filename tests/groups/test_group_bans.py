"""Group bans stick (issue 12, finding 2): a banned member can't join the group again,
publicly or by request, so its group-only events and rooms stay closed to them; and a
manager can lift a ban from the group page, with an audit entry."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from events.models import Visibility
from groups import services as group_services
from groups.models import GroupBan, Membership
from rooms.models import AuditAction, AuditEntry
from rooms.moderation import services as moderation
from tests.conftest import make_event, make_group

pytestmark = pytest.mark.django_db


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def banned_from_public(alice, bob, carol):
    group = make_group(alice, members=[bob, carol])
    moderation.group_ban(actor=alice, group=group, member=carol, reason="Spam")
    return group


def test_a_banned_member_cant_join_the_public_group_again(banned_from_public, carol):
    group = banned_from_public
    with pytest.raises(PermissionDenied):
        group_services.group_join(group=group, member=carol)
    response = signed_in(carol).post(f"/groups/{group.slug}/join/", follow=True)
    assert response.status_code == 200
    assert "You were banned from this group" in response.content.decode()
    assert not Membership.objects.filter(group=group, member=carol).exists()


def test_nor_ask_to_join_a_private_one(alice, carol):
    group = make_group(alice, private=True, members=[carol])
    moderation.group_ban(actor=alice, group=group, member=carol)
    with pytest.raises(PermissionDenied):
        group_services.group_join(group=group, member=carol)
    assert not Membership.objects.filter(group=group, member=carol).exists()


def test_so_its_group_only_events_stay_closed(banned_from_public, alice, carol):
    group = banned_from_public
    event = make_event(alice, group=group, visibility=Visibility.GROUP)
    client = signed_in(carol)
    client.post(f"/groups/{group.slug}/join/")
    assert client.get(event.get_absolute_url()).status_code == 404


def test_a_manager_sees_the_ban_and_lifts_it_and_the_member_may_join_again(
    banned_from_public, alice, carol
):
    group = banned_from_public
    page = signed_in(alice).get(group.get_absolute_url()).content.decode()
    assert "Banned" in page and "Lift ban" in page and carol.display_name in page
    response = signed_in(alice).post(f"/moderation/groups/{group.slug}/unban/{carol.pk}/")
    assert response.status_code == 302
    assert not GroupBan.objects.filter(group=group, member=carol).exists()
    entry = AuditEntry.objects.get(action=AuditAction.GROUP_UNBAN)
    assert (entry.actor, entry.target_member, entry.group) == (alice, carol, group)
    membership = group_services.group_join(group=group, member=carol)
    assert membership.is_active


def test_only_those_who_may_ban_may_lift_a_ban(banned_from_public, bob, carol, mod):
    group = banned_from_public
    response = signed_in(bob).post(f"/moderation/groups/{group.slug}/unban/{carol.pk}/")
    assert response.status_code == 302
    assert GroupBan.objects.filter(group=group, member=carol).exists()  # bob is a member
    assert "Lift ban" not in signed_in(bob).get(group.get_absolute_url()).content.decode()
    with pytest.raises(PermissionDenied):
        moderation.group_unban(actor=carol, group=group, member=carol)
    moderation.group_unban(actor=mod, group=group, member=carol)  # a platform moderator
    assert not GroupBan.objects.filter(group=group, member=carol).exists()
    with pytest.raises(moderation.ModerationError):
        moderation.group_unban(actor=mod, group=group, member=carol)  # nothing to lift
