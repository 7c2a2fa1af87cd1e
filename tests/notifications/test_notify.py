"""accounts.notifications.notify: one notification, honouring the member's preferences."""

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from accounts.models import Notification, NotificationKind
from accounts.notifications import notify
from tests.notifications.conftest import prefer


def _join_approved(member, **kwargs):
    return notify(
        member=member,
        kind=NotificationKind.JOIN_APPROVED,
        text="You're now a member of Security Council.",
        url="/groups/security-council/",
        **kwargs,
    )


def test_it_writes_a_notification_and_no_email_unless_asked(
    carol, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notification = _join_approved(carol)

    assert notification == Notification.objects.get(recipient=carol)
    assert notification.kind == "join_approved"
    assert notification.text == "You're now a member of Security Council."
    assert notification.url == "/groups/security-council/"
    assert notification.read_at is None
    assert mail.outbox == []


def test_it_emails_after_commit_when_asked_and_allowed(
    carol, settings, django_capture_on_commit_callbacks
):
    settings.HTTPS = True
    with django_capture_on_commit_callbacks() as callbacks:
        _join_approved(carol, email=True)
    assert mail.outbox == []  # nothing before commit

    for callback in callbacks:
        callback()

    [message] = mail.outbox
    assert message.to == ["carol@initech.com"]
    assert message.subject == "You're now a member of Security Council."
    assert "https://127.0.0.1:8000/groups/security-council/" in message.body
    assert "https://127.0.0.1:8000/settings/notifications/" in message.body


def test_it_sends_no_email_for_a_change_that_rolls_back(carol, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _join_approved(carol, email=True)
        raise RuntimeError("the approval failed")

    assert mail.outbox == []
    assert not Notification.objects.exists()


def test_it_follows_the_default_of_no_email_for_someone_going_live(
    carol, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(
            member=carol,
            kind=NotificationKind.FOLLOWED_LIVE,
            text="Alice Moreau is live: Incident retro",
            url="/rooms/1/",
            email=True,
        )

    assert notification is not None
    assert mail.outbox == []


def test_it_writes_no_row_when_the_member_turned_the_kind_off(
    carol, django_capture_on_commit_callbacks
):
    prefer(carol, NotificationKind.JOIN_APPROVED, in_app=False, email=True)

    with django_capture_on_commit_callbacks(execute=True):
        notification = _join_approved(carol, email=True)

    assert notification is None
    assert not Notification.objects.exists()
    # Email is a separate choice: carol kept it.
    assert [m.to for m in mail.outbox] == [["carol@initech.com"]]


def test_it_sends_no_email_when_the_member_turned_email_off(
    carol, django_capture_on_commit_callbacks
):
    prefer(carol, NotificationKind.JOIN_APPROVED, in_app=True, email=False)

    with django_capture_on_commit_callbacks(execute=True):
        notification = _join_approved(carol, email=True)

    assert notification is not None
    assert mail.outbox == []


def test_it_does_nothing_when_both_are_off(carol, django_capture_on_commit_callbacks):
    prefer(carol, NotificationKind.JOIN_APPROVED, in_app=False, email=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert _join_approved(carol, email=True) is None

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_it_only_reads_the_members_own_preferences(carol, dan, django_capture_on_commit_callbacks):
    prefer(dan, NotificationKind.JOIN_APPROVED, in_app=False, email=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert _join_approved(carol, email=True) is not None

    assert len(mail.outbox) == 1


def test_it_skips_deactivated_members(carol, django_capture_on_commit_callbacks):
    carol.is_active = False
    carol.save(update_fields=["is_active"])

    with django_capture_on_commit_callbacks(execute=True):
        assert _join_approved(carol, email=True) is None

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_it_shortens_long_text_to_fit(carol):
    notification = notify(
        member=carol, kind=NotificationKind.EVENT_LIVE, text="word " * 200, url="/events/1/"
    )

    assert len(notification.text) == 300
    assert notification.text.endswith("…")


def test_it_refuses_unknown_kinds_and_links_that_are_not_web_addresses(carol):
    with pytest.raises(ValueError):
        notify(member=carol, kind="birthday", text="Happy birthday", url="/")
    for url in ("javascript:alert(1)", "//evil.example/", "data:text/html,hi"):
        with pytest.raises(ValueError):
            notify(member=carol, kind=NotificationKind.EVENT_LIVE, text="Live", url=url)

    assert not Notification.objects.exists()


class _BrokenBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("the mail server is down")


def test_a_mail_server_that_is_down_does_not_undo_or_break_the_change(
    carol, settings, django_capture_on_commit_callbacks, caplog
):
    settings.EMAIL_BACKEND = f"{__name__}._BrokenBackend"

    with django_capture_on_commit_callbacks(execute=True):
        notification = _join_approved(carol, email=True)

    assert Notification.objects.filter(pk=notification.pk).exists()
    assert "the mail server is down" in caplog.text
