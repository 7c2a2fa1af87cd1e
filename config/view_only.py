"""The admin's view-only mixin, for models whose state changes only through services.

Participants (presence, roles, mutes, hands), memberships (joins, approvals, roles) and
bans change through their apps' services, which check the actor, tell the room live and
write the audit log. The admin shows them; staff act through the moderation dashboard,
the group page or the room itself."""


class ViewOnly:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
