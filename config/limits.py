"""Per-member rate limits on what a member creates or sends to others, with
django-ratelimit on Django's cache. Each view asks `over_limit()` before acting; the
limits (per member, a count per period) are the RATE_LIMITS setting.

Logins, signups and password resets have allauth's own limits (ACCOUNT_RATE_LIMITS);
room socket traffic has the consumer's token buckets (rooms/consumers.py).

With REDIS_URL set, the cache is Redis (config/cache.py), so a member's limit is one limit
across all the nodes; while Redis is away the limits fail open. Without it (one process,
`make run`), the process's own memory.
"""

from django.conf import settings
from django_ratelimit.core import is_ratelimited

MESSAGES = {
    "room.create": "You've created many rooms in a short time. Try again later.",
    "group.create": "You've created many groups in a short time. Try again later.",
    "event.create": "You've scheduled many events in a short time. Try again later.",
    "report.create": "You've sent many reports in a short time. Try again later.",
    "follow": "You've followed many people in a short time. Try again later.",
    "member.suggest": "Too many searches in a short time. Try again in a minute.",
}


def over_limit(request, action: str, *, method: str = "POST") -> bool:
    """Count this request (if of `method`) against the member's limit for `action`; True
    once over it."""
    return is_ratelimited(
        request,
        group=f"podium.{action}",
        key="user",
        rate=settings.RATE_LIMITS[action],
        method=[method],
        increment=True,
    )
