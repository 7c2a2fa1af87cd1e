"""Platform and group moderation: reports, warnings, suspensions and group bans. Each
service checks the actor's right and writes its one audit entry in its own transaction."""

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import SUSPENDED_FOREVER, Member, NotificationKind
from accounts.notifications import notify
from groups import services as group_services
from groups.models import Group, GroupBan
from groups.selectors import manages_group
from rooms.models import AuditAction, Report, Room, Warning
from rooms.moderation.audit import audit
from rooms.permissions import is_platform_moderator
from rooms.services import participant_eject

# A reporter may file this many reports in REPORT_WINDOW; repeats of an open report merge.
REPORTS_PER_WINDOW = 10
REPORT_WINDOW = timedelta(hours=1)


class ModerationError(Exception):
    """A refused moderation request; the message is safe to show."""


def require_platform_moderator(member) -> None:
    if not is_platform_moderator(member):
        raise PermissionDenied("Only platform moderators can do that.")


# --- Reports --------------------------------------------------------------------------------


def report_file(
    *, reporter, category: str, details: str = "", target_member=None, room=None
) -> tuple[Report, bool]:
    """File a report, or merge it into the reporter's open report about the same thing.
    Returns (report, merged). Rate-limited per reporter."""
    if target_member is None and room is None:
        raise ModerationError("Choose who or what you are reporting.")
    if target_member is not None and target_member.pk == reporter.pk:
        raise ModerationError("You can't report yourself.")
    details = details.strip()[:4000]
    with transaction.atomic():
        # Lock the reporter's row so that two reports at once can't both pass the limit.
        Member.objects.select_for_update().filter(pk=reporter.pk).first()
        existing = (
            Report.objects.select_for_update()
            .filter(
                reporter=reporter,
                target_member=target_member,
                room=room,
                category=category,
                status=Report.Status.OPEN,
            )
            .first()
        )
        if existing is not None:
            existing.times_reported += 1
            if details and details not in existing.details:
                existing.details = f"{existing.details}\n\n{details}".strip()[:4000]
            existing.save(update_fields=["times_reported", "details", "updated_at"])
            return existing, True
        recent = Report.objects.filter(
            reporter=reporter, created_at__gte=timezone.now() - REPORT_WINDOW
        ).count()
        if recent >= REPORTS_PER_WINDOW:
            raise ModerationError("You've sent many reports recently. Please try again later.")
        report = Report.objects.create(
            reporter=reporter,
            target_member=target_member,
            room=room,
            category=category,
            details=details,
        )
    return report, False


def report_assign(*, actor, report: Report) -> Report:
    with transaction.atomic():
        require_platform_moderator(actor)
        report = Report.objects.select_for_update().get(pk=report.pk)
        if report.status != Report.Status.OPEN:
            raise ModerationError("That report is already closed.")
        before = {"assigned_to": report.assigned_to_id}
        report.assigned_to = actor
        report.save(update_fields=["assigned_to", "updated_at"])
        audit(
            actor=actor,
            action=AuditAction.REPORT_ASSIGN,
            target_member=report.target_member,
            room=report.room,
            report=report,
            before=before,
            after={"assigned_to": actor.pk},
        )
    return report


def _close_report(*, actor, report: Report, status: str, action: str, note: str) -> Report:
    with transaction.atomic():
        require_platform_moderator(actor)
        report = Report.objects.select_for_update().get(pk=report.pk)
        if report.status != Report.Status.OPEN:
            raise ModerationError("That report is already closed.")
        before = {"status": report.status}
        report.status = status
        report.resolution = note[:2000]
        report.resolved_by = actor
        report.resolved_at = timezone.now()
        report.save(
            update_fields=["status", "resolution", "resolved_by", "resolved_at", "updated_at"]
        )
        audit(
            actor=actor,
            action=action,
            target_member=report.target_member,
            room=report.room,
            report=report,
            reason=note,
            before=before,
            after={"status": status},
        )
    return report


def report_resolve(*, actor, report: Report, note: str) -> Report:
    """Close a report as acted on; `note` says what was done."""
    if not note.strip():
        raise ModerationError("Say what was done.")
    return _close_report(
        actor=actor,
        report=report,
        status=Report.Status.RESOLVED,
        action=AuditAction.REPORT_RESOLVE,
        note=note,
    )


def report_dismiss(*, actor, report: Report, reason: str) -> Report:
    if not reason.strip():
        raise ModerationError("Give a reason for dismissing the report.")
    return _close_report(
        actor=actor,
        report=report,
        status=Report.Status.DISMISSED,
        action=AuditAction.REPORT_DISMISS,
        note=reason,
    )


# --- Members --------------------------------------------------------------------------------


