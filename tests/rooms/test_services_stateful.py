"""The room services under random sequences of joins, leaves and every room action.

A live room with a host and a pool of six members (one a platform moderator, one a designated
speaker, one a designated moderator, with a stage of four seats) takes thirty random steps per
example. Random actors aim random actions at random targets; a RoomError is a legitimate
refusal, and a refusal must change nothing. After every step the room's invariants must hold.

One draw in four picks anyone at all; the others pick among the people the action is about
(raised hands for an approval, the invited for an acceptance, the stage for a demotion), so
that the stage actually fills up and the allowed paths run as often as the refusals.
"""

from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from accounts.models import Member
from rooms import services
from rooms.errors import RoomError
from rooms.models import STAGE_ROLES, Participant, Role, Room, RoomBan
from tests.conftest import make_member, make_room

POOL = 6  # members besides the host
MAX_SPEAKERS = 4


def _react(**kwargs) -> None:
    services.reaction_send(emoji="🔥", **kwargs)


# Own actions, each with who it is most interesting for: a filter on present participants.
OWN_ACTIONS = {
    "hand.raise": (services.hand_raise, Q(role=Role.LISTENER)),
    "hand.lower": (services.hand_lower, Q(hand_raised_at__isnull=False)),
    "invite.accept": (services.invite_accept, Q(invited_at__isnull=False)),
    "invite.decline": (services.invite_decline, Q(invited_at__isnull=False)),
    "stage.leave": (services.stage_leave, Q(role__in=STAGE_ROLES)),
    "mute.self": (services.mute_self, Q(role__in=STAGE_ROLES, muted=False)),
    "unmute.self": (services.unmute_self, Q(role__in=STAGE_ROLES, muted=True)),
    "reaction": (_react, Q()),
    # Here rather than a rule of its own, so that rooms don't end too soon to explore.
    "room.end": (services.room_end, Q(role=Role.HOST)),
}

# Actions on a member, each with the targets it is most interesting for.
TARGET_ACTIONS = {
    "hand.dismiss": (services.hand_dismiss, Q(hand_raised_at__isnull=False)),
    "speaker.invite": (services.speaker_invite, Q(role=Role.LISTENER, invited_at=None)),
    "speaker.promote": (services.speaker_promote, Q(hand_raised_at__isnull=False)),
    "speaker.demote": (services.speaker_demote, Q(role__in=STAGE_ROLES)),
    "mute": (services.mute, Q(role__in=STAGE_ROLES, muted=False)),
    "moderator.add": (services.moderator_add, Q(role__in=(Role.SPEAKER, Role.LISTENER))),
    "moderator.remove": (services.moderator_remove, Q(role=Role.MODERATOR)),
    "member.remove": (services.member_remove, Q()),
    "member.ban": (services.member_ban, Q()),
}

# Who is most interesting as the actor of an action on someone else.
MODERATING = Q(role__in=(Role.HOST, Role.MODERATOR)) | Q(member__user_permissions__isnull=False)


def _platform_moderator() -> Member:
    member = make_member("Platform Mod")
    member.user_permissions.add(
        Permission.objects.get(codename="moderate_platform", content_type__app_label="rooms")
    )
    return Member.objects.get(pk=member.pk)


