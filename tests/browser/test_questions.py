"""Audience questions in five Chromiums: a listener asks, two others upvote, the host sees
it first in the ranked list and invites the asker, who joins the stage."""

import re

import pytest
from playwright.sync_api import expect

from rooms.models import Participant, Role
from tests.conftest import make_member, make_room

pytestmark = pytest.mark.browser


def test_a_question_voted_up_brings_its_asker_on_stage(signed_in, alice, bob, carol, dan):
    room = make_room(alice)
    erin = make_member("Erin Early")
    pages = {}
    for member in (alice, bob, carol, dan, erin):
        pages[member.pk] = page = signed_in(member)
        page.goto(f"/rooms/{room.pk}/")
        expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    host, asker, voters = pages[alice.pk], pages[bob.pk], (pages[carol.pk], pages[dan.pk])

    pages[erin.pk].get_by_label("Ask a question").fill("Is it recorded?")
    pages[erin.pk].get_by_role("button", name="Ask").click()
    question = "How did you migrate without downtime?"
    asker.get_by_label("Ask a question").fill(question)
    expect(asker.get_by_text(f"{280 - len(question)} characters left")).to_be_visible()
    asker.get_by_role("button", name="Ask").click()
    expect(asker.get_by_label("Ask a question")).to_have_value("")  # posted
    for voter in voters:
        vote = voter.get_by_role("button", name=re.compile(r"^Upvote: How did you migrate"))
        vote.click()
        expect(
            voter.get_by_role("button", name=re.compile(r"^Remove your vote: How did"))
        ).to_have_attribute("aria-pressed", "true")

    first = host.locator("[data-questions] > li").first
    expect(first).to_contain_text("How did you migrate without downtime?")
    expect(first).to_contain_text(bob.display_name)
    expect(first.get_by_role("button", name=re.compile(r"^Upvote"))).to_contain_text("2")
    expect(host.locator("[data-announcer]")).to_have_text(re.compile("New question from"))
    # The asker's own question has no vote button, and offers Withdraw.
    mine = asker.locator("[data-questions] > li", has_text="How did you migrate")
    expect(mine.get_by_role("button", name=re.compile("Upvote"))).to_have_count(0)
    expect(mine.get_by_role("button", name="Withdraw")).to_be_visible()

    first.get_by_role("button", name=f"Invite to speak: {bob.display_name}").click()
    asker.get_by_role("button", name="Join the stage").click()  # an invitation asks first
    expect(host.locator("[data-stage]").get_by_text(bob.display_name)).to_be_visible()
    first.get_by_role("button", name="Mark answered").click()
    expect(asker.locator("[data-questions] > li").last).to_contain_text("Answered")
    assert Participant.objects.get(room=room, member=bob).role == Role.SPEAKER
    for page in pages.values():
        assert page.errors == []
