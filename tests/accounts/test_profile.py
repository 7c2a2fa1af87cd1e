"""The profile page, /in/<handle>/."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Block, Follow, Industry, Member
from events.models import RSVP
from rooms.models import Participant, Role
from tests.conftest import make_event, make_group, make_member, make_room, verify_email


def _page(client, member: Member) -> str:
    response = client.get(f"/in/{member.handle}/")
    assert response.status_code == 200
    return response.content.decode()


def _follow_n(member: Member, n: int) -> None:
    followers = [make_member() for _ in range(n)]
    Follow.objects.bulk_create(Follow(follower=f, followee=member) for f in followers)
    Follow.objects.bulk_create(Follow(follower=member, followee=f) for f in followers)


def test_it_shows_the_professional_identity(client, alice):
    alice.industry = Industry.SOFTWARE
    alice.location = "Lyon, France"
    alice.about = "I build payment rails."
    alice.save()
    verify_email(alice, "alice@acme.dev", primary=True)

    page = _page(client, alice)

    assert "<h1>Alice Moreau</h1>" in page
    assert "Principal engineer" in page
    assert "Acme · Software &amp; Internet · Lyon, France" in page
    assert "Verified · acme.dev" in page
    assert "I build payment rails." in page


def test_it_shows_no_badge_without_a_verified_work_address(client, dan):
    verify_email(dan, "dan@gmail.com", primary=True)

    assert "Verified ·" not in _page(client, dan)


def test_it_shows_follower_and_following_counts_and_faces(client, alice, bob, carol, dan):
    Follow.objects.create(follower=bob, followee=alice)
    Follow.objects.create(follower=carol, followee=alice)
    Follow.objects.create(follower=alice, followee=dan)

    page = _page(client, alice)

    assert "<strong>2</strong> followers" in page
    assert "<strong>1</strong> following" in page
    followers = page[page.index('id="followers-heading"') : page.index('id="following-heading"')]
    following = page[page.index('id="following-heading"') :]
    assert 'title="Bob Okafor"' in followers
    assert 'title="Carol Nguyen"' in followers
    assert 'title="Dan Silva"' not in followers
    assert 'title="Dan Silva"' in following


def test_it_says_when_nobody_follows(client, carol):
    page = _page(client, carol)

    assert "<strong>0</strong> followers" in page
    assert "No followers yet." in page
    assert "Not following anyone yet." in page


def test_it_leaves_inactive_followers_out(client, alice, bob):
    Follow.objects.create(follower=bob, followee=alice)
    Member.objects.filter(pk=bob.pk).update(is_active=False)

    page = _page(client, alice)

    assert "<strong>0</strong> followers" in page
    assert "Bob Okafor" not in page


def test_it_lists_public_groups_to_anyone(client, alice):
    make_group(alice, "Payments Guild")

    assert "Payments Guild" in _page(client, alice)


def test_it_hides_a_private_group_from_a_viewer_outside_it(client, alice, bob, dan):
    make_group(alice, "Acme Founders", private=True, members=[bob])

    client.force_login(dan)
    assert "Acme Founders" not in _page(client, alice)
    client.logout()
    assert "Acme Founders" not in _page(client, alice)


def test_it_shows_a_private_group_to_its_members_and_to_the_member(client, alice, bob):
    make_group(alice, "Acme Founders", private=True, members=[bob])

    client.force_login(bob)
    assert "Acme Founders" in _page(client, alice)
    client.force_login(alice)
    assert "Acme Founders" in _page(client, alice)


def test_it_lists_upcoming_events_hosted_and_attended(client, alice, bob):
    make_event(alice, title="Scaling ledgers")
    talk = make_event(bob, title="SRE office hours")
    RSVP.objects.create(event=talk, member=alice)

    page = _page(client, alice)

    assert "Scaling ledgers" in page
    assert "SRE office hours" in page


def test_it_lists_rooms_on_whose_stage_the_member_is(client, alice, bob):
    make_room(alice, title="Ledger design AMA")
    make_room(bob, speakers=[alice], title="On-call stories")

    page = _page(client, alice)

    assert "Ledger design AMA" in page
    assert "On-call stories" in page


def test_it_leaves_out_rooms_where_the_member_only_listens(client, alice, bob):
    room = make_room(bob, title="On-call stories")
    Participant.objects.create(room=room, member=alice, role=Role.LISTENER, is_present=True)

    assert "On-call stories" not in _page(client, alice)


def test_it_is_404_for_an_unknown_handle(client, db):
    assert client.get("/in/nobody-here/").status_code == 404


def test_it_is_404_for_a_deactivated_member(client, alice):
    Member.objects.filter(pk=alice.pk).update(is_active=False)

    assert client.get(f"/in/{alice.handle}/").status_code == 404


def test_it_offers_follow_and_block_to_another_member(client, alice, bob):
    client.force_login(bob)

    page = _page(client, alice)

    assert f'action="/in/{alice.handle}/follow/"' in page
    assert f'action="/in/{alice.handle}/block/"' in page
    assert "Edit profile</a>" not in page.split('class="profile-actions"')[1]


def test_it_offers_unfollow_when_already_following(client, alice, bob):
    Follow.objects.create(follower=bob, followee=alice)
    client.force_login(bob)

    assert f'action="/in/{alice.handle}/unfollow/"' in _page(client, alice)


def test_it_offers_only_unblock_when_blocking(client, alice, bob):
    Block.objects.create(blocker=bob, blocked=alice)
    client.force_login(bob)

    page = _page(client, alice)

    assert f'action="/in/{alice.handle}/unblock/"' in page
    assert f'action="/in/{alice.handle}/follow/"' not in page


def test_it_offers_no_follow_to_a_blocked_viewer(client, alice, bob):
    Block.objects.create(blocker=alice, blocked=bob)
    client.force_login(bob)

    assert f'action="/in/{alice.handle}/follow/"' not in _page(client, alice)


def test_it_offers_edit_to_the_member_themself(client, alice):
    client.force_login(alice)

    page = _page(client, alice)

    assert 'href="/settings/profile/"' in page
    assert f'action="/in/{alice.handle}/follow/"' not in page


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "member"])
def test_it_runs_the_same_queries_for_5_and_50_followers(client, alice, bob, signed_in):
    if signed_in:
        client.force_login(bob)
    carol = make_member("Carol Nguyen")
    _follow_n(alice, 5)
    _follow_n(carol, 50)
    _page(client, alice)  # warm up: content types, sessions, site

    with CaptureQueriesContext(connection) as few:
        _page(client, alice)
    with CaptureQueriesContext(connection) as many:
        page = _page(client, carol)

    assert "<strong>50</strong> followers" in page
    assert len(many) == len(few), [q["sql"] for q in many]


def test_it_runs_the_same_queries_for_1_and_5_rooms_events_and_groups(client, alice, bob):
    carol = make_member("Carol Nguyen")
    for host, n in ((alice, 1), (carol, 5)):
        for _ in range(n):
            make_room(host, speakers=[bob])
            make_event(host)
            make_group(host)
    _page(client, alice)

    with CaptureQueriesContext(connection) as few:
        _page(client, alice)
    with CaptureQueriesContext(connection) as many:
        _page(client, carol)

    assert len(many) == len(few), [q["sql"] for q in many]
