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


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        b"http://localhost:1",  # another port of an allowed host
        b"https://localhost:8000",  # another scheme
        b"http://localhost",  # port 80, not the page's 8000
        b"null",
        b"ws://localhost:8000",
    ],
)
async def test_it_refuses_an_allowed_host_on_another_port_or_scheme(origin):
    assert await _connect([(b"origin", origin), (b"host", b"localhost:8000")]) is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_behind_a_tls_proxy_the_origin_is_https(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = [(b"host", b"localhost"), (b"x-forwarded-proto", b"https")]
    communicator = WebsocketCommunicator(
        application, "/ws/nowhere/", headers=[(b"origin", b"https://localhost"), *proxied]
    )
    with pytest.raises(ValueError, match="No route found"):
        await communicator.connect()  # past the origin check
    assert await _connect([(b"origin", b"http://localhost"), *proxied]) is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_trusted_origin_passes(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://podium.example"]
    communicator = WebsocketCommunicator(
        application,
        "/ws/nowhere/",
        headers=[(b"origin", b"https://podium.example"), (b"host", b"localhost:8000")],
    )
    with pytest.raises(ValueError, match="No route found"):
        await communicator.connect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_host_outside_allowed_hosts_is_refused_even_same_origin():
    same_origin = [(b"origin", b"http://evil.example"), (b"host", b"evil.example")]
    assert await _connect(same_origin) is False