def member_warn(*, actor, member, message: str, report: Report | None = None) -> Warning:
    if not message.strip():
        raise ModerationError("Write the warning the member will see.")
    with transaction.atomic():
        require_platform_moderator(actor)
        earlier = Warning.objects.filter(member=member).count()
        warning = Warning.objects.create(
            member=member, issued_by=actor, message=message.strip(), report=report
        )
        audit(
            actor=actor,
            action=AuditAction.MEMBER_WARN,
            target_member=member,
            report=report,
            reason=message,
            before={"warnings": earlier},
            after={"warnings": earlier + 1, "warning": warning.pk},
        )
        notify(
            member=member,
            kind=NotificationKind.MODERATION_WARNING,
            text=f"A warning from Podium's moderators: {warning.message}",
            url="",
            email=True,
        )
    return warning


def mark_warnings_seen(warning_ids: list[int]) -> int:
    """Record that these warnings were shown; each is shown exactly once."""
    return Warning.objects.filter(pk__in=warning_ids, seen_at__isnull=True).update(
        seen_at=timezone.now()
    )


def member_suspend(*, actor, member, until: datetime | None, reason: str) -> Member:
    """Suspend platform-wide until `until` (None: indefinitely). Live at once: the member's
    sockets close and their audio stops within moments; every rejoin is refused."""
    if not reason.strip():
        raise ModerationError("Give a reason for the suspension.")
    if until is not None and until <= timezone.now():
        raise ModerationError("The suspension must end in the future.")
    if member.pk == actor.pk:
        raise ModerationError("You can't suspend yourself.")
    with transaction.atomic():
        require_platform_moderator(actor)
        member = Member.objects.select_for_update().get(pk=member.pk)
        if member.is_superuser and not actor.is_superuser:
            raise PermissionDenied("Only a superuser can suspend a superuser.")
        before = _suspension(member)
        member.suspended_until = until or SUSPENDED_FOREVER
        member.suspension_reason = reason.strip()[:500]
        member.save(update_fields=["suspended_until", "suspension_reason"])
        audit(
            actor=actor,
            action=AuditAction.MEMBER_SUSPEND,
            target_member=member,
            reason=reason,
            before=before,
            after=_suspension(member),
        )
        participant_eject(member=member, reason="suspended")
    return member


def member_unsuspend(*, actor, member, reason: str = "") -> Member:
    with transaction.atomic():
        require_platform_moderator(actor)
        member = Member.objects.select_for_update().get(pk=member.pk)
        if member.suspended_until is None:
            raise ModerationError("That member isn't suspended.")
        before = _suspension(member)
        member.suspended_until = None
        member.suspension_reason = ""
        member.save(update_fields=["suspended_until", "suspension_reason"])
        audit(
            actor=actor,
            action=AuditAction.MEMBER_UNSUSPEND,
            target_member=member,
            reason=reason,
            before=before,
            after=_suspension(member),
        )
    return member


def _suspension(member) -> dict:
    until = member.suspended_until
    return {
        "suspended_until": until.isoformat() if until else None,
        "reason": member.suspension_reason,
    }


# --- Groups ---------------------------------------------------------------------------------


def group_unban(*, actor, group: Group, member, reason: str = "") -> None:
    """Lift a member's group ban, so that they may join again. Those who may ban may."""
    with transaction.atomic():
        if not (manages_group(actor, group.pk) or is_platform_moderator(actor)):
            raise PermissionDenied("Only the group's managers can lift bans.")
        ban = group_services.member_unban(group=group, member=member)
        if ban is None:
            raise ModerationError(f"{member.display_name} isn't banned from this group.")
        audit(
            actor=actor,
            action=AuditAction.GROUP_UNBAN,
            target_member=member,
            group=group,
            reason=reason,
            before={"banned": True, "reason": ban.reason},
            after={"banned": False},
        )


def group_ban(*, actor, group: Group, member, reason: str = "") -> GroupBan:
    """Keep a member out of a group, its rooms and its events. Group managers and platform
    moderators may; the owner can't be banned."""
    with transaction.atomic():
        if not (manages_group(actor, group.pk) or is_platform_moderator(actor)):
            raise PermissionDenied("Only the group's managers can ban members.")
        if member.pk == actor.pk:
            raise ModerationError("You can't ban yourself.")
        try:
            ban, had_role = group_services.member_ban(
                group=group, member=member, banned_by=actor, reason=reason
            )
        except ValueError as exc:
            raise ModerationError(str(exc)) from exc
        audit(
            actor=actor,
            action=AuditAction.GROUP_BAN,
            target_member=member,
            group=group,
            reason=reason,
            before={"membership": had_role},
            after={"banned": True},
        )
        live = list(
            Room.objects.filter(group=group, status=Room.Status.LIVE).values_list("pk", flat=True)
        )
        if live:
            participant_eject(member=member, reason="group_banned", room_ids=live)
    return ban
