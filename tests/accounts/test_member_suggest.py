"""/members/suggest/: what the speaker and co-host fields suggest while typing. Only
members the actor may invite: never the actor, a suspended or inactive member, or one
either of them blocked; with a group, only its members (config/site/views.member_suggest,
accounts.selectors.members_to_suggest)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import block_create
from tests.conftest import make_group, make_member

pytestmark = pytest.mark.django_db


def _client(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [m["name"] for m in response.json()["members"]]


def test_it_matches_names_and_handles_and_shows_identity(alice):
    ada = make_member(
        "Ada Lovelace", headline="Analyst", company="Engines", verified_domain="engines.dev"
    )
    make_member("Adam Smith")
    make_member("Grace Hopper")
    client = _client(alice)

    response = client.get("/members/suggest/", {"q": "ada"})

    assert _names(response) == ["Ada Lovelace", "Adam Smith"]
    first = response.json()["members"][0]
    assert first == {
        "handle": ada.handle,
        "name": "Ada Lovelace",
        "headline": "Analyst",
        "company": "Engines",
        "verified_domain": "engines.dev",
        "initials": "AL",
        "avatar": "",
    }
    assert _names(client.get("/members/suggest/", {"q": ada.handle[:5]})) == ["Ada Lovelace"]


def test_it_never_suggests_the_actor_the_suspended_the_inactive_or_anyone_blocked(alice):
    make_member("Ada Visible")
    make_member("Ada Suspended", suspended_until=timezone.now() + timedelta(days=1))
    make_member("Ada Gone", is_active=False)
    blocked_by_alice = make_member("Ada Blockedbyalice")
    blocked_alice = make_member("Ada Blockedalice")
    block_create(blocker=alice, blocked=blocked_by_alice)
    block_create(blocker=blocked_alice, blocked=alice)
    alice.display_name = "Ada Alice"
    alice.save()

    assert _names(_client(alice).get("/members/suggest/", {"q": "ada"})) == ["Ada Visible"]


def test_with_a_group_only_its_members_and_only_for_its_members(alice, bob, carol):
    inside = make_member("Ada Inside")
    make_member("Ada Outside")
    group = make_group(alice, members=[inside, bob])

    assert _names(_client(alice).get("/members/suggest/", {"q": "ada", "group": group.pk})) == [
        "Ada Inside"
    ]
    refused = _client(carol).get("/members/suggest/", {"q": "ada", "group": group.pk})
    assert refused.status_code == 403
    assert _client(alice).get("/members/suggest/", {"q": "ada", "group": "x1"}).status_code == 403


def test_short_long_and_odd_queries_answer_calmly(alice):
    make_member("Ada Lovelace")
    client = _client(alice)

    assert _names(client.get("/members/suggest/", {"q": "a"})) == []
    assert _names(client.get("/members/suggest/")) == []
    assert _names(client.get("/members/suggest/", {"q": "a" * 5000})) == []
    assert _names(client.get("/members/suggest/", {"q": "%_\\'"})) == []
    assert client.get("/members/suggest/", {"q": "ad\x00a"}).status_code == 400


def test_it_needs_a_signed_in_member(client):
    response = client.get("/members/suggest/", {"q": "ada"})

    assert response.status_code == 403
    assert response.json()["error"] == "Sign in to search for members."


def test_it_is_rate_limited_per_member(alice, bob, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "member.suggest": "3/h"}
    client = _client(alice)

    codes = [client.get("/members/suggest/", {"q": "bo"}).status_code for _ in range(5)]

    assert codes == [200, 200, 200, 429, 429]
    assert _client(bob).get("/members/suggest/", {"q": "al"}).status_code == 200


def test_it_costs_one_query_for_the_members_however_many_match(alice, django_assert_num_queries):
    for i in range(30):
        make_member(f"Ada Number{i}")
    client = _client(alice)
    client.get("/members/suggest/", {"q": "warm"})  # the session and the member, cached after

    with django_assert_num_queries(4):  # session, member, warnings (middleware), suggestions
        assert len(_names(client.get("/members/suggest/", {"q": "ada"}))) == 8
