"""Creating a group: /groups/new/."""

from groups.models import Group, Membership
from tests.conftest import make_group


def test_it_requires_login(client, db):
    response = client.get("/groups/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/groups/new/")

    response = client.post("/groups/new/", {"name": "Platform Engineering"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Group.objects.exists()


def test_it_shows_the_form(client, alice):
    client.force_login(alice)

    response = client.get("/groups/new/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="name"' in page
    assert 'name="slug"' in page
    assert 'name="is_private"' in page


def test_it_creates_the_group_with_the_creator_as_owner(client, alice):
    client.force_login(alice)

    response = client.post(
        "/groups/new/",
        {
            "name": "Platform Engineering",
            "slug": "platform-eng",
            "description": "Internal platforms.",
            "is_private": "on",
        },
    )

    group = Group.objects.get()
    assert response.status_code == 302
    assert response["Location"] == "/groups/platform-eng/"
    assert group.name == "Platform Engineering"
    assert group.slug == "platform-eng"
    assert group.is_private
    assert group.created_by == alice
    membership = Membership.objects.get(group=group)
    assert membership.member == alice
    assert membership.role == Membership.Role.OWNER
    assert membership.status == Membership.Status.ACTIVE


def test_it_derives_the_address_from_the_name_when_left_empty(client, alice):
    client.force_login(alice)

    response = client.post("/groups/new/", {"name": "Site Reliability & Ops", "slug": ""})

    assert response.status_code == 302
    assert Group.objects.get().slug == "site-reliability-ops"


def test_it_rejects_a_taken_address(client, alice, bob, field_errors):
    make_group(bob, "Original")
    taken = Group.objects.get().slug
    client.force_login(alice)

    response = client.post("/groups/new/", {"name": "Copycat", "slug": taken})

    assert response.status_code == 200
    assert "That address is taken; choose another." in field_errors(response, "slug")
    assert Group.objects.count() == 1
    assert not Membership.objects.filter(member=alice).exists()


def test_it_rejects_a_name_whose_address_is_taken(client, alice, bob, field_errors):
    Group.objects.create(name="Postgres", slug="postgres", created_by=bob)
    client.force_login(alice)

    response = client.post("/groups/new/", {"name": "Postgres", "slug": ""})

    assert response.status_code == 200
    assert "That address is taken" in field_errors(response, "slug")
    assert Group.objects.count() == 1


def test_it_rejects_a_name_without_letters_or_digits(client, alice, field_errors):
    client.force_login(alice)

    response = client.post("/groups/new/", {"name": "!!! ???", "slug": ""})

    assert response.status_code == 200
    assert "Use a name with letters or digits." in field_errors(response, "name")
    assert not Group.objects.exists()


def test_it_rejects_an_empty_name(client, alice, field_errors):
    client.force_login(alice)

    response = client.post("/groups/new/", {"name": "", "slug": "platform"})

    assert response.status_code == 200
    assert "This field is required." in field_errors(response, "name")
    assert not Group.objects.exists()


def test_it_rejects_an_address_with_spaces(client, alice, field_errors):
    client.force_login(alice)

    response = client.post("/groups/new/", {"name": "Platform", "slug": "not a slug"})

    assert response.status_code == 200
    assert "valid “slug”" in field_errors(response, "slug")
    assert not Group.objects.exists()


def test_it_rejects_an_address_without_letters_when_the_name_is_taken(
    client, alice, bob, field_errors
):
    Group.objects.create(name="Postgres", slug="postgres", created_by=bob)
    client.force_login(alice)

    response = client.post("/groups/new/", {"name": "Postgres", "slug": "---"})

    assert response.status_code == 200
    assert field_errors(response, "slug")
    assert Group.objects.count() == 1


def test_it_refuses_an_address_its_own_pages_use(client, alice, field_errors):
    client.force_login(alice)

    response = client.post("/groups/new/", {"name": "New", "slug": ""})

    assert response.status_code == 200
    assert field_errors(response, "slug")
    assert not Group.objects.exists()
