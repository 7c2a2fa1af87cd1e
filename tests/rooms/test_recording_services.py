"""Recording a live room (rooms/services/recording.py): the host's start, pause and resume,
the speakers' consent, what the recorder is told to write, and the room's end. The
who-may table itself is in test_permission_matrix.py."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from rooms import selectors, services
from rooms.errors import Conflict
from rooms.models import (
    AuditAction,
    AuditEntry,
    Participant,
    Recording,
    RecordingConsent,
    RecordingSpan,
    Role,
)
from rooms.services.recording import captions_failed
from tests.conftest import make_member, make_room
from tests.moderation.helpers import present
from tests.rooms.wsutil import connect, drain, send, until

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene():
    host = make_member("Hana Host")
    speaker = make_member("Sam Speaker")
    listener = make_member("Lee Listener")
    room = make_room(host)
    present(room, host, role=Role.HOST)
    present(room, speaker, role=Role.SPEAKER)
    present(room, listener, role=Role.LISTENER)
    return room, host, speaker, listener


def _actions(room) -> list[str]:
    return list(
        AuditEntry.objects.filter(room=room).order_by("pk").values_list("action", flat=True)
    )


def test_start_pause_and_resume_each_write_a_span_boundary_and_an_audit_entry(scene):
    room, host, _, _ = scene
    services.recording_start(room_id=room.pk, actor=host)
    recording = Recording.objects.get(room=room)
    assert recording.status == Recording.Status.RECORDING
    assert recording.started_by == host
    # The host's own start is their consent.
    assert RecordingConsent.objects.get(room=room, member=host).agreed

    first = RecordingSpan.objects.get(recording=recording)
    RecordingSpan.objects.filter(pk=first.pk).update(
        started_at=timezone.now() - timedelta(seconds=4)
    )
    services.recording_pause(room_id=room.pk, actor=host)
    recording.refresh_from_db()
    first.refresh_from_db()
    assert recording.status == Recording.Status.PAUSED
    assert first.ended_at is not None

    services.recording_start(room_id=room.pk, actor=host)
    second = RecordingSpan.objects.filter(recording=recording).latest("started_at")
    assert second.pk != first.pk and second.ended_at is None
    # The paused time is not on the replay's timeline: the second span follows the first.
    assert 3900 <= second.offset_ms <= 4200
    assert _actions(room) == [
        AuditAction.RECORDING_START,
        AuditAction.RECORDING_PAUSE,
        AuditAction.RECORDING_RESUME,
    ]
    # Starting again while recording changes nothing and writes nothing.
    services.recording_start(room_id=room.pk, actor=host)
    assert len(_actions(room)) == 3


def test_the_recorder_writes_only_those_who_agreed_and_nothing_while_paused(scene):
    room, host, speaker, listener = scene
    assert selectors.media_plan(room.pk)["recording"] is None
    services.recording_start(room_id=room.pk, actor=host)
    plan = selectors.media_plan(room.pk)["recording"]
    assert plan["members"] == [host.pk]

    services.recording_consent(room_id=room.pk, actor=speaker, agree=True)
    services.recording_consent(room_id=room.pk, actor=listener, agree=False)
    plan = selectors.media_plan(room.pk)["recording"]
    assert sorted(plan["members"]) == sorted([host.pk, speaker.pk])

    services.recording_pause(room_id=room.pk, actor=host)
    assert selectors.media_plan(room.pk)["recording"] is None


def test_a_speaker_who_declines_goes_back_to_the_audience(scene):
    room, host, speaker, _ = scene
    services.recording_start(room_id=room.pk, actor=host)
    services.recording_consent(room_id=room.pk, actor=speaker, agree=False)
    me = Participant.objects.get(room=room, member=speaker)
    assert me.role == Role.LISTENER and me.muted
    assert not RecordingConsent.objects.get(room=room, member=speaker).agreed
    assert speaker.pk not in selectors.media_plan(room.pk)["recording"]["members"]


def test_the_host_cannot_decline_their_own_recording(scene):
    room, host, _, _ = scene
    services.recording_start(room_id=room.pk, actor=host)
    with pytest.raises(Conflict):
        services.recording_consent(room_id=room.pk, actor=host, agree=False)
    assert Participant.objects.get(room=room, member=host).role == Role.HOST


def test_nobody_is_heard_on_a_recorded_stage_without_agreeing(scene):
    room, host, speaker, _ = scene
    Participant.objects.filter(room=room, member=speaker).update(muted=False)
    services.recording_start(room_id=room.pk, actor=host)
    # Speaking when the record started, without having agreed: muted, and asked.
    assert Participant.objects.get(room=room, member=speaker).muted
    with pytest.raises(Conflict) as refused:
        services.unmute_self(room_id=room.pk, actor=speaker)
    assert refused.value.code == "consent_required"
    assert Participant.objects.get(room=room, member=speaker).muted

    services.recording_consent(room_id=room.pk, actor=speaker, agree=True)
    services.unmute_self(room_id=room.pk, actor=speaker)
    assert not Participant.objects.get(room=room, member=speaker).muted
    # The host is never asked.
    services.unmute_self(room_id=room.pk, actor=host)


def test_a_speaker_who_agreed_before_keeps_speaking_when_recording_resumes(scene):
    room, host, speaker, _ = scene
    services.recording_start(room_id=room.pk, actor=host)
    services.recording_consent(room_id=room.pk, actor=speaker, agree=True)
    services.unmute_self(room_id=room.pk, actor=speaker)
    services.recording_pause(room_id=room.pk, actor=host)
    services.recording_start(room_id=room.pk, actor=host)
    assert not Participant.objects.get(room=room, member=speaker).muted


def test_a_room_made_to_be_recorded_records_from_go_live_and_ends_into_processing():
    host = make_member("Hana Host")
    room = make_room(host, record=True, captions=True)
    recording = Recording.objects.get(room=room)
    assert recording.status == Recording.Status.RECORDING
    assert _actions(room) == [AuditAction.RECORDING_START]
    assert selectors.media_plan(room.pk)["captions"] is True

    RecordingSpan.objects.filter(recording=recording).update(
        started_at=timezone.now() - timedelta(seconds=7)
    )
    services.room_end(room_id=room.pk, actor=host)
    recording.refresh_from_db()
    assert recording.status == Recording.Status.PROCESSING
    assert recording.ended_at is not None
    assert 6900 <= recording.duration_ms <= 7500
    assert not RecordingSpan.objects.filter(recording=recording, ended_at=None).exists()
    plan = selectors.media_plan(room.pk)
    assert plan == {"live": False, "captions": False, "recording": None}


def test_captions_switch_and_a_failed_worker_turns_them_off(scene):
    room, host, _, _ = scene
    services.captions_set(room_id=room.pk, actor=host, on=True)
    room.refresh_from_db()
    assert room.captions
    version = room.version
    captions_failed(room_id=room.pk, message="Captions stopped: the recogniser failed.")
    room.refresh_from_db()
    assert not room.captions
    assert room.version == version + 1
    # Again (another node's worker failing too) changes nothing.
    captions_failed(room_id=room.pk, message="again")
    room.refresh_from_db()
    assert room.version == version + 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_everyone_sees_the_recording_and_the_speaker_is_asked(scene):
    """Through the real consumer: the host starts recording; a listener sees the state in
    the `recording` event; the speaker's own state says their consent is wanted, and
    their answer arrives as their new state."""
    room, host, speaker, listener = scene
    host_socket, _ = await connect(host, room.pk)
    speaker_socket, state = await connect(speaker, room.pk)
    listener_socket, joined = await connect(listener, room.pk)
    assert joined["recording"] == {"state": "off", "captions": False}
    assert state["you"]["consent"] is None

    await send(host_socket, "recording.start")
    for socket in (listener_socket, speaker_socket):
        event = await until(socket, "recording")
        assert (event["state"], event["captions"], event["note"]) == ("on", False, "")

    await send(speaker_socket, "unmute.self")
    error = await until(speaker_socket, "error")
    assert error["code"] == "consent_required"

    await send(speaker_socket, "recording.consent", agree=True)
    you = (await until(speaker_socket, "role.changed"))["you"]
    assert you["consent"] == "agreed"

    await send(host_socket, "recording.pause")
    assert (await until(listener_socket, "recording"))["state"] == "paused"
    # A late joiner learns it from their room.state.
    latecomer = await database_sync_to_async(make_member)("Late Comer")
    late_socket, late = await connect(latecomer, room.pk)
    assert late["recording"]["state"] == "paused"
    await send(listener_socket, "recording.start")
    assert (await until(listener_socket, "error"))["code"] == "not_allowed"
    await send(listener_socket, "recording.consent", agree="yes")
    assert (await until(listener_socket, "error"))["code"] == "invalid_message"
    for socket in (host_socket, speaker_socket, listener_socket, late_socket):
        await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_audience_answering_in_a_storm_is_limited_and_never_holds_up_the_host(scene):
    """Consent answers have a room-wide rate (each changed one makes every node re-read the
    room); the host's switches don't share it, so the host still pauses at once."""
    room, host, _, listener = scene
    others = [await database_sync_to_async(make_member)(f"Answerer {n}") for n in range(2)]
    for member in others:
        await database_sync_to_async(present)(room, member, role=Role.LISTENER)
    host_socket, _ = await connect(host, room.pk)
    await send(host_socket, "recording.start")
    await until(host_socket, "recording")
    sockets = [(await connect(m, room.pk))[0] for m in (listener, *others)]
    for n in range(4):
        for socket in sockets:
            await send(socket, "recording.consent", agree=n % 2 == 0)
    await send(host_socket, "recording.pause")
    assert (await until(host_socket, "recording"))["state"] == "paused"
    refused = 0
    for socket in sockets:
        for event in await drain(socket, 0.5):
            refused += event["type"] == "error" and event["code"] == "rate_limited"
    assert 0 < refused < 12
    for socket in (host_socket, *sockets):
        await socket.disconnect()
