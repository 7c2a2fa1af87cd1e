"""The only module that calls the channel layer's group_send.

Services call these functions inside their transaction; each one defers its send with
transaction.on_commit, so nothing is announced that was rolled back. Payloads are rendered
to JSON text once (rooms.protocol) and consumers forward the text as is.

The channel layer may drop messages (at most once, capacity limits), so clients rely on the
room's `version`, not on every message arriving: a client that sees a gap sends state.sync.
"""

import asyncio
import logging
import time
from collections import deque

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from config import outage
from rooms import eventloop, protocol, snapshots

log = logging.getLogger(__name__)

# Audience joins and leaves are coalesced to one audience.changed per room per interval.
AUDIENCE_INTERVAL = 0.5


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def moderators_group(room_id: int) -> str:
    return f"room.{room_id}.mods"


def member_group(room_id: int, member_id: int) -> str:
    return f"room.{room_id}.member.{member_id}"


# Sends that failed while Redis was away, in order, sent again once it answers: a hand
# raised, a stage change or an ejection made meanwhile still reaches everyone. (Clients skip
# what their state already holds: every room event carries the room's version.)
OUTBOX_LIMIT = 10_000
OUTBOX_RETRY = 0.5  # seconds between tries while Redis is still away
_outbox: deque[tuple[str, dict]] = deque()  # touched on the event loop only
_outbox_flushing = False


