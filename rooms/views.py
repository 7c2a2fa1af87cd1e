import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from config.limits import MESSAGES, over_limit
from config.site import previews
from rooms import permissions, protocol, selectors, services, snapshots
from rooms.errors import NotAllowed, RoomError
from rooms.forms import RoomForm
from rooms.ice import browser_ice_servers
from rooms.models import MODERATING_ROLES, STAGE_ROLES, Recording, Report, Room
from rooms.models.recordings import recordings_storage
from rooms.recordings import analytics, deletion, replay, streaming


def room_list(request: HttpRequest) -> HttpResponse:
    member = request.user if request.user.is_authenticated else None
    rooms = selectors.live_rooms_for(member)
    context = {"rooms": rooms, "replays": replay.recent_replays(member)}
    return render(request, "rooms/room_list.html", context)


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
                    record=data["record"],
                    captions=data["captions"],
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
        context = {
            "room": room,
            "og": previews.room(room),
            "replay_ready": room.status == Room.Status.ENDED and replay.replay_ready(room.pk),
        }
        return render(request, "rooms/room_preview.html", context)
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
    is_host = room.host_id == request.user.pk
    the_replay = room_analytics = None
    if room.status == Room.Status.ENDED:
        the_replay = replay.replay_for(room)
        if is_host or request.user.is_staff:
            recording = the_replay.recording if the_replay is not None else None
            room_analytics = analytics.room_analytics(room, recording)
    return render(
        request,
        "rooms/room_detail.html",
        {
            "room": room,
            "og": previews.room(room),
            "stage": stage,
            "is_host": is_host,
            "can_moderate": can_moderate,
            "replay": the_replay,
            "can_delete_replay": the_replay is not None
            and the_replay.recording.status in deletion.DELETABLE
            and deletion.may_delete(room, request.user),
            "analytics": room_analytics,
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


# --- The replay of an ended room ----------------------------------------------------------


def _replay_of(request: HttpRequest, room_id: int) -> Recording:
    """The room's recording, for those who may see the room's page (the same check,
    rooms.selectors.room_get_for_member). Everyone else, signed out included, gets a 404:
    that a room has a replay is not told to those who may not hear it."""
    try:
        room = selectors.room_get_for_member(room_id, request.user)
    except PermissionDenied:
        raise Http404("No such replay") from None
    recording = Recording.objects.filter(room=room).first()
    if recording is None:
        raise Http404("No such replay")
    recording.room = room
    return recording


@require_safe
def replay_audio(request: HttpRequest, room_id: int) -> HttpResponseBase:
    """The replay's audio, with byte ranges (rooms.recordings.streaming)."""
    recording = _replay_of(request, room_id)
    if not recording.is_ready or not recording.audio:
        raise Http404("No such replay")
    return streaming.file_response(
        request, recordings_storage(), recording.audio.name, content_type="audio/ogg"
    )


@require_safe
def replay_status(request: HttpRequest, room_id: int) -> JsonResponse:
    """Whether the replay is ready: the "Preparing the replay" panel asks every 5 s."""
    recording = _replay_of(request, room_id)
    response = JsonResponse({"status": replay.PANELS.get(recording.status, "processing")})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def replay_delete(request: HttpRequest, room_id: int) -> HttpResponse:
    """The host deletes the replay, after saying yes on the page."""
    recording = _replay_of(request, room_id)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Confirm that you want to delete the replay.")
        return redirect(recording.room)
    try:
        deletion.recording_delete(actor=request.user, recording_id=recording.pk)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except RoomError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Replay deleted, with its transcript.")
    return redirect(recording.room)
