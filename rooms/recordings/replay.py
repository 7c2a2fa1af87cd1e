"""Reads for an ended room's replay: the player, who spoke when, and the transcript.

The callers have already checked that the viewer may see the room (rooms.selectors); these
only read. Each is a fixed number of queries whatever the length of the transcript.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from rooms.models import (
    STAGE_ROLES,
    AuditAction,
    AuditEntry,
    Participant,
    Recording,
    RecordingTrack,
    Room,
    TranscriptSegment,
)
from rooms.selectors import _with_stage_preview

# Between the start and the end of a stretch on the timeline, as in "0:12-1:05" (an en dash).
DASH = "\N{EN DASH}"
# The audit reason of a deletion by the retention rule (rooms.recordings.deletion).
RETENTION = "retention"

# Lines of one speaker this close together (ms) make one stretch on the timeline.
SPAN_GAP_MS = 1500
PROFILE_REPLAYS = 10
# Someone whose account is gone (TranscriptSegment.member is SET_NULL).
FORMER_MEMBER = "A former member"

# The statuses the page shows a panel for; any other (recording, paused: the room is
# still on the air, or a room that ended a moment ago) reads as "preparing".
PANELS = {
    Recording.Status.READY: "ready",
    Recording.Status.FAILED: "failed",
    Recording.Status.DELETED: "deleted",
}


def stamp(ms: int) -> str:
    """A place on the replay as people write it: "0:07", "12:40", "1:02:03"."""
    seconds = max(0, ms) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@dataclass(frozen=True)
class Line:
    """A line of the transcript."""

    start_ms: int
    end_ms: int
    speaker: str
    member_id: int | None
    text: str

    @property
    def seconds(self) -> int:
        """Where the line starts, in whole seconds: the page's ?t= (rounded down, so the
        line is heard from its first word)."""
        return self.start_ms // 1000

    @property
    def stamp(self) -> str:
        return stamp(self.start_ms)


@dataclass(frozen=True)
class Stretch:
    """One stretch of a speaker's talk on the timeline, placed as a share of the replay."""

    start_ms: int
    end_ms: int
    left: str  # CSS percentages
    width: str
    label: str  # "Ana Lee, 0:12" DASH "1:05"


@dataclass
class SpeakerBar:
    name: str
    member_id: int | None
    stretches: list[Stretch] = field(default_factory=list)


@dataclass
class Replay:
    """What the room page shows of its recording: `panel` is "ready", "processing",
    "failed" or "deleted"; lines and speakers only when ready."""

    recording: Recording
    panel: str
    # For a deleted replay: "host", "retention" (RECORDING_RETENTION_DAYS) or "moderator".
    deleted_by: str = ""
    duration_ms: int = 0
    lines: list[Line] = field(default_factory=list)
    speakers: list[SpeakerBar] = field(default_factory=list)

    @property
    def is_ready(self) -> bool:
        return self.panel == "ready"

    @property
    def duration_stamp(self) -> str:
        return stamp(self.duration_ms)

    @property
    def retention_days(self) -> int:
        return settings.RECORDING_RETENTION_DAYS


def replay_for(room: Room) -> Replay | None:
    """The room's replay as its page shows it; None when the room was never recorded.
    One query, and two more when the replay is ready (its lines and, without a
    transcript, its tracks)."""
    recording = Recording.objects.filter(room=room).first()
    if recording is None:
        return None
    replay = Replay(recording=recording, panel=PANELS.get(recording.status, "processing"))
    if replay.panel == "deleted":
        replay.deleted_by = _deleted_by(room)
    if not replay.is_ready:
        return replay
    segments = list(TranscriptSegment.objects.filter(recording=recording).select_related("member"))
    replay.lines = [
        Line(
            start_ms=s.start_ms,
            end_ms=max(s.end_ms, s.start_ms),
            speaker=s.member.display_name if s.member else FORMER_MEMBER,
            member_id=s.member_id,
            text=s.text,
        )
        for s in segments
    ]
    if replay.lines:
        talk = [(line.member_id, line.speaker, line.start_ms, line.end_ms) for line in replay.lines]
    else:
        # No transcript (it failed, or nobody said a word it understood): who was on the
        # record, from the speakers' tracks.
        tracks = RecordingTrack.objects.filter(recording=recording).select_related("member")
        talk = [
            (t.member_id, t.member.display_name, t.starts_ms, t.starts_ms + t.duration_ms)
            for t in tracks
        ]
    ends = [end for *_, end in talk]
    replay.duration_ms = max([recording.duration_ms, *ends])
    replay.speakers = _bars(talk, replay.duration_ms)
    return replay


