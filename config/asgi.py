"""ASGI entry point: HTTP goes to Django, websockets to the Channels router.

Every websocket passes SameOriginValidator (config/origin.py: an Origin other than the
page's own, scheme and port included, or a missing one, is refused)
and the session and auth middleware (the session cookie decides who the member is; the
batched AuthMiddleware of accounts.websocket_auth reads concurrent sockets' sessions together).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import CookieMiddleware, SessionMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402

from accounts.websocket_auth import BatchedAuthMiddleware  # noqa: E402
from config import body_limit  # noqa: E402
from config.origin import SameOriginValidator  # noqa: E402
from rooms.routing import websocket_urlpatterns  # noqa: E402

body_limit.install()  # Daphne's requests refuse a body over MAX_REQUEST_BODY, unbuffered

http_app = django_asgi_app
if settings.SERVE_FILES:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi_app)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": SameOriginValidator(
            CookieMiddleware(
                SessionMiddleware(BatchedAuthMiddleware(URLRouter(websocket_urlpatterns)))
            )
        ),
    }
)
