from rooms.models.moderation import (
    AuditAction,
    AuditEntry,
    AuditLogIsAppendOnly,
    Report,
    ReportCategory,
    Warning,
)
from rooms.models.questions import QUESTION_MAX_LENGTH, Question, QuestionVote
from rooms.models.recordings import (
    Recording,
    RecordingConsent,
    RecordingSpan,
    RecordingTrack,
    TranscriptSegment,
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
    "QUESTION_MAX_LENGTH",
    "STAGE_ROLES",
    "AuditAction",
    "AuditEntry",
    "AuditLogIsAppendOnly",
    "Participant",
    "Question",
    "QuestionVote",
    "Recording",
    "RecordingConsent",
    "RecordingSpan",
    "RecordingTrack",
    "Report",
    "ReportCategory",
    "Role",
    "Room",
    "RoomBan",
    "TranscriptSegment",
    "Warning",
]
