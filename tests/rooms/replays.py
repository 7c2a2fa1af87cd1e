"""Factories for ended rooms and their replays, shared by the replay, search and analytics
tests. A module that imports `recordings_root` keeps every replay file under the test's
tmp_path (the "recordings" storage, STORAGES)."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from rooms.models import (
    Participant,
    Recording,
    RecordingSpan,
    RecordingTrack,
    Role,
    Room,
    TranscriptSegment,
)
from rooms.models.recordings import recordings_storage
from tests.conftest import make_room

# 10 KiB of bytes whose values give away where they came from.
AUDIO = bytes(range(256)) * 40


@pytest.fixture(autouse=True)
def recordings_root(settings, tmp_path):
    root = tmp_path / "recordings"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root, "base_url": None},
        },
    }
    return root


def ended_room(host, *, ended_ago=timedelta(hours=1), length=timedelta(minutes=42), **fields):
    """A room that was live and has ended `ended_ago`, after `length`."""
    room = make_room(host, **fields)
    ended_at = timezone.now() - ended_ago
    Room.objects.filter(pk=room.pk).update(
        status=Room.Status.ENDED, started_at=ended_at - length, ended_at=ended_at
    )
    Participant.objects.filter(room=room).update(is_present=False)
    room.refresh_from_db()
    return room


def recording_of(
    room,
    *,
    status=Recording.Status.READY,
    lines=(),
    tracks=(),
    audio: bytes | None = AUDIO,
    duration_ms: int = 120_000,
) -> Recording:
    """The room's recording, with its replay file (when ready), transcript `lines`
    (member, start_ms, end_ms, text) and speakers' `tracks` (member, starts_ms, duration_ms,
    talk_ms), each track with a file of its own."""
    storage = recordings_storage()
    name = ""
    if audio is not None and status == Recording.Status.READY:
        name = storage.save(f"rooms/{room.pk}/replay.ogg", ContentFile(audio))
    recording = Recording.objects.create(
        room=room,
        status=status,
        started_by=room.host,
        ended_at=room.ended_at,
        duration_ms=duration_ms,
        audio=name,
    )
    span = RecordingSpan.objects.create(
        recording=recording,
        started_at=room.started_at or timezone.now(),
        ended_at=room.ended_at or timezone.now(),
    )
    for member, start_ms, end_ms, text in lines:
        TranscriptSegment.objects.create(
            recording=recording, member=member, start_ms=start_ms, end_ms=end_ms, text=text
        )
    for n, (member, starts_ms, length_ms, talk_ms) in enumerate(tracks):
        track_name = storage.save(
            f"rooms/{room.pk}/track-{member.pk}-{n}.ogg", ContentFile(b"OggS" + AUDIO[:100])
        )
        RecordingTrack.objects.create(
            recording=recording,
            span=span,
            member=member,
            file=track_name,
            starts_ms=starts_ms,
            duration_ms=length_ms,
            packets=length_ms // 20,
            talk_ms=talk_ms,
        )
    return recording


def listened(room, member, *, role=Role.LISTENER) -> Participant:
    """The member joined the room (and has left: it ended)."""
    participant, _ = Participant.objects.update_or_create(
        room=room,
        member=member,
        defaults={
            "role": role,
            "joined_at": room.started_at,
            "left_at": room.ended_at,
            "is_present": False,
        },
    )
    return participant


def stored(name: str) -> bool:
    return recordings_storage().exists(name)