def _send_now(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if not _outbox:  # (else behind those waiting, to keep the order)
        try:
            async_to_sync(layer.group_send)(group, message)
            return
        except Exception as exc:  # Redis away; the layer has already retried
            log.warning("broadcast to %s failed, kept to send again: %r", group, exc)
    if not eventloop.call_soon(_keep, group, message):
        log.warning("broadcast to %s lost: Redis is away and no event loop runs here", group)


def _keep(group: str, message: dict) -> None:
    global _outbox_flushing
    if len(_outbox) >= OUTBOX_LIMIT:
        dropped, _ = _outbox.popleft()
        log.error("broadcast outbox full: the oldest, to %s, is dropped", dropped)
    _outbox.append((group, message))
    if not _outbox_flushing:
        _outbox_flushing = True
        eventloop.spawn(_flush_outbox())


async def _flush_outbox() -> None:
    global _outbox_flushing
    layer = get_channel_layer()
    sent = 0
    try:
        while _outbox:
            group, message = _outbox[0]
            try:
                await layer.group_send(group, message)
            except Exception:
                await asyncio.sleep(OUTBOX_RETRY)
                continue
            _outbox.popleft()
            sent += 1
    finally:
        _outbox_flushing = False
    log.info("broadcast outbox: %d kept sends delivered", sent)


def _after_commit(group: str, message: dict) -> None:
    transaction.on_commit(lambda: _send_now(group, message))


# --- Room-wide ------------------------------------------------------------------------------


def stage_changed(room_id: int, version: int) -> None:
    text = protocol.stage_changed(version=version, stage=snapshots.stage_at(room_id, version))
    _after_commit(room_group(room_id), {"type": "room.event", "text": text})


def hand_queue_changed(room_id: int, version: int) -> None:
    """To the room's moderators. Each consumer drops the hands of members its own member has
    blocked before sending, so a blocked member's raised hand never reaches the blocker."""
    _after_commit(
        moderators_group(room_id),
        {"type": "room.hand_queue", "version": version, "queue": snapshots.hand_queue(room_id)},
    )


def reaction(room_id: int, member_id: int, emoji: str) -> None:
    text = protocol.reaction(member=member_id, emoji=emoji)
    _after_commit(room_group(room_id), {"type": "room.event", "text": text})


def room_ended(room_id: int, version: int) -> None:
    """Everyone sees "This room has ended"; consumers close their sockets after it."""
    text = protocol.room_ended(version=version)
    _after_commit(
        room_group(room_id), {"type": "room.closing", "text": text, "code": protocol.Close.ENDED}
    )


# --- One member -----------------------------------------------------------------------------


def to_member(room_id: int, member_id: int, text: str) -> None:
    _after_commit(member_group(room_id, member_id), {"type": "room.event", "text": text})


def role_changed(room_id: int, member_id: int, version: int, you: dict) -> None:
    """The member's own state changed; their consumer also re-checks its moderator group."""
    text = protocol.role_changed(version=version, you=you)
    _after_commit(
        member_group(room_id, member_id),
        {"type": "room.role", "text": text, "can_moderate": you["can_moderate"]},
    )


def member_removed(room_id: int, member_id: int, version: int, *, banned: bool) -> None:
    text = protocol.removed(version=version, banned=banned)
    _after_commit(
        member_group(room_id, member_id),
        {"type": "room.closing", "text": text, "code": protocol.Close.FORBIDDEN},
    )


def member_everywhere_group(member_id: int) -> str:
    """Every room socket the member has open, in any room."""
    return f"member.{member_id}"


def member_ejected(member_id: int, *, reason: str, room_ids: list[int] | None) -> None:
    """Close the member's sockets (in the rooms given, or all): suspensions and group bans."""
    text = protocol.removed_for(reason)
    _after_commit(
        member_everywhere_group(member_id),
        {"type": "room.ejected", "text": text, "rooms": room_ids},
    )


def session_replaced(room_id: int, member_id: int, new_channel: str) -> None:
    """Tell the member's older tabs in this room that a newer one took over."""
    _after_commit(
        member_group(room_id, member_id), {"type": "room.replaced", "channel": new_channel}
    )


# --- Between nodes (rooms.cluster) ----------------------------------------------------------


def media_group(room_id: int) -> str:
    """Every node's agent that has peers in the room."""
    return f"media.{room_id}"


def node_group(node_id: str) -> str:
    """Every room socket held by one node."""
    return f"node.{node_id}"


def media_publishing(room_id: int, member_id: int, allowed: bool) -> None:
    """Who may be heard changed: every node's forwarder drops or forwards the member's
    packets from the next one, wherever they arrive (their own node or through the relay)."""
    _after_commit(
        media_group(room_id),
        {"type": "media.publishing", "room": room_id, "member": member_id, "allowed": allowed},
    )


def media_plan(room_id: int) -> None:
    """The room's recording, consent or captions changed: every node's recorder and caption
    feed read the room again (rooms.recordings.live)."""
    _after_commit(media_group(room_id), {"type": "media.plan", "room": room_id})


def recording_changed(room_id: int, version: int, state: dict, note: str = "") -> None:
    text = protocol.recording(version=version, state=state, note=note)
    _after_commit(room_group(room_id), {"type": "room.event", "text": text})


async def media_choice(room_id: int, audible: list[int], token: int) -> None:
    """The room's brain chose who is heard; `token` is its lease's fencing token."""
    await get_channel_layer().group_send(
        media_group(room_id),
        {"type": "media.choice", "room": room_id, "audible": audible, "token": token},
    )


async def node_draining(node_id: str) -> None:
    """The node is stopping: its sockets ask their pages to reconnect, to another node."""
    await get_channel_layer().group_send(node_group(node_id), {"type": "room.moving"})


# --- Not database changes: sent at once ---------------------------------------------------


def speakers_active(room_id: int, members: list[int]) -> None:
    """Who is talking, from the forwarder's audio levels (rooms.media_bridge throttles it).
    It is not a database change, so it goes out at once; call on the event loop."""
    text = protocol.speakers_active(members=members)
    eventloop.spawn(
        get_channel_layer().group_send(room_group(room_id), {"type": "room.event", "text": text})
    )


# --- Audience, coalesced --------------------------------------------------------------------

_audience_pending: set[int] = set()
_audience_last_sent: dict[int, float] = {}


def audience_changed(room_id: int) -> None:
    transaction.on_commit(lambda: _schedule_audience(room_id))


def _schedule_audience(room_id: int) -> None:
    if not eventloop.call_soon(_audience_flush_later, room_id):
        # No consumer runs in this process (a management command, a plain test): send now.
        _send_now(room_group(room_id), {"type": "room.event", "text": _audience_text(room_id)})


def _audience_flush_later(room_id: int) -> None:
    """On the event loop: schedule one flush for the room unless one is pending."""
    if room_id in _audience_pending:
        return
    _audience_pending.add(room_id)
    wait = _audience_last_sent.get(room_id, 0.0) + AUDIENCE_INTERVAL - time.monotonic()
    eventloop.spawn(_audience_flush(room_id, max(wait, 0.0)))


async def _audience_flush(room_id: int, wait: float) -> None:
    await asyncio.sleep(wait)
    later = await _audience_turn(room_id)
    if later:
        # Another node announces the audience in this interval. Its reading may predate this
        # node's change, so try again when its turn ends; the room stays pending meanwhile.
        eventloop.spawn(_audience_flush(room_id, later))
        return
    _audience_pending.discard(room_id)
    _audience_last_sent[room_id] = time.monotonic()
    try:
        text = await database_sync_to_async(_audience_text)(room_id)
        layer = get_channel_layer()
        await layer.group_send(room_group(room_id), {"type": "room.event", "text": text})
    except outage.DATABASE_DOWN as exc:
        # Clients repair a missed audience update at the next one or with state.sync.
        log.warning("audience update for room %s: the database is unavailable: %r", room_id, exc)
    except Exception:
        log.exception("audience update for room %s failed", room_id)


async def _audience_turn(room_id: int) -> float:
    """On many nodes, one announces a room's audience per interval: any node's reading is
    the whole room's (the database's), and every client hears every node's announcement, so
    N nodes announcing would send each client N times as many. Returns 0.0 when this node
    may announce now, else the seconds to wait. Embedded (no cluster) or with Redis away,
    every announcement goes out."""
    from rooms.cluster import agent

    node = agent.current()
    if node is None:
        return 0.0
    try:
        return await node.registry.turn(f"audience:{room_id}", int(AUDIENCE_INTERVAL * 1000))
    except Exception as exc:  # Redis away: announce anyway; nothing is lost by a duplicate
        log.warning("audience turn for room %s: %s", room_id, exc)
        return 0.0


def _audience_text(room_id: int) -> str:
    from rooms.models import Room

    version = Room.objects.filter(pk=room_id).values_list("version", flat=True).first() or 0
    count, first_page = snapshots.audience(room_id)
    # The peak is kept here, once per coalesced update, rather than on every join.
    Room.objects.filter(pk=room_id, peak_audience__lt=count).update(peak_audience=count)
    return protocol.audience_changed(version=version, count=count, first_page=first_page)


# --- Questions ------------------------------------------------------------------------------

QUESTIONS_INTERVAL = 0.5  # at most one questions update per room per node this often
_questions_pending: set[int] = set()
_questions_last_sent: dict[int, float] = {}


def questions_changed(room_id: int) -> None:
    """The room's questions changed: one coalesced update to the room, each consumer
    leaving out the questions of members hidden from its member. Votes arrive by the
    hundred in a big room; the update goes out at most every QUESTIONS_INTERVAL."""
    transaction.on_commit(lambda: _schedule_questions(room_id))


def _schedule_questions(room_id: int) -> None:
    if not eventloop.call_soon(_questions_flush_later, room_id):
        _send_now(room_group(room_id), _questions_event(room_id))


def _questions_event(room_id: int) -> dict:
    return {"type": "room.questions", "questions": snapshots.questions(room_id)}


def _questions_flush_later(room_id: int) -> None:
    if room_id in _questions_pending:
        return
    _questions_pending.add(room_id)
    wait = _questions_last_sent.get(room_id, 0.0) + QUESTIONS_INTERVAL - time.monotonic()
    eventloop.spawn(_questions_flush(room_id, max(wait, 0.0)))


async def _questions_flush(room_id: int, wait: float) -> None:
    await asyncio.sleep(wait)
    _questions_pending.discard(room_id)
    _questions_last_sent[room_id] = time.monotonic()
    if len(_questions_last_sent) > 1000:  # rooms quiet for a minute are forgotten
        now = time.monotonic()
        for old in [r for r, at in _questions_last_sent.items() if now - at > 60]:
            del _questions_last_sent[old]
    try:
        event = await database_sync_to_async(_questions_event)(room_id)
        await get_channel_layer().group_send(room_group(room_id), event)
    except outage.DATABASE_DOWN as exc:
        log.warning("questions update for room %s: the database is unavailable: %r", room_id, exc)
    except Exception:
        log.exception("questions update for room %s failed", room_id)


# --- Captions, coalesced --------------------------------------------------------------------

CAPTIONS_INTERVAL = 0.3  # at most one captions event per room this often
# room -> (the final lines since the last event, each speaker's latest partial line)
_captions_pending: dict[int, tuple[list[dict], dict[int, dict]]] = {}


def caption(room_id: int, member_id: int, text: str, final: bool) -> None:
    """Words the caption worker heard (on the event loop). They go out with the room's
    next captions event, a few a second however fast they arrive: every final line, and
    each speaker's latest partial one."""
    pending = _captions_pending.get(room_id)
    if pending is None:
        pending = _captions_pending[room_id] = ([], {})
        eventloop.spawn(_captions_flush(room_id))
    finals, partials = pending
    line = {"member": member_id, "text": text, "final": final}
    if final:
        partials.pop(member_id, None)
        finals.append(line)
    else:
        partials[member_id] = line


async def _captions_flush(room_id: int) -> None:
    await asyncio.sleep(CAPTIONS_INTERVAL)
    finals, partials = _captions_pending.pop(room_id, ([], {}))
    text = protocol.captions(lines=[*finals, *partials.values()])
    try:
        await get_channel_layer().group_send(
            room_group(room_id), {"type": "room.event", "text": text}
        )
    except Exception as exc:  # Redis away: captions are worth nothing late
        log.warning("captions for room %s not sent: %r", room_id, exc)
