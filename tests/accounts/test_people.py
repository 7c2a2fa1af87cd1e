"""The full lists behind the profile counts: /in/<handle>/followers/ and following/."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Follow
from tests.conftest import make_member, verify_email


def test_it_lists_followers_newest_first_with_their_identity(client, alice, bob, carol):
    verify_email(bob, "bob@globex.io", primary=True)
    Follow.objects.create(follower=bob, followee=alice)
    Follow.objects.create(follower=carol, followee=alice)

    page = client.get(f"/in/{alice.handle}/followers/").content.decode()

    assert "<h1>Followers</h1>" in page
    assert page.index("Carol Nguyen") < page.index("Bob Okafor")
    assert "Verified · globex.io" in page
    assert "Head of SRE" in page


def test_it_lists_whom_the_member_follows(client, alice, bob, carol):
    Follow.objects.create(follower=alice, followee=bob)
    Follow.objects.create(follower=carol, followee=alice)

    page = client.get(f"/in/{alice.handle}/following/").content.decode()

    assert "<h1>Following</h1>" in page
    assert "Bob Okafor" in page
    assert "Carol Nguyen" not in page


def test_it_says_when_the_list_is_empty(client, alice):
    assert "No followers yet." in client.get(f"/in/{alice.handle}/followers/").content.decode()
    assert "Not following anyone yet." in (
        client.get(f"/in/{alice.handle}/following/").content.decode()
    )


def test_it_is_404_for_an_unknown_handle(client, db):
    assert client.get("/in/nobody-here/followers/").status_code == 404


def test_it_runs_the_same_queries_for_3_and_30_followers(client, alice, bob):
    for member, n in ((alice, 3), (bob, 30)):
        Follow.objects.bulk_create(
            Follow(follower=make_member(), followee=member) for _ in range(n)
        )
    client.get(f"/in/{alice.handle}/followers/")

    with CaptureQueriesContext(connection) as few:
        client.get(f"/in/{alice.handle}/followers/")
    with CaptureQueriesContext(connection) as many:
        client.get(f"/in/{bob.handle}/followers/")

    assert len(many) == len(few)
