from django.contrib import admin

from groups.models import Group, GroupBan, Membership


class MembershipInline(admin.TabularInline):
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
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["member", "group", "role", "status", "created_at"]
    list_filter = ["role", "status"]
    search_fields = ["member__display_name", "member__email", "group__name"]
    raw_id_fields = ["member", "group"]
    readonly_fields = ["created_at"]
    list_select_related = ["member", "group"]


@admin.register(GroupBan)
class GroupBanAdmin(admin.ModelAdmin):
    """Read-only: bans go through rooms.moderation.services.group_ban (live ejection and audit)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    list_display = ["__str__", "banned_by", "reason", "created_at"]
    search_fields = ["member__display_name", "group__name", "reason"]
    raw_id_fields = ["member", "group", "banned_by"]
    readonly_fields = ["created_at"]
    list_select_related = ["member", "group", "banned_by"]
