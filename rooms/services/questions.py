"""Audience questions: ask, vote, withdraw; moderators answer or remove them.

Asking and voting don't lock the room row (they change no one's place in the room, and an
audience voting must never queue ahead of the moderators): they check that the actor is
present in the live room, write the question or the vote, and ask for one coalesced
`questions` update (rooms.broadcast.questions_changed). Answering and removing are
moderation and go through `acting()` like every other moderator action.

A question is hidden from the members its asker blocked and from those who blocked the
asker (each consumer filters the list), and voting on a hidden question is refused as not
found. A ban from the room removes the banned member's questions (enforcement.py).
"""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_ratelimit import ALL
from django_ratelimit.core import is_ratelimited

from accounts.selectors import is_blocked_between
from rooms import broadcast, permissions
from rooms.errors import Conflict, NotAllowed, NotFound, RoomError, RoomNotLive
from rooms.models import QUESTION_MAX_LENGTH, Participant, Question, QuestionVote, Room
from rooms.services.change import acting

ASKS_PER_WINDOW = "5/10m"  # per member, across rooms
OPEN_QUESTIONS_PER_MEMBER = 3  # unanswered, per room


class RateLimited(RoomError):
    code = "rate_limited"


def _present(room_id: int, actor, action: str) -> Participant:
    room = Room.objects.filter(pk=room_id).only("status").first()
    if room is None:
        raise NotFound("No such room.")
    if room.status != Room.Status.LIVE:
        raise RoomNotLive("This room isn't live.")
    participant = Participant.objects.filter(room_id=room_id, member=actor, is_present=True).first()
    if participant is None:
        raise NotFound("You aren't in this room.")
    if not permissions.allowed(action, actor_role=participant.role):
        raise NotAllowed("You can't do that in this room.")
    return participant


def _open_question(room_id: int, question_id: int) -> Question:
    question = (
        Question.objects.filter(pk=question_id, room_id=room_id, removed_at__isnull=True)
        .select_related("asker")
        .first()
    )
    if question is None:
        raise NotFound("That question isn't in this room any more.")
    return question


def question_ask(*, room_id: int, actor, text: str) -> Question:
    # One line of printable text: no NUL (PostgreSQL refuses it), controls or direction
    # overrides that could disguise the words.
    text = " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())
    if not text:
        raise Conflict("Write your question first.")
    if len(text) > QUESTION_MAX_LENGTH:
        raise Conflict(f"Questions are at most {QUESTION_MAX_LENGTH} characters.")
    _present(room_id, actor, "question.ask")
    open_ones = Question.objects.filter(
        room_id=room_id, asker=actor, removed_at__isnull=True, answered_at__isnull=True
    ).count()
    if open_ones >= OPEN_QUESTIONS_PER_MEMBER:
        raise Conflict(
            f"You have {OPEN_QUESTIONS_PER_MEMBER} questions waiting; "
            "ask another once one is answered."
        )
    limited = is_ratelimited(
        None,
        group="podium.question.ask",
        key=lambda group, request: str(actor.pk),
        rate=ASKS_PER_WINDOW,
        method=ALL,  # there is no request, only the member
        increment=True,
    )
    if limited:
        raise RateLimited("You've asked many questions in a short time. Try again later.")
    with transaction.atomic():
        question = Question.objects.create(room_id=room_id, asker=actor, text=text)
        broadcast.questions_changed(room_id)
    return question


def question_vote(*, room_id: int, actor, question_id: int) -> None:
    _vote(room_id, actor, question_id, up=True)


def question_unvote(*, room_id: int, actor, question_id: int) -> None:
    _vote(room_id, actor, question_id, up=False)


def _vote(room_id: int, actor, question_id: int, *, up: bool) -> None:
    _present(room_id, actor, "question.vote" if up else "question.unvote")
    question = _open_question(room_id, question_id)
    if question.asker_id == actor.pk:
        raise Conflict("You can't vote for your own question.")
    if is_blocked_between(actor, question.asker):
        raise NotFound("That question isn't in this room any more.")
    with transaction.atomic():
        if up:
            try:
                with transaction.atomic():
                    QuestionVote.objects.create(question=question, member=actor)
            except IntegrityError:
                return  # voted already: nothing changes
            Question.objects.filter(pk=question.pk).update(votes=F("votes") + 1)
        else:
            deleted, _ = QuestionVote.objects.filter(question=question, member=actor).delete()
            if not deleted:
                return
            Question.objects.filter(pk=question.pk, votes__gt=0).update(votes=F("votes") - 1)
        broadcast.questions_changed(room_id)


def question_withdraw(*, room_id: int, actor, question_id: int) -> None:
    """The asker takes their own question back."""
    _present(room_id, actor, "question.withdraw")
    question = _open_question(room_id, question_id)
    if question.asker_id != actor.pk:
        raise NotAllowed("Only the person who asked can withdraw a question.")
    _remove(question, actor)


def question_answer(*, room_id: int, actor, question_id: int) -> None:
    with acting(room_id, actor, "question.answer", actor_present=False):
        question = _open_question(room_id, question_id)
        if question.answered_at is not None:
            raise Conflict("That question is already marked answered.")
        question.answered_at = timezone.now()
        question.save(update_fields=["answered_at"])
        broadcast.questions_changed(room_id)


def question_remove(*, room_id: int, actor, question_id: int) -> None:
    with acting(room_id, actor, "question.remove", actor_present=False):
        _remove(_open_question(room_id, question_id), actor)


def _remove(question: Question, actor) -> None:
    with transaction.atomic():
        question.removed_at = timezone.now()
        question.removed_by = actor
        question.save(update_fields=["removed_at", "removed_by"])
        broadcast.questions_changed(question.room_id)


def questions_remove_by(*, room_id: int, member_id: int, actor) -> int:
    """All of a member's questions in the room, gone (their ban). Inside the caller's
    transaction; returns how many."""
    removed = Question.objects.filter(
        room_id=room_id, asker_id=member_id, removed_at__isnull=True
    ).update(removed_at=timezone.now(), removed_by=actor)
    if removed:
        broadcast.questions_changed(room_id)
    return removed
