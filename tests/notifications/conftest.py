"""Helpers for the notification tests."""

import re

from accounts.models import NotificationKind, NotificationPreference


def prefer(member, kind: str, *, in_app: bool, email: bool) -> None:
    NotificationPreference.objects.update_or_create(
        member=member, kind=kind, defaults={"in_app": in_app, "email": email}
    )


def bell(page: str) -> str:
    """The unread count the header's bell shows ("" when it shows none)."""
    match = re.search(r'<a class="bell"[^>]*>.*?</a>', page, re.S)
    assert match, "no bell in the header"
    count = re.search(r'<span class="bell-count">([^<]+)</span>', match[0])
    return count[1] if count else ""


KINDS = NotificationKind
