"""accounts.notifications.notify_followers_live: a host's followers hear they went live."""

from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification, NotificationKind
from accounts.notifications import notify_followers_live
from accounts.services import follow_create
from groups.selectors import active_member_ids
from tests.conftest import make_group, make_member
from tests.notifications.conftest import prefer


def _go_live(alice, **kwargs) -> int:
    return notify_followers_live(host=alice, title="Incident retro", url="/rooms/7/", **kwargs)


def test_it_tells_each_follower_and_nobody_else(
    alice, bob, carol, dan, django_capture_on_commit_callbacks
):
    follow_create(follower=bob, followee=alice)
    follow_create(follower=carol, followee=alice)
    follow_create(follower=alice, followee=dan)  # alice follows dan, not the other way

    with django_capture_on_commit_callbacks(execute=True):
        written = _go_live(alice)

    assert written == 2
    rows = Notification.objects.order_by("recipient__display_name")
    assert [(n.recipient, n.kind, n.text, n.url) for n in rows] == [
        (bob, "followed_live", "Alice Moreau is live: Incident retro", "/rooms/7/"),
        (carol, "followed_live", "Alice Moreau is live: Incident retro", "/rooms/7/"),
    ]
    # Going live emails nobody by default.
    assert mail.outbox == []


def test_it_honours_each_followers_preferences(
    alice, bob, carol, dan, django_capture_on_commit_callbacks
):
    for follower in (bob, carol, dan):
        follow_create(follower=follower, followee=alice)
    prefer(bob, NotificationKind.FOLLOWED_LIVE, in_app=False, email=False)
    prefer(carol, NotificationKind.FOLLOWED_LIVE, in_app=False, email=True)
    prefer(dan, NotificationKind.FOLLOWED_LIVE, in_app=True, email=True)

    with django_capture_on_commit_callbacks(execute=True):
        written = _go_live(alice)

    assert written == 1
    assert list(Notification.objects.values_list("recipient", flat=True)) == [dan.pk]
    # One message per follower: nobody sees another follower's address.
    assert sorted(m.to[0] for m in mail.outbox) == ["carol@initech.com", "dan@gmail.com"]
    assert all(len(m.to) == 1 for m in mail.outbox)
    assert "Alice Moreau is live: Incident retro" in mail.outbox[0].body


def test_it_skips_deactivated_followers(alice, bob, carol):
    follow_create(follower=bob, followee=alice)
    follow_create(follower=carol, followee=alice)
    carol.is_active = False
    carol.save(update_fields=["is_active"])

    assert _go_live(alice) == 1
    assert list(Notification.objects.values_list("recipient", flat=True)) == [bob.pk]


def test_it_tells_only_the_group_about_a_group_only_room(alice, bob, carol, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    for follower in (bob, carol):
        follow_create(follower=follower, followee=alice)

    written = _go_live(alice, among=active_member_ids(group.pk))

    assert written == 1
    assert list(Notification.objects.values_list("recipient", flat=True)) == [bob.pk]


def test_it_takes_the_same_number_of_queries_for_3_and_30_followers(alice):
    def queries_for(n: int) -> int:
        Notification.objects.all().delete()
        while alice.follower_set.count() < n:
            follower = make_member()
            follow_create(follower=follower, followee=alice)
            prefer(follower, NotificationKind.FOLLOWED_LIVE, in_app=True, email=True)
        with CaptureQueriesContext(connection) as ctx:
            assert _go_live(alice) == n
        return len(ctx.captured_queries)

    with_3 = queries_for(3)
    with_30 = queries_for(30)

    assert with_30 == with_3
