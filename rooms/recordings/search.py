"""The site search's transcript lines: what was said in the replays a member may hear.

On PostgreSQL a full-text match, ranked, on the GIN index of rooms 0008
(`to_tsvector('english', text)`); on SQLite, which has no such index, a plain substring
match. One query either way.
"""

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import F, Func, QuerySet

from rooms.models import Recording, Room, TranscriptSegment
from rooms.recordings.replay import FORMER_MEMBER, stamp

CONFIG = "english"


class _TextVector(Func):
    """to_tsvector('english', text), written exactly as the index is, so that PostgreSQL
    uses it. Django's SearchVector wraps the column in COALESCE(text, ''), which no longer
    matches the indexed expression (and the column is never NULL)."""

    function = "to_tsvector"
    template = f"%(function)s('{CONFIG}'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


def transcript_lines_matching(viewer, query: str, *, limit: int) -> list[TranscriptSegment]:
    """Lines of ready replays that say `query`, in rooms the viewer may see (group-only rooms
    only for the group's members, none for signed-out visitors, who can't hear replays),
    best match first. Each has `room`, `speaker`, `seconds`, `stamp` and `url` set."""
    if viewer is None or not viewer.is_authenticated or not query:
        return []
    lines = TranscriptSegment.objects.filter(
        recording__status=Recording.Status.READY,
        recording__room__in=Room.objects.open_to(viewer).values("pk"),
    ).select_related("recording__room", "member")
    lines = _matching(lines, query)
    found = list(lines[:limit])
    for line in found:
        line.room = line.recording.room
        line.speaker = line.member.display_name if line.member else FORMER_MEMBER
        line.seconds = line.start_ms // 1000
        line.stamp = stamp(line.start_ms)
        line.url = f"{line.room.get_absolute_url()}?t={line.seconds}"
    return found


def _matching(lines: QuerySet[TranscriptSegment], query: str) -> QuerySet[TranscriptSegment]:
    if connection.vendor == "postgresql":
        search = SearchQuery(query, config=CONFIG, search_type="websearch")
        vector = _TextVector(F("text"))
        return (
            lines.alias(vector=vector)
            .filter(vector=search)
            .annotate(rank=SearchRank(vector, search))
            .order_by("-rank", "-recording__room__ended_at", "start_ms", "pk")
        )
    return lines.filter(text__icontains=query).order_by(
        "-recording__room__ended_at", "start_ms", "pk"
    )
