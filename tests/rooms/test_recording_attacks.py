"""A hostile review of recording, captions and replays (issue 14): reproductions.

The first tests each reproduce a finding of that review, which failed on the code as
reviewed and pass since its fix; each docstring tells the attack. The ones named
test_holds_* pin down attacks the code withstood from the start.
"""

import asyncio
import collections

import pytest
from django.core.exceptions import PermissionDenied

from accounts.services import block_create
from groups.models import GroupBan
from media import captions as captions_module
from media.recorder import TrackFile
from rooms import broadcast, media_bridge, selectors, services
from rooms.errors import Conflict
from rooms.models import (
    AuditEntry,
    Participant,
    Recording,
    RecordingSpan,
    RecordingTrack,
    Role,
)
from rooms.models.recordings import recordings_storage
from rooms.recordings import live, processing, replay, search
from rooms.recordings.deletion import recording_delete
from rooms.services import recording as recording_services
from tests.conftest import make_group, make_member, make_room
from tests.moderation.helpers import present
from tests.rooms.replays import (
    ended_room,
    recording_of,
    recordings_root,  # noqa: F401 - keeps replay files under tmp_path
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def group_talk(alice, bob, carol, dan):
    """A public room of a (public) group, ended, with a ready replay; dan was a member."""
    group = make_group(alice, "Platform Engineers", members=[dan])
    room = ended_room(alice, title="Sharding Postgres", speakers=[bob], group=group)
    recording_of(room, lines=[(bob, 75_400, 80_000, "We moved to sharding by tenant.")])
    return room


# --- Privacy: who learns of, or reads, a replay ---------------------------------------------


def test_a_member_banned_from_the_group_reads_its_transcripts(alice, dan, group_talk):
    """room_access refuses a group-banned member every room of the group (the
    replay's page and audio 404), but search, Recent replays and the profile filter with
    Room.visible_to, which knows nothing of GroupBan: dan reads what was said."""
    GroupBan.objects.create(group=group_talk.group, member=dan, banned_by=alice)
    group_talk.group.memberships.filter(member=dan).delete()
    with pytest.raises(PermissionDenied):
        selectors.room_get_for_member(group_talk.pk, dan)  # the page: refused

    assert search.transcript_lines_matching(dan, "sharding", limit=20) == []
    assert replay.recent_replays(dan) == []
    assert replay.replays_for_profile(alice, dan) == []


def test_a_member_a_co_host_blocked_reads_the_transcript(alice, bob, carol):
    """A co-host's block keeps carol out of the room (room_access's
    blocked_by_moderator), but visible_to looks at the host's blocks only."""
    erin = make_member("Erin Cohost")
    room = ended_room(alice, title="Incident review", moderators=[erin])
    recording_of(room, lines=[(erin, 1_000, 2_000, "The pager went off at three.")])
    block_create(blocker=erin, blocked=carol)
    with pytest.raises(PermissionDenied):
        selectors.room_get_for_member(room.pk, carol)

    assert search.transcript_lines_matching(carol, "pager", limit=20) == []
    assert replay.recent_replays(carol) == []


def test_signed_out_visitors_see_replays_of_a_private_groups_rooms(client, alice):
    """A public room of a private group "says nothing of itself" signed out
    (selectors.room_shareable), yet the rooms list's Recent replays shows its card."""
    group = make_group(alice, "Security Council", private=True)
    room = ended_room(alice, title="Red team debrief", group=group)
    recording_of(room)

    assert client.get(f"/rooms/{room.pk}/").status_code == 302  # the page: sign in
    assert "Red team debrief" not in client.get("/rooms/").content.decode()


# --- Consent ----------------------------------------------------------------------------------


def test_a_speaker_away_when_the_record_started_comes_back_audible(alice, bob):
    """_mute_who_has_not_agreed mutes only speakers present at the start. A
    speaker unmuted on stage whose tab was reloading keeps muted=False (mute survives
    reconnects), rejoins a recorded stage and is heard (and captioned) without ever
    agreeing; media_offer_allowed says they may be heard."""
    room = make_room(alice, speakers=[bob])
    present(room, alice, role=Role.HOST)
    Participant.objects.filter(room=room, member=bob).update(
        role=Role.SPEAKER, muted=False, is_present=False, connection=""
    )
    services.recording_start(room_id=room.pk, actor=alice)

    services.participant_join(room_id=room.pk, member=bob, connection="ws-bob")

    heard = selectors.media_offer_allowed(room_id=room.pk, member=bob, connection="ws-bob")
    assert not heard, "bob is heard on a recorded stage without having agreed"


def test_a_listener_repeating_consent_rebroadcasts_each_time(
    alice, carol, monkeypatch, django_capture_on_commit_callbacks
):
    """recording.consent is open to every listener, locks the live room row
    (acting) and sends media.plan to every node, so that each node's recorder re-reads the
    plan: on every message, even an unchanged answer, even with the room not recorded.
    One socket at 5 messages/s, times the audience, is a cluster-wide refresh storm; no
    room-wide limit (ROOM_LIMITS) covers it as it covers hand toggles and votes."""
    room = make_room(alice)
    present(room, alice, role=Role.HOST)
    present(room, carol, role=Role.LISTENER)
    plans = []
    monkeypatch.setattr(broadcast, "media_plan", lambda room_id: plans.append(room_id))
    services.recording_start(room_id=room.pk, actor=alice)
    plans.clear()

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(10):
            services.recording_consent(room_id=room.pk, actor=carol, agree=True)

    assert len(plans) <= 1


def test_the_host_can_write_a_span_and_audit_entries_per_message(alice, monkeypatch):
    """Each start/pause writes an audit entry, closes or opens a span,
    and on the brain stops one recorder thread and starts another, saving one file per
    speaker per span; the only limit is the socket's 5 messages/s (x3 sockets). An hour of
    that is ~50,000 spans and tracks, and the worker opens every track at once (_mix's
    ExitStack): EMFILE, and the replay fails for good. Expect toggles to be limited
    (say one change per few seconds) or very short spans to be merged."""
    monkeypatch.setattr(recording_services, "MAX_SPANS", 10)
    room = make_room(alice)
    present(room, alice, role=Role.HOST)
    for _ in range(50):
        try:
            services.recording_start(room_id=room.pk, actor=alice)
            services.recording_pause(room_id=room.pk, actor=alice)
        except Conflict:  # past MAX_SPANS, resuming is refused
            break

    assert RecordingSpan.objects.filter(recording__room=room).count() <= 10
    assert AuditEntry.objects.filter(room=room).count() <= 20


# --- Faults: the room's end, deletion, the caption worker ------------------------------------


def test_a_room_ended_while_paused_never_starts_its_worker(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    """The worker is started only by live._save_tracks, when the last recorder
    stops with tracks saved. A room ended while paused (its recorder stopped at the pause)
    or whose last span wrote nothing stays "Preparing the replay" until a cron run."""
    started = []
    monkeypatch.setattr(processing, "process_soon", started.append)
    monkeypatch.setattr(media_bridge, "hub", lambda: None)  # follow() needs no tap here
    room = make_room(alice)
    present(room, alice, role=Role.HOST)
    services.recording_start(room_id=room.pk, actor=alice)
    services.recording_pause(room_id=room.pk, actor=alice)

    with django_capture_on_commit_callbacks(execute=True):
        services.room_end(room_id=room.pk, actor=alice)
    # What the event loop does on the room's media plan (live.refresh_soon -> follow).
    live.follow(room.pk, selectors.media_plan(room.pk))

    recording = Recording.objects.get(room=room)
    assert recording.status == Recording.Status.PROCESSING
    assert started == [recording.pk]


def test_tracks_saved_after_the_replay_was_deleted_stay_on_disk(
    alice, bob, tmp_path, django_capture_on_commit_callbacks
):
    """The host may delete a replay that is "processing" (DELETABLE) the
    moment the room ends, while the brain is still stopping its recorder and saving the
    tracks (live._save_tracks, in a thread). Those tracks are saved anyway, for a
    recording marked deleted: bob's voice stays in the recordings storage, with rows
    pointing at it, after "Replay deleted, with its transcript"."""
    room = ended_room(alice, speakers=[bob])
    recording = recording_of(room, status=Recording.Status.PROCESSING, audio=None)
    span = RecordingSpan.objects.get(recording=recording)
    with django_capture_on_commit_callbacks(execute=True):
        recording_delete(actor=alice, recording_id=recording.pk)

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / f"{bob.pk}.ogg").write_bytes(b"OggS bob's voice")

    class StoppedRecorder:
        def stop(self):
            return [TrackFile(bob.pk, scratch / f"{bob.pk}.ogg", 0, 1000, 50, 0, 800)]

    late = live._Live(StoppedRecorder(), recording.pk, span.pk, scratch)
    live._save_tracks(room.pk, late)

    assert not RecordingTrack.objects.filter(recording=recording).exists()
    tracks = f"rooms/{room.pk}/tracks/{span.pk}-{bob.pk}.ogg"
    assert not recordings_storage().exists(tracks)


@pytest.mark.asyncio
async def test_captions_turned_on_again_soon_after_a_crash_are_silently_dead(
    monkeypatch,
):
    """The worker died: captions went off and the room was told. The host turns
    them on again within restart_after (30 s): feed() hands out a feed on the dead worker,
    which drops every packet, and nobody is told. The room shows captions on, forever
    empty, until someone turns them off and on again after 30 s."""

    class FakeWorker:
        def __init__(self, service, backend, model, limit):
            self.dead = False
            self.queue = collections.deque()
            self.limit = limit

    monkeypatch.setattr(captions_module, "_Worker", FakeWorker)
    failures = []
    service = captions_module.CaptionService(
        on_caption=lambda *args: None,
        on_failure=lambda room_id, message: failures.append(room_id),
        loop=asyncio.get_running_loop(),
    )
    first = service.feed(7)
    first._worker.dead = True  # the worker crashed; on_failure(7) told the room
    failures.clear()

    again = service.feed(7)  # the host turns captions on again at once
    again.packet(1, 0, b"\xfc\xff\xfe", 0, 0.0)
    await asyncio.sleep(0.05)

    assert (not again._worker.dead and again._worker.queue) or failures == [7]


# --- HOLDS: checked and withstood -------------------------------------------------------------


@pytest.mark.parametrize("room_id", [2**63, 2**64, 10**30])
def test_holds_huge_ids_are_404s(client, carol, room_id):
    client.force_login(carol)
    for url in ("replay/audio/", "replay/status/"):
        assert client.get(f"/rooms/{room_id}/{url}").status_code == 404
    assert client.post(f"/rooms/{room_id}/replay/delete/", {"confirm": "yes"}).status_code == 404


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-99999999999999999999999999999",
        "bytes=-99999999999999999999999",
        "bytes=0-1,5-6",
        "bytes=--1",
        "bytes=5-1",
        "bytes=\N{ARABIC-INDIC DIGIT THREE}-",
    ],
)
def test_holds_odd_ranges_never_500(client, carol, alice, header):
    room = ended_room(alice)
    recording_of(room)
    client.force_login(carol)
    for method in (client.get, client.head):
        response = method(f"/rooms/{room.pk}/replay/audio/", HTTP_RANGE=header)
        assert response.status_code in (200, 206, 416)


