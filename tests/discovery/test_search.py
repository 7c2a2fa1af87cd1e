"""Site search, /search/?q=: people, groups, events and rooms, as the viewer may see them."""

import re

from events.models import Event, Visibility
from groups.models import Membership
from rooms import services as room_services
from rooms.models import Room
from tests.conftest import make_event, make_group, make_member, make_room


def _names(section_html: str) -> list[str]:
    """Names and titles listed in a results section, in order."""
    found = re.findall(
        r'class="(?:identity-name|card-title)"[^>]*>(?:<a [^>]*>)?([^<]+)<', section_html
    )
    return [name.strip() for name in found]


def test_it_finds_people_by_name_headline_or_company(client, alice, bob, carol, section):
    make_member("Erin Acmeson")
    make_member("Gone Acme", is_active=False)

    by_company = client.get("/search/", {"q": "acme"})
    by_headline = client.get("/search/", {"q": "head of sre"})
    by_name = client.get("/search/", {"q": "NGUYEN"})

    assert _names(section(by_company, "people-heading")) == ["Alice Moreau", "Erin Acmeson"]
    assert _names(section(by_headline, "people-heading")) == ["Bob Okafor"]
    assert _names(section(by_name, "people-heading")) == ["Carol Nguyen"]


def _described(group, description: str):
    group.description = description
    group.save(update_fields=["description"])
    return group


def test_it_lists_private_groups_by_name_only(client, alice, bob, dan, section):
    _described(make_group(alice, "SRE Guild"), "Incident response for everyone")
    _described(
        make_group(alice, "Security Council", private=True, members=[bob]),
        "Where incidents get their post-mortems",
    )
    client.force_login(dan)

    by_name = client.get("/search/", {"q": "council"})
    by_description = client.get("/search/", {"q": "incident"})

    groups = section(by_name, "groups-heading")
    assert _names(groups) == ["Security Council"]
    assert '<span class="pill">Private</span>' in groups
    assert "post-mortems" not in groups
    assert "member" not in groups
    # A private group's description is neither searched nor shown.
    assert _names(section(by_description, "groups-heading")) == ["SRE Guild"]
    assert "Incident response for everyone" in section(by_description, "groups-heading")
    assert "post-mortems" not in by_description.content.decode()


def _group_content(alice, bob):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    make_event(alice, title="Security tabletop", group=group, visibility=Visibility.GROUP)
    make_event(alice, title="Security briefing", group=group)
    make_room(alice, title="Security debrief", group=group, visibility=Room.Visibility.GROUP)
    make_room(alice, title="Security office hours", group=group)
    return group


def test_it_hides_group_only_events_and_rooms_from_non_members(
    client, alice, bob, carol, dan, section
):
    group = _group_content(alice, bob)
    Membership.objects.create(group=group, member=carol, status=Membership.Status.PENDING)

    visitor = client.get("/search/", {"q": "security"})
    client.force_login(dan)
    outsider = client.get("/search/", {"q": "security"})
    client.force_login(carol)
    pending = client.get("/search/", {"q": "security"})

    for response in (visitor, outsider, pending):
        assert _names(section(response, "events-heading")) == ["Security briefing"]
        assert _names(section(response, "rooms-heading")) == ["Security office hours"]
        page = response.content.decode()
        assert "Security tabletop" not in page
        assert "Security debrief" not in page


def test_it_shows_group_only_events_and_rooms_to_members(client, alice, bob, section):
    _group_content(alice, bob)
    client.force_login(bob)

    response = client.get("/search/", {"q": "security"})

    assert set(_names(section(response, "events-heading"))) == {
        "Security tabletop",
        "Security briefing",
    }
    assert set(_names(section(response, "rooms-heading"))) == {
        "Security debrief",
        "Security office hours",
    }


def test_it_finds_rooms_not_yet_started_but_not_ended_ones_or_past_events(client, alice, section):
    make_room(alice, title="Roadmap live")
    make_room(alice, title="Roadmap soon", live=False)
    ended = make_room(alice, title="Roadmap over")
    room_services.room_end(room_id=ended.pk, actor=alice)
    Event.objects.filter(pk=make_event(alice, title="Roadmap review").pk).update(
        status=Event.Status.ENDED
    )
    client.force_login(alice)

    response = client.get("/search/", {"q": "roadmap"})

    assert _names(section(response, "rooms-heading")) == ["Roadmap live", "Roadmap soon"]
    assert section(response, "events-heading") == ""


def test_it_says_when_nothing_matches_and_asks_when_there_is_no_query(client, alice):
    nothing = client.get("/search/", {"q": "  zebra   crossing "}).content.decode()
    empty = client.get("/search/").content.decode()

    assert "Nothing matches “zebra crossing”." in nothing
    assert "Find people by name" in empty


def test_it_has_a_search_box_in_the_header_that_keeps_the_query(client, alice):
    home = client.get("/").content.decode()
    results = client.get("/search/", {"q": "acme"}).content.decode()

    assert re.search(r'<form class="header-search" method="get" action="/search/"', home)
    assert re.search(r'id="site-q"[^>]*value=""', home)
    assert re.search(r'id="site-q"[^>]*value="acme"', results)


def test_it_takes_the_same_number_of_queries_for_5_and_50_matches(client, alice, dan, page_queries):
    group = make_group(alice, "Launch Crew")
    client.force_login(dan)

    def add(n: int) -> None:
        for i in range(n):
            member = make_member(f"Launch Person {i}")
            make_group(member, f"Launch Group {member.pk}")
            make_event(member, title=f"Launch event {member.pk}", group=group)
            make_room(member, title=f"Launch room {member.pk}", speakers=[alice])

    add(5)
    page_queries(client, "/search/?q=launch")
    with_5 = page_queries(client, "/search/?q=launch")
    add(45)
    with_50 = page_queries(client, "/search/?q=launch")

    assert with_50 == with_5
