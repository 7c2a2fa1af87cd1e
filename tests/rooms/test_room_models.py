"""rooms.models: the invariants the database itself enforces, and the room querysets."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import block_create
from rooms.models import Participant, Role, Room, RoomBan
from tests.conftest import make_group, make_room


def test_it_allows_one_participant_per_room_and_member(alice, carol):
    room = make_room(alice)
    Participant.objects.create(room=room, member=carol)

    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.create(room=room, member=carol, role=Role.SPEAKER)

    assert Participant.objects.filter(room=room, member=carol).count() == 1


def test_it_allows_the_same_member_in_two_rooms(alice, carol):
    first, second = make_room(alice), make_room(alice)

    Participant.objects.create(room=first, member=carol)
    Participant.objects.create(room=second, member=carol)

    assert Participant.objects.filter(member=carol).count() == 2


def test_it_allows_one_host_per_room(alice, bob):
    room = make_room(alice, speakers=[bob])

    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.filter(room=room, member=bob).update(role=Role.HOST)

    assert Participant.objects.get(room=room, member=bob).role == Role.SPEAKER


def test_it_refuses_a_second_host_participant(alice, carol):
    room = make_room(alice)

    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.create(room=room, member=carol, role=Role.HOST)


def test_it_allows_several_moderators_and_speakers(alice, bob, carol, dan):
    room = make_room(alice, speakers=[bob])

    Participant.objects.create(room=room, member=carol, role=Role.MODERATOR)
    Participant.objects.create(room=room, member=dan, role=Role.MODERATOR)

    assert Participant.objects.filter(room=room).count() == 4


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.SPEAKER])
def test_only_listeners_raise_hands(alice, carol, role):
    room = make_room(alice)

    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.create(
            room=room, member=carol, role=role, hand_raised_at=timezone.now()
        )

    assert not Participant.objects.filter(room=room, member=carol).exists()


def test_the_host_cannot_raise_a_hand(alice):
    room = make_room(alice)

    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.filter(room=room, member=alice).update(hand_raised_at=timezone.now())


def test_a_listener_raises_a_hand(alice, carol):
    room = make_room(alice)

    listener = Participant.objects.create(room=room, member=carol, hand_raised_at=timezone.now())

    assert listener.role == Role.LISTENER
    assert not listener.on_stage


def test_a_listener_with_a_raised_hand_cannot_be_promoted_without_lowering_it(alice, carol):
    room = make_room(alice)
    listener = Participant.objects.create(room=room, member=carol, hand_raised_at=timezone.now())

    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.filter(pk=listener.pk).update(role=Role.SPEAKER)


@pytest.mark.parametrize("size", [0, 101])
def test_it_refuses_a_stage_size_out_of_range(alice, size):
    with pytest.raises(IntegrityError), transaction.atomic():
        Room.objects.create(title="Scaling Postgres", host=alice, max_speakers=size)

    assert not Room.objects.exists()


@pytest.mark.parametrize("size", [1, 100])
def test_it_accepts_the_ends_of_the_stage_size_range(alice, size):
    room = Room.objects.create(title="Scaling Postgres", host=alice, max_speakers=size)

    assert Room.objects.get(pk=room.pk).max_speakers == size


def test_a_group_only_room_needs_a_group(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        Room.objects.create(title="Red team debrief", host=alice, visibility="group")

    group = make_group(alice, "Security Council", private=True)
    room = Room.objects.create(
        title="Red team debrief", host=alice, visibility="group", group=group
    )
    assert room.group == group


def test_it_bans_a_member_once_per_room(alice, dan):
    room = make_room(alice)
    RoomBan.objects.create(room=room, member=dan, banned_by=alice)

    with pytest.raises(IntegrityError), transaction.atomic():
        RoomBan.objects.create(room=room, member=dan, banned_by=alice)


def test_live_selects_live_rooms(alice):
    live = make_room(alice)
    make_room(alice, live=False)
    ended = make_room(alice)
    Room.objects.filter(pk=ended.pk).update(status=Room.Status.ENDED)

    assert list(Room.objects.live()) == [live]
    assert live.is_live


def test_visible_to_applies_groups_bans_and_blocks(alice, bob, carol, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    make_room(alice, title="Public")
    make_room(alice, title="Group only", group=group, visibility="group")
    banned_from = make_room(bob, title="Banned from")
    RoomBan.objects.create(room=banned_from, member=carol, banned_by=bob)
    make_room(dan, title="Blocked by host")
    block_create(blocker=dan, blocked=carol)

    def visible(member) -> set[str]:
        return set(Room.objects.visible_to(member).values_list("title", flat=True))

    assert visible(None) == {"Public", "Banned from", "Blocked by host"}
    assert visible(bob) == {"Public", "Group only", "Banned from", "Blocked by host"}
    assert visible(carol) == {"Public"}
    assert visible(alice) == {"Public", "Group only", "Banned from", "Blocked by host"}
