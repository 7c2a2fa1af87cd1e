"""Notification settings, /settings/notifications/: in Podium and by email, per kind."""

import re

from django.core import mail

from accounts.models import NotificationKind, NotificationPreference
from accounts.notifications import notify


def _checked(page: str) -> dict[str, bool]:
    boxes = re.findall(r'<input type="checkbox" name="(\w+)"([^>]*)>', page)
    return {name: " checked" in attributes for name, attributes in boxes}


def test_it_shows_the_defaults(client, carol):
    client.force_login(carol)

    page = client.get("/settings/notifications/").content.decode()

    assert _checked(page) == {
        "event_speaker_invite_in_app": True,
        "event_speaker_invite_email": True,
        "event_live_in_app": True,
        "event_live_email": True,
        "followed_live_in_app": True,
        "followed_live_email": False,
        "join_approved_in_app": True,
        "join_approved_email": True,
        "moderation_warning_in_app": True,
        "moderation_warning_email": True,
    }
    for kind in NotificationKind:
        assert kind.label.replace("'", "&#x27;") in page


def test_it_saves_the_members_choices(client, carol):
    client.force_login(carol)
    chosen = {
        "event_speaker_invite_in_app": "on",
        "event_live_email": "on",
        "followed_live_in_app": "on",
        "followed_live_email": "on",
        "moderation_warning_in_app": "on",
        "moderation_warning_email": "on",
    }

    response = client.post("/settings/notifications/", chosen, follow=True)

    assert "Notification settings saved." in response.content.decode()
    stored = {
        p.kind: (p.in_app, p.email) for p in NotificationPreference.objects.filter(member=carol)
    }
    assert stored == {
        "event_speaker_invite": (True, False),
        "event_live": (False, True),
        "followed_live": (True, True),
        "join_approved": (False, False),
        "moderation_warning": (True, True),
    }
    assert _checked(response.content.decode()) == {
        name: name in chosen for name in _checked(response.content.decode())
    }


def test_saving_again_updates_rather_than_adds(client, carol):
    client.force_login(carol)

    client.post("/settings/notifications/", {"join_approved_in_app": "on"})
    client.post("/settings/notifications/", {"join_approved_email": "on"})

    assert NotificationPreference.objects.filter(member=carol).count() == len(NotificationKind)
    stored = NotificationPreference.objects.get(member=carol, kind="join_approved")
    assert (stored.in_app, stored.email) == (False, True)


def test_notify_then_follows_what_was_saved(client, carol, django_capture_on_commit_callbacks):
    client.force_login(carol)
    client.post("/settings/notifications/", {"event_live_email": "on"})

    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(
            member=carol,
            kind=NotificationKind.EVENT_LIVE,
            text="Scaling ledgers is live",
            url="/events/3/",
            email=True,
        )
        speaker_invite = notify(
            member=carol,
            kind=NotificationKind.EVENT_SPEAKER_INVITE,
            text="Alice Moreau invited you to speak",
            url="/events/3/",
            email=True,
        )

    assert notification is None
    assert speaker_invite is None
    assert [m.subject for m in mail.outbox] == ["Scaling ledgers is live"]


def test_it_needs_a_signed_in_member(client, carol):
    shown = client.get("/settings/notifications/")
    saved = client.post("/settings/notifications/", {})

    for response in (shown, saved):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert not NotificationPreference.objects.exists()
