"""Sign in with LinkedIn, through allauth's OpenID Connect provider. No network: the login
page and the completion of a login are exercised, never LinkedIn itself."""

import pytest
from allauth.account.middleware import AccountMiddleware
from allauth.account.models import EmailAddress
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import complete_social_login
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.models import Member
from config.settings import linkedin_provider_apps

LOGIN_URL = "/accounts/oidc/linkedin/login/"


def _with_linkedin():
    return override_settings(
        SOCIALACCOUNT_PROVIDERS={
            "openid_connect": {
                "APPS": linkedin_provider_apps("li-client", "li-secret"),
                "OAUTH_PKCE_ENABLED": True,
            }
        }
    )


def _complete_linkedin_login(rf, claims: dict):
    """What allauth does after LinkedIn's callback: turn the ID token's claims into a login."""
    request = rf.get("/accounts/oidc/linkedin/login/callback/")
    SessionMiddleware(lambda r: None).process_request(request)
    MessageMiddleware(lambda r: None).process_request(request)
    request.user = AnonymousUser()
    provider = get_adapter().get_provider(request, "linkedin")
    sociallogin = provider.sociallogin_from_response(request, claims)
    response = AccountMiddleware(lambda r: complete_social_login(r, sociallogin))(request)
    return request, response


def _claims(**overrides) -> dict:
    claims = {
        "sub": "li-782",
        "email": "ada@analytical.org",
        "email_verified": True,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "name": "Ada Lovelace",
    }
    claims.update(overrides)
    return claims


def test_it_configures_nothing_without_credentials():
    assert linkedin_provider_apps("", "") == []


def test_it_configures_one_openid_connect_app():
    apps = linkedin_provider_apps("li-client", "li-secret")

    assert len(apps) == 1
    (app,) = apps
    assert app["provider_id"] == "linkedin"
    assert app["name"] == "LinkedIn"
    assert app["client_id"] == "li-client"
    assert app["secret"] == "li-secret"
    assert app["settings"]["server_url"] == "https://www.linkedin.com/oauth"
    assert set(app["settings"]["scope"]) == {"openid", "profile", "email"}


@pytest.mark.parametrize(("client_id", "secret"), [("li-client", ""), ("", "li-secret")])
def test_it_refuses_half_a_configuration(client_id, secret):
    with pytest.raises(ImproperlyConfigured, match="LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET"):
        linkedin_provider_apps(client_id, secret)


@pytest.mark.parametrize("page", ["/accounts/login/", "/accounts/signup/"])
def test_it_offers_continue_with_linkedin_when_configured(client, db, page):
    with _with_linkedin():
        html = client.get(page).content.decode()

    assert f'href="{LOGIN_URL}?process=login">Continue with LinkedIn</a>' in html


@pytest.mark.parametrize("page", ["/accounts/login/", "/accounts/signup/"])
def test_it_offers_no_linkedin_when_not_configured(client, db, page):
    with override_settings(SOCIALACCOUNT_PROVIDERS={"openid_connect": {"APPS": []}}):
        html = client.get(page).content.decode()

    assert "LinkedIn" not in html
    assert "/accounts/oidc/" not in html


def test_it_asks_before_leaving_for_linkedin(client, db):
    # SOCIALACCOUNT_LOGIN_ON_GET is off: a GET (a link someone planted) only shows a button.
    with _with_linkedin():
        response = client.get(LOGIN_URL)

    assert response.status_code == 200
    assert 'method="post"' in response.content.decode()


def test_it_creates_a_member_named_from_linkedin(rf, db):
    with _with_linkedin():
        request, response = _complete_linkedin_login(rf, _claims())

    assert response.status_code == 302
    ada = Member.objects.get(email="ada@analytical.org")
    assert ada.display_name == "Ada Lovelace"
    assert ada.handle == "ada-lovelace"
    assert not ada.has_usable_password()
    assert SocialAccount.objects.get(user=ada).uid == "li-782"
    assert SocialAccount.objects.get(user=ada).provider == "linkedin"
    assert request.session[SESSION_KEY] == str(ada.pk)


def test_it_builds_the_name_from_given_and_family_names(rf, db):
    with _with_linkedin():
        _complete_linkedin_login(rf, _claims(name=None))

    assert Member.objects.get().display_name == "Ada Lovelace"


def test_it_gives_a_linkedin_member_a_free_handle(rf, alice):
    with _with_linkedin():
        _complete_linkedin_login(rf, _claims(name="Alice Moreau", email="alice@lovelace.dev"))

    assert Member.objects.get(email="alice@lovelace.dev").handle == "alice-moreau-2"


def test_it_shows_the_badge_for_a_work_address_linkedin_verified(rf, db):
    with _with_linkedin():
        _complete_linkedin_login(rf, _claims())

    assert EmailAddress.objects.get(email="ada@analytical.org").verified
    assert Member.objects.get().verified_domain == "analytical.org"
