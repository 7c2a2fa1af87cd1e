"""The room websocket protocol (/ws/rooms/<room_id>/), inbound and outbound, in one place.

Inbound: every client message is a JSON object with a "type". Each type has a strict schema:
unknown types, unknown keys and wrong field types are rejected, and the client gets an
`error` event with a code. Outbound: the event shapes the server sends, built only here.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
)
from pydantic import ValidationError as PydanticValidationError

MAX_FRAME_BYTES = 64 * 1024
MAX_SDP_BYTES = 16 * 1024
QUESTION_MAX_LENGTH = 280
REACTIONS = ("👏", "❤️", "😂", "💯", "🙌", "🤔", "👍", "🔥")


class Close:
    """The socket's close codes. Daphne (autobahn) lets an application close only with
    1000 or 3000-4999: any other code is refused with a traceback and the client gets
    1011. So every code of ours is 4xxx, the last three digits an HTTP status's."""

    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    REPLACED = 4409
    ENDED = 4410
    NOT_LIVE = 4412
    FLOOD = 4429
    MOVING = 4503  # the node is draining: reconnect at once (the balancer picks another)
    TOO_BIG = 4413  # a frame over MAX_FRAME_BYTES (WebSocket's own 1009 is Daphne's)
    UNAVAILABLE = 4500  # the database is away: reconnect in a second or two (config.outage)


# Close codes after which reconnecting can't help, with what the room page says.
TERMINAL_CLOSES = {
    Close.UNAUTHENTICATED: "Sign in to join this room.",
    Close.FORBIDDEN: "You can't be in this room.",
    Close.NOT_FOUND: "This room doesn't exist.",
    Close.REPLACED: "You opened this room in another tab or window.",
    Close.ENDED: "This room has ended.",
    Close.NOT_LIVE: "This room isn't live.",
    Close.FLOOD: "Too many connections or messages. Reload the page in a minute.",
}


def client_closes() -> dict:
    """What the room page needs to know of close codes (handed over with json_script)."""
    return {
        "ended": Close.ENDED,
        "moving": Close.MOVING,
        "unavailable": Close.UNAVAILABLE,
        "terminal": {str(code): text for code, text in TERMINAL_CLOSES.items()},
    }


