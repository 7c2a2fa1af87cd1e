"""A group's page: /groups/<slug>/."""

import re

from events.models import Visibility
from groups.models import Membership
from rooms.models import Room
from tests.conftest import make_event, make_group, make_member, make_room


def _people(section_html: str) -> dict[str, str]:
    """Each person listed in a section, by name, with the text of their row."""
    rows = re.findall(r'<li class="person">(.*?)</li>', section_html, re.S)
    people = {}
    for row in rows:
        name = re.search(r'class="identity-name"[^>]*>([^<]+)<', row)[1]
        people[name] = row
    return people


def test_it_shows_members_with_their_role_labels(client, alice, bob, carol, section):
    group = make_group(alice, "Platform Engineering", members=[carol])
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)

    response = client.get(f"/groups/{group.slug}/")

    assert response.status_code == 200
    people = _people(section(response, "members-heading"))
    assert set(people) == {"Alice Moreau", "Bob Okafor", "Carol Nguyen"}
    assert '<span class="badge badge-role">Owner</span>' in people["Alice Moreau"]
    assert '<span class="badge badge-role">Manager</span>' in people["Bob Okafor"]
    assert '<span class="badge badge-role">Member</span>' in people["Carol Nguyen"]
    assert "3 members" in response.content.decode()


def test_it_lists_the_owner_first_then_managers_then_members(client, alice, bob, carol, section):
    group = make_group(alice, "Platform Engineering", members=[carol])
    Membership.objects.create(group=group, member=bob, role=Membership.Role.MANAGER)

    response = client.get(f"/groups/{group.slug}/")

    assert list(_people(section(response, "members-heading"))) == [
        "Alice Moreau",
        "Bob Okafor",
        "Carol Nguyen",
    ]


def test_it_shows_a_public_groups_rooms_and_events_to_anyone(client, alice, bob):
    group = make_group(alice, "Platform Engineering", members=[bob])
    make_event(alice, title="Kubernetes office hours", group=group)
    make_room(alice, title="Incident retro", group=group)

    page = client.get(f"/groups/{group.slug}/").content.decode()

    assert "Kubernetes office hours" in page
    assert "Incident retro" in page
    assert "Bob Okafor" in page
    assert "Sign in to join" in page


def _private_group_with_content(alice, bob):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    make_event(alice, title="Zero-day tabletop", group=group, visibility=Visibility.GROUP)
    make_event(alice, title="Public threat briefing", group=group)
    make_room(alice, title="Red team debrief", group=group, visibility=Room.Visibility.GROUP)
    return group


def test_it_hides_a_private_groups_content_from_outsiders(client, alice, bob, dan):
    group = _private_group_with_content(alice, bob)
    client.force_login(dan)

    response = client.get(f"/groups/{group.slug}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Security Council" in page
    assert "This group is private." in page
    assert "Bob Okafor" not in page
    assert "Alice Moreau" not in page
    assert "Zero-day tabletop" not in page
    assert "Public threat briefing" not in page
    assert "Red team debrief" not in page
    assert "Request to join" in page


def test_it_hides_a_private_groups_content_from_anonymous_visitors(client, alice, bob):
    group = _private_group_with_content(alice, bob)

    page = client.get(f"/groups/{group.slug}/").content.decode()

    assert "This group is private." in page
    assert "Bob Okafor" not in page
    assert "Zero-day tabletop" not in page
    assert "Red team debrief" not in page


def test_it_hides_a_private_groups_content_from_a_pending_member(client, alice, bob, carol):
    group = _private_group_with_content(alice, bob)
    Membership.objects.create(group=group, member=carol, status=Membership.Status.PENDING)
    client.force_login(carol)

    page = client.get(f"/groups/{group.slug}/").content.decode()

    assert "Request pending" in page
    assert "Bob Okafor" not in page
    assert "Zero-day tabletop" not in page


def test_it_shows_a_private_groups_content_to_members(client, alice, bob, section):
    group = _private_group_with_content(alice, bob)
    client.force_login(bob)

    response = client.get(f"/groups/{group.slug}/")

    page = response.content.decode()
    assert "This group is private." not in page
    assert set(_people(section(response, "members-heading"))) == {"Alice Moreau", "Bob Okafor"}
    assert "Zero-day tabletop" in section(response, "events-heading")
    assert "Public threat briefing" in section(response, "events-heading")
    assert "Red team debrief" in section(response, "rooms-heading")
    assert "Leave group" in page


def test_it_lists_only_live_rooms(client, alice):
    group = make_group(alice, "Platform Engineering")
    make_room(alice, title="Live now room", group=group)
    make_room(alice, title="Not yet room", group=group, live=False)

    rooms = client.get(f"/groups/{group.slug}/").content.decode()

    assert "Live now room" in rooms
    assert "Not yet room" not in rooms


def test_it_404s_for_an_unknown_group(client, db):
    assert client.get("/groups/no-such-group/").status_code == 404


def test_it_takes_the_same_number_of_queries_for_5_and_50_members(client, alice, page_queries):
    group = make_group(alice, "Platform Engineering")
    make_event(alice, title="Kubernetes office hours", group=group)
    make_room(alice, title="Incident retro", group=group)
    Membership.objects.create(group=group, member=make_member(), role=Membership.Role.MANAGER)
    for _ in range(3):
        Membership.objects.create(group=group, member=make_member())
    Membership.objects.create(group=group, member=make_member(), status=Membership.Status.PENDING)
    client.force_login(alice)  # the owner also sees join requests
    url = f"/groups/{group.slug}/"
    page_queries(client, url)
    with_5 = page_queries(client, url)

    for _ in range(45):
        Membership.objects.create(group=group, member=make_member())
    for _ in range(10):
        Membership.objects.create(
            group=group, member=make_member(), status=Membership.Status.PENDING
        )
    with_50 = page_queries(client, url)

    assert group.memberships.filter(status=Membership.Status.ACTIVE).count() == 50
    assert with_50 == with_5
