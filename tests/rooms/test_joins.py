"""rooms/joins.py: a batch of joins gives each socket what a join of its own would have,
in a number of queries that does not grow with the batch."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rooms import joins
from rooms.errors import RoomError
from rooms.joins import JoinRequest, run_joins
from rooms.models import Participant, Question, Role, Room, RoomBan
from tests.conftest import make_member, make_room
from tests.rooms.wsutil import connect, until

pytestmark = pytest.mark.django_db


def _listeners(n: int) -> list:
    return [make_member(f"Listener {i}") for i in range(n)]


def _requests(room, members, prefix="conn") -> list[JoinRequest]:
    return [JoinRequest(room.pk, m, f"{prefix}.{m.pk}") for m in members]


def _queries_for(room, members) -> int:
    with CaptureQueriesContext(connection) as queries:
        answers = run_joins(_requests(room, members))
    assert all(isinstance(a, dict) for a in answers), answers
    return len(queries)


def test_a_batch_costs_the_same_queries_for_5_or_25_listeners(alice):
    room = make_room(alice)
    _queries_for(room, _listeners(1))  # reads the stage, cached until it changes
    small, large = _queries_for(room, _listeners(5)), _queries_for(room, _listeners(25))
    assert small == large
    assert large <= 9, "access, rows, at most two writes, audience, questions, recording"


def test_a_batch_costs_the_same_queries_for_5_or_25_listeners_with_questions_asked(alice):
    room = make_room(alice)
    asker = _listeners(1)[0]
    Participant.objects.filter(room=room, member=asker).update(is_present=True)
    Question.objects.create(room=room, asker=asker, text="Anything?")
    _queries_for(room, _listeners(1))
    assert _queries_for(room, _listeners(5)) == _queries_for(room, _listeners(25))


def test_each_socket_gets_its_own_room_state_and_presence(alice, bob):
    room = make_room(alice, speakers=[bob])
    members = _listeners(6)

    answers = run_joins(_requests(room, members))

    for member, state in zip(members, answers, strict=True):
        assert state["you"]["member"] == member.pk
        assert state["you"]["role"] == Role.LISTENER
        assert state["you"]["can_moderate"] is False
        assert state["room"]["id"] == room.pk
        assert state["audience"]["count"] == 6
    present = Participant.objects.filter(room=room, is_present=True, role=Role.LISTENER)
    assert {(p.member_id, p.connection) for p in present} == {
        (m.pk, f"conn.{m.pk}") for m in members
    }


def test_refusals_answer_their_own_socket_and_the_rest_join(alice, bob, carol, dan):
    room = make_room(alice)
    ended = make_room(alice)
    Room.objects.filter(pk=ended.pk).update(status=Room.Status.ENDED)
    RoomBan.objects.create(room=room, member=carol, banned_by=alice)
    requests = [
        JoinRequest(room.pk, bob, "c.bob"),
        JoinRequest(room.pk, carol, "c.carol"),
        JoinRequest(999999, dan, "c.nowhere"),
        JoinRequest(ended.pk, dan, "c.ended"),
        JoinRequest(room.pk, dan, "c.dan"),
    ]

    bob_state, carol_refusal, nowhere, ended_refusal, dan_state = run_joins(requests)

    assert bob_state["you"]["member"] == bob.pk and dan_state["you"]["member"] == dan.pk
    assert isinstance(carol_refusal, PermissionDenied)
    assert "removed" in str(carol_refusal)
    assert isinstance(nowhere, Http404)
    assert isinstance(ended_refusal, RoomError) and ended_refusal.code == "room_not_live"
    assert not Participant.objects.filter(member=carol, is_present=True).exists()
    present = Participant.objects.filter(room=room, is_present=True)
    assert {bob.pk, dan.pk} <= set(present.values_list("member_id", flat=True))
    assert not Participant.objects.filter(room=ended, member=dan).exists()


def test_a_speaker_in_the_batch_joins_the_stage_and_bumps_the_version(alice, bob):
    room = make_room(alice, speakers=[bob])
    before = Room.objects.get(pk=room.pk).version

    listener_state, bob_state = run_joins(_requests(room, [make_member("L"), bob]))

    assert bob_state["you"]["role"] == Role.SPEAKER
    assert bob.pk in [p["member"] for p in bob_state["stage"]]
    assert Room.objects.get(pk=room.pk).version == before + 1
    assert listener_state["you"]["role"] == Role.LISTENER


def test_a_second_socket_of_a_member_in_the_same_batch_takes_presence_over(alice, carol):
    room = make_room(alice)

    first, second = run_joins(
        [JoinRequest(room.pk, carol, "tab.one"), JoinRequest(room.pk, carol, "tab.two")]
    )

    assert first["you"]["member"] == second["you"]["member"] == carol.pk
    row = Participant.objects.get(room=room, member=carol)
    assert row.is_present and row.connection == "tab.two"


def test_a_rejoining_listener_keeps_hand_and_mute(alice, carol):
    room = make_room(alice)
    raised = timezone.now()
    Participant.objects.create(
        room=room, member=carol, role=Role.LISTENER, hand_raised_at=raised, muted=True
    )

    [state] = run_joins(_requests(room, [carol]))

    assert state["you"]["hand_raised"] is True and state["you"]["muted"] is True
    row = Participant.objects.get(room=room, member=carol)
    assert row.is_present and row.hand_raised_at == raised and row.connection == f"conn.{carol.pk}"


@database_sync_to_async
def _make_listeners(n):
    return _listeners(n)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_sockets_joining_at_once_all_get_their_state_and_the_audience_counts_them(alice):
    room = await database_sync_to_async(make_room)(alice)
    host, _ = await connect(alice, room.pk)
    members = await _make_listeners(30)

    joined = await asyncio.gather(*(connect(m, room.pk) for m in members))

    assert [state["you"]["member"] for _, state in joined] == [m.pk for m in members]
    while (await until(host, "audience.changed"))["count"] != 30:
        pass
    for comm, _ in joined:
        await comm.disconnect()
    # Every leave is done before the test ends (none left running on the ORM thread).
    while (await until(host, "audience.changed"))["count"] != 0:
        pass
    await host.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_join_cancelled_while_its_batch_runs_is_followed_by_its_leave(alice, carol):
    room = await database_sync_to_async(make_room)(alice)
    gate = threading.Event()
    busy = asyncio.ensure_future(database_sync_to_async(gate.wait)(5))  # holds the ORM thread
    await asyncio.sleep(0.05)
    task = asyncio.ensure_future(joins.join(room.pk, carol, "gone.soon"))
    await asyncio.sleep(0.05)  # its batch has gone to the ORM thread and waits there
    task.cancel()
    gate.set()
    await busy
    for _ in range(100):
        await asyncio.sleep(0.02)
        present = await database_sync_to_async(
            Participant.objects.filter(room=room, member=carol, is_present=True).exists
        )()
        row = await database_sync_to_async(
            Participant.objects.filter(room=room, member=carol).first
        )()
        if row is not None and not present:
            break
    assert row is not None, "the join ran"
    assert not present, "and its leave followed"
