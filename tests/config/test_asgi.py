"""config/asgi.py: the one application Daphne serves, HTTP and websockets."""

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

from config.asgi import application


async def _connect(headers: list[tuple[bytes, bytes]]) -> bool:
    communicator = WebsocketCommunicator(application, "/ws/rooms/1/", headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_refuses_a_websocket_from_a_foreign_origin():
    assert await _connect([(b"origin", b"http://evil.example"), (b"host", b"localhost")]) is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_refuses_a_websocket_from_a_lookalike_origin():
    origin = b"http://localhost.evil.example"
    assert await _connect([(b"origin", origin), (b"host", b"localhost")]) is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_refuses_a_websocket_without_an_origin():
    assert await _connect([(b"host", b"localhost")]) is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_serves_pages_over_http():
    communicator = HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"localhost")]
    )

    response = await communicator.get_response()

    assert response["status"] == 200
    assert b"Sign In" in response["body"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_lets_an_allowed_origin_through_to_the_router():
    # Past the origin check, the router has the say: an unknown path is its error, which
    # shows that the refusals above come from the origin check, not from routing.
    communicator = WebsocketCommunicator(
        application,
        "/ws/nowhere/",
        headers=[(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")],
    )

    with pytest.raises(ValueError, match="No route found for path 'ws/nowhere/'"):
        await communicator.connect()
