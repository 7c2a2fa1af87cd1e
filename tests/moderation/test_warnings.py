"""A warned member sees the warning on their next page, exactly once (moderation middleware)."""

import pytest
from django.utils import timezone

from rooms.models import Warning
from rooms.moderation import services as moderation
from tests.conftest import make_room
from tests.moderation.helpers import logged_in

BANNER = "A warning from Podium's moderators"


def _warn(mod, member, message: str = "Keep the Q&A on topic, please.") -> Warning:
    return moderation.member_warn(actor=mod, member=member, message=message)


def test_it_shows_the_warning_on_the_next_page_and_never_again(carol, mod):
    warning = _warn(mod, carol)
    client = logged_in(carol)

    first = client.get("/")

    page = first.content.decode()
    assert BANNER in page
    assert "Keep the Q&amp;A on topic, please." in page
    warning.refresh_from_db()
    seen_at = warning.seen_at
    assert seen_at is not None
    assert seen_at <= timezone.now()

    second = client.get("/")

    assert BANNER not in second.content.decode()
    assert "Keep the Q&amp;A on topic" not in second.content.decode()
    warning.refresh_from_db()
    assert warning.seen_at == seen_at


def test_it_shows_a_warning_sent_from_the_dashboard(carol, mod):
    logged_in(mod).post(
        f"/moderation/members/{carol.handle}/warn/", {"message": "No recruiting pitches."}
    )
    client = logged_in(carol)

    assert "No recruiting pitches." in client.get(f"/in/{carol.handle}/").content.decode()
    assert "No recruiting pitches." not in client.get(f"/in/{carol.handle}/").content.decode()


def test_it_shows_every_unseen_warning_together_once(carol, mod):
    _warn(mod, carol, "First: stay on topic.")
    _warn(mod, carol, "Second: no self-promotion.")
    client = logged_in(carol)

    page = client.get("/").content.decode()

    assert "First: stay on topic." in page
    assert "Second: no self-promotion." in page
    assert not Warning.objects.filter(seen_at__isnull=True).exists()
    assert BANNER not in client.get("/").content.decode()


def test_it_shows_the_warning_only_to_the_warned_member(carol, dan, mod):
    _warn(mod, carol)

    assert BANNER not in logged_in(dan).get("/").content.decode()
    assert BANNER not in logged_in(mod).get("/").content.decode()
    assert Warning.objects.get().seen_at is None


def test_it_keeps_the_warning_through_requests_that_are_not_pages(alice, carol, mod):
    room = make_room(alice)
    warning = _warn(mod, carol)
    client = logged_in(carol)

    # The room page's "show more" fetch and a form post don't show pages with the banner.
    client.get(f"/rooms/{room.pk}/audience/", HTTP_ACCEPT="application/json")
    client.post("/report/", {"member": alice.handle, "category": "spam"})

    warning.refresh_from_db()
    assert warning.seen_at is None
    assert BANNER in client.get("/").content.decode()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("/accounts/login/", id="redirect"),
        pytest.param("/in/nobody-by-this-name/", id="not-found"),
    ],
)
def test_it_keeps_the_warning_through_a_page_that_cannot_show_it(carol, mod, url):
    _warn(mod, carol)
    client = logged_in(carol)

    response = client.get(url)
    assert response.status_code in (302, 404)
    assert BANNER not in response.content.decode()

    assert BANNER in client.get("/").content.decode()
