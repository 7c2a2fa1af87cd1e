"""The bell in the header: how many notifications are unread, in one query."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification, NotificationKind
from tests.notifications.conftest import bell


def _unread(member, n: int, *, read: bool = False) -> None:
    Notification.objects.bulk_create(
        Notification(
            recipient=member,
            kind=NotificationKind.FOLLOWED_LIVE,
            text=f"Live {i}",
            url="/rooms/1/",
        )
        for i in range(n)
    )
    if read:
        Notification.objects.filter(recipient=member).update(read_at="2026-01-01T00:00Z")


def test_it_counts_the_members_unread_notifications(client, carol, dan):
    _unread(carol, 1, read=True)
    _unread(carol, 3)
    _unread(dan, 2)
    client.force_login(carol)

    page = client.get("/groups/").content.decode()

    assert bell(page) == "3"
    assert "Notifications, 3 unread" in page


def test_it_shows_no_count_when_all_is_read(client, carol):
    _unread(carol, 2, read=True)
    client.force_login(carol)

    assert bell(client.get("/").content.decode()) == ""


def test_it_caps_the_count(client, carol):
    _unread(carol, 120)
    client.force_login(carol)

    assert bell(client.get("/").content.decode()) == "99+"


def test_it_costs_one_query(client, carol):
    _unread(carol, 5)
    client.force_login(carol)

    with CaptureQueriesContext(connection) as ctx:
        client.get("/groups/")

    counting = [q["sql"] for q in ctx.captured_queries if "accounts_notification" in q["sql"]]
    assert len(counting) == 1


def test_visitors_have_no_bell(client, db):
    page = client.get("/").content.decode()

    assert 'class="bell"' not in page
