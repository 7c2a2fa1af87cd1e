"""Three people in three browsers run a room: host, speaker and listener."""

import re

import pytest
from playwright.sync_api import expect

from rooms.models import Participant, Role, Room
from tests.conftest import make_room

pytestmark = pytest.mark.browser


def _announced(page, text):
    expect(page.locator("[data-announcer]")).to_have_text(re.compile(re.escape(text)))


def test_it_runs_a_room_from_raised_hand_to_the_end(signed_in, alice, bob, carol):
    room = make_room(alice, speakers=[bob], title="Scaling Postgres")
    host = signed_in(alice)
    speaker = signed_in(bob)
    listener = signed_in(carol, viewport=(375, 800))
    for page in (host, speaker, listener):
        page.goto(f"/rooms/{room.pk}/")
    stage = host.locator("[data-stage]")
    expect(stage.get_by_text("Bob Okafor")).to_be_visible()
    expect(host.locator("[data-audience]").get_by_text("Carol Nguyen")).to_be_visible()

    # The listener raises a hand from the keyboard; the host sees it at once and approves.
    raise_hand = listener.get_by_role("button", name="Raise hand")
    raise_hand.focus()
    listener.keyboard.press("Enter")
    _announced(listener, "Your hand is raised.")
    queue = host.locator("[data-hand-queue]")
    expect(queue.get_by_text("Carol Nguyen")).to_be_visible()
    host.get_by_role("button", name="Approve Carol Nguyen").click()
    _announced(listener, "You're now a speaker.")
    expect(speaker.locator("[data-stage]").get_by_text("Carol Nguyen")).to_be_visible()
    expect(listener.get_by_role("button", name="Unmute")).to_be_visible()
    assert Participant.objects.get(room=room, member=carol).role == Role.SPEAKER

    # The speaker unmutes; the host mutes them; only the speaker could unmute again.
    speaker.get_by_role("button", name="Unmute").click()
    expect(speaker.get_by_role("button", name="Mute", exact=False).first).to_be_visible()
    bob_card = host.locator(".stage-person", has_text="Bob Okafor")
    expect(bob_card.locator(".badge-muted")).to_have_count(0)
    bob_card.get_by_label("Actions for Bob Okafor").click()
    bob_card.get_by_role("button", name="Mute").click()
    _announced(speaker, "Alice Moreau muted you.")
    expect(bob_card.locator(".badge-muted")).to_have_count(1)

    # The host moves Carol back to the audience.
    carol_card = host.locator(".stage-person", has_text="Carol Nguyen")
    carol_card.get_by_label("Actions for Carol Nguyen").click()
    carol_card.get_by_role("button", name="Move to audience").click()
    _announced(listener, "You're back in the audience.")

    # The host ends the room; everyone sees it.
    host.get_by_role("button", name="End room").click()
    host.locator("[data-end-dialog]").get_by_role("button", name="End room").click()
    for page in (host, speaker, listener):
        expect(page.locator("[data-ended]")).to_be_visible()
        expect(page.locator("[data-ended-title]")).to_have_text("This room has ended")
    assert Room.objects.get(pk=room.pk).status == Room.Status.ENDED
    for page in (host, speaker, listener):
        assert page.errors == []


def test_it_invites_a_listener_who_accepts(signed_in, alice, carol):
    room = make_room(alice)
    host = signed_in(alice)
    listener = signed_in(carol)
    host.goto(f"/rooms/{room.pk}/")
    listener.goto(f"/rooms/{room.pk}/")
    face = host.locator(".audience-person", has_text="Carol Nguyen")
    face.get_by_label("Actions for Carol Nguyen").click()
    face.get_by_role("button", name="Invite to speak").click()
    _announced(listener, "invited you to speak")
    listener.get_by_role("button", name="Join the stage").click()
    _announced(listener, "You're now a speaker.")
    expect(host.locator("[data-stage]").get_by_text("Carol Nguyen")).to_be_visible()


def test_it_tells_the_older_tab_it_was_replaced(signed_in, alice, carol):
    room = make_room(alice)
    first = signed_in(carol)
    first.goto(f"/rooms/{room.pk}/")
    expect(first.locator("[data-stage]").get_by_text("Alice Moreau")).to_have_count(0)
    expect(first.get_by_role("button", name="Raise hand")).to_be_visible()
    second = first.context.new_page()
    second.goto(f"/rooms/{room.pk}/")
    expect(second.get_by_role("button", name="Raise hand")).to_be_visible()
    expect(first.locator("[data-ended]")).to_be_visible()
    expect(first.locator("[data-ended-title]")).to_have_text("Opened somewhere else")


def test_a_scheduled_rooms_page_turns_live_when_the_host_starts_it(signed_in, alice, carol):
    room = make_room(alice, live=False)
    host, listener = signed_in(alice), signed_in(carol)
    listener.goto(f"/rooms/{room.pk}/")
    expect(listener.get_by_role("status").filter(has_text="Waiting for the host")).to_be_visible()
    host.goto(f"/rooms/{room.pk}/")
    host.get_by_role("button", name="Go live").click()
    # Nobody reloads: the waiting page notices and joins (it asks every 4 s).
    expect(listener.locator("[data-connection]")).to_have_attribute(
        "data-connection", "live", timeout=15_000
    )
    assert Participant.objects.filter(room=room, member=carol, is_present=True).exists()
    assert listener.errors == []
