"""Link previews (config/site/previews.py, templates/includes/og.html): a shared link to a
public room, event, group or profile shows its title, host and time to the signed-out
crawler that fetches it; anything group-only or of a private group shows only the site's
generic preview, and says nothing of itself."""

import html
import re

import pytest
from django.test import Client

from rooms.models import Room
from tests.conftest import make_event, make_group, make_member, make_room

pytestmark = pytest.mark.django_db

GENERIC = "Podium"


def _og(page: str) -> dict[str, str]:
    tags = re.findall(
        r'<meta (?:property|name)="((?:og|twitter):[a-z:_]+)" content="([^"]*)">', page
    )
    return {name: html.unescape(value) for name, value in tags}


def _crawl(path: str) -> tuple[int, dict[str, str], str]:
    response = Client().get(path)  # signed out, as a link-preview crawler is
    page = response.content.decode()
    return response.status_code, _og(page), page


def test_a_public_room_shows_its_title_host_and_status(alice):
    room = make_room(alice, title="Sharding Postgres", description="Lessons from ten shards.")

    status, og, _ = _crawl(f"/rooms/{room.pk}/")

    assert status == 200
    assert og["og:title"] == "Sharding Postgres"
    assert og["og:description"].startswith("Live now on Podium · hosted by Alice Moreau")
    assert "Principal engineer · Acme" in og["og:description"]
    assert "Lessons from ten shards." in og["og:description"]
    assert og["og:url"] == f"http://testserver/rooms/{room.pk}/"
    assert og["og:image"].endswith("/static/img/podium-card.png")
    assert og["twitter:card"] == "summary_large_image"


@pytest.mark.parametrize("private", [False, True])
def test_a_group_room_says_nothing_of_itself(alice, private):
    group = make_group(alice, private=private)
    room = make_room(
        alice, title="Layoffs, off the record", group=group, visibility=Room.Visibility.GROUP
    )

    status, og, page = _crawl(f"/rooms/{room.pk}/")

    assert status == 302
    assert "Layoffs" not in page
    # And a member of the group, signed in, gets the generic preview in the page too.
    client = Client()
    client.force_login(alice)
    og = _og(client.get(f"/rooms/{room.pk}/").content.decode())
    assert og["og:title"] == GENERIC and "Layoffs" not in str(og)


def test_a_public_room_of_a_private_group_says_nothing_of_itself(alice):
    group = make_group(alice, private=True)
    room = make_room(alice, title="Quiet plans", group=group)

    status, _, page = _crawl(f"/rooms/{room.pk}/")

    assert status == 302 and "Quiet plans" not in page


def test_a_public_event_shows_its_time_and_host(alice):
    event = make_event(alice, title="Platform day", description="Talks on our platform.")

    status, og, _ = _crawl(f"/events/{event.pk}/")

    assert status == 200
    assert og["og:title"] == "Platform day"
    assert "hosted by Alice Moreau" in og["og:description"]
    assert event.starts_at.strftime("%d %b %Y") in og["og:description"]


def test_a_group_only_event_is_not_found_by_a_crawler(alice):
    group = make_group(alice)
    event = make_event(alice, title="Members' AMA", group=group, visibility="group")

    status, _, page = _crawl(f"/events/{event.pk}/")

    assert status == 404 and "Members' AMA" not in page


def test_a_public_group_shows_its_description_and_a_private_one_only_the_site(alice):
    public = make_group(alice, name="Rustaceans")
    public.description = "People who write Rust at work."
    public.save()
    private = make_group(alice, name="Hiring managers", private=True)
    private.description = "Who is hiring whom, quietly."
    private.save()

    _, og, _ = _crawl(public.get_absolute_url())
    assert (og["og:title"], og["og:description"]) == (
        "Rustaceans",
        "People who write Rust at work.",
    )
    _, og, _ = _crawl(private.get_absolute_url())
    assert og["og:title"] == GENERIC and "quietly" not in str(og)


def test_a_profile_shows_name_headline_and_company():
    member = make_member("Dana Chen", headline="SRE lead", company="Globex")

    status, og, _ = _crawl(member.get_absolute_url())

    assert status == 200
    assert og["og:title"] == "Dana Chen" and og["og:type"] == "profile"
    assert og["og:description"].startswith("SRE lead · Globex")


def test_other_pages_carry_the_generic_preview(client):
    _, og, _ = _crawl("/events/")
    assert og["og:title"] == GENERIC and og["og:site_name"] == "Podium"
