"""A real node (Daphne, PostgreSQL, Redis) under a burst of joins with hostile ones among
them: a cookie whose session key no server made (an octal-escaped NUL byte, which
PostgreSQL refuses in a query) and a room number past any primary key. The hostile sockets
are refused with their own error; every other socket of the burst joins; the node's log
stays free of tracebacks (checked when the cluster stops)."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect

from rooms.protocol import Close
from tests.cluster.clients import RoomSocket, session_cookie
from tests.conftest import make_member, make_room

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

BAD_COOKIE = 'sessionid="aaaaaaaaaa\\000"'  # as sent: Django's cookie parser unquotes \000


def _setup(alice, n: int):
    room = make_room(alice)
    return room, [session_cookie(make_member(f"Burst {i}")) for i in range(n)]


async def _refusal(node, path_room: int, cookie: str) -> tuple[dict, int | None]:
    ws = await connect(
        node.ws_url(path_room),
        origin=node.origin,
        additional_headers={"Cookie": cookie},
        proxy=None,
        open_timeout=10,
    )
    error = json.loads(await asyncio.wait_for(ws.recv(), 10))
    await asyncio.wait_for(ws.wait_closed(), 10)
    return error, ws.close_code


async def test_hostile_joins_in_a_burst_fail_alone(cluster, alice):
    (node,) = cluster.start("a")
    room, cookies = await database_sync_to_async(_setup)(alice, 20)
    good_cookie = f"sessionid={cookies[0]}"

    results = await asyncio.gather(
        *(RoomSocket.open(node, room.pk, cookie) for cookie in cookies),
        *(_refusal(node, room.pk, BAD_COOKIE) for _ in range(3)),
        _refusal(node, 10**20, good_cookie),
    )

    sockets, bad_cookies, (huge_error, huge_code) = results[:20], results[20:23], results[23]
    assert len({s.state["you"]["member"] for s in sockets}) == 20
    for error, code in bad_cookies:
        assert (error["code"], code) == ("unauthenticated", Close.UNAUTHENTICATED)
    assert (huge_error["code"], huge_code) == ("not_found", Close.NOT_FOUND)
    for sock in sockets:
        await sock.close()
