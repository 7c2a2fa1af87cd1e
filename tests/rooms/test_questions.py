"""Audience questions (rooms/services/questions.py): who may ask, vote, withdraw, answer
and remove; the ranked list everyone sees through the real consumer; blocks, bans and the
limits on asking and voting."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission

from accounts.services import block_create
from rooms import protocol, services
from rooms.errors import Conflict, NotFound, RoomError
from rooms.models import Question, QuestionVote, Role
from tests.conftest import make_member, make_room
from tests.moderation.helpers import present
from tests.rooms.wsutil import connect, send, until

HOST, MODERATOR, SPEAKER, LISTENER, PLATFORM, ABSENT = (
    "host",
    "moderator",
    "speaker",
    "listener",
    "platform",
    "absent",
)
ACTORS = (HOST, MODERATOR, SPEAKER, LISTENER, PLATFORM, ABSENT)

# Written out by hand (not computed from rooms.permissions): who may take each action.
EXPECTED = {
    "question.ask": {HOST, MODERATOR, SPEAKER, LISTENER, PLATFORM},
    "question.vote": {HOST, MODERATOR, SPEAKER, LISTENER, PLATFORM},
    "question.unvote": {HOST, MODERATOR, SPEAKER, LISTENER, PLATFORM},
    "question.withdraw": set(),  # only the asker (below): no one else's question
    "question.answer": {HOST, MODERATOR, PLATFORM},
    "question.remove": {HOST, MODERATOR, PLATFORM},
}
QUESTION_ACTIONS = frozenset(EXPECTED)


def _people():
    host = make_member("Hana Host")
    room = make_room(host)
    people = {HOST: host}
    for role in (MODERATOR, SPEAKER, LISTENER):
        people[role] = make_member(f"{role.title()} Person")
        present(room, people[role], role=role)
    people[PLATFORM] = make_member("Pat Platform")
    people[PLATFORM].user_permissions.add(Permission.objects.get(codename="moderate_platform"))
    present(room, people[PLATFORM], role=Role.LISTENER)
    people[ABSENT] = make_member("Abe Absent")
    present(room, host, role=Role.HOST)
    asker = make_member("Ash Asker")
    present(room, asker, role=Role.LISTENER)
    question = services.question_ask(room_id=room.pk, actor=asker, text="How do you shard?")
    return room, people, question


def _call(action: str, room, actor, question) -> None:
    kwargs = {"room_id": room.pk, "actor": actor}
    if action == "question.ask":
        services.question_ask(**kwargs, text="And what about backups?")
    else:
        service = getattr(services, "question_" + action.split(".")[1])
        service(**kwargs, question_id=question.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_the_permission_matrix(action, actor):
    room, people, question = _people()
    member = people[actor]
    if actor in EXPECTED[action]:
        _call(action, room, member, question)
    else:
        with pytest.raises(RoomError):
            _call(action, room, member, question)
        question.refresh_from_db()
        assert question.removed_at is None and question.answered_at is None
        assert question.votes == 0


@pytest.mark.django_db
def test_the_asker_withdraws_their_own_question_but_cannot_vote_for_it():
    room, _, question = _people()
    with pytest.raises(Conflict):
        services.question_vote(room_id=room.pk, actor=question.asker, question_id=question.pk)
    services.question_withdraw(room_id=room.pk, actor=question.asker, question_id=question.pk)
    question.refresh_from_db()
    assert question.removed_at is not None and question.removed_by == question.asker


@pytest.mark.django_db
def test_a_vote_counts_once_and_an_unvote_takes_it_back():
    room, people, question = _people()
    for _ in range(3):
        services.question_vote(room_id=room.pk, actor=people[LISTENER], question_id=question.pk)
    services.question_vote(room_id=room.pk, actor=people[SPEAKER], question_id=question.pk)
    question.refresh_from_db()
    assert question.votes == 2 == QuestionVote.objects.filter(question=question).count()
    services.question_unvote(room_id=room.pk, actor=people[LISTENER], question_id=question.pk)
    services.question_unvote(room_id=room.pk, actor=people[LISTENER], question_id=question.pk)
    question.refresh_from_db()
    assert question.votes == 1


@pytest.mark.django_db
def test_a_removed_or_other_rooms_question_is_not_found():
    room, people, question = _people()
    other_room = make_room(people[HOST])
    services.question_remove(room_id=room.pk, actor=people[HOST], question_id=question.pk)
    with pytest.raises(NotFound):
        services.question_vote(room_id=room.pk, actor=people[LISTENER], question_id=question.pk)
    with pytest.raises(NotFound):
        services.question_answer(room_id=other_room.pk, actor=people[HOST], question_id=question.pk)


@pytest.mark.django_db
def test_asking_is_limited_open_questions_then_rate(settings):
    room, people, _ = _people()
    listener = people[LISTENER]
    for i in range(3):
        services.question_ask(room_id=room.pk, actor=listener, text=f"Question {i}?")
    with pytest.raises(Conflict, match="3 questions waiting"):
        services.question_ask(room_id=room.pk, actor=listener, text="A fourth?")
    # Answered ones free a place, but the rate (5 per 10 minutes) still holds.
    for question in Question.objects.filter(asker=listener):
        services.question_answer(room_id=room.pk, actor=people[HOST], question_id=question.pk)
    services.question_ask(room_id=room.pk, actor=listener, text="Fourth?")
    services.question_ask(room_id=room.pk, actor=listener, text="Fifth?")
    with pytest.raises(services.questions.RateLimited):
        services.question_ask(room_id=room.pk, actor=listener, text="Sixth?")
    assert Question.objects.filter(asker=listener).count() == 5


@pytest.mark.django_db
def test_empty_and_overlong_questions_are_refused():
    room, people, _ = _people()
    with pytest.raises(Conflict):
        services.question_ask(room_id=room.pk, actor=people[LISTENER], text="   ")
    with pytest.raises(Conflict):
        services.question_ask(room_id=room.pk, actor=people[LISTENER], text="x" * 281)
    text = '{"type": "question.ask", "text": "' + "x" * 281 + '"}'
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_inbound(text)


@pytest.mark.django_db
def test_control_characters_are_dropped_from_a_question():
    room, people, _ = _people()
    question = services.question_ask(
        room_id=room.pk, actor=people[LISTENER], text="Why\x00 is\u202e this\n\tso?\x07"
    )
    assert question.text == "Why is this so?"
    with pytest.raises(Conflict):
        services.question_ask(room_id=room.pk, actor=people[LISTENER], text="\x00\x01\u200b")


@pytest.mark.django_db
def test_a_ban_takes_the_members_questions_with_it():
    room, people, question = _people()
    services.member_ban(room_id=room.pk, actor=people[HOST], member_id=question.asker_id)
    question.refresh_from_db()
    assert question.removed_at is not None


@pytest.mark.django_db
def test_a_blocked_pair_cannot_vote_on_each_others_questions():
    room, people, question = _people()
    block_create(blocker=question.asker, blocked=people[LISTENER])
    with pytest.raises(NotFound):
        services.question_vote(room_id=room.pk, actor=people[LISTENER], question_id=question.pk)


def test_the_table_covers_every_question_action_of_the_protocol():
    assert {t for t in protocol.INBOUND_TYPES if t.startswith("question.")} == QUESTION_ACTIONS


# --- Through the real consumer ----------------------------------------------------------------


def _listed(event: dict) -> list[tuple[str, int, bool]]:
    return [(q["text"], q["votes"], q["answered"]) for q in event["questions"]]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_room_sees_questions_ranked_by_votes(alice, bob, carol, dan):
    room = await database_sync_to_async(make_room)(alice)
    host, _ = await connect(alice, room.pk)
    bob_socket, _ = await connect(bob, room.pk)
    carol_socket, _ = await connect(carol, room.pk)
    dan_socket, state = await connect(dan, room.pk)
    assert state["questions"] == [] and state["questions_voted"] == []
    try:
        await send(bob_socket, "question.ask", text="What broke first?")
        first = (await until(host, "questions"))["questions"][0]
        await send(carol_socket, "question.ask", text="How big is the team?")
        await until(host, "questions")
        await send(dan_socket, "question.vote", question=first["id"] + 1)
        await send(bob_socket, "question.vote", question=first["id"] + 1)
        while _listed(event := await until(dan_socket, "questions"))[0][1] != 2:
            pass
        assert _listed(event) == [
            ("How big is the team?", 2, False),
            ("What broke first?", 0, False),
        ]
        assert event["voted"] == [first["id"] + 1]  # dan's own vote, for dan only
        assert event["questions"][0]["name"] == carol.display_name
        await send(host, "question.answer", question=first["id"] + 1)
        while not _listed(event := await until(bob_socket, "questions"))[-1][2]:
            pass
        assert _listed(event) == [
            ("What broke first?", 0, False),
            ("How big is the team?", 2, True),
        ]
        assert event["voted"] == [first["id"] + 1]  # bob's vote
        # A listener may not mark answers: a clear error, nothing changes.
        await send(bob_socket, "question.remove", question=first["id"])
        error = await until(bob_socket, "error")
        assert error["code"] == "not_allowed"
    finally:
        for comm in (host, bob_socket, carol_socket, dan_socket):
            await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_question_is_hidden_from_members_the_asker_blocked(alice, bob, carol):
    room = await database_sync_to_async(make_room)(alice)
    await database_sync_to_async(block_create)(blocker=bob, blocked=carol)
    host, _ = await connect(alice, room.pk)
    bob_socket, _ = await connect(bob, room.pk)
    carol_socket, _ = await connect(carol, room.pk)
    try:
        await send(bob_socket, "question.ask", text="Only for friends?")
        assert [q["text"] for q in (await until(host, "questions"))["questions"]] == [
            "Only for friends?"
        ]
        assert (await until(carol_socket, "questions"))["questions"] == []
        await send(carol_socket, "state.sync")
        assert (await until(carol_socket, "room.state"))["questions"] == []
    finally:
        for comm in (host, bob_socket, carol_socket):
            await comm.disconnect()


@pytest.mark.django_db
def test_a_question_is_reportable_with_its_words(alice, bob):
    from rooms.models import Report
    from tests.moderation.helpers import logged_in

    room = make_room(alice)
    present(room, bob, role=Role.LISTENER)
    question = services.question_ask(
        room_id=room.pk, actor=bob, text="Buy my course at scam.example"
    )
    client = logged_in(alice)
    form = {"member": bob.handle, "room": room.pk, "question": question.pk, "category": "spam"}

    page = client.get("/report/", form)
    assert "Buy my course at scam.example" in page.content.decode()
    client.post("/report/", {**form, "details": "Selling."})

    report = Report.objects.get()
    assert report.target_member == bob and report.room == room
    assert report.details.startswith("About their question: “Buy my course at scam.example”")
    assert report.details.endswith("Selling.")
