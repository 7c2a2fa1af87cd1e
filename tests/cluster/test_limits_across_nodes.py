"""A member's rate limit is one limit across the nodes (issue 12): the counts live in the
shared cache on Redis (config/cache.py). Before, each node counted in its own memory, so
with two nodes behind a balancer a member created twice the limit."""

import http.client
import re
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async

from rooms.models import Room
from tests.cluster.clients import session_cookie
from tests.conftest import make_member

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

LIMIT = 10  # RATE_LIMITS["room.create"], 10/h


class Browser:
    """One signed-in member's cookies, sent to whichever node a request goes to."""

    def __init__(self, session: str) -> None:
        self.cookies = {"sessionid": session}
        self.csrf = ""

    def _request(self, node, method: str, path: str, body: str = "") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        text = response.read().decode()
        conn.close()
        return response.status, text

    def create_room(self, node, title: str) -> int:
        status, page = self._request(node, "GET", "/rooms/new/")
        assert status == 200, page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"csrfmiddlewaretoken": token, "title": title, "description": "", "speakers": ""}
        form |= {"visibility": "public", "max_speakers": "10", "group": ""}
        status, _ = self._request(node, "POST", "/rooms/new/", urlencode(form))
        return status


async def test_two_nodes_count_one_limit(cluster):
    a, b = cluster.start("a", "b")
    member = await database_sync_to_async(make_member)("Busy Host")
    browser = Browser(await database_sync_to_async(session_cookie)(member))

    codes = []
    for i in range(LIMIT + 2):
        node = (a, b)[i % 2]  # a balancer alternating between the nodes
        codes.append(await database_sync_to_async(browser.create_room)(node, f"Room {i}"))

    assert codes == [302] * LIMIT + [429, 429]
    made = await database_sync_to_async(Room.objects.filter(host=member).count)()
    assert made == LIMIT
