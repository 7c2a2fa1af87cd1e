"""The home page, /: "Live now" and "Upcoming", ranked for whoever is looking."""

import itertools

from accounts.models import Industry
from accounts.services import follow_create
from config.site.selectors import HOME_EVENTS, HOME_ROOMS
from events.models import Visibility
from rooms.models import Room
from tests.conftest import make_event, make_group, make_member, make_room
from tests.discovery.conftest import cards, going, listen, speak_at


def test_it_explains_each_card_in_ranked_order(client, alice, bob, carol, dan):
    follow_create(follower=carol, followee=alice)
    group = make_group(dan, "Data Engineering", members=[carol])
    popular = make_room(dan, title="Popular room")
    listen(popular, bob, make_member())
    make_room(alice, title="Alice's room")
    make_room(dan, title="Group room", group=group)
    make_event(dan, title="Group event", group=group)
    talk = make_event(bob, title="Bob's event")
    speak_at(talk, alice)
    client.force_login(carol)

    page = client.get("/").content.decode()

    assert cards(page, "room") == [
        ("Alice's room", "Hosted by Alice Moreau, whom you follow"),
        ("Group room", "From your group Data Engineering"),
        ("Popular room", "2 listening"),
    ]
    assert cards(page, "event") == [
        ("Bob's event", "Alice Moreau, whom you follow, is speaking"),
        ("Group event", "From your group Data Engineering"),
    ]
    assert "Ranked for you" in page


def test_it_shows_visitors_the_most_popular_first(client, alice, bob, carol, dan):
    make_room(alice, title="Quiet room")
    busy = make_room(bob, title="Busy room")
    listen(busy, carol, dan)
    small = make_event(alice, title="Small event")
    big = make_event(bob, title="Big event")
    going(big, carol, dan)
    going(small, carol)

    page = client.get("/").content.decode()

    assert cards(page, "room") == [("Busy room", "2 listening"), ("Quiet room", "0 listening")]
    assert cards(page, "event") == [("Big event", "2 going"), ("Small event", "1 going")]
    assert "Ranked for you" not in page
    assert "Join Podium" in page


def test_it_hides_group_only_rooms_and_events_from_non_members(client, alice, bob, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    make_room(alice, title="Red team debrief", group=group, visibility=Room.Visibility.GROUP)
    make_event(alice, title="Zero-day tabletop", group=group, visibility=Visibility.GROUP)
    make_room(alice, title="Open threat briefing", group=group)

    anonymous = client.get("/").content.decode()
    client.force_login(dan)
    outsider = client.get("/").content.decode()
    client.force_login(bob)
    member = client.get("/").content.decode()

    for page in (anonymous, outsider):
        assert "Open threat briefing" in page
        assert "Red team debrief" not in page
        assert "Zero-day tabletop" not in page
    # Both are from bob's group; the one that went live last comes first.
    assert cards(member, "room") == [
        ("Open threat briefing", "From your group Security Council"),
        ("Red team debrief", "From your group Security Council"),
    ]
    assert "Zero-day tabletop" in member


_names = itertools.count(1)


def _fill(viewer, *, rooms: int, events: int, followed, colleague, group) -> None:
    """Rooms and events of every kind of reason, each with people on stage and listening."""
    for i in range(rooms):
        host = (followed, colleague, make_member(industry=Industry.SOFTWARE), make_member())[i % 4]
        room = make_room(
            host,
            title=f"Room {next(_names)}",
            speakers=[make_member()],
            group=group if i % 3 == 0 else None,
        )
        listen(room, make_member())
    for i in range(events):
        host = (followed, colleague, make_member())[i % 3]
        event = make_event(host, title=f"Event {next(_names)}", group=group if i % 2 else None)
        speak_at(event, make_member())
        going(event, make_member())


def test_it_takes_the_same_number_of_queries_for_5_and_50_cards(client, carol, page_queries):
    carol.company, carol.industry = "Initech", Industry.SOFTWARE
    carol.save(update_fields=["company", "industry"])
    followed = make_member("Frank Ode")
    follow_create(follower=carol, followee=followed)
    colleague = make_member("Helen Cho", company="initech")
    group = make_group(make_member(), "Data Engineering", members=[carol])
    kinds = {"followed": followed, "colleague": colleague, "group": group}

    def count() -> tuple[int, int, int]:
        """Queries for carol, queries for a visitor, and cards shown to carol."""
        client.force_login(carol)
        page_queries(client, "/")  # warm up per-process caches
        as_carol = page_queries(client, "/")
        page = client.get("/").content.decode()
        client.logout()
        as_visitor = page_queries(client, "/")
        return as_carol, as_visitor, len(cards(page, "room")) + len(cards(page, "event"))

    _fill(carol, rooms=3, events=2, **kinds)
    carol_5, visitor_5, shown = count()
    assert shown == 5

    _fill(carol, rooms=HOME_ROOMS - 3, events=HOME_EVENTS - 2, **kinds)
    carol_50, visitor_50, shown = count()
    assert shown == 50

    assert carol_50 == carol_5
    assert visitor_50 == visitor_5
