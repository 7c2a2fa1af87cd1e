"""Request bodies are limited at the server (config/body_limit.py), through a real Daphne:
a body over MAX_REQUEST_BODY is answered 413 and the connection closed before it is
buffered, whether its Content-Length says so or it arrives chunked; ordinary requests are
untouched. The Daphne log is checked for tracebacks by the fixture."""

import socket
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db(transaction=True)


def _open(base_url: str) -> socket.socket:
    url = urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    return sock


def _push(sock: socket.socket, total: int) -> int:
    """Send up to `total` body bytes; how many went before the server closed."""
    chunk = b"x" * 65536
    sent = 0
    try:
        while sent < total:
            sent += sock.send(chunk)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


def _response(sock: socket.socket) -> bytes:
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
    return data


def test_a_declared_huge_body_is_refused_before_it_is_read(live_daphne):
    sock = _open(live_daphne)
    sock.sendall(
        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 314572800\r\n\r\n"  # 300 MiB
    )
    sent = _push(sock, 64 * 1024 * 1024)
    response = _response(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 413 ")
    assert sent < 32 * 1024 * 1024  # the server hung up long before 64 MiB


def test_a_chunked_body_is_refused_once_it_passes_the_limit(live_daphne):
    sock = _open(live_daphne)
    sock.sendall(
        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    sent = 0
    try:
        while sent < 64 * 1024 * 1024:
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    response = _response(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 413 ")
    assert settings.MAX_REQUEST_BODY < sent < 32 * 1024 * 1024


def test_ordinary_requests_and_a_body_under_the_limit_still_work(live_daphne):
    sock = _open(live_daphne)
    body = b"login=x&password=y&pad=" + b"z" * (settings.MAX_REQUEST_BODY // 2)
    sock.sendall(
        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    response = _response(sock)
    sock.close()
    # Django's answer (CSRF refuses a POST without a token), not the server's 413.
    assert response.split(b"\r\n", 1)[0] in (b"HTTP/1.1 403 Forbidden", b"HTTP/1.1 200 OK")
