"""rooms.recordings.processing: a recorded room's tracks become a published replay with its
transcript, or a counted failure that publishes nothing.

The tracks are real: espeak-ng speech, encoded to Opus packets and written by the live
recorder (rooms.recordings.demo builds them the same way for the demo room).
"""

import re
from datetime import timedelta
from io import StringIO

import av
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from rooms.models import Recording, RecordingSpan, RecordingTrack, Room, TranscriptSegment
from rooms.models.recordings import recordings_storage
from rooms.recordings import demo, processing
from rooms.recordings.processing import MAX_ATTEMPTS, process, process_soon, speaker_talk_ms
from tests.conftest import make_room

needs_espeak = pytest.mark.skipif(not demo.espeak_available(), reason="espeak-ng is missing")

ALICE_LINES = (
    "Welcome to our talk about data contracts.",
    "Today we ask how teams agree on the shape of their data.",
)
BOB_LINES = (
    "Thank you for having me.",
    "You add new fields first, and you never remove one without telling people.",
)
# Members in the module-scoped conversations; each test maps them onto its personas.
A, B = 1, 2


@pytest.fixture(autouse=True)
def recordings_storage_in_tmp(settings, tmp_path, monkeypatch):
    """The recordings storage in this test's folder. Overriding STORAGES resets Django's
    storage handler; the FileFields took their storage at import, so they follow by hand."""
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "recordings", "base_url": None},
        },
    }
    storage = recordings_storage()
    for model, field in ((Recording, "audio"), (RecordingTrack, "file")):
        monkeypatch.setattr(model._meta.get_field(field), "storage", storage)
    return storage


@pytest.fixture(scope="module")
def dialogue():
    """Alice, then Bob: two sentences each, with a pause between sentences (DTX)."""
    if not demo.espeak_available():
        pytest.skip("espeak-ng is missing")
    return demo.conversation(
        [demo.Turn(A, demo.HOST_VOICE, ALICE_LINES), demo.Turn(B, demo.GUEST_VOICE, BOB_LINES)],
        lead_ms=800,
        gap_ms=1500,
    )


@pytest.fixture(scope="module")
def short():
    """One short line each: for the tests about what happens, not what was said."""
    if not demo.espeak_available():
        pytest.skip("espeak-ng is missing")
    return demo.conversation(
        [
            demo.Turn(A, demo.HOST_VOICE, ("Hello there.",)),
            demo.Turn(B, demo.GUEST_VOICE, ("Good morning.",)),
        ]
    )


def recorded_room(alice, bob, conversation, tmp_path) -> Recording:
    """An ended room of Alice's with Bob on stage, both recorded, as its end leaves it."""
    packets, _lines, duration_ms = conversation
    members = {A: alice.pk, B: bob.pk}
    packets = [
        demo.Packet(members[p.member_id], p.timestamp, p.payload, p.level, p.at_ms) for p in packets
    ]
    room = make_room(alice, speakers=[bob])
    files = demo.record(packets, tmp_path / f"recorder-{room.pk}", list(members.values()))
    recording = Recording.objects.create(
        room=room,
        status=Recording.Status.PROCESSING,
        started_by=alice,
        duration_ms=duration_ms,
    )
    span = RecordingSpan.objects.create(
        recording=recording, started_at=room.started_at, ended_at=room.started_at
    )
    demo.save_tracks(recording, span, files)
    return recording


def replays(recording: Recording) -> list[str]:
    storage = recordings_storage()
    folder = f"rooms/{recording.room_id}"
    if not storage.exists(folder):
        return []
    return [name for name in storage.listdir(folder)[1] if name.startswith("replay-")]


