"""How an ended room went, on its page, for its host and staff only
(rooms.recordings.analytics): duration, listeners, talk time and the audience by industry in
groups of at least five."""

import html
import re
from datetime import timedelta

import pytest

from accounts.models import Industry
from rooms.models import Participant, Role, Room
from rooms.recordings.analytics import industry_groups, room_analytics
from tests.conftest import make_member
from tests.rooms.replays import (
    ended_room,
    listened,
    recording_of,
    recordings_root,  # noqa: F401 - keeps replay files under tmp_path
)


def _audience(room, industries: dict[str, int]) -> None:
    for industry, count in industries.items():
        for _ in range(count):
            listened(room, make_member(industry=industry))


def _analytics(client, room) -> str:
    page = client.get(f"/rooms/{room.pk}/").content.decode()
    section = re.search(r"<section class=\"section room-analytics\".*?</section>", page, re.S)
    return (
        ""
        if section is None
        else " ".join(html.unescape(re.sub(r"<[^>]+>", " ", section[0])).split())
    )


@pytest.fixture
def panel(alice, bob):
    """Alice's 72-minute room: Bob spoke, seven listeners came (one never joined)."""
    room = ended_room(alice, speakers=[bob], length=timedelta(minutes=72))
    Room.objects.filter(pk=room.pk).update(peak_audience=6)
    room.refresh_from_db()
    _audience(room, {Industry.SOFTWARE: 5, Industry.LEGAL: 2})
    Participant.objects.create(room=room, member=make_member(industry=Industry.LEGAL))  # never came
    listened(room, bob, role=Role.SPEAKER)
    listened(room, alice, role=Role.HOST)
    recording_of(
        room,
        tracks=[
            (alice, 0, 60_000, 30_000),
            (bob, 0, 60_000, 200_000),
            (alice, 60_000, 60_000, 10_000),
        ],
    )
    return room


def test_it_counts_what_happened(panel, alice, bob):
    figures = room_analytics(panel, panel.recording)

    assert figures.duration == timedelta(minutes=72)
    assert figures.duration_text == "1 h 12 min"
    assert figures.peak_listeners == 6
    assert figures.unique_listeners == 7  # not the one who never joined, nor the stage
    assert [(t.member, t.talk_ms, t.share) for t in figures.talk] == [
        (bob, 200_000, 83),
        (alice, 40_000, 17),
    ]
    assert [t.talk_text for t in figures.talk] == ["3 min 20 s", "40 s"]
    assert [(g.label, g.count) for g in figures.industries] == [("Software & Internet", 5)]


def test_the_host_sees_the_figures(client, alice, panel):
    client.force_login(alice)

    shown = _analytics(client, panel)

    assert "1 h 12 min Duration" in shown
    assert "6 Peak listeners" in shown and "7 Listeners in all" in shown
    assert "Bob Okafor 3 min 20 s 83%" in shown and "Alice Moreau 40 s 17%" in shown
    assert "Software & Internet 5 71%" in shown
    assert "Legal" not in shown and "Other 2" not in shown


def test_staff_see_them_too(client, staff, panel):
    client.force_login(staff)

    assert "Peak listeners" in _analytics(client, panel)


@pytest.mark.parametrize("who", ["bob", "carol", "mod"])
def test_nobody_else_sees_them(client, request, panel, who):
    member = request.getfixturevalue(who)
    client.force_login(member)

    response = client.get(f"/rooms/{panel.pk}/")

    assert response.status_code == 200
    assert _analytics(client, panel) == ""
    assert "Peak listeners" not in response.content.decode()


def test_a_room_without_a_recording_has_figures_but_no_talk_time(client, alice):
    room = ended_room(alice, length=timedelta(seconds=40))
    _audience(room, {Industry.FINANCE: 2})
    client.force_login(alice)

    shown = _analytics(client, room)

    assert "under a minute Duration" in shown and "2 Listeners in all" in shown
    assert "Talk time" not in shown
    assert "Too few listeners to show." in shown


# --- The industry groups ----------------------------------------------------------------------


def test_four_listeners_are_too_few_to_show():
    assert industry_groups({Industry.SOFTWARE: 4}) is None
    assert industry_groups({Industry.SOFTWARE: 2, "": 1, Industry.LEGAL: 1}) is None
    assert industry_groups({}) is None


def test_five_of_one_industry_are_shown():
    assert [(g.label, g.count, g.share) for g in industry_groups({Industry.SOFTWARE: 5})] == [
        ("Software & Internet", 5, 100)
    ]


def test_small_industries_are_counted_together_as_other():
    groups = industry_groups(
        {Industry.FINANCE: 6, Industry.SOFTWARE: 9, Industry.LEGAL: 2, Industry.DESIGN: 1, "": 2}
    )

    assert [(g.label, g.count) for g in groups] == [
        ("Software & Internet", 9),
        ("Financial Services", 6),
        ("Other", 5),
    ]


def test_other_is_left_out_while_it_is_smaller_than_five():
    groups = industry_groups({Industry.SOFTWARE: 5, Industry.LEGAL: 4})

    assert [(g.label, g.count) for g in groups] == [("Software & Internet", 5)]


def test_the_industry_called_other_is_merged_too():
    groups = industry_groups({Industry.OTHER: 3, Industry.MEDIA: 2, Industry.ENERGY: 5})

    assert [(g.label, g.count) for g in groups] == [("Energy & Utilities", 5), ("Other", 5)]


def test_five_listeners_of_mixed_industries_show_as_other_only(client, alice):
    room = ended_room(alice)
    _audience(room, {Industry.SOFTWARE: 2, Industry.LEGAL: 2, Industry.RETAIL: 1})
    client.force_login(alice)

    shown = _analytics(client, room)

    assert "Other 5 100%" in shown
    assert "Legal" not in shown and "Software" not in shown and "Retail" not in shown
