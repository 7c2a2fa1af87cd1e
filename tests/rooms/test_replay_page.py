"""An ended room's replay: the section on its page (/rooms/<id>/), its audio
(/rooms/<id>/replay/audio/), its status (/replay/status/), deleting it (/replay/delete/,
rooms.recordings.deletion) and the retention rule (manage.py purge_recordings)."""

import html
import re
from datetime import timedelta
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import connection, connections
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import block_create
from rooms.errors import Conflict, NotAllowed
from rooms.models import (
    AuditAction,
    AuditEntry,
    Recording,
    RecordingTrack,
    Room,
    RoomBan,
    TranscriptSegment,
)
from rooms.models.recordings import recordings_storage
from rooms.recordings import deletion
from rooms.recordings.replay import DASH
from rooms.recordings.streaming import parse_range
from tests.conftest import make_group, make_member, make_room
from tests.rooms.replays import (
    AUDIO,
    ended_room,
    recording_of,
    recordings_root,  # noqa: F401 - keeps replay files under tmp_path
    stored,
)


def _page(client, room) -> str:
    response = client.get(f"/rooms/{room.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _audio(client, room, **headers):
    return client.get(f"/rooms/{room.pk}/replay/audio/", headers=headers)


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def talk(alice, bob):
    """Alice's public room, ended, with a ready replay: Alice opens, Bob answers."""
    room = ended_room(alice, title="Sharding Postgres", speakers=[bob])
    recording = recording_of(
        room,
        lines=[
            (alice, 12_000, 65_000, "Welcome, today we shard Postgres."),
            (bob, 66_000, 90_500, "We split by tenant id."),
            (alice, 91_000, 95_000, "Thanks, Bob."),
        ],
        tracks=[(alice, 0, 120_000, 57_000), (bob, 0, 120_000, 24_500)],
    )
    return room, recording


# --- The replay section --------------------------------------------------------------------


def test_it_shows_the_player_the_timeline_and_the_transcript(client, carol, talk):
    room, _ = talk
    client.force_login(carol)

    page = _page(client, room)

    audio = f'controls preload="metadata" src="/rooms/{room.pk}/replay/audio/"'
    assert f'<audio class="replay-audio" {audio}' in page
    assert page.count("<audio") == 1
    labels = [html.unescape(s) for s in re.findall(r'title="([^"]+)" data-start-ms', page)]
    assert labels == [
        f"Alice Moreau, 0:12{DASH}1:05",
        f"Alice Moreau, 1:31{DASH}1:35",
        f"Bob Okafor, 1:06{DASH}1:30",
    ]
    assert f"Alice Moreau, 0:12{DASH}1:05" in html.unescape(page)  # the text, not only a tooltip
    assert 'style="--left: 10.000%; --width: 44.167%"' in page
    lines = re.findall(r'<li class="replay-line"(.*?)</li>', page, re.S)
    assert len(lines) == 3
    assert 'data-start-ms="66000"' in lines[1] and "Bob Okafor" in lines[1]
    assert "We split by tenant id." in lines[1]
    assert "replay.js" in page and "room.js" not in page


def test_each_line_links_to_its_moment(client, carol, talk):
    room, _ = talk
    client.force_login(carol)

    page = _page(client, room)

    seeks = re.findall(r'<a class="replay-seek" href="\?t=(\d+)#replay" data-seek="(\d+)">', page)
    assert seeks == [("12", "12000"), ("66", "66000"), ("91", "91000")]
    assert '<span class="visually-hidden">Play from </span>1:06</a>' in page


def test_the_timeline_comes_from_the_tracks_without_a_transcript(client, alice, bob, carol):
    room = ended_room(alice, speakers=[bob])
    recording_of(room, tracks=[(alice, 0, 30_000, 20_000), (bob, 30_000, 60_000, 50_000)])
    client.force_login(carol)

    page = html.unescape(_page(client, room))

    assert f"Alice Moreau, 0:00{DASH}0:30" in page and f"Bob Okafor, 0:30{DASH}1:30" in page
    assert "No transcript for this replay." in page


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (Recording.Status.PROCESSING, "Preparing the replay…"),
        (Recording.Status.FAILED, "The replay couldn't be prepared"),
        (Recording.Status.DELETED, "The host deleted this replay"),
    ],
)
def test_it_says_where_the_replay_is(client, alice, carol, status, text):
    room = ended_room(alice)
    recording_of(room, status=status)
    client.force_login(carol)

    page = html.unescape(_page(client, room))

    assert text in page
    assert "<audio" not in page and "replay-line" not in page


