"""The group directory: /groups/."""

from groups.models import Group, Membership
from tests.conftest import make_group, make_member


def test_it_lists_groups_with_their_active_member_counts(client, alice, bob, carol):
    platform = make_group(alice, "Platform Engineering", members=[bob])
    Membership.objects.create(group=platform, member=carol, status=Membership.Status.PENDING)
    make_group(bob, "Design Systems", private=True)

    response = client.get("/groups/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Platform Engineering" in page
    assert "Design Systems" in page
    assert "2 members" in page  # alice and bob; carol's request doesn't count
    assert "1 member<" in page
    assert "Private" in page


def test_it_searches_names_and_descriptions(client, alice):
    make_group(alice, "Postgres Operators")
    rust = make_group(alice, "Systems Programming")
    rust.description = "Rust, Zig and friends."
    rust.save()
    make_group(alice, "Product Managers")

    response = client.get("/groups/", {"q": "rust"})

    page = response.content.decode()
    assert "Systems Programming" in page
    assert "Postgres Operators" not in page
    assert "Product Managers" not in page
    assert 'value="rust"' in page

    page = client.get("/groups/", {"q": "POSTGRES"}).content.decode()
    assert "Postgres Operators" in page
    assert "Systems Programming" not in page


def test_it_keeps_member_counts_whole_when_searching(client, alice, bob, carol):
    make_group(alice, "Postgres Operators", members=[bob, carol])

    page = client.get("/groups/", {"q": "postgres"}).content.decode()

    assert "3 members" in page


def test_it_says_when_there_are_no_groups(client, db):
    page = client.get("/groups/").content.decode()

    assert "No groups yet." in page


def test_it_says_when_nothing_matches_the_search(client, alice):
    make_group(alice, "Postgres Operators")

    page = client.get("/groups/", {"q": "kubernetes"}).content.decode()

    assert "No groups match “kubernetes”." in page
    assert "Postgres Operators" not in page


def test_it_offers_creating_a_group_to_members_only(client, alice):
    assert "Create a group" not in client.get("/groups/").content.decode()

    client.force_login(alice)

    assert "Create a group" in client.get("/groups/").content.decode()


def test_it_takes_the_same_number_of_queries_for_5_and_50_groups(client, alice, page_queries):
    client.force_login(alice)
    for _ in range(5):
        make_group(make_member(), members=[make_member()])
    page_queries(client, "/groups/")  # warm up per-process caches
    with_5 = page_queries(client, "/groups/")

    for _ in range(45):
        make_group(make_member(), members=[make_member()])
    with_50 = page_queries(client, "/groups/")

    assert Group.objects.count() == 50
    assert with_50 == with_5
    assert page_queries(client, "/groups/?q=group") == with_5
