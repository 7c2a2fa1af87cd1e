import zoneinfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_GET, require_POST

from config.limits import MESSAGES, over_limit
from config.site import previews
from events import ics, selectors, services
from events.errors import EventError
from events.forms import EventForm
from events.models import RSVP, Event
from rooms.recordings.replay import replay_ready


def event_list(request: HttpRequest) -> HttpResponse:
    member = request.user if request.user.is_authenticated else None
    context = {"events": selectors.upcoming_events_for(member)}
    if member is not None:
        feed = request.build_absolute_uri(reverse("event_feed", args=[ics.feed_token(member)]))
        context["feed_url"] = feed
        context["webcal_url"] = "webcal://" + feed.partition("://")[2]
    return render(request, "events/event_list.html", context)


@login_required
def event_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = EventForm(request.POST, request.FILES, host=request.user)
        if over_limit(request, "event.create"):
            form.add_error(None, MESSAGES["event.create"])
            return render(request, "events/event_form.html", {"form": form}, status=429)
        if form.is_valid():
            data = form.cleaned_data
            try:
                event = services.event_create(
                    host=request.user,
                    title=data["title"],
                    description=data["description"],
                    starts_at=data["starts_at"],
                    ends_at=data["ends_at"],
                    timezone=data["timezone"],
                    group=data["group"],
                    visibility=data["visibility"],
                    cover=data["cover"],
                    speakers=data["speakers"],
                    cohosts=data["cohosts"],
                    record=data["record"],
                    captions=data["captions"],
                )
            except PermissionDenied as exc:
                form.add_error("group", str(exc))
            except EventError as exc:
                form.add_error(exc.field, exc.message)
            else:
                invited = len(data["speakers"]) + len(data["cohosts"])
                note = (
                    f" {invited} invitation{'s' if invited != 1 else ''} sent." if invited else ""
                )
                messages.success(request, "Event scheduled." + note)
                return redirect(event)
    else:
        form = EventForm(host=request.user)
    return render(request, "events/event_form.html", {"form": form})


def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    member = request.user if request.user.is_authenticated else None
    event = selectors.event_get_for_member(event_id, member)
    event = services.event_sync_from_room(event=event)
    is_host = member is not None and member.pk == event.host_id
    rsvp = None
    if member is not None:
        rsvp = RSVP.objects.filter(event=event, member=member).first()
    context = {
        "event": event,
        "og": previews.event(event),
        "rsvp": rsvp,
        "people": selectors.event_people(event, member),
        # Faces are for members; visitors see only the count.
        "attendees": selectors.event_attendees(event) if member is not None else [],
        "is_host": is_host,
        "invitations": selectors.event_invitations(event) if is_host else [],
        "go_live_open": timezone.now() >= event.go_live_opens_at,
        "summary": selectors.event_room_summary(event)
        if event.status == Event.Status.ENDED
        else None,
    }
    # The room's page decides who may hear it; the link is for whoever sees the summary.
    context["replay_ready"] = context["summary"] is not None and replay_ready(event.room_id)
    return render(request, "events/event_detail.html", context)


def _refusal(request: HttpRequest, exc: Exception) -> None:
    messages.error(request, exc.message if isinstance(exc, EventError) else str(exc))


@login_required
@require_POST
def event_rsvp(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.event_get_for_member(event_id, request.user)
    status = request.POST.get("status", "")
    if status not in {*RSVP.Status.values, "none"}:
        messages.error(request, "Choose Going, Interested or Not going.")
        return redirect(event)
    try:
        services.rsvp_set(
            event=event, member=request.user, status=None if status == "none" else status
        )
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        labels = {
            "going": "You're going.",
            "interested": "Marked as interested.",
            "none": "RSVP withdrawn.",
        }
        messages.success(request, labels[status])
    return redirect(event)


@login_required
@require_POST
def event_respond(request: HttpRequest, event_id: int) -> HttpResponse:
    """The invited speaker or co-host accepts or declines."""
    event = selectors.event_get_for_member(event_id, request.user)
    answer = request.POST.get("answer", "")
    if answer not in {"accept", "decline"}:
        messages.error(request, "Choose Accept or Decline.")
        return redirect(event)
    try:
        invitation = services.event_speaker_respond(
            event=event, member=request.user, accept=answer == "accept"
        )
    except (PermissionDenied, EventError) as exc:
        _refusal(request, exc)
    else:
        if answer == "accept":
            messages.success(request, f"You're on the stage as {invitation.get_role_display()}.")
        else:
            messages.success(request, "Invitation declined.")
    return redirect(event)


@login_required
@require_POST
def event_extend(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.event_get_for_member(event_id, request.user)
    try:
        event = services.event_extend(actor=request.user, event=event)
    except (PermissionDenied, EventError) as exc:
        _refusal(request, exc)
    else:
        ends = timezone.localtime(event.ends_at, zoneinfo.ZoneInfo(event.timezone))
        messages.success(
            request, f"Extended by 30 minutes: it now ends at {dateformat.format(ends, 'H:i T')}."
        )
    return redirect(event)


@login_required
@require_POST
def event_go_live(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.event_get_for_member(event_id, request.user)
    try:
        event = services.event_go_live(actor=request.user, event=event)
    except (PermissionDenied, EventError) as exc:
        _refusal(request, exc)
        return redirect(event)
    messages.success(request, "You're live.")
    return redirect(event.room)


def _calendar_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def event_ics(request: HttpRequest, event_id: int) -> HttpResponse:
    member = request.user if request.user.is_authenticated else None
    event = selectors.event_get_for_member(event_id, member)
    return _calendar_response(ics.calendar_bytes([event]), f"podium-event-{event.pk}.ics")


@require_GET
def event_feed(request: HttpRequest, token: str) -> HttpResponse:
    """A member's calendar feed, fetched by calendar apps without a session: the token in
    the address is the credential."""
    member = ics.feed_member(token)
    if member is None:
        raise Http404("No such calendar")
    events = selectors.feed_events_for(member)
    body = ics.calendar_bytes(events, name=f"Podium: {member.display_name}")
    response = _calendar_response(body, "podium.ics")
    response["Cache-Control"] = "private, max-age=900"
    return response