def test_a_preparing_replay_asks_for_its_status(client, alice, carol):
    room = ended_room(alice)
    recording = recording_of(room, status=Recording.Status.PROCESSING)
    client.force_login(carol)

    page = _page(client, room)
    waiting = client.get(f"/rooms/{room.pk}/replay/status/")
    Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.READY)
    ready = client.get(f"/rooms/{room.pk}/replay/status/")

    assert f'data-status-url="/rooms/{room.pk}/replay/status/"' in page
    assert "replay.js" in page
    assert waiting.json() == {"status": "processing"}
    assert waiting["Cache-Control"] == "no-store"
    assert ready.json() == {"status": "ready"}


def test_an_unrecorded_room_shows_no_replay(client, alice, carol):
    room = ended_room(alice)
    client.force_login(carol)

    page = _page(client, room)

    assert 'id="replay"' not in page and "replay.js" not in page
    assert "This room has ended." in page
    assert client.get(f"/rooms/{room.pk}/replay/audio/").status_code == 404
    assert client.get(f"/rooms/{room.pk}/replay/status/").status_code == 404


def test_a_live_room_has_no_replay_yet(client, alice, carol):
    room = make_room(alice)
    recording_of(room, status=Recording.Status.RECORDING)
    client.force_login(carol)

    page = _page(client, room)

    assert 'id="replay"' not in page
    assert _audio(client, room).status_code == 404


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_page_takes_as_many_queries_for_2_lines_as_for_20(client, alice, bob, carol):
    speakers = [bob, *(make_member() for _ in range(4))]
    short = ended_room(alice, speakers=speakers)
    recording_of(
        short,
        lines=[(alice, 0, 1000, "Hello."), (bob, 1000, 2000, "Hi.")],
        tracks=[(alice, 0, 2_000, 1_000), (bob, 0, 2_000, 1_000)],
    )
    long = ended_room(alice, speakers=speakers)
    recording_of(
        long,
        lines=[(speakers[i % 5], i * 1000, i * 1000 + 900, f"Line {i}.") for i in range(20)],
        tracks=[(m, 0, 20_000, 5_000) for m in speakers],
    )
    client.force_login(alice)  # the host: with the analytics
    _queries(client, f"/rooms/{short.pk}/")

    with_2 = _queries(client, f"/rooms/{short.pk}/")
    with_20 = _queries(client, f"/rooms/{long.pk}/")

    assert with_20 == with_2
    assert with_2 <= 15


# --- Who may see and hear it ----------------------------------------------------------------


def _sees(client, room) -> tuple[int, int]:
    """The page's status (and that the player is on it when 200), and the audio's."""
    page = client.get(f"/rooms/{room.pk}/")
    if page.status_code == 200:
        assert ("<audio" in page.content.decode()) is True
    return page.status_code, _audio(client, room).status_code


def test_members_hear_a_public_rooms_replay(client, alice, carol, talk):
    room, _ = talk
    client.force_login(carol)

    assert _sees(client, room) == (200, 200)


def test_a_signed_out_visitor_is_asked_to_sign_in_and_hears_nothing(client, talk):
    room, _ = talk

    page = client.get(f"/rooms/{room.pk}/").content.decode()

    assert "<audio" not in page and "replay-line" not in page
    assert "Sign in to hear the replay" in page
    assert _audio(client, room).status_code == 404
    assert client.get(f"/rooms/{room.pk}/replay/status/").status_code == 404


