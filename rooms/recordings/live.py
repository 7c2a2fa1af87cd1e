"""Each live room's recorder and caption feed on this node, kept in line with the database.

Services change a room's recording, consent or captions and, on commit, ask every node
serving the room (media_plan_soon here, and broadcast.media_plan to the others' agents) to
read the room's plan again (rooms.selectors.media_plan) and follow it:

- recording on: a RoomRecorder (media/recorder.py) is the room's "recorder" tap, writing
  the consenting speakers of the open span; a new span (after a pause) gets a new one;
- recording paused or ended: the recorder stops, off the event loop, and its finished
  files are saved into the recordings storage as RecordingTracks; once the room has ended,
  the replay's worker is started (rooms.recordings.processing);
- captions on: the process's CaptionService (media/captions.py) feeds the room's speakers
  to its worker, whose words reach the room through broadcast.caption.

Only the room's brain hears every speaker, so only its recorder and feed get packets (the
forwarder's taps run there); the others' stop with nothing to save.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from channels.db import database_sync_to_async
from django.conf import settings

from rooms import broadcast, eventloop

log = logging.getLogger(__name__)


@dataclass
class _Live:
    recorder: object
    recording_id: int
    span_id: int
    directory: Path


_recorders: dict[int, _Live] = {}
_captions: dict[int, object] = {}
_reads: dict[int, int] = {}  # room -> the number of the latest plan read started
_known: set[int] = set()  # rooms whose plan this process has read at least once
_service = None


def refresh_soon(room_id: int) -> None:
    """Read the room's plan again and follow it; from any thread."""
    eventloop.call_soon(_refresh_now, room_id)


def ensure_known(room_id: int) -> None:
    """On the event loop, before a member's audio attaches: a room this process hasn't
    read yet (it just started, or it is new to this node) is read once."""
    if room_id not in _known:
        _refresh_now(room_id)


def _refresh_now(room_id: int) -> None:
    _known.add(room_id)
    number = _reads[room_id] = _reads.get(room_id, 0) + 1
    eventloop.spawn(_refresh(room_id, number))


async def _refresh(room_id: int, number: int) -> None:
    from rooms import selectors

    try:
        plan = await database_sync_to_async(selectors.media_plan)(room_id)
    except Exception as exc:  # the database is away: read again in a while
        log.warning("room %s: its recording plan was not read: %r", room_id, exc)
        _known.discard(room_id)
        return
    if _reads.get(room_id) != number:
        return  # a later read is under way; it wins
    follow(room_id, plan)


def follow(room_id: int, plan: dict) -> None:
    """Bring the room's recorder and caption feed in line with `plan` (on the loop)."""
    from rooms import media_bridge

    hub = media_bridge.hub()
    wanted = plan["recording"]
    live = _recorders.get(room_id)
    if live is not None and (wanted is None or wanted["span"] != live.span_id):
        del _recorders[room_id]
        hub.set_tap(room_id, "recorder", None)
        eventloop.spawn(database_sync_to_async(_save_tracks, thread_sensitive=False)(room_id, live))
        live = None
    if wanted is not None:
        if live is not None:
            live.recorder.allow(wanted["members"])
        else:
            _record(hub, room_id, wanted)
    feed = _captions.get(room_id)
    if plan["captions"] and feed is None:
        feed = _captions[room_id] = caption_service().feed(room_id)
        hub.set_tap(room_id, "captions", feed)
    elif not plan["captions"] and feed is not None:
        del _captions[room_id]
        hub.set_tap(room_id, "captions", None)
        feed.close()
    if not plan["live"]:
        _known.discard(room_id)
        _reads.pop(room_id, None)


