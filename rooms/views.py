import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.limits import MESSAGES, over_limit
from config.site import previews
from rooms import permissions, protocol, selectors, services, snapshots
from rooms.errors import RoomError
from rooms.forms import RoomForm
from rooms.ice import browser_ice_servers
from rooms.models import MODERATING_ROLES, STAGE_ROLES, Report


def room_list(request: HttpRequest) -> HttpResponse:
    member = request.user if request.user.is_authenticated else None
    rooms = selectors.live_rooms_for(member)
    return render(request, "rooms/room_list.html", {"rooms": rooms})


@login_required
def room_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = RoomForm(request.POST, host=request.user)
        if over_limit(request, "room.create"):
            form.add_error(None, MESSAGES["room.create"])
            return render(request, "rooms/room_form.html", {"form": form}, status=429)
        if form.is_valid():
            data = form.cleaned_data
            try:
                room = services.room_create(
                    host=request.user,
                    title=data["title"],
                    description=data["description"],
                    speakers=data["speakers"],
                    group=data["group"],
                    visibility=data["visibility"],
                    max_speakers=data["max_speakers"],
                )
            except ValueError as exc:
                form.add_error("speakers", str(exc))
            else:
                if not data["go_live"]:
                    messages.success(request, "Room created. Go live when your speakers are ready.")
                    return redirect(room)
                try:
                    services.room_start(actor=request.user, room=room)
                except RoomError as exc:
                    messages.error(request, f"Room created, but it couldn't go live: {exc.message}")
                else:
                    messages.success(request, "You're live.")
                return redirect(room)
    else:
        form = RoomForm(host=request.user, initial=request.GET.dict())
    return render(request, "rooms/room_form.html", {"form": form})


def room_detail(request: HttpRequest, room_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        # A shared link: a public room shows who and what (with link-preview tags) and asks
        # the visitor to sign in to listen; any other room says nothing of itself.
        room = selectors.room_shareable(room_id)
        if room is None:
            return redirect_to_login(request.get_full_path())
        return render(request, "rooms/room_preview.html", {"room": room, "og": previews.room(room)})
    room = selectors.room_get_for_member(room_id, request.user)
    can_moderate = (
        permissions.moderator_powers(room, request.user)
        or room.participants.filter(member=request.user, role__in=MODERATING_ROLES).exists()
    )
    # The room moderators' panel: reports filed in this room, except those about the viewer
    # (a reported host must not read what was said, or guess who said it): reports about
    # them, and, for the host, reports about their room. Platform moderators see those on
    # the moderation dashboard.
    room_reports = []
    if can_moderate:
        reports = Report.objects.filter(room=room).exclude(target_member=request.user)
        if room.host_id == request.user.pk:
            reports = reports.exclude(target_member__isnull=True)
        room_reports = reports.select_related("target_member").order_by("-updated_at")[:50]
    stage = room.participants.filter(role__in=STAGE_ROLES).select_related("member").order_by("pk")
    return render(
        request,
        "rooms/room_detail.html",
        {
            "room": room,
            "og": previews.room(room),
            "stage": stage,
            "is_host": room.host_id == request.user.pk,
            "can_moderate": can_moderate,
            "room_reports": room_reports,
            "reactions": protocol.REACTIONS,
            "ice_servers_json": json.dumps(browser_ice_servers(request.user)),
            # The realtime rules the page needs, declared once on the server.
            "realtime": {
                "closes": protocol.client_closes(),
                "permissions": permissions.client_rules(),
            },
        },
    )


@login_required
def room_status(request: HttpRequest, room_id: int) -> JsonResponse:
    """Whether the room is scheduled, live or ended: a scheduled room's page asks every few
    seconds, and turns live by itself when the host starts it."""
    room = selectors.room_get_for_member(room_id, request.user)
    response = JsonResponse({"status": room.status})
    response["Cache-Control"] = "no-store"
    return response


@login_required
def room_audience(request: HttpRequest, room_id: int) -> JsonResponse:
    """A further page of the audience, for "Show more" on the room page."""
    room = selectors.room_get_for_member(room_id, request.user)
    try:
        offset = max(0, min(int(request.GET.get("offset", "0")), 1_000_000))
    except ValueError:
        return JsonResponse({"error": "offset must be a whole number"}, status=400)
    people = snapshots.audience_page(room.pk, offset=offset)
    return JsonResponse(
        {
            "people": people,
            "count": snapshots.audience_count(room.pk),
            "next_offset": offset + len(people),
        }
    )


@login_required
@require_POST
def room_start(request: HttpRequest, room_id: int) -> HttpResponse:
    room = selectors.room_get_for_member(room_id, request.user)
    try:
        services.room_start(actor=request.user, room=room)
    except RoomError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "You're live.")
    return redirect(room)
