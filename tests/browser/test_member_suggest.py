"""Picking speakers in Chromium: the speaker field suggests members as one types (name,
headline, company, verified badge), by keyboard alone, and never a blocked member."""

import re

import pytest
from playwright.sync_api import expect

from accounts.services import block_create
from rooms.models import Room
from tests.conftest import make_member

pytestmark = pytest.mark.browser


def test_a_host_picks_a_speaker_by_name_with_the_keyboard(signed_in, alice):
    ada = make_member(
        "Ada Lovelace", headline="Analyst", company="Engines", verified_domain="engines.dev"
    )
    make_member("Adam Smith")
    shunned = make_member("Adaline Blocked")
    block_create(blocker=alice, blocked=shunned)
    page = signed_in(alice)
    page.goto("/rooms/new/")

    page.get_by_label("Title").fill("Analytical engines")
    field = page.get_by_role("combobox", name="Designated speakers")
    field.press_sequentially("ada")
    suggestions = page.get_by_role("listbox", name="Suggested members")
    options = suggestions.get_by_role("option")
    expect(options).to_have_count(2)
    expect(options.first).to_contain_text("Ada Lovelace")
    expect(options.first).to_contain_text("Verified · engines.dev")
    expect(options.first).to_contain_text("Analyst · Engines")
    expect(suggestions).not_to_contain_text("Adaline")
    expect(page.get_by_role("status").filter(has_text="2 members found")).to_have_count(1)

    field.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    field.press("Enter")  # chooses; doesn't submit the form
    expect(field).to_have_value(f"{ada.handle}, ")
    expect(field).to_have_attribute("aria-expanded", "false")
    expect(page).to_have_url(re.compile(r"/rooms/new/$"))

    field.press_sequentially("ad")
    expect(options).to_have_count(2)
    field.press("Escape")
    expect(suggestions).to_be_hidden()
    field.press("Backspace")
    field.press("Backspace")
    page.get_by_role("button", name=re.compile("Create|Start")).first.click()
    expect(page).not_to_have_url(re.compile(r"/rooms/new/$"))
    room = Room.objects.get(title="Analytical engines")
    assert [p.member_id for p in room.participants.filter(role="speaker")] == [ada.pk]
    assert page.errors == []
