"""State changes on events. Each is keyword-only, runs in one transaction and checks the
actor's right itself: views and management commands call these, and nothing else writes.
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone as django_timezone

from accounts.notifications import notify
from accounts.selectors import blocked_either_way
from events.errors import EventError
from events.models import (
    EXTENDED_MAX,
    EXTENSION,
    GO_LIVE_EARLY,
    RSVP,
    SCHEDULED_MAX,
    Event,
    EventSpeaker,
    Visibility,
)
from groups.selectors import is_active_member
from rooms import services as room_services
from rooms.errors import RoomError
from rooms.models import Room

logger = logging.getLogger(__name__)

# The room an event goes live in seats this many on stage: the host and everyone invited.
STAGE_SIZE = 20
MAX_INVITED = STAGE_SIZE - 1
# Rooms keep a shorter description than events.
ROOM_DESCRIPTION_MAX = Room._meta.get_field("description").max_length


def _notify_each(members: Iterable, **kwargs) -> None:
    """Notify each member, inside the caller's transaction: notify() writes its rows in it
    and sends email only after commit, so a refused change tells nobody anything."""
    for member in members:
        notify(member=member, **kwargs)


def _fresh(event: Event, *, lock: bool = True) -> Event:
    """The event's row, fresh and locked (lock=False: only fresh), with a live event whose
    room has ended already marked ended."""
    events = Event.objects.select_related("room")
    if lock:
        events = events.select_for_update(of=("self",))
    fresh = events.get(pk=event.pk)
    _end_if_room_ended(fresh)
    return fresh


def _end_if_room_ended(event: Event) -> bool:
    if event.status != Event.Status.LIVE or event.room is None:
        return False
    if event.room.status != Room.Status.ENDED:
        return False
    # Conditional, so that two page views racing here both leave it ended, once.
    Event.objects.filter(pk=event.pk, status=Event.Status.LIVE).update(status=Event.Status.ENDED)
    event.status = Event.Status.ENDED
    return True


# --- Scheduling -----------------------------------------------------------------------------


def _check_invitees(*, host, group, visibility: str, speakers: Sequence, cohosts: Sequence):
    for field, members in (("speakers", speakers), ("cohosts", cohosts)):
        if any(m.pk == host.pk for m in members):
            raise EventError("You host this event: don't invite yourself.", field=field)
    both = {m.pk for m in speakers} & {m.pk for m in cohosts}
    if both:
        names = ", ".join(m.display_name for m in cohosts if m.pk in both)
        raise EventError(
            f"Invite each person once, as speaker or co-host: {names}", field="cohosts"
        )
    for field, members in (("speakers", speakers), ("cohosts", cohosts)):
        barred = blocked_either_way(host, members)
        if barred:
            # Whoever blocked whom: the invitation would reach someone who wants none.
            names = ", ".join(m.display_name for m in members if m.pk in barred)
            raise EventError(f"You can't invite {names}.", field=field)
    if len(speakers) + len(cohosts) > MAX_INVITED:
        raise EventError(
            f"The stage holds {STAGE_SIZE}: invite at most {MAX_INVITED} speakers and co-hosts.",
            field="speakers",
        )
    if visibility == Visibility.GROUP:
        # Outsiders couldn't even see the event, let alone accept.
        for field, members in (("speakers", speakers), ("cohosts", cohosts)):
            outsiders = [m.display_name for m in members if not is_active_member(group.pk, m)]
            if outsiders:
                raise EventError(
                    f"Only members of {group.name} can take part in a group-only event: "
                    + ", ".join(outsiders),
                    field=field,
                )


def event_create(
    *,
    host,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    timezone: str,
    description: str = "",
    group=None,
    visibility: str = Visibility.PUBLIC,
    cover=None,
    speakers: Sequence = (),
    cohosts: Sequence = (),
    record: bool = False,
    captions: bool = False,
) -> Event:
    """Schedule an event and invite its speakers and co-hosts, who then accept or decline."""
    if ends_at <= starts_at:
        raise EventError("The event must end after it starts.", field="ends")
    if ends_at - starts_at > SCHEDULED_MAX:
        raise EventError("Events last at most 3 hours.", field="ends")
    if visibility == Visibility.GROUP and group is None:
        raise EventError("A group-only event needs a group.", field="group")
    speakers, cohosts = list(speakers), list(cohosts)
    with transaction.atomic():
        if group is not None and not is_active_member(group.pk, host):
            raise PermissionDenied("Only members of a group can schedule its events.")
        _check_invitees(
            host=host, group=group, visibility=visibility, speakers=speakers, cohosts=cohosts
        )
        event = Event.objects.create(
            host=host,
            title=title,
            description=description,
            starts_at=starts_at,
            ends_at=ends_at,
            timezone=timezone,
            group=group,
            visibility=visibility,
            cover=cover or "",
            record=record,
            captions=captions,
        )
        EventSpeaker.objects.bulk_create(
            [EventSpeaker(event=event, member=m, role=EventSpeaker.Role.SPEAKER) for m in speakers]
            + [EventSpeaker(event=event, member=m, role=EventSpeaker.Role.COHOST) for m in cohosts]
        )
        url = event.get_absolute_url()
        for members, what in ((speakers, "speak at"), (cohosts, "co-host")):
            _notify_each(
                members,
                kind="event_speaker_invite",
                text=f"{host.display_name} invited you to {what} “{title}”.",
                url=url,
                email=True,
            )
    return event


def event_extend(*, actor, event: Event) -> Event:
    """The host adds EXTENSION to a scheduled or live event, up to EXTENDED_MAX in all."""
    with transaction.atomic():
        event = _fresh(event)
        if event.host_id != actor.pk:
            raise PermissionDenied("Only the host can extend this event.")
        if not event.is_open:
            raise EventError("This event is over.")
        if event.duration + EXTENSION > EXTENDED_MAX:
            raise EventError("Events last at most 6 hours, extensions included.")
        event.ends_at += EXTENSION
        event.sequence = F("sequence") + 1
        event.save(update_fields=["ends_at", "sequence"])
        event.refresh_from_db(fields=["sequence"])
    return event


# --- Speakers and co-hosts ------------------------------------------------------------------


def event_speaker_respond(*, event: Event, member, accept: bool) -> EventSpeaker:
    """The invited member accepts or declines. They may change their mind until the event
    goes live; after that the room's stage is what counts."""
    with transaction.atomic():
        event = _fresh(event)
        invitation = (
            EventSpeaker.objects.select_for_update().filter(event=event, member=member).first()
        )
        if invitation is None:
            raise PermissionDenied("Only the people the host invited can answer.")
        if event.status != Event.Status.SCHEDULED:
            raise EventError(
                "This event is already live." if event.is_open else "This event is over."
            )
        invitation.status = EventSpeaker.Status.ACCEPTED if accept else EventSpeaker.Status.DECLINED
        invitation.responded_at = django_timezone.now()
        invitation.save(update_fields=["status", "responded_at"])
    return invitation


