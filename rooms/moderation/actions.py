"""The moderation dashboard's actions: each a POST with CSRF that calls one moderation
service and says, as a message, what happened."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import Member
from groups.models import Group
from rooms import services
from rooms.errors import RoomError
from rooms.models import Report, Room
from rooms.moderation import services as moderation
from rooms.moderation.forms import (
    SUSPENSION_CHOICES,
    DismissForm,
    ResolveForm,
    SuspendForm,
    WarnForm,
)
from rooms.moderation.views import platform_moderator_required


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect(fallback)


def _act(request: HttpRequest, fallback: str, action, success: str) -> HttpResponse:
    """Run one moderation action and report the outcome as a message."""
    try:
        action()
    except (moderation.ModerationError, PermissionDenied) as exc:
        messages.error(request, str(exc) or "That isn't allowed.")
    except RoomError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return _back(request, fallback)


@require_POST
@platform_moderator_required
def report_assign(request: HttpRequest, report_id: int) -> HttpResponse:
    report = get_object_or_404(Report, pk=report_id)
    return _act(
        request,
        reverse("moderation:report", args=[report.pk]),
        lambda: moderation.report_assign(actor=request.user, report=report),
        "The report is yours.",
    )


@require_POST
@platform_moderator_required
def report_resolve(request: HttpRequest, report_id: int) -> HttpResponse:
    return _close_report(
        request,
        report_id,
        ResolveForm,
        lambda report, form: moderation.report_resolve(
            actor=request.user, report=report, note=form.cleaned_data["note"]
        ),
        refused="Say what was done before resolving.",
        done="Report resolved.",
    )


@require_POST
@platform_moderator_required
def report_dismiss(request: HttpRequest, report_id: int) -> HttpResponse:
    return _close_report(
        request,
        report_id,
        DismissForm,
        lambda report, form: moderation.report_dismiss(
            actor=request.user, report=report, reason=form.cleaned_data["reason"]
        ),
        refused="Give a reason for dismissing the report.",
        done="Report dismissed.",
    )


def _close_report(request, report_id: int, form_class, close, *, refused: str, done: str):
    report = get_object_or_404(Report, pk=report_id)
    back = reverse("moderation:report", args=[report.pk])
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, refused)
        return redirect(back)
    return _act(request, back, lambda: close(report, form), done)


@require_POST
@platform_moderator_required
def member_warn(request: HttpRequest, handle: str) -> HttpResponse:
    member = get_object_or_404(Member, handle=handle)
    form = WarnForm(request.POST)
    report_id = request.POST.get("report", "")
    report = Report.objects.filter(pk=int(report_id)).first() if report_id.isdigit() else None
    if not form.is_valid():
        messages.error(request, "Write the warning the member will see.")
        return _back(request, reverse("moderation:member", args=[member.handle]))
    return _act(
        request,
        reverse("moderation:member", args=[member.handle]),
        lambda: moderation.member_warn(
            actor=request.user,
            member=member,
            message=form.cleaned_data["message"],
            report=report,
        ),
        f"{member.display_name} will see the warning the next time they open Podium.",
    )


@require_POST
@platform_moderator_required
def member_suspend(request: HttpRequest, handle: str) -> HttpResponse:
    member = get_object_or_404(Member, handle=handle)
    form = SuspendForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a duration and give a reason.")
        return _back(request, reverse("moderation:member", args=[member.handle]))
    duration = form.cleaned_data["duration"]
    until = None if duration == "forever" else timezone.now() + timedelta(days=int(duration))
    label = "indefinitely" if until is None else f"for {dict(SUSPENSION_CHOICES)[duration]}"
    return _act(
        request,
        reverse("moderation:member", args=[member.handle]),
        lambda: moderation.member_suspend(
            actor=request.user, member=member, until=until, reason=form.cleaned_data["reason"]
        ),
        f"{member.display_name} is suspended {label}.",
    )


@require_POST
@platform_moderator_required
def member_unsuspend(request: HttpRequest, handle: str) -> HttpResponse:
    member = get_object_or_404(Member, handle=handle)
    return _act(
        request,
        reverse("moderation:member", args=[member.handle]),
        lambda: moderation.member_unsuspend(
            actor=request.user, member=member, reason=request.POST.get("reason", "")[:500]
        ),
        f"{member.display_name}'s suspension is lifted.",
    )


@require_POST
@login_required
def room_end(request: HttpRequest, room_id: int) -> HttpResponse:
    """Platform moderators, group managers (their group's rooms) and the host."""
    room = get_object_or_404(Room, pk=room_id)
    return _act(
        request,
        reverse("moderation:dashboard"),
        lambda: services.room_end(room_id=room.pk, actor=request.user),
        "Room ended.",
    )


@require_POST
@login_required
def room_member_action(request: HttpRequest, room_id: int, member_id: int, action: str):
    """Remove or ban a member from a room, from outside it (dashboard) or inside (panel)."""
    room = get_object_or_404(Room, pk=room_id)
    member = get_object_or_404(Member, pk=member_id)
    reason = request.POST.get("reason", "")[:500]
    if action == "ban":
        run = lambda: services.member_ban(  # noqa: E731
            room_id=room.pk, actor=request.user, member_id=member.pk, reason=reason
        )
        done = f"{member.display_name} is banned from the room."
    else:
        run = lambda: services.member_remove(  # noqa: E731
            room_id=room.pk, actor=request.user, member_id=member.pk
        )
        done = f"{member.display_name} was removed from the room."
    return _act(request, room.get_absolute_url(), run, done)


@require_POST
@login_required
def group_unban(request: HttpRequest, slug: str, member_id: int) -> HttpResponse:
    group = get_object_or_404(Group, slug=slug)
    member = get_object_or_404(Member, pk=member_id)
    return _act(
        request,
        group.get_absolute_url(),
        lambda: moderation.group_unban(actor=request.user, group=group, member=member),
        f"{member.display_name} may join {group.name} again.",
    )


@require_POST
@login_required
def group_ban(request: HttpRequest, slug: str, member_id: int) -> HttpResponse:
    group = get_object_or_404(Group, slug=slug)
    member = get_object_or_404(Member, pk=member_id)
    return _act(
        request,
        group.get_absolute_url(),
        lambda: moderation.group_ban(
            actor=request.user,
            group=group,
            member=member,
            reason=request.POST.get("reason", "")[:500],
        ),
        f"{member.display_name} is banned from {group.name}.",
    )
