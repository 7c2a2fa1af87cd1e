"""Hypothesis throws malformed and forbidden messages at a real consumer: every one gets an
error, the socket stays open (never a 1011), and the room doesn't change."""

import json
import os

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms import consumers, protocol
from rooms.models import Participant, Room, RoomBan
from tests.conftest import make_member, make_room
from tests.rooms.wsutil import connect

EXAMPLES = int(os.environ.get("PODIUM_FUZZ_EXAMPLES", "300"))

# Types a listener may legitimately send; the fuzz sends everything else, or broken frames.
LISTENER_MAY = {
    "hand.raise",
    "hand.lower",
    "invite.accept",
    "invite.decline",
    "reaction",
    "state.sync",
    "rtc.offer",
    "rtc.candidate",
}
FORBIDDEN_TYPES = sorted(protocol.INBOUND_TYPES - LISTENER_MAY)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def hostile_frame(draw) -> str:
    kind = draw(st.sampled_from(["forbidden", "garbage_type", "extra_key", "bad_field", "raw"]))
    if kind == "raw":
        return draw(st.text(min_size=1, max_size=200))
    if kind == "garbage_type":
        return json.dumps(
            {
                "type": draw(
                    json_value.filter(
                        lambda v: not isinstance(v, str) or v not in protocol.INBOUND_TYPES
                    )
                )
            }
        )
    message_type = draw(st.sampled_from(sorted(protocol.INBOUND_TYPES)))
    if kind == "extra_key":
        key = draw(st.text(min_size=1, max_size=10).filter(lambda k: k != "type"))
        extra = {key: draw(json_value)}
        if key in {"member", "reason", "emoji", "sdp", "candidate", "sdpMid", "sdpMLineIndex"}:
            extra = {"zz" + key: 1}
        return json.dumps({"type": message_type, **extra})
    if kind == "bad_field":
        field = draw(st.sampled_from(["member", "reason", "emoji", "sdp"]))
        value = draw(json_value.filter(lambda v: not isinstance(v, int) or isinstance(v, bool)))
        return json.dumps({"type": message_type, field: value})
    # A well-formed message a listener isn't allowed to send, aimed at anyone.
    message = {"type": draw(st.sampled_from(FORBIDDEN_TYPES))}
    if message["type"] not in {"stage.leave", "mute.self", "unmute.self", "room.end"}:
        message["member"] = draw(st.integers(min_value=1, max_value=10_000))
    if message["type"] == "member.ban":
        message["reason"] = draw(st.text(max_size=50))
    return json.dumps(message)


def _picture(room_id):
    people = sorted(
        Participant.objects.filter(room_id=room_id).values_list(
            "member_id", "role", "hand_raised_at", "invited_at", "muted"
        )
    )
    room = Room.objects.get(pk=room_id)
    return people, room.status, room.version, RoomBan.objects.filter(room_id=room_id).count()


@pytest.mark.django_db(transaction=True)
def test_it_survives_hostile_frames_without_changing_the_room(monkeypatch):
    # The fuzz sends far faster than a person; the rate limiter has its own test.
    monkeypatch.setattr(consumers, "RATE_BURST", 10**9)
    monkeypatch.setattr(consumers, "CONNECTS_PER_WINDOW", 10**9)
    host = make_member("Hana Host")
    speaker = make_member("Sam Speaker")
    listener = make_member("Lee Listener")
    room = make_room(host, speakers=[speaker])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(frames=st.lists(hostile_frame(), min_size=1, max_size=15))
    def run(frames):
        before = _picture(room.pk)
        async_to_sync(_send_all)(frames)
        assert _picture(room.pk) == before

    async def _visit():
        comm, _ = await connect(listener, room.pk)
        await comm.disconnect()

    async def _send_all(frames):
        comm, _ = await connect(listener, room.pk)
        try:
            for frame in frames:
                await comm.send_to(text_data=frame)
                while True:
                    output = await comm.receive_output(timeout=3)
                    assert output["type"] == "websocket.send", output
                    event = json.loads(output["text"])
                    if event["type"] == "error":
                        assert event["code"] != "server_error", (frame, event)
                        break
        finally:
            await comm.disconnect()

    # The listener's first visit creates their place in the room; after that nothing may change.
    async_to_sync(_visit)()
    run()
