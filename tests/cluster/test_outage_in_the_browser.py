"""What a member sees when PostgreSQL goes away for 10 s under a live room (issue 12): the
page says "Reconnecting…" when a request can't be carried out, the audio plays on, and
the page is itself again within 5 s of the database coming back, with no reload.

The node reaches PostgreSQL through a DatabaseDoor the test shuts, as in
test_database_outage.py; Chromium talks to the node directly."""

import time

import pytest
from playwright.sync_api import expect

from rooms.models import Participant
from tests.browser.conftest import open_signed_in, tone_browsers  # noqa: F401 - fixture
from tests.browser.test_room_audio import hears
from tests.conftest import make_room

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

OUTAGE = 10.0
RECOVERS_WITHIN = 5.0


def test_the_room_page_reconnects_by_itself_after_postgresql_returns(
    cluster,
    database_door,
    tone_browsers,  # noqa: F811 - the browser tests' fixture, imported above
    alice,
    carol,
):
    (node,) = cluster.start(
        "a", a={"DATABASE_URL": database_door.url(cluster.database), "DB_CONN_MAX_AGE": "60"}
    )
    room = make_room(alice, title="Through an outage")
    host = open_signed_in(tone_browsers(440), node.url, alice)
    listener = open_signed_in(tone_browsers(880), node.url, carol)
    for page in (host, listener):
        page.goto(f"/rooms/{room.pk}/")
        expect(page.locator("[data-audio-status]")).to_have_text("Audio connected", timeout=15_000)
    host.get_by_role("button", name="Unmute").click()
    hears(listener, 440)

    database_door.cut()
    down = time.monotonic()
    listener.get_by_role("button", name="Raise hand").click()
    bar = listener.locator(".connection")
    expect(bar).to_be_visible(timeout=5_000)
    expect(bar).to_contain_text("Reconnecting…")
    # Nothing was done: no hand is raised, and the button still offers to raise it.
    expect(listener.get_by_role("button", name="Raise hand")).to_be_visible()
    assert not Participant.objects.filter(
        room=room, member=carol, hand_raised_at__isnull=False
    ).exists()
    hears(listener, 440)  # the audio never needed the database
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))

    database_door.restore()
    back = time.monotonic()
    expect(bar).to_be_hidden(timeout=RECOVERS_WITHIN * 1000)
    print(f"\nthe page was live again {time.monotonic() - back:.2f} s after the database")
    listener.get_by_role("button", name="Raise hand").click()
    expect(host.get_by_role("button", name="Approve Carol Nguyen")).to_be_visible(timeout=5_000)
    assert time.monotonic() - back <= RECOVERS_WITHIN + 5
    expect(listener.locator("[data-audio-status]")).to_have_text("Audio connected")
    assert host.errors == [] and listener.errors == []
