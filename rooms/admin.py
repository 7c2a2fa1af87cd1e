from django.contrib import admin

from rooms.models import Participant, Room, RoomBan


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    raw_id_fields = ["member"]
    readonly_fields = ["joined_at", "left_at"]
    fields = ["member", "role", "muted", "hand_raised_at", "is_present", "joined_at", "left_at"]


class RoomBanInline(admin.TabularInline):
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
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["member", "room", "role", "muted", "is_present", "joined_at"]
    list_filter = ["role", "muted", "is_present"]
    search_fields = ["member__display_name", "room__title"]
    raw_id_fields = ["member", "room"]
    readonly_fields = ["joined_at", "left_at"]
    list_select_related = ["member", "room"]


@admin.register(RoomBan)
class RoomBanAdmin(admin.ModelAdmin):
    list_display = ["member", "room", "banned_by", "reason", "created_at"]
    search_fields = ["member__display_name", "room__title", "reason"]
    raw_id_fields = ["member", "room", "banned_by"]
    readonly_fields = ["created_at"]
    list_select_related = ["member", "room", "banned_by"]
