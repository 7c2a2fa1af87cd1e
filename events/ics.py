"""Calendar files (RFC 5545): one event's .ics, and each member's feed of their events.

Times are written in the event's own zone (DTSTART;TZID=Asia/Kolkata:...), with the
matching VTIMEZONE, so that calendar apps show the host's wall-clock time and convert it
for the reader. The feed's address carries a token signed with the secret key: it names the
member and can't be forged or guessed.
"""

import zoneinfo
from collections.abc import Iterable
from datetime import UTC, timedelta

import icalendar
from django.core import signing
from django.utils import timezone

from accounts.models import Member
from events.links import absolute_url
from events.models import Event

PRODID = "-//Podium//Events//EN"
LOCATION = "Podium (online audio)"
FEED_SALT = "podium.events.feed"


def feed_token(member) -> str:
    """The member's feed token: their id, signed. The same every time, so a calendar app
    subscribed to it keeps working."""
    return signing.Signer(salt=FEED_SALT).sign(str(member.pk))


def feed_member(token: str) -> Member | None:
    """The active member a feed token names, or None for a forged or stale one."""
    try:
        value = signing.Signer(salt=FEED_SALT).unsign(token)
    except signing.BadSignature:
        return None
    if not value.isdigit():
        return None
    return Member.objects.filter(pk=int(value), is_active=True).first()


def event_uid(event: Event) -> str:
    """Stable for the event's whole life, whatever changes about it."""
    return f"podium-event-{event.pk}@podium"


def _zone(event: Event) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(event.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _vevent(event: Event, stamp) -> icalendar.Event:
    zone = _zone(event)
    url = absolute_url(event.get_absolute_url())
    host = event.host.display_name
    description = "\n\n".join(
        part for part in (event.description, f"Hosted by {host} on Podium.", url) if part
    )
    vevent = icalendar.Event()
    vevent.add("uid", event_uid(event))
    vevent.add("dtstamp", stamp)
    vevent.add("created", event.created_at.astimezone(UTC))
    vevent.add("sequence", event.sequence)
    vevent.add("dtstart", timezone.localtime(event.starts_at, zone))
    vevent.add("dtend", timezone.localtime(event.ends_at, zone))
    vevent.add("summary", event.title)
    vevent.add("description", description)
    vevent.add("url", url)
    vevent.add("location", LOCATION)
    cancelled = event.status == Event.Status.CANCELLED
    vevent.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return vevent


def calendar_bytes(events: Iterable[Event], *, name: str | None = None) -> bytes:
    """A VCALENDAR with one VEVENT per event (each with `host` loaded) and the VTIMEZONEs
    they need."""
    events = list(events)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    if name:
        calendar.add("x-wr-calname", name)
    stamp = timezone.now().astimezone(UTC)
    for event in events:
        calendar.add_component(_vevent(event, stamp))
    if events:
        # The zone definitions must cover every event (icalendar's default stops at 2038).
        calendar.add_missing_timezones(
            first_date=min(e.starts_at for e in events).date() - timedelta(days=1),
            last_date=max(e.ends_at for e in events).date() + timedelta(days=1),
        )
    return calendar.to_ical()
