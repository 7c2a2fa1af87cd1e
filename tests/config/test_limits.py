"""Per-member limits on what a member creates or sends (config/limits.py): a burst of
room, group and event creations, reports and follows is stopped at the member's limit
with a clear answer (429 and the form again, or a message), and nothing more is made."""

import pytest
from django.test import Client

from accounts.models import Follow
from events.models import Event
from groups.models import Group
from rooms.models import Report, Room
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight(settings):
    settings.RATE_LIMITS = {
        "room.create": "3/h",
        "group.create": "3/h",
        "event.create": "3/h",
        "report.create": "3/h",
        "follow": "3/h",
    }


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


def test_a_burst_of_room_creations_stops_at_the_limit(tight, alice, bob):
    client = signed_in(alice)
    form = {
        "title": "Room",
        "description": "",
        "speakers": "",
        "visibility": "public",
        "max_speakers": 10,
        "group": "",
    }
    codes = [client.post("/rooms/new/", form).status_code for _ in range(6)]
    assert codes == [302, 302, 302, 429, 429, 429]
    assert Room.objects.filter(host=alice).count() == 3
    refused = client.post("/rooms/new/", form)
    assert "created many rooms in a short time" in refused.content.decode()
    assert signed_in(bob).post("/rooms/new/", form).status_code == 302  # per member


def test_a_burst_of_group_creations_stops_at_the_limit(tight, alice):
    client = signed_in(alice)
    codes = [
        client.post(
            "/groups/new/", {"name": f"Guild {i}", "slug": "", "description": ""}
        ).status_code
        for i in range(5)
    ]
    assert codes == [302, 302, 302, 429, 429]
    assert Group.objects.filter(created_by=alice).count() == 3


def test_a_burst_of_events_stops_at_the_limit(tight, alice):
    client = signed_in(alice)
    form = {
        "title": "Talk",
        "description": "",
        "starts": "2030-03-10T09:00",
        "ends": "2030-03-10T10:00",
        "timezone": "UTC",
        "group": "",
        "visibility": "public",
    }
    codes = [client.post("/events/new/", form).status_code for _ in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    assert Event.objects.filter(host=alice).count() == 3


def test_reports_and_follows_stop_at_the_limit(tight, alice):
    client = signed_in(alice)
    people = [make_member(f"Person {i}") for i in range(5)]
    for person in people:
        client.post(
            f"/report/?member={person.handle}",
            {"member": person.handle, "category": "spam", "details": "x"},
        )
        client.post(f"/in/{person.handle}/follow/")
    assert Report.objects.filter(reporter=alice).count() == 3
    assert Follow.objects.filter(follower=alice).count() == 3
    response = client.post(f"/in/{people[-1].handle}/follow/", follow=True)
    assert "followed many people in a short time" in response.content.decode()