def _record(hub, room_id: int, wanted: dict) -> None:
    from media.recorder import RoomRecorder

    directory = (
        Path(settings.VAR_DIR)
        / "recording-tmp"
        / f"{settings.NODE_ID}-{wanted['id']}-{wanted['span']}"
    )
    # Where this recorder's first sample falls on the replay: the span's place, plus the
    # time since the span began (a node that starts recording late, after a restart).
    late_ms = max(0, int((time.time() - wanted["started_at"]) * 1000))
    recorder = RoomRecorder(
        directory, offset_ms=wanted["offset_ms"] + late_ms, members=wanted["members"]
    )
    _recorders[room_id] = _Live(recorder, wanted["id"], wanted["span"], directory)
    hub.set_tap(room_id, "recorder", recorder)


def _save_tracks(room_id: int, live: _Live) -> None:
    """Stop a recorder and keep what it wrote (a thread of its own: stop() waits for the
    writer to finish). Then, if the room has ended, start the replay's worker."""
    from django.db import transaction

    from rooms.cluster import agent as cluster
    from rooms.models import Recording
    from rooms.models.recordings import recordings_storage
    from rooms.recordings import processing

    tracks = live.recorder.stop()
    saved = 0
    try:
        for track in tracks:
            name = store_track(room_id, live.span_id, track)
            with transaction.atomic():
                # The host may have deleted the replay meanwhile: then nothing is kept.
                kept = (
                    Recording.objects.select_for_update()
                    .filter(pk=live.recording_id)
                    .exclude(status=Recording.Status.DELETED)
                    .exists()
                )
                if kept:
                    track_row(live.recording_id, live.span_id, track, name).save()
            if not kept:
                recordings_storage().delete(name)
                continue
            saved += 1
    except Exception:
        log.exception("room %s: the recording's tracks were not all saved", room_id)
    finally:
        shutil.rmtree(live.directory, ignore_errors=True)
    log.info("room %s: %d recorded tracks saved (span %s)", room_id, saved, live.span_id)
    ended = Recording.objects.filter(
        pk=live.recording_id, status=Recording.Status.PROCESSING
    ).exists()
    # Alone, this node heard everyone; among several, a node that saved nothing leaves the
    # start to the brain that did (or to cron's process_recordings), lest the worker run
    # before the brain's tracks are saved.
    if ended and (saved or cluster.current() is None):
        processing.process_soon(live.recording_id)


def store_track(room_id: int, span_id: int, track) -> str:
    """A recorder's finished file (media.recorder.TrackFile) into the recordings storage;
    its name there."""
    from django.core.files import File

    from rooms.models.recordings import recordings_storage

    with track.path.open("rb") as handle:
        return recordings_storage().save(
            f"rooms/{room_id}/tracks/{span_id}-{track.member_id}.ogg", File(handle)
        )


def track_row(recording_id: int, span_id: int, track, name: str):
    """The RecordingTrack (unsaved) of a stored recorder's file."""
    from rooms.models import RecordingTrack

    return RecordingTrack(
        recording_id=recording_id,
        span_id=span_id,
        member_id=track.member_id,
        file=name,
        starts_ms=track.starts_ms,
        duration_ms=track.duration_ms,
        packets=track.packets,
        dropped=track.dropped,
        talk_ms=track.talk_ms,
    )


def caption_service():
    """The process's caption worker, made on first use on the event loop."""
    global _service
    if _service is None:
        import asyncio

        from media.captions import CaptionService

        _service = CaptionService(
            backend=settings.CAPTIONS_BACKEND,
            whisper_model=settings.CAPTIONS_WHISPER_MODEL,
            on_caption=broadcast.caption,
            on_failure=_captions_failed,
            loop=asyncio.get_running_loop(),
        )
    return _service


def _captions_failed(room_id: int | None, message: str) -> None:
    """The caption worker stopped: every room it captioned (or the one named) turns
    captions off and is told why; a host can turn them on again."""
    from rooms.services.recording import captions_failed

    rooms = [room_id] if room_id is not None else list(_captions)
    for room in rooms:
        feed = _captions.pop(room, None)
        if feed is not None:
            from rooms import media_bridge

            media_bridge.hub().set_tap(room, "captions", None)
        eventloop.spawn(database_sync_to_async(captions_failed)(room_id=room, message=message))
