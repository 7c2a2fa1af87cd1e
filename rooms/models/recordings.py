"""Recordings of rooms, the consent they rest on, and the transcripts made from them.

A room is recorded only while its host has recording on, and only the speakers who agreed
(RecordingConsent) are written. Each stretch on the record is a RecordingSpan; "off the
record" (a pause) ends one and a resume starts the next, so paused time is never written.
On the brain node the forwarder's packets of each consenting speaker go, unchanged, into one
Ogg Opus file per speaker and span (RecordingTrack, media/recorder.py). After the room ends
a worker (rooms.recordings.processing) mixes the tracks into the replay, transcribes them
and publishes the Recording as ready. Files live in the "recordings" storage (STORAGES).
"""

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import Q


class _Recordings(Storage):
    """STORAGES["recordings"] as configured at each call. A FileField keeps the storage it
    was given when its model was imported; this one follows the setting instead (tests
    point it at a temporary folder), and every call goes to the configured backend."""

    def _backend(self):
        return storages["recordings"]

    def _open(self, name, mode="rb"):
        return self._backend().open(name, mode)

    def _save(self, name, content):
        return self._backend().save(name, content)

    def get_available_name(self, name, max_length=None):
        return self._backend().get_available_name(name, max_length)

    def delete(self, name):
        return self._backend().delete(name)

    def exists(self, name):
        return self._backend().exists(name)

    def listdir(self, path):
        return self._backend().listdir(path)

    def size(self, name):
        return self._backend().size(name)

    def path(self, name):
        return self._backend().path(name)

    def url(self, name):
        return self._backend().url(name)


_recordings = _Recordings()


def recordings_storage() -> Storage:
    return _recordings


class Recording(models.Model):
    class Status(models.TextChoices):
        RECORDING = "recording", "Recording"
        PAUSED = "paused", "Off the record"
        PROCESSING = "processing", "Preparing the replay"
        READY = "ready", "Replay ready"
        FAILED = "failed", "Replay failed"
        DELETED = "deleted", "Deleted"

    room = models.OneToOneField("rooms.Room", on_delete=models.CASCADE, related_name="recording")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECORDING)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The replay's length: the spans on the record, end to end.
    duration_ms = models.PositiveIntegerField(default=0)
    audio = models.FileField(storage=recordings_storage, max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "ended_at"])]

    def __str__(self) -> str:
        return f"Recording of {self.room}"

    @property
    def on_air(self) -> bool:
        """Recording now, or paused: the room shows the Recording indicator either way."""
        return self.status in (self.Status.RECORDING, self.Status.PAUSED)

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY


class RecordingSpan(models.Model):
    """One stretch on the record: from a start or resume to a pause or the end."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="spans")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # Where this span begins on the replay's timeline (the spans before it, end to end).
    offset_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["recording"], condition=Q(ended_at=None), name="one_open_span"
            )
        ]

    def __str__(self) -> str:
        return f"{self.recording} from {self.started_at:%H:%M:%S}"


class RecordingConsent(models.Model):
    """A member's answer to "this room is recorded: may we record you?"."""

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="consents")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recording_consents"
    )
    agreed = models.BooleanField()
    answered_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "member"], name="one_consent_per_member")
        ]

    def __str__(self) -> str:
        return f"{self.member} {'agreed' if self.agreed else 'declined'} in {self.room}"


class RecordingTrack(models.Model):
    """One speaker's packets in one span, as an Ogg Opus file, unchanged from the wire."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="tracks")
    span = models.ForeignKey(RecordingSpan, on_delete=models.CASCADE, related_name="tracks")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recording_tracks"
    )
    file = models.FileField(storage=recordings_storage, max_length=200)
    # Where the file's first sample falls on the replay's timeline.
    starts_ms = models.PositiveIntegerField()
    duration_ms = models.PositiveIntegerField()
    packets = models.PositiveIntegerField()
    # Packets the recorder's queue had no room for (each one logged and counted).
    dropped = models.PositiveIntegerField(default=0)
    # Time the speaker was talking, from the packets' audio levels (RFC 6464), no decoding.
    talk_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["starts_ms"]

    def __str__(self) -> str:
        return f"{self.member} in {self.recording}"


class TranscriptSegment(models.Model):
    """A line of a replay's transcript: who said it and when, on the replay's timeline."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="segments")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    start_ms = models.PositiveIntegerField()
    end_ms = models.PositiveIntegerField()
    text = models.TextField(max_length=2000)

    class Meta:
        ordering = ["recording", "start_ms"]
        indexes = [models.Index(fields=["recording", "start_ms"])]

    def __str__(self) -> str:
        return self.text[:60]
