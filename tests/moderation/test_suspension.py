"""Suspensions and group bans: what a suspended member can still reach (only the suspension
page and signing out), and how both take effect live, through the real room consumer."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import SUSPENDED_FOREVER, Member
from rooms import selectors, services
from rooms.errors import NotAllowed
from rooms.models import AuditEntry, Participant, Report, Room
from rooms.moderation import services as moderation
from rooms.protocol import Close
from tests.conftest import make_group, make_room
from tests.moderation.helpers import audit_count, flashes, logged_in, present
from tests.rooms.wsutil import close_code, connect, refused, send, until


def _suspend(member, *, days: int | None = 7, reason: str = "Harassment in rooms.") -> None:
    until = None if days is None else timezone.now() + timedelta(days=days)
    Member.objects.filter(pk=member.pk).update(
        suspended_until=until or SUSPENDED_FOREVER, suspension_reason=reason
    )


# --- Pages ------------------------------------------------------------------------------------


PAGES = [
    "/",
    "/rooms/",
    "/rooms/{room}/",
    "/rooms/{room}/audience/",
    "/rooms/new/",
    "/in/{alice}/",
    "/in/{carol}/",
    "/settings/profile/",
    "/groups/",
    "/events/",
    "/report/?member={alice}",
    "/moderation/",
]


@pytest.mark.parametrize("url", PAGES)
def test_it_answers_every_page_with_the_suspension_page(alice, carol, url):
    room = make_room(alice)
    _suspend(carol)

    response = logged_in(carol).get(
        url.format(room=room.pk, alice=alice.handle, carol=carol.handle)
    )

    assert response.status_code == 403
    assert response.templates[0].name == "moderation/suspended.html"
    page = response.content.decode()
    assert "Your account is suspended" in page
    assert "Harassment in rooms." in page


def test_it_refuses_every_form_post(alice, carol):
    client = logged_in(carol)
    _suspend(carol)

    reported = client.post("/report/", {"member": alice.handle, "category": "spam"})
    created = client.post("/rooms/new/", {"title": "Back door", "max_speakers": 5})

    assert (reported.status_code, created.status_code) == (403, 403)
    assert not Report.objects.exists()
    assert not Room.objects.exists()


def test_it_lets_a_suspended_member_sign_out(carol):
    client = logged_in(carol)
    _suspend(carol)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 200


def test_it_refuses_the_room_page_and_media(alice, carol):
    room = make_room(alice)
    participant = present(room, carol)
    assert (
        selectors.media_offer_allowed(
            room_id=room.pk, member=carol, connection=participant.connection
        )
        is False
    )
    _suspend(carol)  # a suspension written while her socket is still counted present

    with pytest.raises(NotAllowed, match="suspended"):
        selectors.media_offer_allowed(
            room_id=room.pk, member=carol, connection=participant.connection
        )
    assert logged_in(carol).get(f"/rooms/{room.pk}/").status_code == 403


def test_it_takes_a_suspended_member_out_of_every_live_room(alice, bob, carol, mod):
    rooms = [make_room(alice), make_room(bob)]
    for room in rooms:
        present(room, carol)

    moderation.member_suspend(actor=mod, member=carol, until=None, reason="Spam.")

    assert not Participant.objects.filter(member=carol, is_present=True).exists()
    for room in rooms:
        with pytest.raises(NotAllowed):
            selectors.media_offer_allowed(
                room_id=room.pk, member=carol, connection=f"test-channel-{carol.pk}"
            )


def test_unsuspending_restores_access(alice, carol, mod):
    room = make_room(alice)
    moderator = logged_in(mod)
    client = logged_in(carol)
    moderator.post(
        f"/moderation/members/{carol.handle}/suspend/", {"duration": "1", "reason": "Cool off."}
    )
    assert client.get("/").status_code == 403

    response = moderator.post(f"/moderation/members/{carol.handle}/unsuspend/")

    assert flashes(response)[-1] == ("success", "Carol Nguyen's suspension is lifted.")
    carol.refresh_from_db()
    assert (carol.suspended_until, carol.suspension_reason) == (None, "")
    assert client.get("/").status_code == 200
    assert client.get(f"/rooms/{room.pk}/").status_code == 200
    services.participant_join(room_id=room.pk, member=carol, connection="c1")
    assert selectors.media_offer_allowed(room_id=room.pk, member=carol, connection="c1") is False


def test_a_suspension_that_has_run_out_lets_the_member_back(carol):
    Member.objects.filter(pk=carol.pk).update(
        suspended_until=timezone.now() - timedelta(minutes=1), suspension_reason="Old."
    )

    assert logged_in(carol).get("/").status_code == 200


# --- Suspending -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "reason", "message"),
    [
        (timedelta(days=1), "", "Give a reason for the suspension."),
        (timedelta(days=1), "   ", "Give a reason for the suspension."),
        (-timedelta(minutes=1), "Spam.", "The suspension must end in the future."),
        (timedelta(0), "Spam.", "The suspension must end in the future."),
    ],
)
def test_a_suspension_needs_a_reason_and_a_future_end(carol, mod, until, reason, message):
    with pytest.raises(moderation.ModerationError) as refused_:
        moderation.member_suspend(
            actor=mod, member=carol, until=timezone.now() + until, reason=reason
        )

    assert str(refused_.value) == message
    carol.refresh_from_db()
    assert carol.suspended_until is None
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"duration": "7", "reason": ""},
        {"duration": "", "reason": "Spam."},
        {"duration": "-3", "reason": "Spam."},
        {"duration": "0", "reason": "Spam."},
    ],
)
def test_the_dashboard_refuses_a_suspension_without_duration_or_reason(carol, mod, data):
    response = logged_in(mod).post(f"/moderation/members/{carol.handle}/suspend/", data)

    assert response.status_code == 302
    assert flashes(response) == [("error", "Choose a duration and give a reason.")]
    carol.refresh_from_db()
    assert carol.suspended_until is None
    assert audit_count() == 0


def test_it_refuses_to_suspend_yourself_or_a_superuser(mod, staff):
    with pytest.raises(moderation.ModerationError):
        moderation.member_suspend(actor=mod, member=mod, until=None, reason="Oops.")
    with pytest.raises(PermissionDenied):
        moderation.member_suspend(actor=mod, member=staff, until=None, reason="Coup.")
    assert not Member.objects.filter(suspended_until__isnull=False).exists()


def test_an_indefinite_suspension_shows_until_further_notice(carol, mod):
    response = logged_in(mod).post(
        f"/moderation/members/{carol.handle}/suspend/",
        {"duration": "forever", "reason": "Repeated harassment."},
    )

    assert flashes(response) == [("success", "Carol Nguyen is suspended indefinitely.")]
    carol.refresh_from_db()
    assert carol.suspended_until == SUSPENDED_FOREVER
    assert carol.suspended_indefinitely
    page = logged_in(carol).get("/").content.decode()
    assert "suspended until further notice" in page
    assert "Repeated harassment." in page


def test_a_timed_suspension_shows_its_end(carol, mod):
    logged_in(mod).post(
        f"/moderation/members/{carol.handle}/suspend/", {"duration": "30", "reason": "Spam."}
    )

    carol.refresh_from_db()
    expected = timezone.now() + timedelta(days=30)
    assert abs(carol.suspended_until - expected) < timedelta(minutes=1)
    page = logged_in(carol).get("/").content.decode()
    assert "further notice" not in page
    assert f"suspended until {carol.suspended_until:%-d %B %Y}" in page


# --- Live, through the real consumer ----------------------------------------------------------


async def _closed_within(comm, seconds: float, reason: str) -> None:
    """The socket gets a `removed` event and then closes with 4403, all within `seconds`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    removed = await until(comm, "removed", timeout=seconds)
    assert removed["reason"] == reason
    assert removed["banned"] is True
    left = seconds - (loop.time() - start)
    assert await close_code(comm, timeout=left) == Close.FORBIDDEN
    await comm.disconnect()


