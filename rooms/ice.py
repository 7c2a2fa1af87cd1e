"""The ICE servers a member's browser gets: the configured STUN/TURN servers, plus a
time-limited TURN credential when a coturn shared secret is configured.

coturn's "TURN REST API" scheme (use-auth-secret): the username is "<expiry>:<member id>"
and the password is base64(HMAC-SHA1(secret, username)). coturn recomputes it, so nothing is
stored, and a leaked credential stops working at its expiry.
"""

import base64
import hashlib
import hmac
import time

from django.conf import settings


def turn_credential(secret: str, member_id: int, *, ttl: int, now: float | None = None) -> dict:
    expiry = int(now if now is not None else time.time()) + ttl
    username = f"{expiry}:{member_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return {"username": username, "credential": base64.b64encode(digest).decode()}


def browser_ice_servers(member) -> list[dict]:
    servers = [dict(server) for server in settings.ICE_SERVERS]
    if settings.TURN_SECRET and settings.TURN_URLS:
        servers.append(
            {
                "urls": list(settings.TURN_URLS),
                **turn_credential(settings.TURN_SECRET, member.pk, ttl=settings.TURN_TTL),
            }
        )
    return servers
