from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from events import selectors, services
from events.forms import EventForm
from events.models import RSVP
from rooms.selectors import live_rooms_for


def home(request: HttpRequest) -> HttpResponse:
    member = request.user if request.user.is_authenticated else None
    context = {
        "live_rooms": live_rooms_for(member, limit=12),
        "upcoming": selectors.upcoming_events_for(member, limit=12),
    }
    return render(request, "home.html", context)


def event_list(request: HttpRequest) -> HttpResponse:
    member = request.user if request.user.is_authenticated else None
    return render(
        request, "events/event_list.html", {"events": selectors.upcoming_events_for(member)}
    )


@login_required
def event_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = EventForm(request.POST, request.FILES, host=request.user)
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
                )
            except PermissionDenied as exc:
                form.add_error("group", str(exc))
            else:
                messages.success(request, "Event scheduled.")
                return redirect(event)
    else:
        form = EventForm(host=request.user)
    return render(request, "events/event_form.html", {"form": form})


def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    member = request.user if request.user.is_authenticated else None
    event = selectors.event_get_for_member(event_id, member)
    rsvp = None
    if member is not None:
        rsvp = RSVP.objects.filter(event=event, member=member).first()
    context = {
        "event": event,
        "rsvp": rsvp,
        "attendees": selectors.event_attendees(event),
        "is_host": member is not None and member.pk == event.host_id,
    }
    return render(request, "events/event_detail.html", context)


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