def _deleted_by(room: Room) -> str:
    """Who deleted the room's replay, from its audit entry (rooms.recordings.deletion)."""
    entry = (
        AuditEntry.objects.filter(room=room, action=AuditAction.RECORDING_DELETE)
        .values("actor_id", "reason")
        .first()
    )
    if entry is None:
        return "host"
    if entry["reason"] == RETENTION:
        return "retention"
    return "host" if entry["actor_id"] == room.host_id else "moderator"


def _bars(talk: list[tuple[int | None, str, int, int]], duration_ms: int) -> list[SpeakerBar]:
    """A bar per speaker, in the order they first spoke, of their stretches of talk."""
    bars: dict[int | None, SpeakerBar] = {}
    for member_id, name, start, end in sorted(talk, key=lambda t: (t[2], t[3])):
        bar = bars.setdefault(member_id, SpeakerBar(name=name, member_id=member_id))
        last = bar.stretches[-1] if bar.stretches else None
        if last is not None and start - last.end_ms <= SPAN_GAP_MS:
            start = last.start_ms
            end = max(end, last.end_ms)
            bar.stretches.pop()
        bar.stretches.append(_stretch(name, start, end, duration_ms))
    return list(bars.values())


def _stretch(name: str, start: int, end: int, duration_ms: int) -> Stretch:
    whole = max(duration_ms, 1)
    return Stretch(
        start_ms=start,
        end_ms=end,
        left=f"{100 * start / whole:.3f}%",
        # At least a sliver, so that a one-word answer is still seen.
        width=f"{max(100 * (end - start) / whole, 0.4):.3f}%",
        label=f"{name}, {stamp(start)}{DASH}{stamp(end)}",
    )


def replay_ready(room_id: int | None) -> bool:
    """Has the room a replay to hear (an event's page links to it)?"""
    if room_id is None:
        return False
    return Recording.objects.filter(room_id=room_id, status=Recording.Status.READY).exists()


def with_replay_flag(rooms: QuerySet[Room]) -> QuerySet[Room]:
    """Rooms annotated `replay_ready` (the Replay badge on a room card), in the same query."""
    ready = Recording.objects.filter(room=OuterRef("pk"), status=Recording.Status.READY)
    return rooms.annotate(replay_ready=Exists(ready))


def recent_replays(viewer, limit: int = PROFILE_REPLAYS) -> list[Room]:
    """The newest replays the viewer may hear, as room cards (the rooms list)."""
    rooms = (
        Room.objects.filter(status=Room.Status.ENDED, recording__status=Recording.Status.READY)
        .open_to(viewer)
        .order_by("-ended_at", "-pk")
    )
    return list(with_replay_flag(_with_stage_preview(rooms))[:limit])


def replays_for_profile(member, viewer) -> list[Room]:
    """Ended rooms the member hosted or spoke in that have a replay, as the viewer may see
    them, newest first, as room cards."""
    on_stage = Participant.objects.filter(member=member, role__in=STAGE_ROLES).values("room_id")
    rooms = (
        Room.objects.filter(status=Room.Status.ENDED, pk__in=on_stage)
        .filter(recording__status=Recording.Status.READY)
        .open_to(viewer)
        .order_by("-ended_at", "-pk")
    )
    return list(with_replay_flag(_with_stage_preview(rooms))[:PROFILE_REPLAYS])
