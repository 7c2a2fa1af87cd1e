"""`manage.py runnode`: serve Podium as one node of many (DESIGN section 6).

Daphne plus this node's cluster agent (rooms.cluster.agent) on one event loop. Needs
REDIS_URL and a DATABASE_URL that every node shares. SIGTERM drains: the node says so in
its heartbeat and on /healthz (the balancer stops sending it new sockets), asks its pages to
reconnect (close code 4503; the balancer hands them to another node) and exits once they
have gone, or after --drain-seconds. SIGINT does the same.
"""

import asyncio
import logging
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DRAIN_NOTICE = 1.0  # seconds for the balancer's health check to see the node draining

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Serve Podium as one node of a deployment on shared PostgreSQL and Redis."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--drain-seconds", type=float, default=15.0)

    def handle(self, *args, host: str, port: int, drain_seconds: float, **options) -> None:
        if not settings.REDIS_URL:
            raise CommandError("runnode needs REDIS_URL: the nodes share Redis and PostgreSQL.")
        redis_check(settings.REDIS_URL)

        import daphne.server  # noqa: F401 - installs Twisted's asyncio reactor first
        from daphne.server import Server
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from twisted.internet import reactor

        from config.asgi import application
        from rooms import broadcast, consumers, eventloop
        from rooms.cluster import agent as cluster

        # Retries: after Redis restarts, each pooled connection fails once ("Connection
        # closed by server") before it reconnects. Timeouts: a hung Redis can't hang a step.
        redis = Redis.from_url(
            settings.REDIS_URL,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        node = cluster.NodeAgent(redis)
        failed = []

        async def start() -> None:
            try:
                await node.start()
            except Exception as exc:
                failed.append(str(exc))
                reactor.stop()
                return
            cluster.set_current(node)
            self.stdout.write(
                f"node {settings.NODE_ID} serving http://{host}:{port}/, "
                f"relay {node.relay.address[0]}:{node.relay.address[1]}"
            )
            self.stdout.flush()

        async def drain() -> None:
            if node.draining:
                return
            self.stdout.write(f"node {settings.NODE_ID} draining")
            node.draining = True
            # Each step that needs Redis may fail (Redis away): the node drains regardless.
            try:
                await _attempt(node._beat(), "saying so in the heartbeat")
                await asyncio.sleep(DRAIN_NOTICE)
                await _attempt(broadcast.node_draining(settings.NODE_ID), "moving the sockets")
                loop = asyncio.get_running_loop()
                deadline = loop.time() + drain_seconds
                while consumers.open_socket_count() and loop.time() < deadline:
                    await asyncio.sleep(0.1)
                await _attempt(node.stop(), "leaving the cluster")
            finally:
                reactor.stop()

        def running() -> None:
            loop = asyncio.get_event_loop()
            eventloop.bind(loop)
            eventloop.spawn(start())
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: eventloop.spawn(drain()))

        reactor.callWhenRunning(running)
        Server(
            application,
            endpoints=[f"tcp:port={port}:interface={host}"],
            signal_handlers=False,
            # A join storm can keep handshakes waiting for the database (see the Makefile).
            websocket_connect_timeout=30,
            websocket_handshake_timeout=30,
            verbosity=0,
        ).run()
        if failed:
            raise CommandError(failed[0])
        sys.stdout.flush()


async def _attempt(step, what: str) -> None:
    try:
        await step
    except Exception as exc:
        log.warning("node %s: draining without %s: %r", settings.NODE_ID, what, exc)


def redis_check(url: str) -> None:
    """Exit with a clear message, before serving anything, when Redis can't be reached."""
    from redis import Redis

    try:
        Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:
        raise CommandError(f"Can't reach Redis at REDIS_URL ({url}): {exc}") from None