@pytest.mark.parametrize(
    "query",
    ['"sharding', "!", "&", "sharding:*", "a & !b | (c", "'", "-", "x" * 10_000, "or or -"],
)
def test_holds_tsquery_syntax_in_the_search_is_no_500(client, carol, group_talk, query):
    client.force_login(carol)
    assert client.get("/search/", {"q": query}).status_code == 200


def test_holds_a_non_host_cannot_delete_another_rooms_replay_through_its_own(
    client, alice, bob, django_capture_on_commit_callbacks
):
    """bob's own room's URL deletes bob's replay only: the id comes from the room."""
    mine = ended_room(bob)
    recording_of(mine)
    theirs = ended_room(alice)
    recording_of(theirs)
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/rooms/{mine.pk}/replay/delete/", {"confirm": "yes"})
    assert client.post(f"/rooms/{theirs.pk}/replay/delete/", {"confirm": "yes"}).status_code == 403
    assert Recording.objects.get(room=theirs).status == Recording.Status.READY
    assert Recording.objects.get(room=mine).status == Recording.Status.DELETED


def test_holds_withdrawn_consent_leaves_the_recorders_allow_list(alice, bob):
    room = make_room(alice, speakers=[bob])
    present(room, alice, role=Role.HOST)
    present(room, bob, role=Role.SPEAKER)
    services.recording_start(room_id=room.pk, actor=alice)
    services.recording_consent(room_id=room.pk, actor=bob, agree=True)
    assert bob.pk in selectors.media_plan(room.pk)["recording"]["members"]
    services.recording_consent(room_id=room.pk, actor=bob, agree=False)
    assert bob.pk not in selectors.media_plan(room.pk)["recording"]["members"]
    assert Participant.objects.get(room=room, member=bob).role == Role.LISTENER
    # Promoted again after declining: arrives muted and can't unmute without agreeing.
    services.hand_raise(room_id=room.pk, actor=bob)
    services.speaker_promote(room_id=room.pk, actor=alice, member_id=bob.pk)
    with pytest.raises(Conflict) as refused:
        services.unmute_self(room_id=room.pk, actor=bob)
    assert getattr(refused.value, "code", "") == "consent_required"
