"""Factories for the event tests (the shared personas live in tests/conftest.py)."""

import importlib.util
from datetime import timedelta

from django.utils import timezone

from events.models import EventSpeaker

# accounts.notifications is written alongside events; while it is missing, events send no
# notifications at all and the tests that read the mail it sends are skipped.
NOTIFICATIONS_EXIST = importlib.util.find_spec("accounts.notifications") is not None


def invite(event, member, *, role=EventSpeaker.Role.SPEAKER, status=EventSpeaker.Status.INVITED):
    responded = None if status == EventSpeaker.Status.INVITED else timezone.now()
    return EventSpeaker.objects.create(
        event=event, member=member, role=role, status=status, responded_at=responded
    )


def accepted(event, member, *, role=EventSpeaker.Role.SPEAKER):
    return invite(event, member, role=role, status=EventSpeaker.Status.ACCEPTED)


def starting_soon(minutes: int = 10) -> dict:
    """make_event() arguments for an event that starts in a few minutes."""
    return {"starts_in": timedelta(minutes=minutes)}
