from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from config.view_only import ViewOnly
from rooms.errors import RoomError
from rooms.models import (
    AuditEntry,
    Participant,
    Question,
    Recording,
    RecordingConsent,
    RecordingSpan,
    RecordingTrack,
    Report,
    Room,
    RoomBan,
    TranscriptSegment,
    Warning,
)
from rooms.moderation import services as moderation
from rooms.recordings.deletion import recording_delete


class ParticipantInline(ViewOnly, admin.TabularInline):
    model = Participant
    extra = 0
    raw_id_fields = ["member"]
    readonly_fields = ["joined_at", "left_at"]
    fields = ["member", "role", "muted", "hand_raised_at", "is_present", "joined_at", "left_at"]


class RoomBanInline(ViewOnly, admin.TabularInline):
    model = RoomBan
    extra = 0
    fk_name = "room"
    raw_id_fields = ["member", "banned_by"]
    readonly_fields = ["created_at"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["title", "host", "status", "visibility", "group", "created_at", "started_at"]
    list_filter = ["status", "visibility", "created_at"]
    search_fields = ["title", "description", "host__display_name", "group__name"]
    date_hierarchy = "created_at"
    raw_id_fields = ["host", "group"]
    readonly_fields = ["created_at", "started_at", "ended_at", "version", "peak_audience"]
    list_select_related = ["host", "group"]
    inlines = [ParticipantInline, RoomBanInline]


@admin.register(Participant)
class ParticipantAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ["member", "room", "role", "muted", "is_present", "joined_at"]
    list_filter = ["role", "muted", "is_present"]
    search_fields = ["member__display_name", "room__title"]
    raw_id_fields = ["member", "room"]
    readonly_fields = ["joined_at", "left_at"]
    list_select_related = ["member", "room"]


@admin.register(Question)
class QuestionAdmin(ViewOnly, admin.ModelAdmin):
    """Questions change through the room's moderators (rooms/services/questions.py), which
    tell the room; staff read them here."""

    list_display = ["text", "room", "asker", "votes", "created_at", "answered_at", "removed_at"]
    list_filter = ["answered_at", "removed_at"]
    search_fields = ["text", "asker__display_name", "room__title"]
    raw_id_fields = ["room", "asker", "removed_by"]
    list_select_related = ["room", "asker"]


@admin.register(RoomBan)
class RoomBanAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ["__str__", "banned_by", "reason", "created_at"]
    search_fields = ["member__display_name", "room__title", "reason"]
    raw_id_fields = ["member", "room", "banned_by"]
    readonly_fields = ["created_at"]
    list_select_related = ["member", "room", "banned_by"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only, for staff too."""

    list_display = ["__str__", "action", "target_member", "room", "group", "reason"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor__display_name", "target_member__display_name", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "target_member", "room", "group"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = [
        "category",
        "status",
        "target_member",
        "room",
        "times_reported",
        "assigned_to",
        "updated_at",
    ]
    list_filter = ["status", "category", "created_at"]
    search_fields = ["details", "target_member__display_name", "reporter__display_name"]
    raw_id_fields = ["reporter", "target_member", "room", "assigned_to", "resolved_by"]
    readonly_fields = [
        "reporter",
        "target_member",
        "room",
        "category",
        "details",
        "times_reported",
        "status",
        "assigned_to",
        "resolution",
        "resolved_by",
        "resolved_at",
        "created_at",
        "updated_at",
    ]
    list_select_related = ["target_member", "room", "assigned_to"]
    actions = ["assign_to_me", "dismiss_as_unfounded"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Assign to me")
    def assign_to_me(self, request, queryset):
        self._each(
            request, queryset, lambda r: moderation.report_assign(actor=request.user, report=r)
        )

    @admin.action(description="Dismiss as unfounded")
    def dismiss_as_unfounded(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda r: moderation.report_dismiss(
                actor=request.user, report=r, reason="Dismissed from the admin as unfounded."
            ),
        )

    def _each(self, request, queryset, action) -> None:
        # Every action goes through the moderation service, which writes the audit entry.
        done = 0
        for report in queryset:
            try:
                action(report)
                done += 1
            except (moderation.ModerationError, PermissionDenied) as exc:
                self.message_user(request, f"Report {report.pk}: {exc}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} report(s) updated.", messages.SUCCESS)


@admin.register(Warning)
class WarningAdmin(admin.ModelAdmin):
    list_display = ["member", "issued_by", "created_at", "seen_at"]
    search_fields = ["member__display_name", "message"]
    raw_id_fields = ["member", "issued_by", "report"]
    readonly_fields = ["member", "issued_by", "message", "report", "created_at", "seen_at"]
    list_select_related = ["member", "issued_by"]

    def has_add_permission(self, request) -> bool:
        # Warnings are sent from the moderation dashboard, which audits them.
        return False


class RecordingSpanInline(ViewOnly, admin.TabularInline):
    model = RecordingSpan
    extra = 0
    fields = ["started_at", "ended_at", "offset_ms"]
    readonly_fields = fields


class RecordingTrackInline(ViewOnly, admin.TabularInline):
    model = RecordingTrack
    extra = 0
    fields = ["member", "span", "file", "starts_ms", "duration_ms", "talk_ms", "packets", "dropped"]
    readonly_fields = fields


@admin.register(Recording)
class RecordingAdmin(ViewOnly, admin.ModelAdmin):
    """Recordings change through the room (rooms/services/recording.py) and its worker;
    deleting one removes its files and audits it (rooms/recordings/deletion.py), so the
    admin's own delete, which would leave the files behind, is off: use the action."""

    list_display = ["room", "status", "started_at", "ended_at", "duration_ms", "processed_at"]
    list_filter = ["status", "started_at"]
    search_fields = ["room__title", "room__host__display_name"]
    date_hierarchy = "started_at"
    raw_id_fields = ["room", "started_by"]
    readonly_fields = [
        "room",
        "status",
        "started_by",
        "started_at",
        "ended_at",
        "duration_ms",
        "audio",
        "attempts",
        "last_error",
        "processed_at",
        "deleted_at",
    ]
    list_select_related = ["room"]
    inlines = [RecordingSpanInline, RecordingTrackInline]
    actions = ["delete_replays"]

    @admin.action(description="Delete the replay, its tracks and transcript")
    def delete_replays(self, request, queryset):
        done = 0
        for recording in queryset:
            try:
                recording_delete(actor=request.user, recording_id=recording.pk)
                done += 1
            except RoomError as exc:
                self.message_user(request, f"{recording}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} replay(s) deleted.", messages.SUCCESS)


@admin.register(RecordingConsent)
class RecordingConsentAdmin(ViewOnly, admin.ModelAdmin):
    """A member's own answer in the room: not staff's to change."""

    list_display = ["member", "room", "agreed", "answered_at"]
    list_filter = ["agreed"]
    search_fields = ["member__display_name", "room__title"]
    raw_id_fields = ["member", "room"]
    readonly_fields = ["member", "room", "agreed", "answered_at"]
    list_select_related = ["member", "room"]


@admin.register(TranscriptSegment)
class TranscriptSegmentAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ["__str__", "member", "recording", "start_ms", "end_ms"]
    search_fields = ["text"]
    raw_id_fields = ["recording", "member"]
    readonly_fields = ["recording", "member", "start_ms", "end_ms", "text"]
    list_select_related = ["member", "recording__room"]
