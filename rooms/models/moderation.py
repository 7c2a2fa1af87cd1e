"""Reports, warnings and the append-only audit log."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReportCategory(models.TextChoices):
    HARASSMENT = "harassment", "Harassment"
    HATE = "hate", "Hate speech"
    SPAM = "spam", "Spam or scam"
    IMPERSONATION = "impersonation", "Impersonation"
    OFF_TOPIC = "off_topic", "Off-topic or unprofessional"
    OTHER = "other", "Other"


class Report(models.Model):
    """A member's report of another member or of a room. The reported member never sees
    who filed it. Repeats of an open report by the same reporter are merged into it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_filed"
    )
    target_member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reports_against",
    )
    # The room reported, or the room the reported member was in.
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.CASCADE, null=True, blank=True, related_name="reports"
    )
    category = models.CharField(max_length=20, choices=ReportCategory.choices)
    details = models.TextField(max_length=4000, blank=True)
    times_reported = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports_assigned",
    )
    resolution = models.TextField(max_length=2000, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(target_member__isnull=False) | Q(room__isnull=False),
                name="report_has_a_target",
            ),
            models.CheckConstraint(
                condition=~Q(reporter=models.F("target_member")), name="no_self_report"
            ),
        ]
        indexes = [models.Index(fields=["status", "category", "-updated_at"])]

    def __str__(self) -> str:
        target = self.target_member or self.room
        return f"{self.get_category_display()} report about {target}"


class Warning(models.Model):
    """A moderator's warning, shown to the member once, the next time they open Podium."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="warnings"
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    message = models.TextField(max_length=2000)
    report = models.ForeignKey(Report, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Warning to {self.member}"


class AuditAction(models.TextChoices):
    ROOM_END = "room.end", "Ended a room"
    MEMBER_REMOVE = "member.remove", "Removed from a room"
    MEMBER_BAN = "member.ban", "Banned from a room"
    SPEAKER_DEMOTE = "speaker.demote", "Moved to the audience"
    MUTE = "mute", "Muted"
    MODERATOR_ADD = "moderator.add", "Made moderator"
    MODERATOR_REMOVE = "moderator.remove", "Removed as moderator"
    MEMBER_WARN = "member.warn", "Warned"
    MEMBER_SUSPEND = "member.suspend", "Suspended"
    MEMBER_UNSUSPEND = "member.unsuspend", "Lifted a suspension"
    GROUP_BAN = "group.ban", "Banned from a group"
    GROUP_UNBAN = "group.unban", "Lifted a group ban"
    REPORT_ASSIGN = "report.assign", "Took a report"
    REPORT_RESOLVE = "report.resolve", "Resolved a report"
    REPORT_DISMISS = "report.dismiss", "Dismissed a report"
    RECORDING_START = "recording.start", "Started recording"
    RECORDING_PAUSE = "recording.pause", "Paused recording"
    RECORDING_RESUME = "recording.resume", "Resumed recording"
    RECORDING_DELETE = "recording.delete", "Deleted a recording"


class AuditLogIsAppendOnly(Exception):
    pass


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogIsAppendOnly("Audit entries can't be changed.")

    def delete(self):
        raise AuditLogIsAppendOnly("Audit entries can't be deleted.")


class AuditEntry(models.Model):
    """One moderation action: who did what to whom, where, why, and the state before and
    after. Append-only: the model refuses changes and deletion, and so does the database
    (triggers in migration rooms 0004)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audit_actions"
    )
    action = models.CharField(max_length=30, choices=AuditAction.choices)
    target_member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_entries_about",
    )
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.PROTECT, null=True, blank=True, related_name="audit"
    )
    group = models.ForeignKey(
        "podium_groups.Group",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit",
    )
    report = models.ForeignKey(
        Report, on_delete=models.PROTECT, null=True, blank=True, related_name="audit"
    )
    reason = models.TextField(max_length=2000, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["action", "-created_at"])]

    def __str__(self) -> str:
        return (
            f"{self.actor} {self.get_action_display().lower()} ({self.created_at:%Y-%m-%d %H:%M})"
        )

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogIsAppendOnly("Audit entries can't be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("Audit entries can't be deleted.")