class RoomMachine(RuleBasedStateMachine):
    """One live room per example, rolled back when the example ends."""

    def __init__(self):
        super().__init__()
        # Each example runs in its own savepoint inside the test's transaction.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        host = make_member("Host")
        pool = [make_member(f"Pool {i}") for i in range(POOL - 1)]
        pool.append(_platform_moderator())
        self.people: list[Member] = [host, *pool]
        # A designated speaker and moderator exist before they arrive (is_present false).
        self.room = make_room(
            host, speakers=[pool[0]], moderators=[pool[1]], max_speakers=MAX_SPEAKERS
        )
        self.room_id = self.room.pk
        self.connections: dict[int, list[str]] = {m.pk: [] for m in self.people}
        # The connection that holds each member's presence, as the model sees it.
        self.holding: dict[int, str | None] = {m.pk: None for m in self.people}
        self.last_version = self.room.version
        self.frozen: dict | None = None  # the room's rows once it has ended
        self._next_connection = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- Helpers --------------------------------------------------------------------------

    def _rows(self) -> dict:
        return {
            "room": Room.objects.filter(pk=self.room_id)
            .values("status", "version", "max_speakers", "peak_audience", "ended_at")
            .get(),
            "participants": list(
                Participant.objects.filter(room_id=self.room_id)
                .order_by("member_id")
                .values(
                    "member_id",
                    "role",
                    "hand_raised_at",
                    "invited_at",
                    "muted",
                    "is_present",
                    "connection",
                )
            ),
            "bans": sorted(
                RoomBan.objects.filter(room_id=self.room_id).values_list("member_id", flat=True)
            ),
        }

    def _someone(self, data, among: Q, label: str) -> Member:
        """Someone present who matches `among` three times in four, else anyone at all."""
        ids = set(
            Participant.objects.filter(among, room_id=self.room_id, is_present=True).values_list(
                "member_id", flat=True
            )
        )
        candidates = [m for m in self.people if m.pk in ids]
        pick = st.sampled_from(["match", "match", "match", "anyone"])
        anyone = data.draw(pick, label=f"{label} is") == "anyone"
        return data.draw(
            st.sampled_from(self.people if anyone or not ids else candidates), label=label
        )

    def _attempt(self, action: str, call, **kwargs) -> bool:
        """Run one service call; a refusal must leave the room exactly as it was."""
        before = self._rows()
        try:
            call(room_id=self.room_id, **kwargs)
        except RoomError:
            assert self._rows() == before, f"a refused {action} changed the room"
            return False
        return True

    def _join(self, member: Member) -> None:
        self._next_connection += 1
        connection = f"test-{self._next_connection}"
        before = self._rows()
        try:
            services.participant_join(room_id=self.room_id, member=member, connection=connection)
        except RoomError:
            assert self._rows() == before, "a refused join changed the room"
            return
        self.connections[member.pk].append(connection)
        self.holding[member.pk] = connection

    # --- Presence -------------------------------------------------------------------------

    @initialize(away=st.sets(st.sampled_from(range(POOL + 1)), max_size=3))
    def arrive(self, away):
        for index, member in enumerate(self.people):
            if index not in away:
                self._join(member)

    @rule(data=st.data())
    def join(self, data):
        self._join(data.draw(st.sampled_from(self.people), label="joins"))

    @rule(data=st.data(), pick=st.integers(min_value=0, max_value=3))
    def leave(self, data, pick):
        member = data.draw(st.sampled_from(self.people), label="leaves")
        used = self.connections[member.pk]
        # Any socket the member ever opened, the newest most often: a stale one must not end
        # the presence a newer socket took over.
        connection = used[-1 - pick] if pick < len(used) else (used[-1] if used else "never")
        services.participant_leave(room_id=self.room_id, member=member, connection=connection)
        if self.holding[member.pk] == connection:
            self.holding[member.pk] = None

    # --- Actions --------------------------------------------------------------------------

    @rule(action=st.sampled_from(sorted(OWN_ACTIONS)), data=st.data())
    def own_action(self, action, data):
        call, interesting = OWN_ACTIONS[action]
        if action == "room.end":
            interesting |= Q(member__user_permissions__isnull=False)
        actor = self._someone(data, interesting, "actor")
        if self._attempt(action, call, actor=actor) and action == "room.end":
            self.holding = dict.fromkeys(self.holding)

    @rule(action=st.sampled_from(sorted(TARGET_ACTIONS)), data=st.data())
    def target_action(self, action, data):
        call, interesting = TARGET_ACTIONS[action]
        actor = self._someone(data, MODERATING, "actor")
        target = self._someone(data, interesting, "target")
        done = self._attempt(action, call, actor=actor, member_id=target.pk)
        if done and action in ("member.remove", "member.ban"):
            self.holding[target.pk] = None

    # The ways onto the stage take two steps by two people (raise, then approve; invite, then
    # accept), which uniform draws seldom line up. These rules repeat them to fill the stage.

    @rule(data=st.data())
    def raise_a_hand(self, data):
        self.own_action("hand.raise", data)

    @rule(data=st.data())
    def approve_a_hand(self, data):
        self.target_action("speaker.promote", data)

    @rule(data=st.data())
    def invite_a_listener(self, data):
        self.target_action("speaker.invite", data)

    @rule(data=st.data())
    def accept_an_invitation(self, data):
        self.own_action("invite.accept", data)

    # --- Invariants -----------------------------------------------------------------------

    @invariant()
    def the_room_is_consistent(self):
        # One read of the room per step, then every rule on it; a failing assert names its rule.
        rows = self._rows()
        room = rows["room"]
        people = {p["member_id"]: p for p in rows["participants"]}
        present = {pk for pk, p in people.items() if p["is_present"]}
        stage = [p for p in people.values() if p["role"] in STAGE_ROLES]

        hosts = [pk for pk, p in people.items() if p["role"] == Role.HOST]
        assert hosts == [self.room.host_id], "exactly one host, and it is room.host"
        assert len(rows["participants"]) == len(people), "one Participant per member"
        assert not present & set(rows["bans"]), "a banned member is present"
        for p in people.values():
            if p["role"] != Role.LISTENER:
                assert p["hand_raised_at"] is None, "only listeners raise hands"
                assert p["invited_at"] is None, "only listeners hold invitations"
            else:
                assert p["muted"], "listeners are muted"
        assert len(stage) <= room["max_speakers"] == MAX_SPEAKERS, "the stage overflowed"
        holding = {pk: c for pk, c in self.holding.items() if c is not None}
        assert {pk: people[pk]["connection"] for pk in present} == holding, (
            "presence belongs to the newest socket until it leaves, is removed or the room ends"
        )
        assert room["version"] >= self.last_version, "the version went back"
        self.last_version = room["version"]
        if self.frozen is not None:
            assert rows == self.frozen, "an ended room changed"
        elif room["status"] == Room.Status.ENDED:
            self.frozen = rows


def test_room_invariants_hold_under_random_actions(db):
    run_state_machine_as_test(
        RoomMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            database=None,  # no .hypothesis/ directory in the working tree
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
