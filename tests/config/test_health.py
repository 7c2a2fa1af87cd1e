"""/healthz: what the load balancer asks each node (config/health.py)."""

import pytest

from rooms.cluster import agent as cluster


class _Draining:
    draining = True


@pytest.fixture
def draining():
    cluster.set_current(_Draining())
    yield
    cluster.set_current(None)


def test_it_says_ok_while_serving(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_it_says_draining_with_a_503_so_the_balancer_sends_nothing_new(client, draining):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.content == b"draining\n"


@pytest.mark.django_db
def test_it_answers_the_plain_http_check_when_https_redirects_everything_else(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301
