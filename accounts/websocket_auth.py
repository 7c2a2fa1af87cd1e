"""Who a websocket belongs to, from its session cookie, for many sockets at once.

Channels' AuthMiddleware loads each socket's session and then its member, two queries in a
database hop of its own. A join storm of a thousand sockets queued two thousand queries
behind one another on the ORM thread. BatchedAuthMiddleware gives the same answer as
channels.auth.get_user (the same session, backend and session-hash checks) for every
socket that arrives while the previous batch is being read: one query for all their
sessions and one for all their members.
"""

from channels.auth import AuthMiddleware, _get_user_session_key, get_user
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from config import outage
from config.batching import Batcher


def users_for_sessions(sessions: list) -> list:
    """The member (or AnonymousUser) each session is signed in as; ORM thread only."""
    _load_sessions(sessions)
    wanted: list[tuple[int, object, object]] = []  # (index, user id, backend)
    users: list = [None] * len(sessions)
    for index, session in enumerate(sessions):
        try:
            user_id = _get_user_session_key(session)
            backend_path = session[BACKEND_SESSION_KEY]
        except KeyError:
            continue
        if backend_path not in settings.AUTHENTICATION_BACKENDS:
            continue
        backend = load_backend(backend_path)
        if type(backend).get_user is ModelBackend.get_user:
            wanted.append((index, user_id, backend))
        else:
            users[index] = backend.get_user(user_id)
    _load_members(wanted, users)
    for index, session in enumerate(sessions):
        user = users[index]
        if hasattr(user, "get_session_auth_hash"):
            session_hash = session.get(HASH_SESSION_KEY)
            if not (
                session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())
            ):
                session.flush()
                users[index] = None
    return [user or AnonymousUser() for user in users]


def _load_sessions(sessions: list) -> None:
    """Read every database-backed session not yet loaded, in one query; exactly what each
    SessionStore.load() would have read (an unknown or expired key reads as empty)."""
    pending = [
        s
        for s in sessions
        if isinstance(s, DatabaseSessionStore)
        and s.session_key
        and not hasattr(s, "_session_cache")
    ]
    if not pending:
        return
    model = type(pending[0]).get_model_class()
    # A cookie can carry any key (a NUL byte, say, which PostgreSQL refuses in a query):
    # one that Django could not have made reads as empty, and stays out of the query.
    keys = {s.session_key for s in pending if _well_formed(s.session_key)}
    rows = dict(
        model.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
            "session_key", "session_data"
        )
    )
    for session in pending:
        data = rows.get(session.session_key)  # a malformed key was never asked for
        if data is None:
            session._session_key = None
            session._session_cache = {}
        else:
            session._session_cache = session.decode(data)


_KEY_CHARS = frozenset(VALID_KEY_CHARS)


def _well_formed(key: str) -> bool:
    """Could Django have made this session key? (32 of its characters; the column holds 40.)"""
    return 8 <= len(key) <= 40 and _KEY_CHARS.issuperset(key)


def _load_members(wanted: list[tuple[int, object, object]], users: list) -> None:
    """ModelBackend.get_user for each wanted id, in one query. A member signed in on two
    sockets of one batch gets an instance of their own on the second (its own query)."""
    members = get_user_model()._default_manager.in_bulk({user_id for _, user_id, _ in wanted})
    taken = set()
    for index, user_id, backend in wanted:
        if user_id in taken:
            users[index] = backend.get_user(user_id)
            continue
        taken.add(user_id)
        member = members.get(user_id)
        can = member is not None and backend.user_can_authenticate(member)
        users[index] = member if can else None


_batcher = Batcher(users_for_sessions)


class BatchedAuthMiddleware(AuthMiddleware):
    """AuthMiddleware whose session and member reads are shared by concurrent sockets."""

    async def resolve_scope(self, scope) -> None:
        # Channels' SessionMiddleware puts the store in a LazyObject; the batch takes the store.
        store = getattr(scope["session"], "_wrapped", scope["session"])
        try:
            if isinstance(store, DatabaseSessionStore):
                scope["user"]._wrapped = await _batcher.submit(store)
            else:
                scope["user"]._wrapped = await get_user(scope)
        except outage.DATABASE_DOWN:
            # Nobody is known: the consumer says "unavailable, try again", not "sign in".
            scope["user"]._wrapped = AnonymousUser()
            scope["database_down"] = True