def test_a_group_only_replay_is_for_the_groups_members(client, alice, bob, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    room = ended_room(alice, group=group, visibility=Room.Visibility.GROUP)
    recording_of(room, lines=[(alice, 0, 1000, "Red team notes.")])

    client.force_login(bob)
    member = _sees(client, room)
    client.force_login(dan)
    outsider = _sees(client, room)
    outsider_status = client.get(f"/rooms/{room.pk}/replay/status/").status_code
    client.logout()
    signed_out = _audio(client, room).status_code

    assert member == (200, 200)
    assert outsider == (404, 404)
    assert outsider_status == 404
    assert signed_out == 404


def test_a_banned_member_hears_nothing(client, alice, dan, talk):
    room, _ = talk
    RoomBan.objects.create(room=room, member=dan, banned_by=alice)
    client.force_login(dan)

    assert _sees(client, room) == (403, 404)


def test_a_member_the_host_blocked_hears_nothing(client, alice, dan, talk):
    room, _ = talk
    block_create(blocker=alice, blocked=dan)
    client.force_login(dan)

    assert _sees(client, room) == (403, 404)


def test_a_platform_moderator_hears_a_group_only_replay(client, alice, mod):
    group = make_group(alice, private=True)
    room = ended_room(alice, group=group, visibility=Room.Visibility.GROUP)
    recording_of(room)
    client.force_login(mod)

    assert _sees(client, room) == (200, 200)


@pytest.mark.parametrize("status", [Recording.Status.PROCESSING, Recording.Status.DELETED])
def test_there_is_no_audio_until_ready_nor_after_deletion(client, alice, carol, status):
    room = ended_room(alice)
    recording_of(room, status=status)
    client.force_login(carol)

    assert _audio(client, room).status_code == 404


def test_a_ready_replay_whose_file_is_missing_is_a_404(client, alice, carol, talk):
    room, recording = talk
    recordings_storage().delete(recording.audio.name)
    client.force_login(carol)

    assert _audio(client, room).status_code == 404


# --- The audio, with ranges -------------------------------------------------------------------


def test_it_sends_the_whole_file_privately(client, carol, talk):
    room, _ = talk
    client.force_login(carol)

    response = _audio(client, room)

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/ogg"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private"
    assert response["Content-Length"] == str(len(AUDIO))
    assert _body(response) == AUDIO


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # the first bytes
        ("bytes=-100", len(AUDIO) - 100, len(AUDIO) - 1),  # the last 100
        ("bytes=10000-", 10000, len(AUDIO) - 1),  # from there to the end
        ("bytes=10000-99999", 10000, len(AUDIO) - 1),  # past the end: up to it
        ("bytes=-999999", 0, len(AUDIO) - 1),  # a suffix longer than the file
        ("bytes=5-5", 5, 5),
    ],
)
def test_it_sends_the_range_asked_for(client, carol, talk, header, first, last):
    room, _ = talk
    client.force_login(carol)

    response = _audio(client, room, Range=header)

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(AUDIO)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private"
    assert _body(response) == AUDIO[first : last + 1]


@pytest.mark.parametrize(
    "header", ["bytes=10240-", "bytes=20000-30000", "bytes=-0", "bytes=99999999999999999999999-"]
)
def test_it_refuses_a_range_past_the_end(client, carol, talk, header):
    room, _ = talk
    client.force_login(carol)

    response = _audio(client, room, Range=header)

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(AUDIO)}"


@pytest.mark.parametrize(
    "header",
    ["garbage", "bytes=", "bytes=-", "bytes=abc-def", "bytes=9-3", "pages=0-9", "bytes=0-1,4-5"],
)
def test_a_range_it_cant_read_gets_the_whole_file(client, carol, talk, header):
    room, _ = talk
    client.force_login(carol)

    response = _audio(client, room, Range=header)

    assert response.status_code == 200
    assert _body(response) == AUDIO


def test_a_head_request_says_how_long_without_the_bytes(client, carol, talk):
    room, _ = talk
    client.force_login(carol)

    response = client.head(f"/rooms/{room.pk}/replay/audio/", headers={"Range": "bytes=0-9"})

    assert response.status_code == 206
    assert response["Content-Length"] == "10"
    assert response.content == b""


