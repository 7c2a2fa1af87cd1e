"""/healthz: what a load balancer asks each node. 503 while the node drains (SIGTERM), so
no new socket is sent to it, and 503 while it can't reach the database or the channel
layer's Redis (it could serve nobody); 200 otherwise. The body never says which."""

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

from config import outage
from rooms.cluster import agent as cluster

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 0.5  # seconds: a balancer's check must not hang on a dead Redis
_redis_clients: dict[str, redis.Redis] = {}


def _answer(text: str, status: int) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain")
    response["Cache-Control"] = "no-store"
    if status != 200:
        # Expected every check while it lasts: not an error for django.request's log.
        response._has_been_logged = True
    return response


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except outage.DATABASE_DOWN as exc:
        log.warning("healthz: the database is unavailable: %r", exc)
        return False
    return True


def _channel_layer_ok() -> bool:
    url = settings.REDIS_URL
    if not url:
        return True  # the embedded layer lives in this process
    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(
            url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
        )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        log.warning("healthz: Redis is unavailable: %r", exc)
        return False
    return True


def healthz(request: HttpRequest) -> HttpResponse:
    if cluster.draining():
        return _answer("draining\n", 503)
    if not (_database_ok() and _channel_layer_ok()):
        return _answer("unavailable\n", 503)
    return _answer("ok\n", 200)