def corrupt(recording: Recording) -> None:
    track = recording.tracks.first()
    storage = recordings_storage()
    storage.delete(track.file.name)
    storage.save(track.file.name, ContentFile(b"OggS this is not an Ogg page" * 50))


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def wer(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate: word-level edit distance over the reference's length."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1] / len(reference)


@needs_espeak
@pytest.mark.django_db
def test_it_publishes_the_mixed_replay_and_each_speakers_transcript(alice, bob, dialogue, tmp_path):
    recording = recorded_room(alice, bob, dialogue, tmp_path)
    _packets, lines, duration_ms = dialogue

    assert process(recording.pk) is True

    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert recording.processed_at is not None
    assert (recording.attempts, recording.last_error) == (1, "")
    assert recording.audio.name == f"rooms/{recording.room_id}/replay-{recording.pk}-1.ogg"
    with recordings_storage().open(recording.audio.name) as fh, av.open(fh) as replay:
        stream = replay.streams.audio[0]
        assert (stream.codec_context.name, stream.channels) == ("opus", 1)
        seconds = sum(frame.samples for frame in replay.decode(stream)) / 48_000
    assert abs(seconds - duration_ms / 1000) <= 0.3

    segments = list(recording.segments.all())
    for member, persona in ((A, alice), (B, bob)):
        said = [line for line in lines if line.member_id == member]
        heard = [s for s in segments if s.member_id == persona.pk]
        assert heard, f"nothing transcribed for {persona}"
        # The first line starts where the speaker began, on the replay's timeline.
        assert abs(heard[0].start_ms - said[0].start_ms) <= 400
        assert all(said[0].start_ms - 400 <= s.start_ms <= said[-1].end_ms for s in heard)
        assert all(s.start_ms <= s.end_ms for s in heard)
        reference = [w for line in said for w in words(line.text)]
        hypothesis = [w for s in heard for w in words(s.text)]
        error = wer(reference, hypothesis)
        found = len(set(reference) & set(hypothesis)) / len(set(reference))
        print(f"\n{persona.display_name}: WER {error:.0%}, words found {found:.0%}")
        print("  said:", " ".join(reference))
        print("  heard:", " ".join(hypothesis))
        # espeak-ng's voices are hard on pocketsphinx: about a quarter of the words are
        # wrong (measured 22 and 26%).
        assert found >= 0.6
        assert error <= 0.45


@needs_espeak
@pytest.mark.django_db
def test_a_corrupt_track_fails_the_attempt_and_leaves_nothing_behind(alice, bob, short, tmp_path):
    recording = recorded_room(alice, bob, short, tmp_path)
    corrupt(recording)

    assert process(recording.pk) is False

    recording.refresh_from_db()
    assert recording.status == Recording.Status.PROCESSING
    assert recording.attempts == 1
    assert recording.last_error.startswith("TrackUnreadable: track ")
    assert not recording.audio
    assert replays(recording) == []
    assert not recording.segments.exists()


@needs_espeak
@pytest.mark.django_db
def test_a_missing_track_file_fails_the_attempt(alice, bob, short, tmp_path):
    recording = recorded_room(alice, bob, short, tmp_path)
    recordings_storage().delete(recording.tracks.last().file.name)

    assert process(recording.pk) is False

    recording.refresh_from_db()
    assert (recording.status, recording.attempts) == (Recording.Status.PROCESSING, 1)
    assert "No such file" in recording.last_error


@needs_espeak
@pytest.mark.django_db
def test_it_gives_up_after_three_attempts(alice, bob, short, tmp_path):
    recording = recorded_room(alice, bob, short, tmp_path)
    corrupt(recording)

    results = [process(recording.pk) for _ in range(MAX_ATTEMPTS + 1)]

    assert results == [False] * (MAX_ATTEMPTS + 1)
    recording.refresh_from_db()
    assert recording.status == Recording.Status.FAILED
    assert recording.attempts == MAX_ATTEMPTS
    assert replays(recording) == []


@needs_espeak
@pytest.mark.django_db
def test_a_recording_deleted_while_it_was_mixed_stays_deleted(
    alice, bob, short, tmp_path, monkeypatch
):
    recording = recorded_room(alice, bob, short, tmp_path)
    made = []

    def host_deletes_it(recording_id):
        made.extend(replays(recording))
        Recording.objects.filter(pk=recording_id).update(status=Recording.Status.DELETED)

    monkeypatch.setattr(processing, "_before_publish", host_deletes_it)

    assert process(recording.pk) is False

    recording.refresh_from_db()
    assert made == [f"replay-{recording.pk}-1.ogg"]  # it was made, then thrown away
    assert recording.status == Recording.Status.DELETED
    assert not recording.audio
    assert replays(recording) == []
    assert not recording.segments.exists()


@needs_espeak
@pytest.mark.django_db
def test_a_deleted_recording_is_left_alone(alice, bob, short, tmp_path):
    recording = recorded_room(alice, bob, short, tmp_path)
    Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.DELETED)

    assert process(recording.pk) is False

    recording.refresh_from_db()
    assert (recording.status, recording.attempts) == (Recording.Status.DELETED, 0)
    assert replays(recording) == []


