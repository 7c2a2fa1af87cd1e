"""The websocket Origin check: same origin as the page, scheme and port included.

Channels' AllowedHostsOriginValidator compares only the Origin's host with ALLOWED_HOSTS,
so `http://127.0.0.1:1` passed for a site served on `http://127.0.0.1:8000`, and any
scheme passed. This applies what Django's CSRF check applies to a POST: the Origin must
be exactly the origin of the request itself (scheme, host and port, with the scheme
taken from SECURE_PROXY_SSL_HEADER behind a TLS-terminating proxy), or one of
CSRF_TRUSTED_ORIGINS; and the Host must be one of ALLOWED_HOSTS, as for any request. A
refused socket is closed before it is accepted (HTTP 403).
"""

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def request_origin(scope) -> str | None:
    """The origin this websocket request was made to, as a browser would write it."""
    host = _header(scope, b"host")
    if not host:
        return None
    secure = scope.get("scheme") in ("wss", "https")
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, expected = proxy
        value = _header(scope, name.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if value is not None:
            secure = value.split(",")[0].strip() == expected
    scheme = "https" if secure else "http"
    default_port = ":443" if secure else ":80"
    return f"{scheme}://{host.lower().removesuffix(default_port)}"


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin or not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    origin = origin.lower()
    return origin == request_origin(scope) or origin in {
        o.lower() for o in settings.CSRF_TRUSTED_ORIGINS
    }


class SameOriginValidator:
    """ASGI middleware for websockets: refuse any socket whose Origin isn't this site's."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