# --- RSVP -----------------------------------------------------------------------------------


def rsvp_set(*, event: Event, member, status: str | None) -> RSVP | None:
    """Mark the member Going or Interested, or withdraw the RSVP with status=None."""
    if status is None:
        with transaction.atomic():
            RSVP.objects.filter(event=event, member=member).delete()
        return None
    if status not in RSVP.Status.values:
        raise ValueError("Unknown RSVP status")
    with transaction.atomic():
        # No lock: RSVPs to a popular event must not queue behind each other.
        event = _fresh(event, lock=False)
        if not event.is_open:
            raise PermissionDenied("This event is over.")
        rsvp, _ = RSVP.objects.update_or_create(
            event=event, member=member, defaults={"status": status}
        )
    return rsvp


# --- Going live and ending ------------------------------------------------------------------


def event_go_live(*, actor, event: Event) -> Event:
    """The host opens the event's room: accepted speakers on stage, accepted co-hosts as its
    moderators, the event's group and visibility carried over. Everyone who RSVP'd (and the
    accepted speakers and co-hosts) hears about it."""
    with transaction.atomic():
        event = _fresh(event)
        if event.host_id != actor.pk:
            raise PermissionDenied("Only the host can take this event live.")
        if event.visibility == Visibility.GROUP and not is_active_member(event.group_id, actor):
            raise PermissionDenied("Only members of the group can take its events live.")
        if event.status == Event.Status.LIVE:
            raise EventError("This event is already live.")
        if event.status != Event.Status.SCHEDULED:
            raise EventError("This event is over.")
        now = django_timezone.now()
        if now < event.go_live_opens_at:
            minutes = int(GO_LIVE_EARLY.total_seconds() // 60)
            raise EventError(f"You can go live from {minutes} minutes before the start.")
        if now >= event.ends_at:
            raise EventError("This event's time has passed.")

        people = list(
            EventSpeaker.objects.filter(event=event, status=EventSpeaker.Status.ACCEPTED)
            .select_related("member")
            .order_by("invited_at", "pk")
        )
        try:
            room = room_services.room_create(
                host=actor,
                title=event.title,
                description=event.description[:ROOM_DESCRIPTION_MAX],
                speakers=[p.member for p in people if p.role == EventSpeaker.Role.SPEAKER],
                moderators=[p.member for p in people if p.role == EventSpeaker.Role.COHOST],
                group=event.group,
                visibility=(
                    Room.Visibility.GROUP
                    if event.visibility == Visibility.GROUP
                    else Room.Visibility.PUBLIC
                ),
                max_speakers=STAGE_SIZE,
                event_id=event.pk,
                record=event.record,
                captions=event.captions,
            )
            room = room_services.room_start(actor=actor, room=room)
        except RoomError as exc:
            raise EventError(exc.message) from exc
        except ValueError as exc:  # room_create's own limits, such as the stage size
            raise EventError(str(exc)) from exc
        event.room = room
        event.status = Event.Status.LIVE
        event.save(update_fields=["room", "status"])

        rsvps = RSVP.objects.filter(event=event).exclude(member=actor).select_related("member")
        audience = {r.member_id: r.member for r in rsvps}
        for person in people:
            audience.setdefault(person.member_id, person.member)
        _notify_each(
            audience.values(),
            kind="event_live",
            text=f"“{event.title}” is live now.",
            url=room.get_absolute_url(),
            email=True,
        )
    return event


def event_sync_from_room(*, event: Event) -> Event:
    """Mark a live event ended once its room has ended. Anyone may trigger this (the event
    page does, on every view): it only records what the room already says."""
    if event.status != Event.Status.LIVE or event.room_id is None:
        return event
    with transaction.atomic():
        if _end_if_room_ended(event):
            logger.info("Event %s ended with its room %s", event.pk, event.room_id)
    return event
