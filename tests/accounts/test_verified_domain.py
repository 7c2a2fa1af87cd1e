"""The "Verified · domain" badge: work addresses confirmed through allauth's email pages."""

from allauth.account.models import EmailAddress
from django.core import mail

from accounts.services import member_sync_verified_domain
from tests.accounts.helpers import outbox_link
from tests.conftest import verify_email


def _add_email(client, email: str):
    return client.post("/accounts/email/", {"action_add": "", "email": email})


def _confirm_last_email(client):
    link = outbox_link()
    assert link.startswith("/accounts/confirm-email/")
    return client.post(link)


def _profile(client, member) -> str:
    return client.get(f"/in/{member.handle}/").content.decode()


def test_it_verifies_a_work_domain_from_the_confirmation_link(client, dan):
    verify_email(dan, "dan@gmail.com", primary=True)
    client.force_login(dan)

    response = _add_email(client, "dan@initech.com")

    assert response.status_code == 302
    assert mail.outbox[-1].to == ["dan@initech.com"]
    address = EmailAddress.objects.get(email="dan@initech.com")
    assert not address.verified
    dan.refresh_from_db()
    assert dan.verified_domain == ""

    _confirm_last_email(client)

    address.refresh_from_db()
    assert address.verified
    dan.refresh_from_db()
    assert dan.verified_domain == "initech.com"
    assert "Verified · initech.com" in _profile(client, dan)


def test_it_gives_no_badge_for_a_confirmed_free_mail_address(client, carol):
    client.force_login(carol)
    _add_email(client, "carol.nguyen@gmail.com")

    _confirm_last_email(client)

    assert EmailAddress.objects.get(email="carol.nguyen@gmail.com").verified
    carol.refresh_from_db()
    assert carol.verified_domain == ""
    assert "Verified ·" not in _profile(client, carol)


def test_it_gives_no_badge_for_an_unconfirmed_work_address(client, dan):
    client.force_login(dan)

    _add_email(client, "dan@initech.com")

    dan.refresh_from_db()
    assert dan.verified_domain == ""
    assert "Verified ·" not in _profile(client, dan)


def test_it_removes_the_badge_with_the_verified_work_address(client, dan):
    verify_email(dan, "dan@gmail.com", primary=True)
    verify_email(dan, "dan@initech.com")
    dan.refresh_from_db()
    assert dan.verified_domain == "initech.com"
    client.force_login(dan)

    response = client.post("/accounts/email/", {"action_remove": "", "email": "dan@initech.com"})

    assert response.status_code == 302
    assert not EmailAddress.objects.filter(email="dan@initech.com").exists()
    dan.refresh_from_db()
    assert dan.verified_domain == ""
    assert "Verified ·" not in _profile(client, dan)


def test_it_falls_back_to_another_work_address_when_one_is_removed(client, dan):
    verify_email(dan, "dan@gmail.com", primary=True)
    verify_email(dan, "dan@initech.com")
    verify_email(dan, "dan@globex.io")
    client.force_login(dan)

    client.post("/accounts/email/", {"action_remove": "", "email": "dan@initech.com"})

    dan.refresh_from_db()
    assert dan.verified_domain == "globex.io"


def test_it_follows_the_primary_address_when_it_changes(client, alice):
    verify_email(alice, "alice@acme.dev", primary=True)
    verify_email(alice, "alice@globex.io")
    client.force_login(alice)

    client.post("/accounts/email/", {"action_primary": "", "email": "alice@globex.io"})

    alice.refresh_from_db()
    assert alice.email == "alice@globex.io"
    assert alice.verified_domain == "globex.io"


def test_service_prefers_the_primary_address_when_it_qualifies(alice):
    EmailAddress.objects.create(user=alice, email="alice@globex.io", verified=True)
    EmailAddress.objects.create(user=alice, email="alice@acme.dev", verified=True, primary=True)

    assert member_sync_verified_domain(member=alice) == "acme.dev"
    alice.refresh_from_db()
    assert alice.verified_domain == "acme.dev"


def test_service_takes_the_earliest_work_address_when_the_primary_is_free_mail(dan):
    EmailAddress.objects.create(user=dan, email="dan@gmail.com", verified=True, primary=True)
    EmailAddress.objects.create(user=dan, email="dan@initech.com", verified=True)
    EmailAddress.objects.create(user=dan, email="dan@globex.io", verified=True)

    assert member_sync_verified_domain(member=dan) == "initech.com"


def test_service_ignores_unverified_addresses(dan):
    EmailAddress.objects.create(user=dan, email="dan@initech.com", verified=False, primary=True)

    assert member_sync_verified_domain(member=dan) == ""


def test_service_ignores_domains_without_a_dot(dan):
    EmailAddress.objects.create(user=dan, email="dan@localhost", verified=True)

    assert member_sync_verified_domain(member=dan) == ""


def test_service_lowercases_the_domain(dan):
    EmailAddress.objects.create(user=dan, email="Dan@Initech.COM", verified=True)

    assert member_sync_verified_domain(member=dan) == "initech.com"


def test_service_clears_a_stale_badge(bob):
    bob.verified_domain = "globex.io"
    bob.save()

    assert member_sync_verified_domain(member=bob) == ""
    bob.refresh_from_db()
    assert bob.verified_domain == ""


def test_service_writes_nothing_when_nothing_changed(alice, django_assert_num_queries):
    verify_email(alice, "alice@acme.dev", primary=True)

    with django_assert_num_queries(1):
        member_sync_verified_domain(member=alice)
