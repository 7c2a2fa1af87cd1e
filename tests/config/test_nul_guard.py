"""A NUL in a query or form value is a 400 with the site's page, never a 500 from the
database (PostgreSQL can't hold NUL in text): config/nul_guard.py."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path, params",
    [
        ("/search/", {"q": "ada\x00"}),
        ("/members/suggest/", {"q": "ad\x00"}),
        ("/report/", {"member": "x\x00y"}),
        ("/rooms/", {"x\x00": "1"}),
    ],
)
def test_a_nul_in_a_query_is_a_400(alice, path, params):
    client = Client()
    client.force_login(alice)

    response = client.get(path, params)

    assert response.status_code == 400
    assert "That request didn't make sense to us" in response.content.decode()


def test_a_nul_in_a_form_is_a_400_and_changes_nothing(alice):
    client = Client()
    client.force_login(alice)
    form = {"title": "Null\x00room", "description": "", "speakers": "", "visibility": "public"}

    response = client.post("/rooms/new/", {**form, "max_speakers": 10, "group": ""})

    assert response.status_code == 400
    assert not alice.hosted_rooms.exists()


def test_ordinary_values_pass(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/search/", {"q": "ada lovelace %_'"}).status_code == 200
