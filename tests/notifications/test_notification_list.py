"""The notifications page, /notifications/, and "mark all read", /notifications/read/."""

import html
import re
from datetime import timedelta

from django.utils import timezone

from accounts.models import Notification, NotificationKind
from accounts.notifications import PAGE_SIZE
from tests.notifications.conftest import bell


def _notification(member, text: str, *, minutes_ago: int = 0, read: bool = False):
    created = timezone.now() - timedelta(minutes=minutes_ago)
    return Notification.objects.create(
        recipient=member,
        kind=NotificationKind.JOIN_APPROVED,
        text=text,
        url="/groups/security-council/",
        created_at=created,
        read_at=created if read else None,
    )


def _items(page: str) -> list[tuple[str, bool]]:
    """(text, marked new) for each notification listed, in order."""
    rows = re.findall(r'<li class="notification( is-unread)?">(.*?)</li>', page, re.S)
    return [
        (html.unescape(re.search(r'<a href="[^"]*">([^<]+)</a>', row)[1]), bool(new))
        for new, row in rows
    ]


def test_it_lists_the_members_notifications_newest_first(client, carol, dan):
    _notification(carol, "Oldest", minutes_ago=30, read=True)
    _notification(carol, "Newest", minutes_ago=1)
    _notification(carol, "Middle", minutes_ago=10)
    _notification(dan, "Dan's own")
    client.force_login(carol)

    page = client.get("/notifications/").content.decode()

    assert _items(page) == [("Newest", True), ("Middle", True), ("Oldest", False)]
    assert 'href="/groups/security-council/"' in page
    assert "Dan's own" not in page


def test_it_marks_what_it_shows_as_read(client, carol):
    _notification(carol, "You're now a member of Security Council.")
    client.force_login(carol)

    first = client.get("/notifications/").content.decode()
    second = client.get("/notifications/").content.decode()

    assert _items(first) == [("You're now a member of Security Council.", True)]
    assert _items(second) == [("You're now a member of Security Council.", False)]
    assert Notification.objects.get().read_at is not None
    # The header already counts it as read on the page that showed it.
    assert bell(first) == ""


def test_it_pages_and_marks_only_the_page_shown(client, carol):
    for n in range(PAGE_SIZE + 5):
        _notification(carol, f"Notification {n}", minutes_ago=n)
    client.force_login(carol)

    first = client.get("/notifications/").content.decode()

    assert [text for text, _ in _items(first)] == [f"Notification {n}" for n in range(20)]
    assert "Page 1 of 2" in first
    assert bell(first) == "5"
    assert "Mark all read" in first

    older = client.get("/notifications/", {"page": 2}).content.decode()

    assert _items(older) == [(f"Notification {n}", True) for n in range(20, 25)]
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_it_marks_all_read_on_post(client, carol, dan):
    for n in range(PAGE_SIZE + 5):
        _notification(carol, f"Notification {n}")
    _notification(dan, "Dan's own")
    client.force_login(carol)

    response = client.post("/notifications/read/", follow=True)

    assert response.redirect_chain == [("/notifications/", 302)]
    assert not Notification.objects.filter(recipient=carol, read_at__isnull=True).exists()
    assert Notification.objects.get(recipient=dan).read_at is None
    assert "All notifications marked as read." in response.content.decode()


def test_it_marks_all_read_only_on_post_with_a_csrf_token(client, carol):
    from django.test import Client

    _notification(carol, "Unread")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(carol)
    client.force_login(carol)

    assert client.get("/notifications/read/").status_code == 405
    assert strict.post("/notifications/read/").status_code == 403
    assert Notification.objects.get().read_at is None


def test_it_needs_a_signed_in_member(client, carol):
    _notification(carol, "Unread")

    listing = client.get("/notifications/")
    mark = client.post("/notifications/read/")

    for response in (listing, mark):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert Notification.objects.get().read_at is None


def test_it_says_when_there_is_nothing_yet(client, carol):
    client.force_login(carol)

    page = client.get("/notifications/").content.decode()

    assert "No notifications yet." in page
    assert "Mark all read" not in page
