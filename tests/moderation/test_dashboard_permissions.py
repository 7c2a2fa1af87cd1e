"""Who may open each moderation page and take each moderation action, persona by persona.

The world (tests.moderation.helpers.moderated_room): a live public room of a group, hosted by
alice with erin as co-host; carol listens and belongs to the group, gina manages it, and bob
has reported carol. The personas act on carol (or on the room, or on bob's report):

- anonymous: every page and action sends them to sign in;
- member (dan, a plain member): pages and platform-only actions are 403; the room and group
  actions are answered with an error message and change nothing;
- host (alice) and cohost (erin): room actions in their room as DESIGN.md section 3 allows
  (ending is for the host), nothing else;
- group_manager (gina): the group ban and the room actions in the group's rooms;
- platform (mod): everything.

An allowed action changes what it says, says so, and writes exactly one audit entry naming
the actor, the action and the target. A refused one changes no row at all.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Member
from groups.models import GroupBan, Membership
from rooms.models import (
    AuditAction,
    AuditEntry,
    Participant,
    Report,
    Room,
    RoomBan,
    Warning,
)
from rooms.moderation import services as moderation
from tests.conftest import make_group, make_member, make_room
from tests.moderation.helpers import audit_count, flashes, latest_audit, moderated_room, present

PERSONAS = ("anonymous", "member", "host", "cohost", "group_manager", "platform")
LOGIN, FORBIDDEN, REFUSED, DONE = "login", "403", "refused", "done"


@pytest.fixture
def world(alice, bob, carol, dan, mod):
    return SimpleNamespace(
        **vars(moderated_room(alice, bob, carol)),
        alice=alice,
        bob=bob,
        carol=carol,
        dan=dan,
        mod=mod,
    )


def _persona(world, persona: str) -> Member | None:
    return {
        "anonymous": None,
        "member": world.dan,
        "host": world.alice,
        "cohost": world.erin,
        "group_manager": world.gina,
        "platform": world.mod,
    }[persona]


def _client(member: Member | None, **kwargs) -> Client:
    client = Client(**kwargs)
    if member is not None:
        client.force_login(member)
    return client


def _picture(world) -> dict:
    """Every row a moderation action could touch."""
    return {
        "report": Report.objects.filter(pk=world.report.pk)
        .values("status", "assigned_to", "resolution", "resolved_by")
        .get(),
        "carol": Member.objects.filter(pk=world.carol.pk)
        .values("suspended_until", "suspension_reason", "is_active")
        .get(),
        "room": Room.objects.filter(pk=world.room.pk).values("status", "version").get(),
        "participants": sorted(
            Participant.objects.filter(room=world.room).values_list(
                "member_id", "role", "is_present", "muted"
            )
        ),
        "room_bans": list(RoomBan.objects.values_list("room_id", "member_id")),
        "group_bans": list(GroupBan.objects.values_list("group_id", "member_id")),
        "memberships": sorted(
            Membership.objects.filter(group=world.group).values_list("member_id", "role")
        ),
        "warnings": list(Warning.objects.values_list("member_id", "message")),
        "audit": list(AuditEntry.objects.values_list("pk", flat=True)),
    }


# --- Pages ------------------------------------------------------------------------------------


PAGES = {
    "dashboard": lambda w: "/moderation/",
    "reports": lambda w: "/moderation/reports/",
    "report": lambda w: f"/moderation/reports/{w.report.pk}/",
    "member": lambda w: f"/moderation/members/{w.carol.handle}/",
    "audit": lambda w: "/moderation/audit/",
}
PAGE_EXPECTED = {
    "anonymous": LOGIN,
    "member": FORBIDDEN,
    "host": FORBIDDEN,
    "cohost": FORBIDDEN,
    "group_manager": FORBIDDEN,
    "platform": 200,
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("page", PAGES)
def test_it_opens_each_page_to_platform_moderators_only(world, page, persona):
    url = PAGES[page](world)
    before = _picture(world)

    response = _client(_persona(world, persona)).get(url)

    expected = PAGE_EXPECTED[persona]
    if expected == LOGIN:
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/?next=")
    elif expected == FORBIDDEN:
        assert response.status_code == 403
    else:
        assert response.status_code == 200
        assert "moderation/_nav.html" in [t.name for t in response.templates]
    assert _picture(world) == before


def _add_rows(world, n: int) -> None:
    """n more reports, warnings, audit entries and live rooms, all about carol."""
    for _ in range(n):
        reporter = make_member()
        report = Report.objects.create(
            reporter=reporter, target_member=world.carol, room=world.room, category="spam"
        )
        moderation.report_assign(actor=world.mod, report=report)
        moderation.member_warn(actor=world.mod, member=world.carol, message="Again.")
        make_room(make_member(), group=world.group)
        Room.objects.create(title="Old one", host=world.carol)


@pytest.mark.parametrize("page", PAGES)
def test_it_renders_each_page_in_the_same_number_of_queries_however_many_rows(world, page):
    client = _client(world.mod)
    url = PAGES[page](world)
    _add_rows(world, 1)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _add_rows(world, 4)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)


# --- Actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    url: Callable
    data: dict
    audit: str
    # Did the change happen? Called with the world and the actor.
    done: Callable
    # Where the audit entry must point besides the target: "report", "room" or "group".
    where: str | None
    targets_carol: bool = True
    setup: Callable | None = None


def _suspend_carol(w) -> None:
    Member.objects.filter(pk=w.carol.pk).update(
        suspended_until=timezone.now() + timedelta(days=3), suspension_reason="Spam"
    )


def _carol(w) -> Member:
    return Member.objects.get(pk=w.carol.pk)


def _report(w) -> Report:
    return Report.objects.get(pk=w.report.pk)


ACTIONS = {
    "assign": Action(
        url=lambda w: f"/moderation/reports/{w.report.pk}/assign/",
        data={},
        audit=AuditAction.REPORT_ASSIGN,
        done=lambda w, actor: _report(w).assigned_to_id == actor.pk,
        where="report",
    ),
    "resolve": Action(
        url=lambda w: f"/moderation/reports/{w.report.pk}/resolve/",
        data={"note": "Talked to her."},
        audit=AuditAction.REPORT_RESOLVE,
        done=lambda w, actor: _report(w).status == Report.Status.RESOLVED,
        where="report",
    ),
    "dismiss": Action(
        url=lambda w: f"/moderation/reports/{w.report.pk}/dismiss/",
        data={"reason": "Heated but civil."},
        audit=AuditAction.REPORT_DISMISS,
        done=lambda w, actor: _report(w).status == Report.Status.DISMISSED,
        where="report",
    ),
    "warn": Action(
        url=lambda w: f"/moderation/members/{w.carol.handle}/warn/",
        data={"message": "Please keep it civil."},
        audit=AuditAction.MEMBER_WARN,
        done=lambda w, actor: Warning.objects.filter(member=w.carol, issued_by=actor).exists(),
        where=None,
    ),
    "suspend": Action(
        url=lambda w: f"/moderation/members/{w.carol.handle}/suspend/",
        data={"duration": "7", "reason": "Harassment in rooms."},
        audit=AuditAction.MEMBER_SUSPEND,
        done=lambda w, actor: _carol(w).is_suspended,
        where=None,
    ),
    "unsuspend": Action(
        url=lambda w: f"/moderation/members/{w.carol.handle}/unsuspend/",
        data={"reason": "Appeal accepted."},
        audit=AuditAction.MEMBER_UNSUSPEND,
        done=lambda w, actor: _carol(w).suspended_until is None,
        where=None,
        setup=_suspend_carol,
    ),
    "room_end": Action(
        url=lambda w: f"/moderation/rooms/{w.room.pk}/end/",
        data={},
        audit=AuditAction.ROOM_END,
        done=lambda w, actor: Room.objects.get(pk=w.room.pk).status == Room.Status.ENDED,
        where="room",
        targets_carol=False,
    ),
    "room_remove": Action(
        url=lambda w: f"/moderation/rooms/{w.room.pk}/members/{w.carol.pk}/remove/",
        data={},
        audit=AuditAction.MEMBER_REMOVE,
        done=lambda w, actor: (
            not Participant.objects.get(room=w.room, member=w.carol).is_present
            and not RoomBan.objects.filter(member=w.carol).exists()
        ),
        where="room",
    ),
    "room_ban": Action(
        url=lambda w: f"/moderation/rooms/{w.room.pk}/members/{w.carol.pk}/ban/",
        data={"reason": "Report #1"},
        audit=AuditAction.MEMBER_BAN,
        done=lambda w, actor: (
            RoomBan.objects.filter(room=w.room, member=w.carol, banned_by=actor).exists()
            and not Participant.objects.get(room=w.room, member=w.carol).is_present
        ),
        where="room",
    ),
    "group_ban": Action(
        url=lambda w: f"/moderation/groups/{w.group.slug}/ban/{w.carol.pk}/",
        data={"reason": "Spamming the group."},
        audit=AuditAction.GROUP_BAN,
        done=lambda w, actor: (
            GroupBan.objects.filter(group=w.group, member=w.carol, banned_by=actor).exists()
            and not Membership.objects.filter(group=w.group, member=w.carol).exists()
        ),
        where="group",
    ),
}

PLATFORM_ONLY = {
    "anonymous": LOGIN,
    "member": FORBIDDEN,
    "host": FORBIDDEN,
    "cohost": FORBIDDEN,
    "group_manager": FORBIDDEN,
    "platform": DONE,
}
EXPECTED = {
    **dict.fromkeys(
        ("assign", "resolve", "dismiss", "warn", "suspend", "unsuspend"), PLATFORM_ONLY
    ),
    "room_end": {
        "anonymous": LOGIN,
        "member": REFUSED,
        "host": DONE,
        "cohost": REFUSED,  # ending the room is the host's alone
        "group_manager": DONE,
        "platform": DONE,
    },
    **{
        name: {
            "anonymous": LOGIN,
            "member": REFUSED,
            "host": DONE,
            "cohost": DONE,
            "group_manager": DONE,
            "platform": DONE,
        }
        for name in ("room_remove", "room_ban")
    },
    "group_ban": {
        "anonymous": LOGIN,
        "member": REFUSED,
        "host": REFUSED,
        "cohost": REFUSED,
        "group_manager": DONE,
        "platform": DONE,
    },
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", ACTIONS)
def test_it_lets_each_persona_take_exactly_the_actions_it_may(world, name, persona):
    action = ACTIONS[name]
    if action.setup is not None:
        action.setup(world)
    actor = _persona(world, persona)
    client = _client(actor)
    before = _picture(world)
    entries = audit_count()

    response = client.post(action.url(world), action.data)

    expected = EXPECTED[name][persona]
    if expected == LOGIN:
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/?next=")
    elif expected == FORBIDDEN:
        assert response.status_code == 403
    elif expected == REFUSED:
        assert response.status_code == 302
        levels = [level for level, _ in flashes(response)]
        assert levels == ["error"], flashes(response)
    if expected != DONE:
        assert _picture(world) == before
        return

    assert response.status_code == 302
    assert [level for level, _ in flashes(response)] == ["success"], flashes(response)
    assert action.done(world, actor)
    assert audit_count() == entries + 1
    entry = latest_audit()
    assert (entry.action, entry.actor_id) == (action.audit, actor.pk)
    assert entry.target_member_id == (world.carol.pk if action.targets_carol else None)
    assert entry.report_id == (world.report.pk if action.where == "report" else None)
    assert entry.room_id == (world.room.pk if action.where in ("room", "report") else None)
    assert entry.group_id == (world.group.pk if action.where == "group" else None)


def test_it_refuses_a_host_and_a_group_manager_from_elsewhere(world):
    """Room powers hold in one's own room, group powers in one's own group's rooms."""
    other_host = make_member("Hank Otherhost")
    other_room = make_room(other_host)
    present(other_room, other_host)
    other_manager = make_member("Mona Othermanager")
    make_group(other_manager, "Data Folks")
    before = _picture(world)

    for member in (other_host, other_manager):
        client = _client(member)
        for name in ("room_end", "room_remove", "room_ban", "group_ban"):
            response = client.post(ACTIONS[name].url(world), ACTIONS[name].data)
            assert response.status_code == 302
            assert {level for level, _ in flashes(response)} == {"error"}

    assert _picture(world) == before


# --- CSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIONS)
def test_it_refuses_a_post_without_the_csrf_token(world, name):
    action = ACTIONS[name]
    if action.setup is not None:
        action.setup(world)
    client = _client(world.mod, enforce_csrf_checks=True)
    before = _picture(world)

    response = client.post(action.url(world), action.data)

    assert response.status_code == 403
    assert _picture(world) == before


def test_it_accepts_the_same_post_with_the_token_from_the_page(world):
    client = _client(world.mod, enforce_csrf_checks=True)
    client.get(f"/moderation/reports/{world.report.pk}/")
    token = client.cookies["csrftoken"].value

    response = client.post(
        f"/moderation/reports/{world.report.pk}/assign/", {"csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    assert _report(world).assigned_to == world.mod
