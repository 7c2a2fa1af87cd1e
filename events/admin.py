from django.contrib import admin

from events.models import RSVP, Event, EventSpeaker


class EventSpeakerInline(admin.TabularInline):
    model = EventSpeaker
    extra = 0
    raw_id_fields = ["member"]
    readonly_fields = ["invited_at", "responded_at"]


class RSVPInline(admin.TabularInline):
    model = RSVP
    extra = 0
    raw_id_fields = ["member"]
    readonly_fields = ["created_at", "reminded_24h_at", "reminded_15m_at"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["title", "host", "group", "starts_at", "timezone", "status", "visibility"]
    list_filter = ["status", "visibility", "starts_at"]
    search_fields = ["title", "description", "host__display_name", "group__name"]
    date_hierarchy = "starts_at"
    raw_id_fields = ["host", "group", "room"]
    readonly_fields = ["created_at"]
    list_select_related = ["host", "group"]
    inlines = [EventSpeakerInline, RSVPInline]


@admin.register(EventSpeaker)
class EventSpeakerAdmin(admin.ModelAdmin):
    list_display = ["member", "event", "role", "status", "invited_at"]
    list_filter = ["role", "status"]
    search_fields = ["member__display_name", "event__title"]
    raw_id_fields = ["member", "event"]
    readonly_fields = ["invited_at", "responded_at"]
    list_select_related = ["member", "event"]


@admin.register(RSVP)
class RSVPAdmin(admin.ModelAdmin):
    list_display = ["member", "event", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["member__display_name", "event__title"]
    raw_id_fields = ["member", "event"]
    readonly_fields = ["created_at", "reminded_24h_at", "reminded_15m_at"]
    list_select_related = ["member", "event"]
