"""The screenshots in docs/screenshots/ (README.md), taken from a real room: host, speaker
and listener at 375 and 1440 px, and the question list. Skipped unless asked for:

    PODIUM_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest tests/browser/test_screenshots.py
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from rooms import services
from tests.conftest import make_member, make_room

pytestmark = pytest.mark.browser
OUT = os.environ.get("PODIUM_SCREENSHOTS", "")


@pytest.mark.skipif(not OUT, reason="set PODIUM_SCREENSHOTS to a folder to take them")
def test_take_the_readme_screenshots(signed_in, alice, bob):
    out = Path(OUT)
    out.mkdir(parents=True, exist_ok=True)
    listener = make_member(
        "Priya Raman", headline="Data engineer", company="Northwind", verified_domain="northwind.io"
    )
    others = [
        make_member(name, headline=headline, company=company)
        for name, headline, company in [
            ("Tomás Silva", "SRE", "Globex"),
            ("Mei Chen", "Staff engineer", "Initech"),
            ("Jonas Berg", "CTO", "Fjord Labs"),
        ]
    ]
    room = make_room(
        alice,
        speakers=[bob],
        title="Scaling Postgres to 10k QPS",
        description="What broke first, what we sharded, and what we'd do again.",
    )
    pages = {}
    for member, role in ((alice, "host"), (bob, "speaker"), (listener, "listener")):
        for width, height in ((375, 812), (1440, 900)):
            page = signed_in(member, viewport=(width, height))
            page.goto(f"/rooms/{room.pk}/")
            expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
            pages[role, width] = page
    for member in others:
        page = signed_in(member)
        page.goto(f"/rooms/{room.pk}/")
        expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
    services.question_ask(
        room_id=room.pk,
        actor=listener,
        text="How did you move to the sharded cluster without downtime?",
    )
    services.question_ask(
        room_id=room.pk, actor=others[0], text="Which metric told you it was time to shard?"
    )
    question = services.question_ask(
        room_id=room.pk, actor=others[1], text="Would you pick Citus today?"
    )
    for voter in (listener, others[0], others[2]):
        services.question_vote(room_id=room.pk, actor=voter, question_id=question.pk)
    services.hand_raise(room_id=room.pk, actor=others[2])
    # Made here, so the pages' servers weren't told: each page reads them as it loads again.
    for (role, width), page in pages.items():
        page.reload()
        expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
        expect(page.locator("[data-questions] > li")).to_have_count(3)
        page.wait_for_timeout(300)
        page.screenshot(path=out / f"room-{role}-{width}.png")
        # Right away: one member's newer tab replaces the older one (session.replaced).
        if role == "listener":
            page.locator("[data-questions-section]").scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=out / f"questions-{width}.png")
