"""The moderation dashboard (/moderation/) and reporting (/report/).

Pages are for members holding rooms.moderate_platform (everyone else gets 403); reporting
is for every member. The dashboard's POST actions are in rooms.moderation.actions.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts.models import Member
from config.limits import MESSAGES, over_limit
from rooms import permissions
from rooms.models import (
    STAGE_ROLES,
    AuditAction,
    AuditEntry,
    Question,
    Report,
    ReportCategory,
    Room,
)
from rooms.moderation import services as moderation
from rooms.moderation.forms import (
    DismissForm,
    ReportForm,
    ResolveForm,
    SuspendForm,
    WarnForm,
)
from rooms.selectors import room_check_access


def platform_moderator_required(view):
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not permissions.is_platform_moderator(request.user):
            raise PermissionDenied("Only platform moderators can open the moderation dashboard.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


# --- Pages ----------------------------------------------------------------------------------


@platform_moderator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Live rooms now, with their counts and open reports."""
    rooms = (
        Room.objects.live()
        .select_related("host", "group")
        .annotate(
            speaker_count=Count(
                "participants",
                filter=Q(participants__role__in=STAGE_ROLES, participants__is_present=True),
                distinct=True,
            ),
            listener_count=Count(
                "participants",
                filter=Q(participants__role="listener", participants__is_present=True),
                distinct=True,
            ),
            open_reports=Count(
                "reports", filter=Q(reports__status=Report.Status.OPEN), distinct=True
            ),
        )
        .order_by("-open_reports", "-started_at")[:100]
    )
    open_reports = Report.objects.filter(status=Report.Status.OPEN)
    context = {
        "rooms": rooms,
        "open_count": open_reports.count(),
        "unassigned_count": open_reports.filter(assigned_to__isnull=True).count(),
        "mine_count": open_reports.filter(assigned_to=request.user).count(),
        "suspended_count": Member.objects.filter(suspended_until__gt=timezone.now()).count(),
    }
    return render(request, "moderation/dashboard.html", context)


@platform_moderator_required
def report_queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", Report.Status.OPEN)
    category = request.GET.get("category", "")
    reports = Report.objects.select_related("reporter", "target_member", "room", "assigned_to")
    if status in Report.Status.values:
        reports = reports.filter(status=status)
    if category in ReportCategory.values:
        reports = reports.filter(category=category)
    if request.GET.get("mine"):
        reports = reports.filter(assigned_to=request.user)
    page = Paginator(reports.order_by("-updated_at"), 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "category": category,
        "statuses": Report.Status.choices,
        "categories": ReportCategory.choices,
    }
    return render(request, "moderation/report_queue.html", context)


@platform_moderator_required
def report_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    report = get_object_or_404(
        Report.objects.select_related("reporter", "target_member", "room", "assigned_to"),
        pk=report_id,
    )
    context = {
        "report": report,
        "history": AuditEntry.objects.filter(report=report).select_related("actor")[:50],
        "resolve_form": ResolveForm(),
        "dismiss_form": DismissForm(),
        "warn_form": WarnForm(),
        "suspend_form": SuspendForm(),
        "earlier": (
            Report.objects.filter(target_member=report.target_member).exclude(pk=report.pk).count()
            if report.target_member_id
            else 0
        ),
    }
    return render(request, "moderation/report_detail.html", context)


@platform_moderator_required
def member_history(request: HttpRequest, handle: str) -> HttpResponse:
    member = get_object_or_404(Member, handle=handle)
    context = {
        "member": member,
        "reports": Report.objects.filter(target_member=member)
        .select_related("reporter", "room")
        .order_by("-created_at")[:100],
        "actions": AuditEntry.objects.filter(target_member=member)
        .select_related("actor", "room", "group")
        .order_by("-created_at")[:100],
        "rooms": Room.objects.filter(host=member).order_by("-created_at")[:50],
        "warnings": member.warnings.select_related("issued_by")[:50],
        "warn_form": WarnForm(),
        "suspend_form": SuspendForm(),
    }
    return render(request, "moderation/member_history.html", context)


@platform_moderator_required
def audit_log(request: HttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.select_related("actor", "target_member", "room", "group")
    filters = {
        key: request.GET.get(key, "").strip()[:100]
        for key in ("actor", "action", "target", "room", "since", "until")
    }
    if filters["actor"]:
        entries = entries.filter(
            Q(actor__handle=filters["actor"]) | Q(actor__email__iexact=filters["actor"])
        )
    if filters["target"]:
        entries = entries.filter(
            Q(target_member__handle=filters["target"])
            | Q(target_member__email__iexact=filters["target"])
        )
    if filters["action"] in AuditAction.values:
        entries = entries.filter(action=filters["action"])
    if filters["room"].isdigit():
        entries = entries.filter(room_id=int(filters["room"]))
    for key, lookup in (("since", "created_at__date__gte"), ("until", "created_at__date__lte")):
        if filters[key]:
            try:
                day = forms.DateField().clean(filters[key])
            except forms.ValidationError:
                messages.error(request, f"“{filters[key]}” isn't a date (use YYYY-MM-DD).")
            else:
                entries = entries.filter(**{lookup: day})
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    context = {"page": page, "filters": filters, "actions": AuditAction.choices}
    return render(request, "moderation/audit_log.html", context)


# --- Reporting (any member) -----------------------------------------------------------------


@login_required
def report_create(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    member = Member.objects.filter(handle=source.get("member", "")[:60], is_active=True).first()
    room_id = source.get("room", "")
    room = Room.objects.filter(pk=int(room_id)).first() if room_id.isdigit() else None
    if member is None and room is None:
        messages.error(request, "Choose who or what to report from their profile or room.")
        return redirect("home")
    if room is not None:
        # Reporting a room you can't see would reveal that it exists.
        try:
            room_check_access(room, request.user)
        except (PermissionDenied, Http404):
            room = None
            if member is None:
                messages.error(request, "You can't report that room.")
                return redirect("home")
    # A question reported from the room: its words go with the report.
    question = None
    question_id = source.get("question", "")
    if room is not None and member is not None and question_id.isdigit():
        question = Question.objects.filter(
            pk=int(question_id), room=room, asker=member, removed_at__isnull=True
        ).first()
    form = ReportForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and over_limit(request, "report.create"):
        form.add_error(None, MESSAGES["report.create"])
        context = {"form": form, "member": member, "room": room}
        return render(request, "moderation/report_form.html", context, status=429)
    if request.method == "POST" and form.is_valid():
        try:
            details = form.cleaned_data["details"]
            if question is not None:
                details = f"About their question: “{question.text}”\n\n{details}".strip()
            _, merged = moderation.report_file(
                reporter=request.user,
                category=form.cleaned_data["category"],
                details=details,
                target_member=member,
                room=room,
            )
        except moderation.ModerationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                "Thanks. We added this to your earlier report."
                if merged
                else "Thanks for the report. Moderators will look at it; "
                "the member won't know who reported them.",
            )
            return redirect(room if room is not None else member)
    return render(
        request,
        "moderation/report_form.html",
        {"form": form, "member": member, "room": room, "question": question},
    )
