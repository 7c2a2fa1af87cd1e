"""/healthz: what the load balancer asks each node (config/health.py). The database being
away is tested on a real node in tests/cluster/test_database_outage.py."""

import pytest

from rooms.cluster import agent as cluster

pytestmark = pytest.mark.django_db


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
    assert response["Cache-Control"] == "no-store"


def test_it_says_draining_with_a_503_so_the_balancer_sends_nothing_new(client, draining):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.content == b"draining\n"


def test_it_answers_503_without_details_when_the_channel_layers_redis_is_away(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.content == b"unavailable\n"


def test_it_answers_the_plain_http_check_when_https_redirects_everything_else(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301