@needs_espeak
@pytest.mark.django_db
def test_the_command_processes_every_pending_recording(alice, bob, carol, short, tmp_path):
    first = recorded_room(alice, bob, short, tmp_path)
    second = recorded_room(carol, bob, short, tmp_path)
    corrupt(second)
    # One that ended a moment ago is its node's to start (it is still saving the tracks).
    just_ended = recorded_room(alice, carol, short, tmp_path)
    Recording.objects.filter(pk__in=[first.pk, second.pk]).update(
        ended_at=timezone.now() - timedelta(minutes=3)
    )
    Recording.objects.filter(pk=just_ended.pk).update(ended_at=timezone.now())
    out = StringIO()

    call_command("process_recordings", stdout=out)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Recording.Status.READY
    assert (second.status, second.attempts) == (Recording.Status.PROCESSING, 1)
    printed = out.getvalue().splitlines()
    assert printed[0].startswith(f"recording {first.pk} (room {first.room_id}): ready")
    assert printed[1].startswith(f"recording {second.pk} (room {second.room_id}): retry later")
    assert len(printed) == 2
    just_ended.refresh_from_db()
    assert (just_ended.status, just_ended.attempts) == (Recording.Status.PROCESSING, 0)

    # Ready ones are done; the pending one is tried again, by its id too.
    out = StringIO()
    call_command("process_recordings", "--recording", str(second.pk), stdout=out)
    assert "retry later (attempt 2 of 3)" in out.getvalue()


@needs_espeak
@pytest.mark.django_db
def test_process_soon_processes_inline_under_tests(alice, bob, short, tmp_path, settings):
    settings.RECORDINGS_PROCESS_INLINE = True
    recording = recorded_room(alice, bob, short, tmp_path)

    process_soon(recording.pk)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert set(recording.segments.values_list("member_id", flat=True)) <= {alice.pk, bob.pk}


@pytest.mark.django_db
def test_process_soon_starts_a_detached_worker(alice, settings, tmp_path, monkeypatch):
    settings.RECORDINGS_PROCESS_INLINE = False
    settings.VAR_DIR = tmp_path / "var"
    started = []

    class Worker:
        def __init__(self, args, **options):
            started.append((args, options))

        def wait(self):
            return 0

    monkeypatch.setattr(processing.subprocess, "Popen", Worker)

    process_soon(42)

    [(args, options)] = started
    assert args[1:] == ["manage.py", "process_recordings", "--recording", "42"]
    assert options["start_new_session"] is True
    assert options["cwd"] == settings.BASE_DIR
    assert options["stdout"].name == str(tmp_path / "var" / "logs" / "recordings.log")


@pytest.mark.django_db
def test_speaker_talk_ms_sums_each_speakers_tracks(alice, bob):
    room = make_room(alice, speakers=[bob])
    recording = Recording.objects.create(room=room, status=Recording.Status.PROCESSING)
    span = RecordingSpan.objects.create(recording=recording, started_at=room.started_at)
    for member, talk_ms in ((alice, 1200), (bob, 300), (alice, 800)):
        RecordingTrack.objects.create(
            recording=recording,
            span=span,
            member=member,
            file="x.ogg",
            starts_ms=0,
            duration_ms=5000,
            packets=250,
            talk_ms=talk_ms,
        )

    assert speaker_talk_ms(recording) == {alice.pk: 2000, bob.pk: 300}


@needs_espeak
@pytest.mark.django_db
def test_seed_demo_records_the_demo_room_once():
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", stdout=out)

    [room] = Room.objects.filter(title=demo.TITLE)
    assert room.status == Room.Status.ENDED
    assert room.visibility == Room.Visibility.PUBLIC
    assert room.host.email == "alice@acme.dev"
    assert room.host.hosted_rooms.exclude(pk=room.pk).exists()
    recording = Recording.objects.get(room=room)
    assert recording.status == Recording.Status.READY
    assert recordings_storage().exists(recording.audio.name)
    speakers = set(recording.tracks.values_list("member__email", flat=True))
    assert speakers == {"alice@acme.dev", "bob@globex.io"}
    transcribed = set(
        TranscriptSegment.objects.filter(recording=recording).values_list(
            "member__email", flat=True
        )
    )
    assert transcribed == speakers
    assert recording.tracks.count() == 2