def test_the_range_rules():
    assert parse_range("", 100) is None
    assert parse_range("bytes=0-0", 100) == (0, 0)
    assert parse_range("BYTES = 90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_audio_comes_in_chunks_as_it_is_read():
    def make():
        host = make_member("Alice Moreau")
        listener = make_member("Carol Nguyen")
        room = ended_room(host)
        recording_of(room, audio=AUDIO * 20)  # 200 KiB: several chunks
        return room, listener

    room, listener = await database_sync_to_async(make)()
    client = AsyncClient()
    await client.aforce_login(listener)

    response = await client.get(
        f"/rooms/{room.pk}/replay/audio/", headers={"Range": "bytes=100-150099"}
    )
    chunks = [chunk async for chunk in response.streaming_content]
    # The view's connection, in the worker thread: PostgreSQL's teardown waits for it.
    await database_sync_to_async(connections.close_all)()

    assert response.status_code == 206
    assert len(chunks) > 1
    assert b"".join(chunks) == (AUDIO * 20)[100:150100]


# --- Deleting it ----------------------------------------------------------------------------


def _files(recording) -> list[str]:
    return [
        recording.audio.name,
        *RecordingTrack.objects.filter(recording=recording).values_list("file", flat=True),
    ]


def test_the_host_is_offered_deletion_with_a_confirmation(client, alice, carol, talk):
    room, _ = talk

    client.force_login(alice)
    host = _page(client, room)
    client.force_login(carol)
    listener = _page(client, room)

    assert f'action="/rooms/{room.pk}/replay/delete/"' in host
    assert "Delete the replay for everyone?" in host
    assert '<input type="hidden" name="confirm" value="yes">' in host
    assert "replay/delete/" not in listener


def test_the_host_deletes_the_replay_and_its_files(
    client, alice, talk, tmp_path, django_capture_on_commit_callbacks
):
    room, recording = talk
    files = _files(recording)
    paths = [tmp_path / "recordings" / name for name in files]
    assert len(paths) == 3
    assert all(path.is_file() for path in paths)
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/rooms/{room.pk}/replay/delete/", {"confirm": "yes"})

    assert response.status_code == 302 and response["Location"] == f"/rooms/{room.pk}/"
    assert not any(path.exists() for path in paths)
    assert not any(stored(name) for name in files)
    recording.refresh_from_db()
    assert recording.status == Recording.Status.DELETED
    assert recording.deleted_at is not None and recording.audio.name == ""
    assert not TranscriptSegment.objects.filter(recording=recording).exists()
    assert not RecordingTrack.objects.filter(recording=recording).exists()
    entry = AuditEntry.objects.get(action=AuditAction.RECORDING_DELETE)
    assert (entry.actor, entry.room, entry.reason) == (alice, room, "")
    assert entry.before == {"status": "ready"} and entry.after == {"status": "deleted"}
    page = _page(client, room)
    assert "The host deleted this replay" in page and "<audio" not in page
    assert _audio(client, room).status_code == 404


def test_deleting_needs_the_confirmation(client, alice, talk):
    room, recording = talk
    client.force_login(alice)

    response = client.post(f"/rooms/{room.pk}/replay/delete/")

    assert response.status_code == 302
    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert not AuditEntry.objects.filter(action=AuditAction.RECORDING_DELETE).exists()


@pytest.mark.parametrize(("who", "status"), [("bob", 403), ("carol", 403), ("dan_banned", 404)])
def test_nobody_else_can_delete_it(client, alice, bob, carol, dan, talk, who, status):
    room, recording = talk
    RoomBan.objects.create(room=room, member=dan, banned_by=alice)
    member = {"bob": bob, "carol": carol, "dan_banned": dan}[who]
    client.force_login(member)

    response = client.post(f"/rooms/{room.pk}/replay/delete/", {"confirm": "yes"})

    assert response.status_code == status
    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert all(stored(name) for name in _files(recording))
    assert TranscriptSegment.objects.filter(recording=recording).count() == 3
    assert not AuditEntry.objects.filter(action=AuditAction.RECORDING_DELETE).exists()


def test_a_platform_moderator_may_delete_it(
    client, carol, mod, talk, django_capture_on_commit_callbacks
):
    room, recording = talk

    with django_capture_on_commit_callbacks(execute=True):
        deletion.recording_delete(actor=mod, recording_id=recording.pk)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.DELETED
    assert AuditEntry.objects.get(action=AuditAction.RECORDING_DELETE).actor == mod
    client.force_login(carol)
    assert "removed by Podium's moderators" in html.unescape(_page(client, room))


def test_it_wont_delete_twice_nor_while_on_the_record(alice, bob, talk):
    _, recording = talk
    deletion.recording_delete(actor=alice, recording_id=recording.pk)
    on_air = recording_of(make_room(alice), status=Recording.Status.RECORDING)

    with pytest.raises(Conflict):
        deletion.recording_delete(actor=alice, recording_id=recording.pk)
    with pytest.raises(Conflict):
        deletion.recording_delete(actor=alice, recording_id=on_air.pk)
    with pytest.raises(NotAllowed):
        deletion.recording_delete(actor=bob, recording_id=on_air.pk)
    assert AuditEntry.objects.filter(action=AuditAction.RECORDING_DELETE).count() == 1


def test_the_host_may_delete_a_replay_being_prepared(client, alice, bob):
    # The worker then discards what it made (rooms.recordings.processing._publish).
    room = ended_room(alice)
    recording = recording_of(
        room, status=Recording.Status.PROCESSING, tracks=[(bob, 0, 60_000, 30_000)]
    )
    client.force_login(alice)

    page = _page(client, room)
    response = client.post(f"/rooms/{room.pk}/replay/delete/", {"confirm": "yes"})

    assert f'action="/rooms/{room.pk}/replay/delete/"' in page
    assert response.status_code == 302
    recording.refresh_from_db()
    assert recording.status == Recording.Status.DELETED
    assert not RecordingTrack.objects.filter(recording=recording).exists()


# --- Retention ------------------------------------------------------------------------------


def test_retention_deletes_only_the_expired_replays(
    settings, alice, bob, django_capture_on_commit_callbacks
):
    settings.RECORDING_RETENTION_DAYS = 30
    old = recording_of(
        ended_room(alice, ended_ago=timedelta(days=31)), lines=[(alice, 0, 9, "Old.")]
    )
    failed = recording_of(
        ended_room(bob, ended_ago=timedelta(days=40)), status=Recording.Status.FAILED
    )
    recent = recording_of(ended_room(alice, ended_ago=timedelta(days=29)))
    gone = recording_of(
        ended_room(alice, ended_ago=timedelta(days=60)), status=Recording.Status.DELETED
    )
    old_file = old.audio.name

    with django_capture_on_commit_callbacks(execute=True):
        purged = deletion.purge_expired()
    again = deletion.purge_expired()

    assert purged == 2 and again == 0
    statuses = dict(Recording.objects.values_list("pk", "status"))
    assert statuses[old.pk] == statuses[failed.pk] == Recording.Status.DELETED
    assert statuses[recent.pk] == Recording.Status.READY
    assert statuses[gone.pk] == Recording.Status.DELETED
    assert not stored(old_file) and stored(recent.audio.name)
    entries = AuditEntry.objects.filter(action=AuditAction.RECORDING_DELETE)
    assert {(e.room_id, e.actor_id, e.reason) for e in entries} == {
        (old.room_id, alice.pk, "retention"),
        (failed.room_id, bob.pk, "retention"),
    }


def test_retention_counts_from_a_given_moment(settings, alice):
    settings.RECORDING_RETENTION_DAYS = 7
    recording = recording_of(ended_room(alice, ended_ago=timedelta(days=3)))

    assert deletion.purge_expired(now=timezone.now()) == 0
    assert deletion.purge_expired(now=timezone.now() + timedelta(days=5)) == 1
    recording.refresh_from_db()
    assert recording.status == Recording.Status.DELETED


def test_a_replay_deleted_for_retention_says_so(client, settings, alice, carol):
    settings.RECORDING_RETENTION_DAYS = 30
    room = ended_room(alice, ended_ago=timedelta(days=31))
    recording_of(room)
    deletion.purge_expired()
    client.force_login(carol)

    page = _page(client, room)

    assert "Replays are kept for 30 days after their room ends." in page
    assert "The host deleted this replay" not in page


def test_the_command_purges_and_says_how_many(settings, alice):
    settings.RECORDING_RETENTION_DAYS = 30
    recording_of(ended_room(alice, ended_ago=timedelta(days=45)))
    recording_of(ended_room(alice, ended_ago=timedelta(days=1)))
    out = StringIO()

    call_command("purge_recordings", stdout=out)

    assert out.getvalue().strip() == "1 replay deleted (kept for 30 days)."
    assert Recording.objects.filter(status=Recording.Status.DELETED).count() == 1


# --- Where the replay is linked from --------------------------------------------------------


def _ended_event(host, room):
    from events.models import Event
    from tests.conftest import make_event

    event = make_event(host, title="Postgres at scale", starts_in=-timedelta(hours=2))
    Event.objects.filter(pk=event.pk).update(room=room, status=Event.Status.ENDED)
    return event


def test_the_events_page_links_to_its_replay(client, alice, carol, talk):
    room, recording = talk
    event = _ended_event(alice, room)
    client.force_login(carol)

    ready = client.get(f"/events/{event.pk}/").content.decode()
    Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.PROCESSING)
    preparing = client.get(f"/events/{event.pk}/").content.decode()

    assert f'href="/rooms/{room.pk}/#replay" data-replay-link>Replay</a>' in ready
    assert "data-replay-link" not in preparing


