"""Approving a join request tells the new member (join_approved), in Podium and by email."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied

from accounts.models import Notification, NotificationKind
from groups import services
from groups.models import Membership
from tests.conftest import make_group
from tests.notifications.conftest import bell, prefer


def _request(group, member) -> Membership:
    return Membership.objects.create(group=group, member=member, status=Membership.Status.PENDING)


def test_approving_on_the_page_tells_the_member(
    client, alice, dan, django_capture_on_commit_callbacks
):
    group = make_group(alice, "Security Council", private=True)
    request = _request(group, dan)
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/groups/{group.slug}/requests/{request.pk}/", {"decision": "approve"})

    notification = Notification.objects.get(recipient=dan)
    assert notification.kind == NotificationKind.JOIN_APPROVED
    assert notification.text == "You're now a member of Security Council."
    assert notification.url == f"/groups/{group.slug}/"
    [message] = mail.outbox
    assert message.to == ["dan@gmail.com"]
    assert message.subject == "You're now a member of Security Council."

    client.force_login(dan)
    assert bell(client.get("/").content.decode()) == "1"


def test_declining_tells_nobody(client, alice, dan, django_capture_on_commit_callbacks):
    group = make_group(alice, "Security Council", private=True)
    request = _request(group, dan)
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/groups/{group.slug}/requests/{request.pk}/", {"decision": "reject"})

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_a_refused_approval_tells_nobody(bob, alice, dan, django_capture_on_commit_callbacks):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    request = _request(group, dan)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.membership_approve(actor=bob, membership=request)

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_approving_twice_tells_the_member_once(alice, bob, dan):
    group = make_group(alice, "Security Council", private=True)
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)
    request = _request(group, dan)

    services.membership_approve(actor=alice, membership=request)
    services.membership_approve(actor=bob, membership=Membership.objects.get(pk=request.pk))

    assert Notification.objects.filter(recipient=dan).count() == 1


def test_it_honours_the_members_preference(alice, dan, django_capture_on_commit_callbacks):
    group = make_group(alice, "Security Council", private=True)
    request = _request(group, dan)
    prefer(dan, NotificationKind.JOIN_APPROVED, in_app=False, email=False)

    with django_capture_on_commit_callbacks(execute=True):
        membership = services.membership_approve(actor=alice, membership=request)

    assert membership.status == Membership.Status.ACTIVE
    assert not Notification.objects.exists()
    assert mail.outbox == []
