"""Django admin: every registered model's pages load for staff and stay shut to members."""

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin
from django.contrib.auth.models import Group as PermissionGroup
from django.contrib.sites.models import Site
from django.urls import reverse

from accounts.models import (
    Block,
    Follow,
    Member,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from events.models import RSVP, EventSpeaker
from groups.models import GroupBan, Membership
from rooms.models import (
    AuditAction,
    AuditEntry,
    Participant,
    Question,
    Recording,
    RecordingConsent,
    Report,
    ReportCategory,
    Room,
    RoomBan,
    TranscriptSegment,
    Warning,
)
from tests.conftest import make_event, make_group, make_member, make_room


def _one_of_each(staff) -> dict[str, object]:
    """One real row of every model the admin shows, keyed by model label."""
    alice = make_member("Alice Moreau", email="alice@acme.dev", headline="Principal engineer")
    bob = make_member("Bob Okafor", email="bob@globex.io")
    group = make_group(alice, "Payments Guild", members=[bob])
    event = make_event(alice, title="Scaling ledgers")
    room = make_room(alice, speakers=[bob], title="Ledger design AMA")
    app = SocialApp.objects.create(provider="openid_connect", name="LinkedIn", client_id="li")
    account = SocialAccount.objects.create(user=alice, provider="linkedin", uid="li-1")
    recording = Recording.objects.create(room=room, started_by=alice)
    report = Report.objects.create(
        reporter=alice, target_member=bob, room=room, category=ReportCategory.SPAM
    )
    return {
        "auth.Group": PermissionGroup.objects.create(name="Moderators"),
        "sites.Site": Site.objects.get_current(),
        "account.EmailAddress": EmailAddress.objects.create(
            user=alice, email=alice.email, verified=True, primary=True
        ),
        "socialaccount.SocialApp": app,
        "socialaccount.SocialAccount": account,
        "socialaccount.SocialToken": SocialToken.objects.create(
            app=app, account=account, token="t"
        ),
        "accounts.Member": alice,
        "accounts.Follow": Follow.objects.create(follower=bob, followee=alice),
        "accounts.Block": Block.objects.create(blocker=alice, blocked=staff),
        "podium_groups.Group": group,
        "podium_groups.Membership": Membership.objects.get(group=group, member=bob),
        "events.Event": event,
        "events.EventSpeaker": EventSpeaker.objects.create(event=event, member=bob),
        "events.RSVP": RSVP.objects.create(event=event, member=bob),
        "rooms.Room": room,
        "rooms.Participant": Participant.objects.get(room=room, member=bob),
        "rooms.RoomBan": RoomBan.objects.create(room=room, member=staff, banned_by=alice),
        "rooms.Question": Question.objects.create(room=room, asker=bob, text="How is it sharded?"),
        "rooms.Report": report,
        "rooms.Recording": recording,
        "rooms.RecordingConsent": RecordingConsent.objects.create(
            room=room, member=bob, agreed=True
        ),
        "rooms.TranscriptSegment": TranscriptSegment.objects.create(
            recording=recording, member=bob, start_ms=0, end_ms=900, text="Welcome"
        ),
        "rooms.Warning": Warning.objects.create(member=bob, issued_by=staff, message="Be kind"),
        "rooms.AuditEntry": AuditEntry.objects.create(
            actor=staff, action=AuditAction.MEMBER_WARN, target_member=bob, reason="Be kind"
        ),
        "podium_groups.GroupBan": GroupBan.objects.create(group=group, member=staff),
        "accounts.Notification": Notification.objects.create(
            recipient=bob, kind=NotificationKind.JOIN_APPROVED, text="Welcome", url="/"
        ),
        "accounts.NotificationPreference": NotificationPreference.objects.create(
            member=bob, kind=NotificationKind.FOLLOWED_LIVE, in_app=False, email=False
        ),
    }


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


REGISTERED = sorted(admin.site._registry, key=lambda m: m._meta.label)
# Made only through moderation services (which audit them): the admin has no add page.
NO_ADD = {
    "rooms.AuditEntry",
    "rooms.Report",
    "rooms.Warning",
    "rooms.RoomBan",
    "podium_groups.GroupBan",
    # Changed only through their services (who tell the room live or check the actor).
    "rooms.Participant",
    "podium_groups.Membership",
    "rooms.Question",
    # Made by the room's recording (rooms/services/recording.py, rooms/recordings/).
    "rooms.Recording",
    "rooms.RecordingConsent",
    "rooms.TranscriptSegment",
}
VIEW_ONLY = {
    "rooms.Participant",
    "podium_groups.Membership",
    "rooms.Question",
    "rooms.Recording",
    "rooms.RecordingConsent",
    "rooms.TranscriptSegment",
}


@pytest.fixture
def rows(staff):
    return _one_of_each(staff)


def test_it_has_a_row_for_every_registered_model(rows):
    assert {m._meta.label for m in REGISTERED} == set(rows)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_it_loads_every_page_for_staff(client, staff, rows, model):
    instance = rows[model._meta.label]
    client.force_login(staff)

    changelist = client.get(_admin_url(model, "changelist"))
    search = client.get(_admin_url(model, "changelist"), {"q": "x"})
    add = client.get(_admin_url(model, "add"))
    change = client.get(_admin_url(model, "change", instance.pk))

    assert changelist.status_code == 200
    # A view-only list has no action checkboxes, which are what name the object itself.
    shown = str(instance)
    if model._meta.label in VIEW_ONLY and hasattr(instance, "member"):
        shown = str(instance.member)
    assert shown in changelist.content.decode()
    assert search.status_code == 200
    assert add.status_code == (403 if model._meta.label in NO_ADD else 200)
    assert change.status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_it_sends_a_member_to_the_admin_login(client, alice, model):
    client.force_login(alice)

    response = client.get(_admin_url(model, "changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_it_finds_members_by_name(client, staff, alice, bob):
    client.force_login(staff)

    page = client.get(_admin_url(Member, "changelist"), {"q": "okafor"}).content.decode()

    assert "Bob Okafor" in page
    assert "Alice Moreau" not in page


def test_it_adds_a_member_from_the_admin(client, staff):
    client.force_login(staff)

    response = client.post(
        _admin_url(Member, "add"),
        {
            "email": "erin@hooli.com",
            "display_name": "Erin Achterberg",
            "handle": "erin",
            "password1": "Ploughed-Meadow-1871",
            "password2": "Ploughed-Meadow-1871",
        },
    )

    assert response.status_code == 302, response.content.decode()
    erin = Member.objects.get(email="erin@hooli.com")
    assert erin.handle == "erin"
    assert erin.check_password("Ploughed-Meadow-1871")


def test_it_shows_the_verified_domain_read_only(client, staff, alice):
    alice.verified_domain = "acme.dev"
    alice.save()
    client.force_login(staff)

    page = client.get(_admin_url(Member, "change", alice.pk)).content.decode()

    assert "acme.dev" in page
    assert 'name="verified_domain"' not in page


def test_the_admin_login_is_the_sites_rate_limited_login(staff, client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    # The admin's own form is gone: posting a password to it signs nobody in.
    client.post("/admin/login/", {"username": staff.email, "password": "pw-for-tests-1"})
    assert "_auth_user_id" not in client.session


def test_guessing_a_staff_password_is_stopped_before_the_right_one(staff, client):
    for _ in range(15):
        client.post("/accounts/login/", {"login": staff.email, "password": "wrong guess"})
    response = client.post("/accounts/login/", {"login": staff.email, "password": "pw-for-tests-1"})
    assert "_auth_user_id" not in client.session  # allauth's limit holds it back
    assert response.status_code in (200, 429)
    assert client.get("/admin/").status_code == 302  # still signed out


def test_participants_and_memberships_cant_be_changed_in_the_admin(client, staff, rows):
    """The inlines and pages used to change roles, mutes and memberships without the
    services (no live update, no audit entry); they are view-only now."""
    client.force_login(staff)
    participant = rows["rooms.Participant"]
    membership = rows["podium_groups.Membership"]
    response = client.post(
        _admin_url(Participant, "change", participant.pk),
        {"member": participant.member_id, "room": participant.room_id, "role": "host"},
    )
    assert response.status_code == 403
    participant.refresh_from_db()
    assert participant.role != "host"
    response = client.post(
        _admin_url(Membership, "change", membership.pk),
        {"member": membership.member_id, "group": membership.group_id, "role": "owner"},
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role != "owner"
    room_page = client.get(_admin_url(Room, "change", participant.room_id)).content.decode()
    assert 'name="participants-0-role"' not in room_page  # the inline shows, doesn't edit
