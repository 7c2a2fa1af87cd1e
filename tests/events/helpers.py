"""Factories for the event tests (the shared personas live in tests/conftest.py)."""

from datetime import timedelta

from django.utils import timezone

from events.models import EventSpeaker


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
