"""Joining, signing in and out, and resetting a password, through allauth's real views."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.core import mail

from accounts.models import Member
from tests.accounts.helpers import PASSWORD, field_errors, outbox_link

NEW_PASSWORD = "Ploughed-Meadow-1871"


def _signup(client, **overrides):
    data = {
        "display_name": "Erin Achterberg",
        "headline": "Staff engineer, payments",
        "email": "erin@hooli.com",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    data.update(overrides)
    return client.post("/accounts/signup/", data)


def _logged_in_member(client) -> Member | None:
    pk = client.session.get(SESSION_KEY)
    return Member.objects.get(pk=pk) if pk else None


@pytest.mark.django_db
def test_it_creates_the_member_with_name_headline_and_handle(client):
    response = _signup(client)

    assert response.status_code == 302
    erin = Member.objects.get(email="erin@hooli.com")
    assert erin.display_name == "Erin Achterberg"
    assert erin.headline == "Staff engineer, payments"
    assert erin.handle == "erin-achterberg"
    assert erin.check_password(NEW_PASSWORD)
    assert erin.verified_domain == ""


@pytest.mark.django_db
def test_it_logs_the_new_member_in(client):
    _signup(client)

    assert _logged_in_member(client).email == "erin@hooli.com"
    assert "Erin Achterberg" in client.get("/").content.decode()


@pytest.mark.django_db
def test_it_sends_a_verification_email(client):
    _signup(client)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["erin@hooli.com"]
    assert outbox_link().startswith("/accounts/confirm-email/")
    address = EmailAddress.objects.get(email="erin@hooli.com")
    assert address.primary
    assert not address.verified


@pytest.mark.django_db
def test_it_confirms_the_address_from_the_email_and_shows_the_badge(client):
    _signup(client)

    client.post(outbox_link())

    assert EmailAddress.objects.get(email="erin@hooli.com").verified
    erin = Member.objects.get(email="erin@hooli.com")
    assert erin.verified_domain == "hooli.com"
    assert "Verified · hooli.com" in client.get("/in/erin-achterberg/").content.decode()


def test_it_gives_a_second_member_with_the_same_name_a_numbered_handle(client, alice):
    _signup(client, display_name="Alice Moreau", email="alice.moreau@initech.com")

    second = Member.objects.get(email="alice.moreau@initech.com")
    assert alice.handle == "alice-moreau"
    assert second.handle == "alice-moreau-2"


def test_it_counts_past_handles_already_numbered(client, alice):
    Member.objects.filter(pk=alice.pk).update(handle="alice-moreau")
    Member.objects.create_user("am2@example.com", PASSWORD, display_name="Alice Moreau")

    _signup(client, display_name="Alice Moreau", email="alice.m@initech.com")

    handles = set(
        Member.objects.filter(display_name="Alice Moreau").values_list("handle", flat=True)
    )
    assert handles == {"alice-moreau", "alice-moreau-2", "alice-moreau-3"}


@pytest.mark.django_db
def test_it_derives_a_handle_from_a_name_without_latin_letters(client):
    _signup(client, display_name="李明")

    assert Member.objects.get(email="erin@hooli.com").handle == "member"


@pytest.mark.django_db
def test_it_requires_a_name(client):
    response = _signup(client, display_name="   ")

    assert response.status_code == 200
    assert field_errors(response.content.decode(), "display_name") == (
        "<li>This field is required.</li>"
    )
    assert 'class="field field-invalid"' in response.content.decode()
    assert not Member.objects.exists()
    assert not EmailAddress.objects.exists()
    assert mail.outbox == []
    assert _logged_in_member(client) is None


@pytest.mark.django_db
def test_it_rejects_mismatched_passwords(client):
    response = _signup(client, password2=NEW_PASSWORD + "x")

    page = response.content.decode()
    assert response.status_code == 200
    assert "You must type the same password each time." in field_errors(page, "password2")
    # What was typed stays in the form, except the passwords.
    assert 'value="Erin Achterberg"' in page
    assert NEW_PASSWORD not in page
    assert not Member.objects.exists()
    assert mail.outbox == []


@pytest.mark.django_db
def test_it_rejects_a_weak_password(client):
    response = _signup(client, password1="12345678", password2="12345678")

    errors = field_errors(response.content.decode(), "password1")
    assert "This password is too common." in errors
    assert not Member.objects.exists()


def test_it_rejects_an_email_already_registered(client, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, primary=True, verified=True)

    response = _signup(client, email="Alice@Acme.dev")

    errors = field_errors(response.content.decode(), "email")
    assert "A user is already registered with this email address." in errors
    assert list(Member.objects.values_list("email", flat=True)) == ["alice@acme.dev"]
    assert mail.outbox == []
    assert _logged_in_member(client) is None


def test_it_logs_in_with_email_and_password(client, alice):
    response = client.post("/accounts/login/", {"login": "alice@acme.dev", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _logged_in_member(client) == alice


def test_it_refuses_a_wrong_password(client, alice):
    response = client.post("/accounts/login/", {"login": "alice@acme.dev", "password": "nope"})

    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in (
        response.content.decode()
    )
    assert _logged_in_member(client) is None


def test_it_logs_out_with_a_post(client, alice):
    client.force_login(alice)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert _logged_in_member(client) is None


def test_it_offers_a_sign_out_button_that_posts(client, alice):
    client.force_login(alice)

    page = client.get("/").content.decode()

    assert '<form method="post" action="/accounts/logout/">' in page


def test_it_resets_a_forgotten_password_from_the_emailed_link(client, alice):
    response = client.post("/accounts/password/reset/", {"email": "alice@acme.dev"})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@acme.dev"]
    link = outbox_link()
    assert link.startswith("/accounts/password/reset/key/")

    # The key moves into the session, and the form lives at a URL without it.
    form_url = client.get(link)["Location"]
    assert client.get(form_url).status_code == 200
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302

    client.logout()
    old = client.post("/accounts/login/", {"login": "alice@acme.dev", "password": PASSWORD})
    assert old.status_code == 200
    assert _logged_in_member(client) is None
    new = client.post("/accounts/login/", {"login": "alice@acme.dev", "password": NEW_PASSWORD})
    assert new.status_code == 302
    assert _logged_in_member(client) == alice


def test_it_does_not_reuse_a_reset_link(client, alice):
    client.post("/accounts/password/reset/", {"email": "alice@acme.dev"})
    link = outbox_link()
    form_url = client.get(link)["Location"]
    client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    client.logout()

    response = client.get(link, follow=True)

    assert "The password reset link was invalid" in response.content.decode()


@pytest.mark.django_db
def test_it_sends_no_reset_link_for_an_unknown_address(client):
    client.post("/accounts/password/reset/", {"email": "nobody@example.com"})

    assert all("/accounts/password/reset/key/" not in m.body for m in mail.outbox)


@pytest.mark.django_db
def test_it_stores_the_email_in_lowercase(client):
    _signup(client, email="Erin@Hooli.COM")

    assert Member.objects.get().email == "erin@hooli.com"
    assert EmailAddress.objects.get().email == "erin@hooli.com"


def test_it_rejects_the_email_of_a_member_made_without_allauth(client, alice):
    # Members made in the admin or by make_member() have no EmailAddress row.
    assert not EmailAddress.objects.exists()

    response = _signup(client, email="ALICE@acme.dev")

    errors = field_errors(response.content.decode(), "email")
    assert "A user is already registered with this email address." in errors
    assert Member.objects.count() == 1
