"""Helpers for the discovery tests: a room's listeners, an event's speakers and RSVPs, and
what a page shows."""

import html
import itertools
import re

from events.models import RSVP, EventSpeaker
from rooms import services as room_services
from tests.pages import page_queries, section

_sockets = itertools.count(1)


def listen(room, *members) -> None:
    """Members join a live room's audience, as their sockets would."""
    for member in members:
        room_services.participant_join(
            room_id=room.pk, member=member, connection=f"test-socket-{next(_sockets)}"
        )


def speak_at(event, *members) -> None:
    """Members who accepted the host's invitation to speak at an event."""
    for member in members:
        EventSpeaker.objects.create(event=event, member=member, status=EventSpeaker.Status.ACCEPTED)


def going(event, *members) -> None:
    for member in members:
        RSVP.objects.create(event=event, member=member, status=RSVP.Status.GOING)


def cards(page: str, kind: str) -> list[tuple[str, str]]:
    """(title, reason line) of each room or event card on a page, in order."""
    found = []
    for card in re.findall(rf'<article class="card {kind}-card">(.*?)</article>', page, re.S):
        title = re.search(r'class="card-title"><a [^>]*>([^<]+)</a>', card)[1]
        reason = re.search(r'<p class="card-reason">([^<]*)</p>', card)
        found.append((html.unescape(title), html.unescape(reason[1]) if reason else ""))
    return found


# Fixtures shared with the other page tests.
__all__ = ["page_queries", "section"]
