"""Every state change on rooms: one keyword-only function each, checking the actor's right
itself (rooms.permissions), inside a transaction that locks the room row. Views and the
websocket consumer both call these. Broadcasts go out on commit (rooms.broadcast).

The shape every service shares is in `change` (lock, actor, target, check; then bump and
announce). By concern: `lifecycle` (create, start, end), `presence` (join, leave, eject,
reactions), `stage` (hands, invitations, the stage, one's own mute) and `enforcement`
(moderators acting on others). Reads live in rooms.selectors.
"""

from rooms.services.enforcement import (
    member_ban,
    member_remove,
    moderator_add,
    moderator_remove,
    mute,
)
from rooms.services.lifecycle import room_create, room_end, room_start
from rooms.services.presence import (
    listeners_join,
    participant_eject,
    participant_join,
    participant_leave,
    participants_reap,
    reaction_send,
)
from rooms.services.questions import (
    question_answer,
    question_ask,
    question_remove,
    question_unvote,
    question_vote,
    question_withdraw,
)
from rooms.services.recording import (
    captions_set,
    recording_consent,
    recording_pause,
    recording_start,
)
from rooms.services.stage import (
    hand_dismiss,
    hand_lower,
    hand_raise,
    invite_accept,
    invite_decline,
    mute_self,
    speaker_demote,
    speaker_invite,
    speaker_promote,
    stage_leave,
    unmute_self,
)

__all__ = [
    "captions_set",
    "hand_dismiss",
    "hand_lower",
    "hand_raise",
    "invite_accept",
    "invite_decline",
    "listeners_join",
    "member_ban",
    "member_remove",
    "moderator_add",
    "moderator_remove",
    "mute",
    "mute_self",
    "participant_eject",
    "participant_join",
    "participant_leave",
    "participants_reap",
    "question_answer",
    "question_ask",
    "question_remove",
    "question_unvote",
    "question_vote",
    "question_withdraw",
    "reaction_send",
    "recording_consent",
    "recording_pause",
    "recording_start",
    "room_create",
    "room_end",
    "room_start",
    "speaker_demote",
    "speaker_invite",
    "speaker_promote",
    "stage_leave",
    "unmute_self",
]
