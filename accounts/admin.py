from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Block, Follow, Member, Notification, NotificationPreference


@admin.register(Member)
class MemberAdmin(UserAdmin):
    ordering = ["-date_joined"]
    list_display = [
        "display_name",
        "email",
        "handle",
        "company",
        "verified_domain",
        "is_staff",
        "is_active",
        "date_joined",
    ]
    list_filter = ["is_staff", "is_active", "industry", "is_superuser"]
    search_fields = ["display_name", "email", "handle", "company", "headline"]
    # Suspensions go through the moderation dashboard, which ejects the member live and
    # writes the audit entry; here they are shown, not edited.
    readonly_fields = [
        "date_joined",
        "last_login",
        "verified_domain",
        "suspended_until",
        "suspension_reason",
    ]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (
            "Profile",
            {
                "fields": [
                    "display_name",
                    "handle",
                    "headline",
                    "company",
                    "industry",
                    "location",
                    "timezone",
                    "about",
                    "avatar",
                    "verified_domain",
                ]
            },
        ),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Moderation", {"fields": ["suspended_until", "suspension_reason"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "display_name", "handle", "password1", "password2"],
            },
        )
    ]


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["follower", "followee", "created_at"]
    search_fields = ["follower__display_name", "followee__display_name"]
    raw_id_fields = ["follower", "followee"]
    readonly_fields = ["created_at"]
    list_select_related = ["follower", "followee"]


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    search_fields = ["blocker__display_name", "blocked__display_name"]
    raw_id_fields = ["blocker", "blocked"]
    readonly_fields = ["created_at"]
    list_select_related = ["blocker", "blocked"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "recipient", "kind", "created_at", "read_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["recipient__display_name", "text"]
    raw_id_fields = ["recipient"]
    readonly_fields = ["created_at"]
    list_select_related = ["recipient"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["__str__", "member", "kind", "in_app", "email"]
    list_filter = ["kind", "in_app", "email"]
    search_fields = ["member__display_name"]
    raw_id_fields = ["member"]
    list_select_related = ["member"]