async def _audience_count_becomes(comm, count: int) -> None:
    while (await until(comm, "audience.changed"))["count"] != count:
        pass


@database_sync_to_async
def _present_in(room, member) -> bool:
    return Participant.objects.filter(room=room, member=member, is_present=True).exists()


@database_sync_to_async
def _fresh(member) -> Member:
    # What the real stack's AuthMiddleware loads for a new socket.
    return Member.objects.get(pk=member.pk)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_suspension_closes_the_members_sockets_at_once(alice, bob, carol, mod):
    room = await database_sync_to_async(make_room)(alice)
    other_room = await database_sync_to_async(make_room)(bob)
    host, _ = await connect(alice, room.pk)
    listener, _ = await connect(carol, room.pk)
    elsewhere, _ = await connect(carol, other_room.pk)
    await _audience_count_becomes(host, 1)

    await database_sync_to_async(moderation.member_suspend)(
        actor=mod, member=carol, until=timezone.now() + timedelta(days=7), reason="Harassment."
    )

    await _closed_within(listener, 2, "suspended")
    await _closed_within(elsewhere, 2, "suspended")
    assert not await _present_in(room, carol)
    assert not await _present_in(other_room, carol)
    await _audience_count_becomes(host, 0)
    error, code = await refused(await _fresh(carol), room.pk)
    assert (error["code"], error["message"]) == ("forbidden", "Your account is suspended.")
    assert code == Close.FORBIDDEN
    assert not await _present_in(room, carol)
    await host.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_group_ban_closes_only_that_groups_rooms(alice, bob, carol, mod):
    group = await database_sync_to_async(make_group)(alice, members=[carol])
    group_room = await database_sync_to_async(make_room)(alice, group=group)
    other_room = await database_sync_to_async(make_room)(bob)
    host, _ = await connect(alice, group_room.pk)
    listener, _ = await connect(carol, group_room.pk)
    elsewhere, _ = await connect(carol, other_room.pk)
    await _audience_count_becomes(host, 1)

    await database_sync_to_async(moderation.group_ban)(
        actor=mod, group=group, member=carol, reason="Spam in the group."
    )

    await _closed_within(listener, 2, "group_banned")
    assert not await _present_in(group_room, carol)
    await _audience_count_becomes(host, 0)
    # Her socket in a room outside the group stays open and working.
    assert await _present_in(other_room, carol)
    await send(elsewhere, "hand.raise")
    assert (await until(elsewhere, "role.changed"))["you"]["hand_raised"] is True
    error, code = await refused(await _fresh(carol), group_room.pk)
    assert (error["code"], error["message"]) == ("forbidden", "You've been banned from this group.")
    assert code == Close.FORBIDDEN
    await elsewhere.disconnect()
    await host.disconnect()
