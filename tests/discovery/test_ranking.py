"""The home page's "Live now" and "Upcoming" ranked for a member, each with its reason
(config.site.ranking).

carol works at Initech in Software & Internet, follows alice, bob and Frank, and belongs to
Data Engineering. The order is: people she follows host or speak, then colleagues, then her
groups, then her industry, then the rest by popularity; within a reason, most popular first.
"""

from datetime import timedelta

import pytest

from accounts.models import Industry
from accounts.services import follow_create
from config.site.selectors import live_rooms_for_home, upcoming_events_for_home
from events.models import EventSpeaker, Visibility
from rooms.models import Room
from tests.conftest import make_event, make_group, make_member, make_room
from tests.discovery.conftest import going, listen, speak_at


@pytest.fixture
def carol(carol):
    carol.company = "Initech"
    carol.industry = Industry.SOFTWARE
    carol.save(update_fields=["company", "industry"])
    return carol


@pytest.fixture
def people(carol, alice, bob):
    """Everyone in carol's world, by first name."""
    cast = {
        "alice": alice,
        "bob": bob,
        "frank": make_member("Frank Ode"),
        "gina": make_member("Gina Lopez"),
        "helen": make_member("Helen Cho", company="initech"),
        "ivan": make_member("Ivan Petrov", company="INITECH"),
        "jack": make_member("Jack Byrne"),
        "kate": make_member("Kate Lund", industry=Industry.SOFTWARE),
        "leo": make_member("Leo Marsh"),
        "mia": make_member("Mia Wong"),
        "crowd": [make_member(f"Listener {n}") for n in range(3)],
    }
    for name in ("alice", "bob", "frank"):
        follow_create(follower=carol, followee=cast[name])
    cast["data_eng"] = make_group(cast["jack"], "Data Engineering", private=True, members=[carol])
    cast["elsewhere"] = make_group(cast["alice"], "Alice's Circle", private=True)
    return cast


def _rooms(member) -> list[tuple[str, str]]:
    return [(r.title, r.discovery_reason) for r in live_rooms_for_home(member)]


def _events(member) -> list[tuple[str, str]]:
    return [(e.title, e.discovery_reason) for e in upcoming_events_for_home(member)]


def test_it_ranks_live_rooms_by_who_is_in_them(carol, people):
    p = people
    make_room(p["alice"], title="Hosted by a friend")
    friends = make_room(p["gina"], title="Friends on stage", speakers=[p["bob"], p["frank"]])
    listen(friends, p["alice"], p["crowd"][0])
    one_friend = make_room(p["leo"], title="One friend listening")
    listen(one_friend, p["bob"])
    initech = make_room(p["helen"], title="Initech sync")
    listen(initech, p["ivan"])
    make_room(
        p["jack"],
        title="Data Engineering standup",
        group=p["data_eng"],
        visibility=Room.Visibility.GROUP,
    )
    make_room(p["kate"], title="SaaS pricing")
    big = make_room(p["leo"], title="Big AMA")
    listen(big, *p["crowd"])
    make_room(p["mia"], title="Quiet corner")
    # Never shown to carol: a group-only room of a group she isn't in (hosted by someone she
    # follows), and a room that hasn't started.
    make_room(
        p["alice"], title="Circle only", group=p["elsewhere"], visibility=Room.Visibility.GROUP
    )
    make_room(p["bob"], title="Not started yet", live=False)

    assert _rooms(carol) == [
        ("Friends on stage", "3 people you follow are here"),
        ("One friend listening", "Bob Okafor, whom you follow, is here"),
        ("Hosted by a friend", "Hosted by Alice Moreau, whom you follow"),
        ("Initech sync", "2 colleagues from Initech are here"),
        ("Data Engineering standup", "From your group Data Engineering"),
        ("SaaS pricing", "Popular in Software & Internet"),
        ("Big AMA", "3 listening"),
        ("Quiet corner", "0 listening"),
    ]


