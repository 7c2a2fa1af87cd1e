"""How an ended room went, for its host: duration, listeners, talk time, the audience's
industries.

The industries are shown only in groups of at least MIN_GROUP people, so that a host can't
pick out one listener ("the one person from Legal"): smaller industries are counted together
as "Other", which is itself left out when it is still smaller than that.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count

from accounts.models import Industry, Member
from rooms.models import Participant, Recording, Role, Room
from rooms.recordings.processing import speaker_talk_ms

MIN_GROUP = 5
OTHER = "Other"


@dataclass(frozen=True)
class SpeakerTalk:
    member: Member
    talk_ms: int
    share: int  # of all talk, in whole percent

    @property
    def talk_text(self) -> str:
        return duration_text(timedelta(milliseconds=self.talk_ms), short=True)


@dataclass(frozen=True)
class IndustryGroup:
    label: str
    count: int
    share: int  # of the listeners, in whole percent


@dataclass(frozen=True)
class RoomAnalytics:
    duration: timedelta | None
    peak_listeners: int
    unique_listeners: int
    talk: list[SpeakerTalk]
    # None: too few listeners to show any.
    industries: list[IndustryGroup] | None

    @property
    def duration_text(self) -> str:
        return duration_text(self.duration)


def duration_text(duration: timedelta | None, *, short: bool = False) -> str:
    """ "1 h 05 min", "42 min", "under a minute" ("3 min 20 s", "45 s" when `short`)."""
    if duration is None:
        return "unknown"
    seconds = int(duration.total_seconds())
    if short and seconds < 3600:
        minutes, seconds = divmod(seconds, 60)
        return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
    minutes = seconds // 60
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def room_analytics(room: Room, recording: Recording | None = None) -> RoomAnalytics:
    """The figures for an ended room's host, with talk time from its `recording` when it
    has one. Three queries at most.

    Listeners are the members in the audience who joined at some point (Participant with
    joined_at). A listener brought on stage holds a stage role from then on, and is
    counted with the speakers, as the peak (Room.peak_audience, kept by rooms.broadcast
    from the audience count) counts them."""
    duration = None
    if room.started_at is not None and room.ended_at is not None:
        duration = room.ended_at - room.started_at
    by_industry = dict(
        Participant.objects.filter(room=room, role=Role.LISTENER, joined_at__isnull=False)
        .values_list("member__industry")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return RoomAnalytics(
        duration=duration,
        peak_listeners=room.peak_audience,
        unique_listeners=sum(by_industry.values()),
        talk=speaker_talk(recording) if recording is not None else [],
        industries=industry_groups(by_industry),
    )


def speaker_talk(recording: Recording) -> list[SpeakerTalk]:
    """Each recorded speaker's talk time (rooms.recordings.processing.speaker_talk_ms, from
    the packets' audio levels), most first. Empty once the replay is deleted (its tracks
    go with it)."""
    talk = speaker_talk_ms(recording)
    if not talk:
        return []
    members = Member.objects.in_bulk(list(talk))
    total = sum(talk.values()) or 1
    rows = [
        SpeakerTalk(member=members[pk], talk_ms=ms, share=round(100 * ms / total))
        for pk, ms in talk.items()
        if pk in members
    ]
    return sorted(rows, key=lambda t: (-t.talk_ms, t.member.display_name, t.member.pk))


def industry_groups(counts: dict[str, int]) -> list[IndustryGroup] | None:
    """The listeners by industry (counts by Member.industry, "" for not given), in groups
    of at least MIN_GROUP: largest first, then "Other" (the smaller industries, those not
    given and Industry.OTHER) when it is large enough too. None when fewer than MIN_GROUP
    people listened at all."""
    total = sum(counts.values())
    if total < MIN_GROUP:
        return None
    shown: list[tuple[str, int]] = []
    other = 0
    for industry, count in counts.items():
        if industry in Industry.values and industry != Industry.OTHER and count >= MIN_GROUP:
            shown.append((Industry(industry).label, count))
        else:
            other += count
    shown.sort(key=lambda group: (-group[1], group[0]))
    if other >= MIN_GROUP:
        shown.append((OTHER, other))
    return [
        IndustryGroup(label=label, count=count, share=round(100 * count / total))
        for label, count in shown
    ]
