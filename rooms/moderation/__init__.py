"""Moderation: reports, warnings, suspensions, group bans and the audit log, with the
dashboard (/moderation/) and reporting (/report/) pages. The models live in rooms.models.

Every moderation action, from the dashboard, a room, a group page or the admin, is one
service (here or in rooms.services) and writes exactly one AuditEntry (`audit.audit()`)
inside the same transaction as the change.
"""
