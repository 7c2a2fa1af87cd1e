"""The room page's moderator panel lists the reports filed in the room, but never those
about the person viewing it (issue 12, finding 5): a reported host or co-host must not
read the report's words, which can reveal who filed it."""

import pytest
from django.test import Client

from rooms.models import Participant, Report, Role
from tests.conftest import make_room

pytestmark = pytest.mark.django_db


def page(member, room) -> str:
    client = Client()
    client.force_login(member)
    response = client.get(room.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def test_a_reported_host_does_not_read_reports_about_them_or_their_room(alice, bob, carol):
    room = make_room(alice)
    Report.objects.create(
        reporter=bob,
        target_member=alice,
        room=room,
        category="harassment",
        details="Said something awful at 10:02 while I was asking my question.",
    )
    Report.objects.create(
        reporter=bob, room=room, category="spam", details="The whole room is a sales pitch."
    )
    Report.objects.create(
        reporter=bob, target_member=carol, room=room, category="harassment", details="Rude."
    )
    html = page(alice, room)
    assert "Moderator panel" in html
    assert "Rude." in html  # a report about someone else: hers to act on
    assert "10:02" not in html
    assert "sales pitch" not in html
    assert "reports in this room (1)" in html


def test_a_reported_room_moderator_does_not_read_the_report_about_them(alice, bob, carol, dan):
    room = make_room(alice)
    Participant.objects.update_or_create(room=room, member=carol, defaults={"role": Role.MODERATOR})
    Report.objects.create(
        reporter=bob,
        target_member=carol,
        room=room,
        category="harassment",
        details="Carol muted me three times for no reason.",
    )
    Report.objects.create(
        reporter=dan, room=room, category="spam", details="The whole room is a sales pitch."
    )
    assert "three times" not in page(carol, room)
    assert "sales pitch" in page(carol, room)  # about the room, not about her
    host_view = page(alice, room)
    assert "three times" in host_view  # the host can act on it
