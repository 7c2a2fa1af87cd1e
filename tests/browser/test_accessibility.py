"""axe-core over every page, on a phone (375 px) and a desktop (1440 px): no critical and no
serious violations.

axe-core comes from the npm registry (package.json at the top of the repo; `make install-dev`
runs `npm ci`). Each viewport runs in one browser: a page per member, reused from one address
to the next, and the violations of every page are reported together.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from accounts.notifications import notify
from accounts.services import follow_create
from events.services import rsvp_set
from rooms.models import Question
from rooms.moderation.services import group_ban, report_file
from tests.browser.conftest import open_signed_in
from tests.conftest import make_event, make_group, make_member, make_room, verify_email

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": (375, 812), "desktop": (1440, 900)}
BLOCKING = ("critical", "serious")
# A page's violations, as plain data: rule, impact, help and each element's selector.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => {
      // Colour contrast says which colours: "#6b7785 on #f5f7fa, 4.25:1".
      const data = (n.any[0] || {}).data;
      return {
        target: n.target.join(' '),
        colours: data && data.contrastRatio
          ? `${data.fgColor} on ${data.bgColor}, ${data.contrastRatio}:1` : '',
      };
    }),
  }));
}"""


@pytest.fixture(autouse=True)
def _axe_installed():
    if AXE.exists():
        return
    message = f"{AXE.relative_to(AXE.parents[2])} is missing: `make install-dev` runs npm ci"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def world(alice, bob, carol, mod):
    """A small community whose pages show every kind of card: live and scheduled rooms, an
    event in a group, verified badges, followers, notifications and an open report."""
    verify_email(alice, "alice@acme.dev", primary=True)
    verify_email(bob, "bob@globex.io", primary=True)
    group = make_group(alice, "Data Engineering", members=[bob, carol])
    group.memberships.filter(member=bob).update(role="manager")
    banned = make_member("Mallory Spam")
    group_ban(actor=alice, group=group, member=banned, reason="Spam")
    event = make_event(
        alice, title="Data contracts AMA", group=group, description="Bring your questions."
    )
    rsvp_set(event=event, member=carol, status="going")
    live = make_room(alice, speakers=[bob], title="Office hours: data contracts", group=group)
    make_room(bob, title="Incident reviews", live=False, event_id=event.pk)
    make_event(bob, title="SRE book club", starts_in=timedelta(days=3))
    follow_create(follower=carol, followee=alice)
    follow_create(follower=alice, followee=bob)
    notify(
        member=alice, kind="followed_live", text="Bob Okafor is live", url=live.get_absolute_url()
    )
    listeners = [make_member(f"Listener {n}", headline="Analyst") for n in range(3)]
    # The room's questions: an open one with votes, and an answered one (shown dimmed).
    Question.objects.create(room=live, asker=listeners[0], text="Who owns a contract?", votes=2)
    Question.objects.create(
        room=live, asker=listeners[1], text="Is it recorded?", answered_at=timezone.now()
    )
    report, _ = report_file(
        reporter=carol, category="spam", details="Sells courses", target_member=bob
    )
    return {"live": live, "event": event, "group": group, "report": report, "reported": bob}


def _violations(page, label: str, found: list[str]) -> None:
    """Run axe on the page as it is; add a line to `found` for each blocking rule it breaks."""
    page.add_script_tag(path=str(AXE))
    for v in page.evaluate(RUN_AXE):
        nodes = v["nodes"]
        if v["impact"] not in BLOCKING or not nodes:
            continue
        targets = ", ".join(
            f"{n['target']} ({n['colours']})" if n["colours"] else n["target"] for n in nodes[:3]
        )
        where = f"{v['impact']}, {len(nodes)} elements"
        found.append(f"{label}: {v['id']} ({where}) {v['help']} — {targets}")


def _check(page, url: str, found: list[str], *, label: str = "", status: int = 200) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status, (url, response and response.status)
    _violations(page, label or url, found)


def _check_live_room(page, url: str, found: list[str], label: str) -> None:
    page.goto(url)
    # The room page fills its stage from the socket; check it as members see it, connected.
    page.wait_for_selector('[data-connection="live"]', state="attached", timeout=15_000)
    page.wait_for_selector("[data-stage] li")
    page.wait_for_selector("[data-questions] li")
    _violations(page, label, found)


def _check_not_found(page, found: list[str]) -> None:
    """Podium's own 404 page: the test server runs with DEBUG, which shows Django's instead,
    so the page Django renders with DEBUG off is served at a missing address."""
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    page.route(
        "**/no-such-page/",
        lambda route: route.fulfill(
            status=404, content_type="text/html; charset=utf-8", body=response.content
        ),
    )
    _check(page, "/no-such-page/", found, label="404", status=404)
    page.unroute("**/no-such-page/")


def _report(found: list[str], width: int) -> str:
    return f"{len(found)} critical or serious axe violations at {width} px:\n" + "\n".join(found)


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_signed_out_pages_pass_axe(browser, live_daphne, world, alice, viewport):
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, base_url=live_daphne
    )
    page = context.new_page()
    found: list[str] = []
    for url in (
        "/",
        "/rooms/",
        "/events/",
        "/groups/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        world["live"].get_absolute_url(),  # the preview a signed-out visitor sees
        world["event"].get_absolute_url(),
        world["group"].get_absolute_url(),
        alice.get_absolute_url(),
        "/search/?q=a",
    ):
        _check(page, url, found)
    _check_not_found(page, found)
    context.close()
    assert not found, _report(found, viewport[0])


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_signed_in_pages_pass_axe(browser, live_daphne, world, alice, carol, mod, viewport):
    host = open_signed_in(browser, live_daphne, alice, viewport)
    listener = open_signed_in(browser, live_daphne, carol, viewport)
    moderator = open_signed_in(browser, live_daphne, mod, viewport)
    found: list[str] = []
    room = world["live"].get_absolute_url()
    _check_live_room(host, room, found, "room as host")
    _check_live_room(listener, room, found, "room as listener")
    for url in (
        "/",
        "/rooms/",
        "/events/",
        "/groups/",
        "/rooms/new/",
        "/events/new/",
        "/groups/new/",
        "/notifications/",
        "/settings/profile/",
        "/settings/notifications/",
        "/accounts/email/",
        "/accounts/password/change/",
        world["event"].get_absolute_url(),
        world["group"].get_absolute_url(),
        alice.get_absolute_url(),
        f"{alice.get_absolute_url()}followers/",
        "/search/?q=a",
    ):
        _check(host, url, found)
    # Someone else's profile, event and group, with their follow, RSVP and join buttons.
    for url in (
        world["event"].get_absolute_url(),
        world["group"].get_absolute_url(),
        alice.get_absolute_url(),
    ):
        _check(listener, url, found, label=f"{url} as a member")
    for url in (
        "/moderation/",
        "/moderation/reports/",
        f"/moderation/reports/{world['report'].pk}/",
        f"/moderation/members/{world['reported'].handle}/",
        "/moderation/audit/",
    ):
        _check(moderator, url, found)
    for page in (host, listener, moderator):
        assert page.errors == [], page.errors
        page.context.close()
    assert not found, _report(found, viewport[0])