def test_it_ranks_upcoming_events_by_who_hosts_and_speaks(carol, people):
    p = people
    day = timedelta(days=1)
    make_event(p["alice"], title="Fintech futures", starts_in=1 * day)
    panel = make_event(p["gina"], title="Panel of friends", starts_in=2 * day)
    speak_at(panel, p["bob"], p["frank"])
    going(panel, p["crowd"][0])
    talk = make_event(p["leo"], title="Bob's talk", starts_in=3 * day)
    speak_at(talk, p["bob"])
    going(talk, *p["crowd"][:2])
    make_event(p["helen"], title="Initech all-hands", starts_in=4 * day)
    initech_panel = make_event(p["gina"], title="Initech panel", starts_in=5 * day)
    speak_at(initech_panel, p["helen"], p["ivan"])
    going(initech_panel, p["crowd"][0])
    make_event(
        p["jack"],
        title="Data Engineering meetup",
        group=p["data_eng"],
        visibility=Visibility.GROUP,
        starts_in=6 * day,
    )
    make_event(p["kate"], title="SaaS metrics", starts_in=7 * day)
    community = make_event(p["leo"], title="Community Q&A", starts_in=8 * day)
    going(community, *p["crowd"])
    pending = make_event(p["mia"], title="Pending invite", starts_in=9 * day)
    # An invitation frank hasn't accepted says nothing about the event.
    EventSpeaker.objects.create(event=pending, member=p["frank"])
    make_event(
        p["alice"],
        title="Circle only",
        group=p["elsewhere"],
        visibility=Visibility.GROUP,
        starts_in=day,
    )

    assert _events(carol) == [
        ("Bob's talk", "Bob Okafor, whom you follow, is speaking"),
        ("Panel of friends", "2 people you follow are speaking"),
        ("Fintech futures", "Hosted by Alice Moreau, whom you follow"),
        ("Initech panel", "2 colleagues from Initech are speaking"),
        ("Initech all-hands", "Hosted by Helen Cho, a colleague from Initech"),
        ("Data Engineering meetup", "From your group Data Engineering"),
        ("SaaS metrics", "Popular in Software & Internet"),
        ("Community Q&A", "3 going"),
        ("Pending invite", "0 going"),
    ]


def test_it_counts_a_followed_host_among_the_people_speaking(carol, people):
    p = people
    event = make_event(p["alice"], title="Friends at the mic")
    speak_at(event, p["bob"])

    assert _events(carol) == [("Friends at the mic", "2 people you follow are speaking")]


def test_it_orders_visitors_by_popularity_alone(carol, people):
    p = people
    followed = make_room(p["alice"], title="Friend's room")
    listen(followed, p["crowd"][0])
    big = make_room(p["leo"], title="Big AMA")
    listen(big, *p["crowd"])
    make_room(p["mia"], title="Quiet corner")
    make_room(p["jack"], title="Group only", group=p["data_eng"], visibility="group")
    small = make_event(p["alice"], title="Small talk")
    large = make_event(p["leo"], title="Large talk", starts_in=timedelta(days=3))
    going(small, p["crowd"][0])
    going(large, *p["crowd"])

    assert _rooms(None) == [
        ("Big AMA", "3 listening"),
        ("Friend's room", "1 listening"),
        ("Quiet corner", "0 listening"),
    ]
    assert _events(None) == [("Large talk", "3 going"), ("Small talk", "1 going")]


def test_it_does_not_match_an_empty_company_or_industry(dan, people):
    p = people
    # dan has no company and no industry; neither have gina, leo or their listeners.
    room = make_room(p["gina"], title="Open mic")
    listen(room, p["leo"])
    make_event(p["gina"], title="Open talk")

    assert _rooms(dan) == [("Open mic", "1 listening")]
    assert _events(dan) == [("Open talk", "0 going")]


def test_it_does_not_recommend_a_members_own_room_by_their_own_company(carol, people):
    p = people
    # carol hosts; helen (a colleague) listens. carol herself is not "a colleague here".
    room = make_room(carol, title="Carol's room")
    listen(room, p["helen"])
    make_event(carol, title="Carol's talk")

    assert _rooms(carol) == [("Carol's room", "1 colleague from Initech is here")]
    assert _events(carol) == [("Carol's talk", "0 going")]
