"""Who may do what in a room: DESIGN.md section 3, written once.

`allowed()` answers from roles alone. The services call it first and then check the state
preconditions (is the hand raised, is there an invitation, is the stage full). The room page
gets the same table (`client_rules()`) to decide which buttons to show; the server decides.
"""

from groups.selectors import manages_group
from rooms.models import Role

# The Django permission that makes a member a platform moderator (the moderation dashboard).
PLATFORM_PERMISSION = "rooms.moderate_platform"

HOST, MODERATOR, SPEAKER, LISTENER = Role.HOST, Role.MODERATOR, Role.SPEAKER, Role.LISTENER
STAGE = frozenset({HOST, MODERATOR, SPEAKER})

# Actions a member takes on themselves: the roles that may take them.
SELF_ACTIONS: dict[str, frozenset[str]] = {
    "hand.raise": frozenset({LISTENER}),
    "hand.lower": frozenset({LISTENER}),
    "invite.accept": frozenset({LISTENER}),
    "invite.decline": frozenset({LISTENER}),
    "stage.leave": frozenset({MODERATOR, SPEAKER}),
    "mute.self": STAGE,
    "unmute.self": STAGE,
    "reaction": frozenset({HOST, MODERATOR, SPEAKER, LISTENER}),
    # Audience questions (rooms/services/questions.py): anyone present asks and votes.
    "question.ask": frozenset({HOST, MODERATOR, SPEAKER, LISTENER}),
    "question.vote": frozenset({HOST, MODERATOR, SPEAKER, LISTENER}),
    "question.unvote": frozenset({HOST, MODERATOR, SPEAKER, LISTENER}),
    "question.withdraw": frozenset({HOST, MODERATOR, SPEAKER, LISTENER}),
    # Being recorded (rooms/services/recording.py): anyone answers for themselves.
    "recording.consent": frozenset({HOST, MODERATOR, SPEAKER, LISTENER}),
}

# Actions on another member: for each actor role, the target roles it may act on.
# "platform" is a member holding rooms.moderate_platform, whatever their role in the room.
TARGET_ACTIONS: dict[str, dict[str, frozenset[str]]] = {
    "speaker.invite": {
        HOST: frozenset({LISTENER}),
        MODERATOR: frozenset({LISTENER}),
        "platform": frozenset({LISTENER}),
    },
    "speaker.promote": {
        HOST: frozenset({LISTENER}),
        MODERATOR: frozenset({LISTENER}),
        "platform": frozenset({LISTENER}),
    },
    "hand.dismiss": {
        HOST: frozenset({LISTENER}),
        MODERATOR: frozenset({LISTENER}),
        "platform": frozenset({LISTENER}),
    },
    "speaker.demote": {
        HOST: frozenset({MODERATOR, SPEAKER}),
        MODERATOR: frozenset({SPEAKER}),
        "platform": frozenset({MODERATOR, SPEAKER}),
    },
    "mute": {
        HOST: frozenset({MODERATOR, SPEAKER}),
        MODERATOR: frozenset({MODERATOR, SPEAKER}),
        "platform": frozenset({HOST, MODERATOR, SPEAKER}),
    },
    "moderator.add": {
        HOST: frozenset({SPEAKER, LISTENER}),
        "platform": frozenset({SPEAKER, LISTENER}),
    },
    "moderator.remove": {
        HOST: frozenset({MODERATOR}),
        "platform": frozenset({MODERATOR}),
    },
    "member.remove": {
        HOST: frozenset({MODERATOR, SPEAKER, LISTENER}),
        MODERATOR: frozenset({SPEAKER, LISTENER}),
        "platform": frozenset({MODERATOR, SPEAKER, LISTENER}),
    },
    "member.ban": {
        HOST: frozenset({MODERATOR, SPEAKER, LISTENER}),
        MODERATOR: frozenset({SPEAKER, LISTENER}),
        "platform": frozenset({MODERATOR, SPEAKER, LISTENER}),
    },
}

# Room-wide actions: the roles that may take them.
ROOM_ACTIONS: dict[str, frozenset[str]] = {
    "room.end": frozenset({HOST, "platform"}),
    "question.answer": frozenset({HOST, MODERATOR, "platform"}),
    "question.remove": frozenset({HOST, MODERATOR, "platform"}),
    # The host alone decides that the room is recorded; captions help everyone.
    "recording.start": frozenset({HOST}),
    "recording.pause": frozenset({HOST}),
    "captions.set": frozenset({HOST, MODERATOR}),
}

ACTIONS = frozenset(SELF_ACTIONS) | frozenset(TARGET_ACTIONS) | frozenset(ROOM_ACTIONS)


def allowed(
    action: str,
    *,
    actor_role: str,
    platform: bool = False,
    target_role: str | None = None,
    target_is_self: bool = False,
) -> bool:
    """May an actor with `actor_role` (and platform powers or not) take `action`, on a target
    with `target_role` when the action has one? Speakers demote themselves with stage.leave,
    and mute themselves with mute.self."""
    if action in SELF_ACTIONS:
        return actor_role in SELF_ACTIONS[action]
    if action in ROOM_ACTIONS:
        permitted = ROOM_ACTIONS[action]
        return actor_role in permitted or (platform and "platform" in permitted)
    if action in TARGET_ACTIONS:
        if target_role is None or target_is_self:
            return False
        rules = TARGET_ACTIONS[action]
        if target_role in rules.get(actor_role, frozenset()):
            return True
        return platform and target_role in rules.get("platform", frozenset())
    return False


def client_rules() -> dict[str, dict[str, list[str]]]:
    """The actions on another member, as the room page needs them: for each action, the
    actor roles ("host", "moderator", "platform") and the target roles each may act on."""
    return {
        action: {actor: sorted(targets) for actor, targets in rules.items()}
        for action, rules in TARGET_ACTIONS.items()
    }


def is_platform_moderator(member) -> bool:
    return bool(
        member is not None
        and member.is_authenticated
        and member.is_active
        and (member.is_superuser or member.has_perm(PLATFORM_PERMISSION))
    )


def moderator_powers(room, member) -> bool:
    """Moderator powers over a room without a role in it: platform moderators everywhere,
    group managers in their group's rooms."""
    return is_platform_moderator(member) or manages_group(member, room.group_id)
