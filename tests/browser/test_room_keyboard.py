"""The room by keyboard and screen reader, and on a phone (issue 13): raise hand and
approve with the keyboard alone, focus staying where the next action is; the host hears
the hand in the live region and sees the count in the tab's title; Escape closes menus;
a Skip to controls link; at 375 px the stage, the names and one bar of controls fit."""

import re

import pytest
from playwright.sync_api import expect

from rooms.models import Participant, Role
from tests.conftest import make_room

pytestmark = pytest.mark.browser


def _live(page) -> None:
    expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")


def test_raise_hand_and_approve_by_keyboard_alone(signed_in, alice, carol):
    room = make_room(alice)
    host, listener = signed_in(alice), signed_in(carol)
    for page in (host, listener):
        page.goto(f"/rooms/{room.pk}/")
        _live(page)

    # The listener: Tab from the top reaches "Skip to controls" first in the room, and the
    # controls come before the audience.
    listener.keyboard.press("Tab")  # the site's "Skip to content"
    for _ in range(20):
        if listener.evaluate("document.activeElement.textContent.trim()") == "Skip to controls":
            break
        listener.keyboard.press("Tab")
    assert listener.evaluate("document.activeElement.textContent.trim()") == "Skip to controls"
    listener.keyboard.press("Enter")
    listener.keyboard.press("Tab")
    expect(listener.get_by_role("button", name="Raise hand")).to_be_focused()
    listener.keyboard.press("Enter")
    # The button becomes Lower hand, and the keyboard stays on the bar.
    expect(listener.get_by_role("button", name="Lower hand")).to_be_focused()

    expect(host.locator("[data-announcer]")).to_have_text(
        re.compile(r"Carol Nguyen raised a hand\.")
    )
    expect(host).to_have_title(re.compile(r"^\(1 hand raised\) "))
    approve = host.get_by_role("button", name="Approve Carol Nguyen")
    approve.focus()
    host.keyboard.press("Enter")
    # The queue is empty now: focus goes to its heading, not to the top of the page.
    expect(host.locator("#queue-heading")).to_be_focused()
    expect(host).not_to_have_title(re.compile(r"hand"))
    expect(listener.get_by_role("button", name="Unmute")).to_be_visible()
    assert Participant.objects.get(room=room, member=carol).role == Role.SPEAKER
    assert host.errors == [] and listener.errors == []


def test_escape_closes_a_menu_and_returns_to_its_button(signed_in, alice, carol):
    room = make_room(alice)
    listener = signed_in(carol)
    listener.goto(f"/rooms/{room.pk}/")
    _live(listener)
    react = listener.locator(".reactions-menu summary")
    react.focus()
    listener.keyboard.press("Enter")
    expect(listener.locator(".reactions-menu")).to_have_attribute("open", "")
    listener.get_by_role("button", name="React 👏").focus()
    listener.keyboard.press("Escape")
    expect(listener.locator(".reactions-menu")).not_to_have_attribute("open", "")
    expect(react).to_be_focused()


def test_on_a_phone_the_stage_names_and_one_bar_of_controls_fit(signed_in, alice, bob, carol):
    room = make_room(alice, speakers=[bob])
    phone = signed_in(alice, viewport=(375, 812))
    bob_page = signed_in(bob)
    bob_page.goto(f"/rooms/{room.pk}/")
    phone.goto(f"/rooms/{room.pk}/")
    _live(phone)
    expect(phone.locator("[data-stage] .stage-person")).to_have_count(2)

    bar = phone.locator(".controls").bounding_box()
    assert bar["height"] <= 64, bar  # one row
    assert bar["height"] / 812 < 0.1
    header = phone.locator(".site-header").bounding_box()
    phone.mouse.wheel(0, 600)
    phone.wait_for_timeout(200)
    assert phone.locator(".site-header").bounding_box()["y"] < header["y"]  # scrolled away
    for name in phone.locator("[data-stage] .identity-name").all():
        box = name.bounding_box()
        assert name.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), name.text_content()
        assert box["width"] > 40, (name.text_content(), box)
    # The labels are still there for screen readers.
    expect(phone.get_by_role("button", name="Unmute")).to_be_visible()
    assert phone.errors == []
