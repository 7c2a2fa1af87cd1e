"""Helpers shared by the moderation tests: flash messages, the audit log, a moderated room."""

from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import Member
from groups.models import Group, Membership
from rooms.models import AuditEntry, Participant, Report, Room
from tests.conftest import make_group, make_member, make_room


def flashes(response) -> list[tuple[str, str]]:
    """The messages queued by a response (redirects included), as (level tag, text)."""
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def audit_count() -> int:
    return AuditEntry.objects.count()


def latest_audit() -> AuditEntry:
    return AuditEntry.objects.order_by("-pk").first()


def present(room: Room, member: Member, *, role: str | None = None) -> Participant:
    """The member is in the live room now (their socket is open)."""
    participant, _ = Participant.objects.get_or_create(room=room, member=member)
    participant.is_present = True
    participant.connection = f"test-channel-{member.pk}"
    fields = ["is_present", "connection"]
    if role is not None:
        participant.role = role
        fields.append("role")
    participant.save(update_fields=fields)
    return participant


@dataclass
class ModeratedRoom:
    """A live public room of a group: alice hosts, erin co-hosts, carol listens (she is a
    member of the group), gina manages the group; bob has reported carol in the room."""

    group: Group
    room: Room
    erin: Member
    gina: Member
    report: Report


def moderated_room(alice, bob, carol) -> ModeratedRoom:
    owner = make_member("Olga Owner")
    erin = make_member("Erin Cohost")
    gina = make_member("Gina Manager")
    group = make_group(owner, "Platform Engineers", members=[carol])
    Membership.objects.create(group=group, member=gina, role=Membership.Role.MANAGER)
    room = make_room(alice, title="Incident reviews", group=group, moderators=[erin])
    for member in (alice, erin):
        present(room, member)
    present(room, carol)
    report = Report.objects.create(
        reporter=bob, target_member=carol, room=room, category="harassment", details="Rude."
    )
    return ModeratedRoom(group=group, room=room, erin=erin, gina=gina, report=report)


def logged_in(member: Member) -> Client:
    client = Client()
    client.force_login(member)
    return client


def make_platform_moderator(name: str = "Second Moderator") -> Member:
    member = make_member(name)
    member.user_permissions.add(
        Permission.objects.get(codename="moderate_platform", content_type__app_label="rooms")
    )
    return Member.objects.get(pk=member.pk)
