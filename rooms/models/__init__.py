from rooms.models.moderation import (
    AuditAction,
    AuditEntry,
    AuditLogIsAppendOnly,
    Report,
    ReportCategory,
    Warning,
)
from rooms.models.room import (
    MODERATING_ROLES,
    STAGE_ROLES,
    Participant,
    Role,
    Room,
    RoomBan,
)

__all__ = [
    "MODERATING_ROLES",
    "STAGE_ROLES",
    "AuditAction",
    "AuditEntry",
    "AuditLogIsAppendOnly",
    "Participant",
    "Report",
    "ReportCategory",
    "Role",
    "Room",
    "RoomBan",
    "Warning",
]