MemberId = Annotated[StrictInt, Field(gt=0, lt=2**63)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HandRaise(_Message):
    type: Literal["hand.raise"]


class HandLower(_Message):
    type: Literal["hand.lower"]


class HandDismiss(_Message):
    """A moderator dismisses a raised hand from the queue."""

    type: Literal["hand.dismiss"]
    member: MemberId


class SpeakerInvite(_Message):
    type: Literal["speaker.invite"]
    member: MemberId


class InviteAccept(_Message):
    type: Literal["invite.accept"]


class InviteDecline(_Message):
    type: Literal["invite.decline"]


class SpeakerPromote(_Message):
    """Approve a raised hand."""

    type: Literal["speaker.promote"]
    member: MemberId


class SpeakerDemote(_Message):
    type: Literal["speaker.demote"]
    member: MemberId


class StageLeave(_Message):
    type: Literal["stage.leave"]


class MuteSelf(_Message):
    type: Literal["mute.self"]


class UnmuteSelf(_Message):
    type: Literal["unmute.self"]


class Mute(_Message):
    type: Literal["mute"]
    member: MemberId


class ModeratorAdd(_Message):
    type: Literal["moderator.add"]
    member: MemberId


class ModeratorRemove(_Message):
    type: Literal["moderator.remove"]
    member: MemberId


class MemberRemove(_Message):
    type: Literal["member.remove"]
    member: MemberId


class MemberBan(_Message):
    type: Literal["member.ban"]
    member: MemberId
    reason: Annotated[StrictStr, Field(max_length=500)] = ""


class RoomEnd(_Message):
    type: Literal["room.end"]


class Reaction(_Message):
    type: Literal["reaction"]
    emoji: Literal[REACTIONS]  # type: ignore[valid-type]


QuestionId = Annotated[StrictInt, Field(gt=0, lt=2**63)]


class QuestionAsk(_Message):
    type: Literal["question.ask"]
    text: Annotated[StrictStr, Field(min_length=1, max_length=QUESTION_MAX_LENGTH)]


class QuestionVote(_Message):
    type: Literal["question.vote"]
    question: QuestionId


class QuestionUnvote(_Message):
    type: Literal["question.unvote"]
    question: QuestionId


class QuestionWithdraw(_Message):
    type: Literal["question.withdraw"]
    question: QuestionId


class QuestionAnswer(_Message):
    type: Literal["question.answer"]
    question: QuestionId


class QuestionRemove(_Message):
    type: Literal["question.remove"]
    question: QuestionId


class RecordingStart(_Message):
    """The host starts recording, or resumes it."""

    type: Literal["recording.start"]


class RecordingPause(_Message):
    type: Literal["recording.pause"]


class RecordingConsent(_Message):
    """A member's answer to being recorded."""

    type: Literal["recording.consent"]
    agree: StrictBool


class CaptionsSet(_Message):
    type: Literal["captions.set"]
    on: StrictBool


class RtcOffer(_Message):
    type: Literal["rtc.offer"]
    sdp: Annotated[StrictStr, Field(min_length=1, max_length=MAX_SDP_BYTES)]


class RtcCandidate(_Message):
    type: Literal["rtc.candidate"]
    candidate: Annotated[StrictStr, Field(max_length=1024)]
    sdpMid: Annotated[StrictStr, Field(max_length=64)] | None = None
    sdpMLineIndex: Annotated[StrictInt, Field(ge=0, le=64)] | None = None


class StateSync(_Message):
    type: Literal["state.sync"]


Inbound = Annotated[
    HandRaise
    | HandLower
    | HandDismiss
    | SpeakerInvite
    | InviteAccept
    | InviteDecline
    | SpeakerPromote
    | SpeakerDemote
    | StageLeave
    | MuteSelf
    | UnmuteSelf
    | Mute
    | ModeratorAdd
    | ModeratorRemove
    | MemberRemove
    | MemberBan
    | RoomEnd
    | Reaction
    | QuestionAsk
    | QuestionVote
    | QuestionUnvote
    | QuestionWithdraw
    | QuestionAnswer
    | QuestionRemove
    | RecordingStart
    | RecordingPause
    | RecordingConsent
    | CaptionsSet
    | RtcOffer
    | RtcCandidate
    | StateSync,
    Field(discriminator="type"),
]
_inbound = TypeAdapter(Inbound)
INBOUND_TYPES = frozenset(
    model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    for model in _Message.__subclasses__()
)


class ProtocolError(Exception):
    """A client message we refuse. `code` and `message` are safe to show the client."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def parse_inbound(text: str) -> BaseModel:
    """Parse one client frame into its message model, or raise ProtocolError."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("invalid_json", "Messages must be JSON objects.") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_json", "Messages must be JSON objects.")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in INBOUND_TYPES:
        raise ProtocolError("unknown_type", "Unknown message type.")
    try:
        return _inbound.validate_python(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        if first["type"] == "extra_forbidden":
            raise ProtocolError("invalid_message", f"Unexpected field: {where}.") from None
        raise ProtocolError("invalid_message", f"Invalid {where}: {first['msg']}.") from None


# --- Outbound -------------------------------------------------------------------------------
# Each builder returns the JSON text sent to clients, so that one broadcast is serialised once.


def _dump(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def error(code: str, message: str) -> str:
    return _dump({"type": "error", "code": code, "message": message})


def room_state(snapshot: dict[str, Any]) -> str:
    """The full picture for one member: room, stage, audience, hand queue (moderators), you."""
    return _dump({"type": "room.state", **snapshot})


def stage_changed(*, version: int, stage: list[dict]) -> str:
    return _dump({"type": "stage.changed", "version": version, "stage": stage})


def audience_changed(*, version: int, count: int, first_page: list[dict]) -> str:
    return _dump(
        {"type": "audience.changed", "version": version, "count": count, "audience": first_page}
    )


def hand_queue(*, version: int, queue: list[dict]) -> str:
    return _dump({"type": "hand.queue", "version": version, "queue": queue})


def questions(*, questions: list[dict], voted: list[int]) -> str:
    """The room's questions as this member sees them, and the ones they voted for. Not
    versioned: each one replaces the last (state.sync repairs a lost one)."""
    return _dump({"type": "questions", "questions": questions, "voted": voted})


def recording(*, version: int, state: dict, note: str = "") -> str:
    """The room's recording ("on", "paused", "off") and captions switch; `note` says why
    when the server changed it (captions that failed)."""
    return _dump({"type": "recording", "version": version, **state, "note": note})


def captions(*, lines: list[dict]) -> str:
    """What the caption worker heard lately: per speaker, their latest words (`final`
    once the utterance ended). Not a state change: no version."""
    return _dump({"type": "captions", "lines": lines})


def invited(*, version: int, by: str) -> str:
    return _dump({"type": "invited", "version": version, "by": by})


def role_changed(*, version: int, you: dict) -> str:
    return _dump({"type": "role.changed", "version": version, "you": you})


def muted(*, version: int, by: str) -> str:
    return _dump({"type": "muted", "version": version, "by": by})


def removed(*, version: int, banned: bool) -> str:
    return _dump({"type": "removed", "version": version, "banned": banned})


REMOVAL_MESSAGES = {
    "suspended": "Your account has been suspended.",
    "group_banned": "You've been banned from this group.",
    "gone": "You're no longer in this room.",  # learnt at a resync: the event itself was lost
}


def removed_for(reason: str) -> str:
    """Sent before the socket closes when a suspension or group ban takes effect."""
    return _dump(
        {
            "type": "removed",
            "reason": reason,
            "banned": True,
            "message": REMOVAL_MESSAGES.get(reason, "You can't be in this room."),
        }
    )


def room_ended(*, version: int) -> str:
    return _dump({"type": "room.ended", "version": version})


def reaction(*, member: int, emoji: str) -> str:
    return _dump({"type": "reaction", "member": member, "emoji": emoji})


def session_replaced() -> str:
    return _dump({"type": "session.replaced"})


def resync() -> str:
    """Events may have been lost (Redis was away): ask for the whole state (state.sync)."""
    return _dump({"type": "resync"})


def speakers_active(*, members: list[int]) -> str:
    return _dump({"type": "speakers.active", "members": members})


def rtc_answer(*, sdp: str) -> str:
    return _dump({"type": "rtc.answer", "sdp": sdp})
