"""The audit log's one writer."""

from rooms.models import AuditEntry


def audit(
    *,
    actor,
    action: str,
    target_member=None,
    room=None,
    group=None,
    report=None,
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Write the one audit entry of a moderation action. Call inside its transaction."""
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        target_member=target_member,
        room=room,
        group=group,
        report=report,
        reason=reason[:2000],
        before=before or {},
        after=after or {},
    )