def test_the_hosts_profile_lists_their_replays(client, alice, carol, dan, talk):
    room, _ = talk
    group = make_group(alice, private=True, members=[carol])
    hidden = ended_room(alice, title="Council only", group=group, visibility=Room.Visibility.GROUP)
    recording_of(hidden)
    unrecorded = ended_room(alice, title="Not recorded")

    client.force_login(carol)
    member = client.get(f"/in/{alice.handle}/").content.decode()
    client.force_login(dan)
    outsider = client.get(f"/in/{alice.handle}/").content.decode()

    assert 'id="replays-heading"' in member
    assert f'<a class="pill pill-replay" href="/rooms/{room.pk}/#replay">Replay</a>' in member
    assert "Council only" in member and unrecorded.title not in member
    assert "Sharding Postgres" in outsider and "Council only" not in outsider


def test_the_admin_shows_recordings_transcripts_and_consents(client, staff, talk):
    _, recording = talk
    client.force_login(staff)

    pages = [
        "/admin/rooms/recording/",
        "/admin/rooms/recording/?status__exact=ready",
        f"/admin/rooms/recording/{recording.pk}/change/",
        "/admin/rooms/transcriptsegment/?q=tenant",
        "/admin/rooms/recordingconsent/",
    ]
    responses = {url: client.get(url) for url in pages}

    assert all(r.status_code == 200 for r in responses.values())
    assert (
        "We split by tenant id."
        in responses["/admin/rooms/transcriptsegment/?q=tenant"].content.decode()
    )
    assert (
        "Welcome, today"
        not in responses["/admin/rooms/transcriptsegment/?q=tenant"].content.decode()
    )


