"""Podium's only settings module, driven by environment variables.

With nothing set, Podium runs embedded: SQLite and the in-memory channel layer in one
process, DEBUG on, secrets generated into var/. Set DATABASE_URL, REDIS_URL, SECRET_KEY,
DEBUG=false and ALLOWED_HOSTS for production (see README.md).
"""

import hashlib
import hmac
import os
import re
import secrets
import socket
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    parse_database_url,
    parse_host_port,
    parse_ice_servers,
    parse_redis_url,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything Podium writes at run time (SQLite, the dev secret key, uploads) lives here.
VAR_DIR = Path(env_str("PODIUM_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entries need a scheme, not {_origin!r}")

INSTALLED_APPS = [
    # Daphne first: its runserver replaces Django's, serving websockets too.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "accounts",
    "groups",
    "events",
    "rooms",
]

MIDDLEWARE = [
    "config.outage.DatabaseDownMiddleware",  # outermost: a 503 page while the database is away
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.nul_guard.NulGuardMiddleware",  # a NUL in a value: 400, not a DataError later
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.MemberTimezoneMiddleware",
    "rooms.moderation.middleware.ModerationMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
SITE_ID = 1

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.viewer",
                "accounts.context_processors.notifications",
                "rooms.moderation.middleware.warnings",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": parse_database_url("DATABASE_URL", _database_url)}
else:
    DATABASES = {"default": sqlite_database(str(VAR_DIR / "podium.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------------------------
_redis_url = env_str("REDIS_URL")
if _redis_url:
    CHANNEL_LAYERS = {
        "default": {
            # One PUBLISH per group send: its cost grows with processes, not room members.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # After a Redis restart every pooled connection is dead: without retries the
                # first publish on each one fails and that change is announced to nobody.
                "hosts": [
                    {
                        "address": parse_redis_url("REDIS_URL", _redis_url),
                        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
                        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
                    }
                ],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "podium"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.channel_layers.EmbeddedChannelLayer"}}

# --- Cache ----------------------------------------------------------------------------------
# The rate limits count here. With Redis, one count for all the nodes (config/cache.py: a
# Redis outage makes the limits fail open, never a page fail); without, the process's memory.
if _redis_url:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.SharedCache",
            "LOCATION": _redis_url,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "podium-cache"),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    RATELIMIT_FAIL_OPEN = True

# --- Auth (django-allauth) ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.Member"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupForm"
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "optional")
if ACCOUNT_EMAIL_VERIFICATION not in {"none", "optional", "mandatory"}:
    raise ImproperlyConfigured("ACCOUNT_EMAIL_VERIFICATION must be none, optional or mandatory")
ACCOUNT_MAX_EMAIL_ADDRESSES = 5
ACCOUNT_CHANGE_EMAIL = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False


def linkedin_provider_apps(client_id: str, secret: str) -> list[dict]:
    """LinkedIn's "Sign In with LinkedIn using OpenID Connect", through allauth's OIDC provider.

    Both variables or neither: one without the other is a configuration mistake.
    """
    if bool(client_id) != bool(secret):
        raise ImproperlyConfigured(
            "Set both LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET, or neither"
        )
    if not client_id:
        return []
    return [
        {
            "provider_id": "linkedin",
            "name": "LinkedIn",
            "client_id": client_id,
            "secret": secret,
            "settings": {
                "server_url": "https://www.linkedin.com/oauth",
                "token_auth_method": "client_secret_post",
                "scope": ["openid", "profile", "email"],
            },
        }
    ]


SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "APPS": linkedin_provider_apps(
            env_str("LINKEDIN_CLIENT_ID"), env_str("LINKEDIN_CLIENT_SECRET")
        ),
        "OAUTH_PKCE_ENABLED": True,
    }
}

# --- Email ----------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    # Development: verification and reset messages are printed to the console.
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Podium <no-reply@podium.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
# Uploads (avatars, covers) go under var/, never under media/ (which is the forwarder's code).
MEDIA_URL = "/uploads/"
MEDIA_ROOT = VAR_DIR / "uploads"
# Recordings and replays (rooms.models.recordings) in their own storage, so that an operator
# can point them at object storage; under var/ by default. They are never served from a
# public URL: rooms.views.replay_audio checks who may hear them.
RECORDINGS_ROOT = Path(env_str("RECORDINGS_ROOT", str(VAR_DIR / "recordings")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "recordings": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": RECORDINGS_ROOT, "base_url": None},
    },
}
# Replays are deleted this many days after their room ended (manage.py purge_recordings).
RECORDING_RETENTION_DAYS = env_int("RECORDING_RETENTION_DAYS", 30, minimum=1)
# Tests: process_soon() makes the replay there and then instead of in a worker process.
RECORDINGS_PROCESS_INLINE = env_bool("RECORDINGS_PROCESS_INLINE", False)
# Live captions: "pocketsphinx" (offline, from its wheel's English model) or "whisper"
# (faster-whisper, when installed, with the model directory in CAPTIONS_WHISPER_MODEL).
CAPTIONS_BACKEND = env_str("CAPTIONS_BACKEND", "pocketsphinx")
CAPTIONS_WHISPER_MODEL = env_str("CAPTIONS_WHISPER_MODEL", "")
# Daphne serves static files and uploads itself unless a front proxy does it.
SERVE_FILES = env_bool("SERVE_FILES", DEBUG)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
AVATAR_MAX_BYTES = 2 * 1024 * 1024
# Any request body over this is refused by the server with 413 before it is buffered
# (config/body_limit.py): the avatar upload and its form fit.
# Each room socket: a burst of this many messages, then this many a second (rooms/consumers.py).
ROOM_MESSAGE_BURST = env_int("ROOM_MESSAGE_BURST", 20, minimum=1)
ROOM_MESSAGES_PER_SECOND = env_int("ROOM_MESSAGES_PER_SECOND", 5, minimum=1)
# What one member may create or send, per period (config/limits.py, django-ratelimit).
RATE_LIMITS = {
    "room.create": "10/h",
    "group.create": "5/h",
    "event.create": "10/h",
    "report.create": "20/h",
    "follow": "100/h",
    # Typing in a speaker field asks once per pause: a long form is a few dozen.
    "member.suggest": "600/h",
}
MAX_REQUEST_BODY = env_int("MAX_REQUEST_BODY", 3 * 1024 * 1024, minimum=64 * 1024)

# --- Security -------------------------------------------------------------------------------
HTTPS = env_bool("HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
# The balancer's health check speaks plain HTTP to each node.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Locale ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Media (WebRTC) -------------------------------------------------------------------------
ICE_SERVERS = parse_ice_servers("ICE_SERVERS", env_str("ICE_SERVERS"))
# coturn with use-auth-secret: browsers get time-limited credentials (rooms/ice.py).
TURN_URLS = env_list("TURN_URLS", [])
for _url in TURN_URLS:
    if not _url.startswith(("turn:", "turns:")):
        raise ImproperlyConfigured(
            f"TURN_URLS entries must start with turn: or turns:, not {_url!r}"
        )
TURN_SECRET = env_str("TURN_SECRET")
TURN_TTL = env_int("TURN_TTL", 6 * 3600, minimum=60)
# Local addresses the forwarder offers as ICE host candidates; empty means every interface
# but loopback. Tests and single-machine demos use 127.0.0.1.
MEDIA_HOST_ADDRESSES = env_list("MEDIA_HOST_ADDRESSES", [])

# --- Nodes (manage.py runnode; see README "Many nodes") -------------------------------------
REDIS_URL = _redis_url
# This process's name among the nodes; made at start unless given. Participants carry it.
NODE_ID = env_str("NODE_ID") or f"{socket.gethostname()}-{os.getpid()}"
if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", NODE_ID):
    raise ImproperlyConfigured("NODE_ID must be 1-64 letters, digits, '.', '_' or '-'")
# Where this node's relay listens for other nodes' packets, host:port (port 0: any free one).
MEDIA_RELAY_ADDRESS = parse_host_port(
    "MEDIA_RELAY_ADDRESS", env_str("MEDIA_RELAY_ADDRESS", "127.0.0.1:0")
)
if MEDIA_RELAY_ADDRESS[0] in ("0.0.0.0", "::", ""):  # noqa: S104 - refused, not bound
    # Other nodes send to the address this node publishes, and accept only those.
    raise ImproperlyConfigured(
        "MEDIA_RELAY_ADDRESS must be this node's own private address, not a wildcard"
    )
# Authenticates relay datagrams between nodes; the same on every node of a deployment.
MEDIA_RELAY_SECRET = (
    env_str("MEDIA_RELAY_SECRET")
    or hmac.new(SECRET_KEY.encode(), b"podium media relay", hashlib.sha256).hexdigest()
)
if len(MEDIA_RELAY_SECRET) < 16:
    raise ImproperlyConfigured("MEDIA_RELAY_SECRET must be at least 16 characters")
# Peer connections one process will hold; past it, new joins get a clear error.
MEDIA_MAX_PEERS = env_int("MEDIA_MAX_PEERS", 2000, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"database_down": {"()": "config.outage.DatabaseDownFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "aioice": {"level": "WARNING"},
        "django.request": {"filters": ["database_down"]},
    },
}
