from django.contrib import admin

from config.view_only import ViewOnly
from groups.models import Group, GroupBan, Membership


class MembershipInline(ViewOnly, admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["member"]
    readonly_fields = ["created_at"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_private", "created_by", "created_at"]
    list_filter = ["is_private"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["created_by"]
    readonly_fields = ["created_at"]
    list_select_related = ["created_by"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ["member", "group", "role", "status", "created_at"]
    list_filter = ["role", "status"]
    search_fields = ["member__display_name", "member__email", "group__name"]
    raw_id_fields = ["member", "group"]
    readonly_fields = ["created_at"]
    list_select_related = ["member", "group"]


@admin.register(GroupBan)
class GroupBanAdmin(ViewOnly, admin.ModelAdmin):
    """Bans go through rooms.moderation.services (group_ban, group_unban: live ejection,
    audit)."""

    list_display = ["__str__", "banned_by", "reason", "created_at"]
    search_fields = ["member__display_name", "group__name", "reason"]
    raw_id_fields = ["member", "group", "banned_by"]
    readonly_fields = ["created_at"]
    list_select_related = ["member", "group", "banned_by"]
