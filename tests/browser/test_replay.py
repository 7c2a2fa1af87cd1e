"""An ended room's replay in Chromium, through a real Daphne: the player seeks with byte
ranges (static/rooms/js/replay.js asks for ?t=, the transcript's lines seek and play, the line
heard is highlighted), a replay being prepared shows itself once ready, and axe finds no
critical or serious violation on the page, with the host's figures, at 375 and 1440 px."""

from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from rooms.models import Recording
from rooms.models.recordings import recordings_storage
from tests.browser.conftest import write_tone
from tests.browser.test_accessibility import AXE, _violations
from tests.conftest import make_member
from tests.rooms.replays import ended_room, listened, recording_of

pytestmark = pytest.mark.browser

SECONDS = 20


@pytest.fixture(autouse=True)
def _daphnes_recordings(settings, tmp_path):
    """Replay files where the test's Daphne looks for them (PODIUM_VAR_DIR, tests/live.py)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "var" / "recordings", "base_url": None},
        },
    }


def _ogg_opus(tmp_path: Path) -> bytes:
    """SECONDS of a tone, encoded as Ogg Opus (as the replay worker writes it)."""
    import av

    wav = write_tone(tmp_path / "replay.wav", 440, seconds=SECONDS)
    out = tmp_path / "replay.ogg"
    with av.open(str(wav)) as source, av.open(str(out), "w", format="ogg") as sink:
        stream = sink.add_stream("libopus", rate=48_000)
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                sink.mux(packet)
        for packet in stream.encode(None):
            sink.mux(packet)
    return out.read_bytes()


@pytest.fixture
def replay_room(tmp_path, alice, bob):
    room = ended_room(alice, title="Sharding Postgres", speakers=[bob])
    recording = recording_of(
        room,
        audio=None,
        duration_ms=SECONDS * 1000,
        lines=[
            (alice, 0, 4_000, "Welcome, today we shard Postgres."),
            (bob, 5_000, 9_000, "We split by tenant id."),
            (alice, 10_000, 14_000, "How big is a shard?"),
            (bob, 15_000, 19_000, "About a terabyte."),
        ],
        tracks=[(alice, 0, SECONDS * 1000, 8_000), (bob, 0, SECONDS * 1000, 8_000)],
    )
    name = recordings_storage().save(
        f"rooms/{room.pk}/replay.ogg", ContentFile(_ogg_opus(tmp_path))
    )
    Recording.objects.filter(pk=recording.pk).update(audio=name)
    return room


def _current_line(page) -> str:
    return page.locator(".replay-line.is-current .replay-line-body").inner_text()


def test_a_link_to_a_moment_seeks_there(signed_in, carol, replay_room):
    page = signed_in(carol)

    page.goto(f"/rooms/{replay_room.pk}/?t=10")
    page.wait_for_function("document.querySelector('[data-replay-audio]').currentTime >= 9.9")

    assert "How big is a shard?" in _current_line(page)
    assert page.errors == []


def test_a_line_seeks_and_plays_and_is_highlighted(signed_in, carol, replay_room):
    page = signed_in(carol)
    page.goto(f"/rooms/{replay_room.pk}/")
    page.wait_for_function("document.querySelector('[data-replay-audio]').readyState >= 1")

    page.get_by_text("We split by tenant id.").click()
    page.wait_for_function("!document.querySelector('[data-replay-audio]').paused")
    at = page.evaluate("document.querySelector('[data-replay-audio]').currentTime")

    assert 5 <= at < 7
    assert "We split by tenant id." in _current_line(page)
    assert page.url.endswith(f"/rooms/{replay_room.pk}/?t=5#replay")
    assert page.errors == []


def test_a_replay_being_prepared_shows_once_ready(signed_in, carol, alice):
    room = ended_room(alice)
    recording = recording_of(room, status=Recording.Status.PROCESSING)
    page = signed_in(carol)
    page.goto(f"/rooms/{room.pk}/")
    page.wait_for_selector("text=Preparing the replay…")

    Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.FAILED)

    page.wait_for_selector("text=The replay couldn't be prepared", timeout=12_000)
    assert page.errors == []


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is missing: `make install-dev`")
@pytest.mark.parametrize("viewport", [(375, 812), (1440, 900)])
def test_the_replay_page_has_no_serious_accessibility_violations(
    signed_in, alice, replay_room, viewport
):
    for n in range(6):
        listened(replay_room, make_member(f"Listener {n}", industry="software"))
    page = signed_in(alice, viewport=viewport)  # the host: with the figures and Delete
    page.goto(f"/rooms/{replay_room.pk}/?t=5")
    page.wait_for_selector(".replay-line.is-current")
    found: list[str] = []

    _violations(page, "replay", found)

    assert found == [], "\n".join(found)