def test_the_admins_action_deletes_through_the_service(
    client, staff, talk, django_capture_on_commit_callbacks
):
    room, recording = talk
    client.force_login(staff)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/rooms/recording/",
            {"action": "delete_replays", "_selected_action": [recording.pk]},
        )

    recording.refresh_from_db()
    assert recording.status == Recording.Status.DELETED
    assert not stored(f"rooms/{room.pk}/replay.ogg")
    assert AuditEntry.objects.get(action=AuditAction.RECORDING_DELETE).actor == staff


def test_the_rooms_list_offers_recent_replays_to_those_who_may_hear_them(client, alice, dan):
    """The rooms list shows the newest replays under the live rooms; a group-only room's
    replay only to its group."""
    open_talk = ended_room(alice, title="Open replay")
    recording_of(open_talk)
    group = make_group(alice, "Inner circle", private=True)
    closed = ended_room(alice, title="Closed replay", group=group, visibility=Room.Visibility.GROUP)
    recording_of(closed)
    unfinished = ended_room(alice, title="Still mixing")
    recording_of(unfinished, status=Recording.Status.PROCESSING)

    client.force_login(dan)
    page = client.get("/rooms/").content.decode()
    assert "Recent replays" in page
    assert "Open replay" in page
    assert "Closed replay" not in page and "Still mixing" not in page
    client.force_login(alice)
    assert "Closed replay" in client.get("/rooms/").content.decode()
