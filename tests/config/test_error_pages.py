"""The error pages are the site's own (templates/400|403|404|500.html), never Django's
plain ones, and say what to do next; /favicon.ico finds the icon."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_ours_with_a_way_back(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "We couldn't find that page" in page
    assert 'href="/rooms/"' in page and "site-header" in page


def test_a_forbidden_page_says_why(alice):
    client = Client()
    client.force_login(alice)

    response = client.get("/moderation/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "You can't open this page" in page
    assert "Only platform moderators can open the moderation dashboard." in page


def test_a_server_error_is_ours_and_needs_nothing_from_the_request(settings):
    settings.ROOT_URLCONF = "tests.config.boom_urls"
    client = Client(raise_request_exception=False)

    response = client.get("/boom/")

    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert "Traceback" not in page and "a bug, on purpose" not in page


def test_the_favicon_is_found(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/img/podium.svg"
