"""Times are shown in the signed-in member's zone, and in UTC to visitors
(accounts.middleware.MemberTimezoneMiddleware and the viewer context processor)."""

from datetime import UTC, datetime

from accounts.models import Member
from events.models import Event
from tests.conftest import make_event

NOON_UTC = datetime(2099, 3, 2, 12, 0, tzinfo=UTC)


def _event_time_on_profile(client, host) -> str:
    event = make_event(host, title="Scaling ledgers")
    Event.objects.filter(pk=event.pk).update(starts_at=NOON_UTC, ends_at=NOON_UTC.replace(hour=13))
    return client.get(f"/in/{host.handle}/").content.decode()


def test_it_shows_visitors_utc(client, alice):
    page = _event_time_on_profile(client, alice)

    assert "Mon 2 Mar, 12:00 UTC" in page


def test_it_shows_a_member_their_own_zone(client, alice, bob):
    bob.timezone = "Asia/Tokyo"
    bob.save()
    client.force_login(bob)

    page = _event_time_on_profile(client, alice)

    assert "Mon 2 Mar, 21:00 JST" in page


def test_it_falls_back_to_utc_for_a_zone_that_no_longer_exists(client, alice, bob):
    Member.objects.filter(pk=bob.pk).update(timezone="Mars/Olympus_Mons")
    client.force_login(bob)

    page = _event_time_on_profile(client, alice)

    assert "Mon 2 Mar, 12:00 UTC" in page
