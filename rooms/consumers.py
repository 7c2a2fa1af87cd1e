"""The room websocket: authenticate, check access, validate, call a service, forward events.

Nothing here decides who may do what; rooms.services does. Channel-layer messages are
server-made (type "room.*") and carry pre-rendered JSON text.
"""

import asyncio
import logging
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from aiortc.sdp import candidate_from_sdp
from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.selectors import blocked_between_ids, blocked_ids
from config import outage
from media import MediaError
from rooms import (
    broadcast,
    eventloop,
    joins,
    media_bridge,
    protocol,
    selectors,
    services,
)
from rooms.cluster import agent as cluster
from rooms.errors import NotAllowed, RoomError, RoomNotLive
from rooms.eventloop import spawn
from rooms.protocol import Close
from rooms.recordings import live as recordings_live

log = logging.getLogger(__name__)

# A burst of RATE_BURST messages, then RATE_PER_SECOND; a socket that keeps flooding is closed.
# (Settings, so that a test node can take a fuzzer's thousands of messages a second.)
RATE_BURST = settings.ROOM_MESSAGE_BURST
RATE_PER_SECOND = float(settings.ROOM_MESSAGES_PER_SECOND)
FLOOD_CLOSE_AFTER = 40
# Opening sockets: at most CONNECTS_PER_WINDOW per member per room in CONNECT_WINDOW seconds,
# and at most MAX_SOCKETS_PER_MEMBER open at once (a newer tab replaces the older one).
CONNECTS_PER_WINDOW = 10
CONNECT_WINDOW = 10.0
MAX_SOCKETS_PER_MEMBER = 3

# The whole audience of one room together (each node its share): reactions past this rate are
# dropped, hand toggles past this rate refused, so that an audience can't queue work ahead
# of the moderators' actions on the one ORM thread (every hand toggle is a transaction).
REACTIONS_PER_SECOND = 10
HAND_TOGGLES_PER_SECOND = 20
VOTES_PER_SECOND = 20
# Consent answers: anyone may send one, and each changed answer locks the room and makes
# every node serving it read its plan again (rooms.recordings.live). The host's recording
# switches have no room-wide limit (the audience's refused attempts would spend it, and
# hold up a pause); the socket's rate and rooms.services.recording.MAX_SPANS bound them.
CONSENTS_PER_SECOND = 5
AUDIENCE_TOGGLES = frozenset({"hand.raise", "hand.lower"})
# ...and hand toggles run on a thread (and database connection) of their own, so that even
# within that rate they queue only behind each other, never ahead of a moderator's action on
# the shared ORM thread. (They still take the room's row lock, for as long as one toggle.)
_audience_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audience")
# A moderator's hand queue hides the members they block, as read at most this often.
BLOCKS_FRESH_FOR = 1.0


class TokenBucket:
    """`burst` tokens, refilled at `rate` a second; take() spends one if there is one."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


_reaction_buckets: dict[int, TokenBucket] = {}  # room -> its audience's bucket
_hand_buckets: dict[int, TokenBucket] = {}
_vote_buckets: dict[int, TokenBucket] = {}
_consent_buckets: dict[int, TokenBucket] = {}


def _room_allows(buckets: dict[int, TokenBucket], room_id: int, rate: float) -> bool:
    """A token bucket per room (a burst of one second's worth); rooms gone idle for a
    minute are forgotten. With several nodes serving the room, each allows its share of
    `rate`, so the room's audience as a whole stays within it."""
    share = rate / cluster.nodes_serving(room_id)
    bucket = buckets.get(room_id)
    if bucket is None:
        if len(buckets) > 1000:
            now = time.monotonic()
            for old in [r for r, b in buckets.items() if now - b.at > 60]:
                del buckets[old]
        bucket = buckets[room_id] = TokenBucket(share, share)
    else:
        bucket.rate = bucket.burst = share
    return bucket.take()


# Plain dicts, pruned: a key is kept only while it has a recent connect or an open socket,
# so that room numbers nobody can join leave nothing behind.
_recent_connects: dict[tuple[int, int], deque] = {}
_open_sockets: dict[tuple[int, int], int] = {}
_swept_at = 0.0


# The joined room sockets of this process, told to resync when Redis comes back.
_joined: weakref.WeakSet = weakref.WeakSet()


def resync_all() -> int:
    """Tell every joined socket here that events may have been lost (Redis was away): each
    client asks for the whole state, at a moment of its own choosing, and a socket whose
    member was removed, banned or suspended meanwhile (its `removed` may be among the lost)
    is closed now. Returns how many."""
    sockets = [s for s in _joined if s.joined and not s.closing]
    for sock in sockets:
        spawn(sock.resync())
    return len(sockets)


def open_socket_count() -> int:
    """Room sockets this process holds (a draining node waits for them to move)."""
    return sum(_open_sockets.values())


# Inbound type -> (service, names of message fields passed on as keyword arguments).
ACTIONS = {
    "hand.raise": (services.hand_raise, ()),
    "hand.lower": (services.hand_lower, ()),
    "hand.dismiss": (services.hand_dismiss, ("member",)),
    "speaker.invite": (services.speaker_invite, ("member",)),
    "invite.accept": (services.invite_accept, ()),
    "invite.decline": (services.invite_decline, ()),
    "speaker.promote": (services.speaker_promote, ("member",)),
    "speaker.demote": (services.speaker_demote, ("member",)),
    "stage.leave": (services.stage_leave, ()),
    "mute.self": (services.mute_self, ()),
    "unmute.self": (services.unmute_self, ()),
    "mute": (services.mute, ("member",)),
    "moderator.add": (services.moderator_add, ("member",)),
    "moderator.remove": (services.moderator_remove, ("member",)),
    "member.remove": (services.member_remove, ("member",)),
    "member.ban": (services.member_ban, ("member", "reason")),
    "room.end": (services.room_end, ()),
    "reaction": (services.reaction_send, ("emoji",)),
    "question.ask": (services.question_ask, ("text",)),
    "question.vote": (services.question_vote, ("question",)),
    "question.unvote": (services.question_unvote, ("question",)),
    "question.withdraw": (services.question_withdraw, ("question",)),
    "question.answer": (services.question_answer, ("question",)),
    "question.remove": (services.question_remove, ("question",)),
    "recording.start": (services.recording_start, ()),
    "recording.pause": (services.recording_pause, ()),
    "recording.consent": (services.recording_consent, ("agree",)),
    "captions.set": (services.captions_set, ("on",)),
}
KWARG_NAMES = {
    "member": "member_id",
    "reason": "reason",
    "emoji": "emoji",
    "question": "question_id",
    "text": "text",
    "agree": "agree",
    "on": "on",
}
# The audience's own actions, which lock no room row: on the audience's thread (below).
AUDIENCE_LANE = frozenset(
    {"hand.raise", "hand.lower", "question.ask", "question.vote", "question.unvote"}
)
QUESTION_VOTES = frozenset({"question.vote", "question.unvote"})
# The room-wide limit each audience action counts against: (its buckets, its rate).
ROOM_LIMITS = {
    **{kind: (_hand_buckets, HAND_TOGGLES_PER_SECOND) for kind in AUDIENCE_TOGGLES},
    **{kind: (_vote_buckets, VOTES_PER_SECOND) for kind in QUESTION_VOTES},
    "recording.consent": (_consent_buckets, CONSENTS_PER_SECOND),
}

UNAVAILABLE_MESSAGE = "Podium can't reach its database for a moment. Reconnecting…"


class RoomConsumer(AsyncWebsocketConsumer):
    room_id: int
    member = None
    joined = False
    in_moderators = False
    has_media = False
    closing = False
    counted = False  # this socket holds one of its member's MAX_SOCKETS_PER_MEMBER
    hidden: frozenset | set = frozenset()  # blocked either way, as last read (hand queue)
    hidden_at = float("-inf")
    questions_hidden: set | None = None  # blocked either way (questions), once read

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Daphne kills an application that is slow to close (a join storm can keep
            # this one waiting for the database) without calling disconnect(). Whatever
            # this socket still holds is released here, so no ghost stays in the room.
            if self.joined or self.has_media or self.counted:
                spawn(self._release())

    async def _release(self) -> None:
        if self.has_media:
            self.has_media = False
            await media_bridge.hub().detach(self.room_id, self.member.pk, self.channel_name)
        self._uncount()
        _joined.discard(self)
        if self.joined:
            self.joined = False
            # With the database away, the leave waits for it: no ghost stays present.
            await outage.now_or_later(
                lambda: database_sync_to_async(services.participant_leave)(
                    room_id=self.room_id, member=self.member, connection=self.channel_name
                ),
                what=f"room {self.room_id}: member {self.member.pk}'s leave",
            )

    async def close(self, code=None, reason=None) -> None:
        # Once this side has closed, a broadcast that arrives before the client's reply
        # must not be sent: Daphne raises on a frame after close, and disconnect() would
        # never run.
        if self.closing:
            return  # closed already: a second close is a frame after close, for Daphne
        self.closing = True
        await super().close(code=code, reason=reason)

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        if self.closing:
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            # Daphne raises this for a client that closed its end a moment ago, before its
            # websocket.disconnect reached this consumer (a broadcast is often in between);
            # that disconnect follows and cleans up, nothing was owed to a gone client.
            self.closing = True

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch first closes stale database connections, on the one thread that
        # runs all ORM work, for every frame and every broadcast. This consumer reaches the
        # ORM only through database_sync_to_async, which does that around each call, so the
        # extra hop is skipped: a broadcast to a thousand sockets no longer queues a thousand
        # trips to the database thread.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        eventloop.bind(asyncio.get_running_loop())
        self.voted: set[int] = set()  # the questions this member voted for
        self.room_id = int(self.scope["url_route"]["kwargs"]["room_id"])
        user = self.scope.get("user")
        await self.accept()
        if self.scope.get("database_down"):  # the session couldn't be read
            await self._unavailable()
            return
        if user is None or not user.is_authenticated:
            await self._refuse("unauthenticated", "Sign in to join rooms.", Close.UNAUTHENTICATED)
            return
        self.member = user
        if cluster.draining():
            await self.close(code=Close.MOVING)
            return
        key = (self.room_id, user.pk)
        if not self._connect_allowed(key):
            await self._refuse("rate_limited", "Too many connections; wait a moment.", Close.FLOOD)
            return
        self.bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)
        self.flood_strikes = 0
        # Join the groups before the member is marked present, so that no event is missed.
        try:
            for group in self._groups():
                await self.channel_layer.group_add(group, self.channel_name)
        except Exception as exc:  # Redis away: come back in a moment
            log.warning("room %s: join refused, the channel layer failed: %r", self.room_id, exc)
            await self._unavailable()
            return
        # A join cancelled while it waits (the socket went away) either never runs or is
        # followed by its leave (rooms.joins): no ghost listeners.
        try:
            snapshot = await joins.join(self.room_id, user, self.channel_name)
        except Http404:
            await self._refuse("not_found", "No such room.", Close.NOT_FOUND)
            return
        except PermissionDenied as exc:
            await self._refuse(
                "forbidden", str(exc) or "You can't join this room.", Close.FORBIDDEN
            )
            return
        except RoomError as exc:
            code = Close.ENDED if exc.code == "room_not_live" else Close.FORBIDDEN
            await self._refuse(exc.code, exc.message, code)
            return
        except outage.DATABASE_DOWN as exc:
            log.warning("room %s: join refused, the database is unavailable: %r", self.room_id, exc)
            await self._unavailable()
            return
        self.joined = True
        _joined.add(self)
        self.voted = set(snapshot["questions_voted"])
        await self._set_moderator_group(snapshot["you"]["can_moderate"])
        await self.send(text_data=protocol.room_state(snapshot))

    def _connect_allowed(self, key: tuple[int, int]) -> bool:
        """Take one of the member's sockets for this room, or refuse. The socket is counted
        from here, not from when its join completes: sockets opened together must not all
        pass the check while each waits for its join."""
        global _swept_at
        now = time.monotonic()
        if now - _swept_at > CONNECT_WINDOW:
            _swept_at = now
            for old in [k for k, d in _recent_connects.items() if now - d[-1] > CONNECT_WINDOW]:
                del _recent_connects[old]
        recent = _recent_connects.setdefault(key, deque())
        while recent and now - recent[0] > CONNECT_WINDOW:
            recent.popleft()
        open_now = _open_sockets.get(key, 0)
        if len(recent) >= CONNECTS_PER_WINDOW or open_now >= MAX_SOCKETS_PER_MEMBER:
            if not recent:
                del _recent_connects[key]
            return False
        recent.append(now)
        _open_sockets[key] = open_now + 1
        self.counted = True
        return True

    def _uncount(self) -> None:
        if not self.counted:
            return
        self.counted = False
        key = (self.room_id, self.member.pk)
        left = _open_sockets.get(key, 0) - 1
        if left > 0:
            _open_sockets[key] = left
        else:
            _open_sockets.pop(key, None)

    async def _refuse(self, code: str, message: str, close_code: int) -> None:
        await self.send(text_data=protocol.error(code, message))
        await self.close(code=close_code)

    async def _unavailable(self) -> None:
        await self._refuse("unavailable", UNAVAILABLE_MESSAGE, Close.UNAVAILABLE)

    async def disconnect(self, code: int) -> None:
        if self.member is None or not self.member.is_authenticated:
            return
        try:
            for group in self._groups():
                await self.channel_layer.group_discard(group, self.channel_name)
            await self._set_moderator_group(False)
        except Exception as exc:  # Redis away: its subscriptions went with it
            log.warning("room %s: leaving the groups failed: %r", self.room_id, exc)
        await self._release()

    def _groups(self) -> tuple[str, ...]:
        return (
            broadcast.room_group(self.room_id),
            broadcast.member_group(self.room_id, self.member.pk),
            broadcast.member_everywhere_group(self.member.pk),
            broadcast.node_group(settings.NODE_ID),
        )

    # --- Inbound ----------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if not self.joined or self.closing:
            return  # frames queued before our close (after a flood, say) are not handled
        if bytes_data is not None or text_data is None:
            await self.send(text_data=protocol.error("invalid_json", "Send JSON text frames."))
            return
        if len(text_data) > protocol.MAX_FRAME_BYTES or (
            len(text_data.encode()) > protocol.MAX_FRAME_BYTES
        ):
            await self.close(code=Close.TOO_BIG)
            return
        if not self.bucket.take():
            self.flood_strikes += 1
            if self.flood_strikes >= FLOOD_CLOSE_AFTER:
                await self._refuse("rate_limited", "Too many messages.", Close.FLOOD)
            elif self.flood_strikes == 1 or self.flood_strikes % 10 == 0:
                await self.send(
                    text_data=protocol.error("rate_limited", "Slow down: too many messages.")
                )
            return
        try:
            message = protocol.parse_inbound(text_data)
            await self._dispatch(message)
        except protocol.ProtocolError as exc:
            await self.send(text_data=protocol.error(exc.code, exc.message))
        except RoomError as exc:
            await self.send(text_data=protocol.error(exc.code, exc.message))
        except PermissionDenied as exc:
            await self.send(text_data=protocol.error("not_allowed", str(exc) or "Not allowed."))
        except Http404:
            await self.send(text_data=protocol.error("not_found", "Not found."))
        except outage.DATABASE_DOWN as exc:
            # Nothing was done (the transaction never committed): the client may try again.
            # (Only _dispatch reaches the database, so the frame parsed: `message` is bound.)
            log.warning(
                "room %s: %s refused, the database is unavailable: %r",
                self.room_id,
                message.type,
                exc,
            )
            await self.send(text_data=protocol.error("unavailable", UNAVAILABLE_MESSAGE))
        except Exception:
            log.exception("room %s: message from member %s failed", self.room_id, self.member.pk)
            await self.send(
                text_data=protocol.error("server_error", "Something went wrong; try again.")
            )

    async def _dispatch(self, message) -> None:
        if message.type == "reaction":
            await self._react(message.emoji)
            return
        limit = ROOM_LIMITS.get(message.type)
        if limit is not None and not _room_allows(limit[0], self.room_id, limit[1]):
            await self.send(
                text_data=protocol.error("rate_limited", "The room is busy; try again shortly.")
            )
            return
        if message.type == "state.sync":
            snapshot = await database_sync_to_async(selectors.room_state)(
                room_id=self.room_id, member=self.member
            )
            self.voted = set(snapshot["questions_voted"])
            await self._set_moderator_group(snapshot["you"]["can_moderate"])
            await self.send(text_data=protocol.room_state(snapshot))
            return
        if message.type == "rtc.offer":
            await self._media_offer(message.sdp)
            return
        if message.type == "rtc.candidate":
            await self._media_candidate(message)
            return
        service, fields = ACTIONS[message.type]
        kwargs = {KWARG_NAMES[name]: getattr(message, name) for name in fields}
        if message.type in AUDIENCE_LANE:
            run = database_sync_to_async(service, thread_sensitive=False, executor=_audience_lane)
        else:
            run = database_sync_to_async(service)
        await run(room_id=self.room_id, actor=self.member, **kwargs)
        if message.type in QUESTION_VOTES:
            (self.voted.add if message.type == "question.vote" else self.voted.discard)(
                message.question
            )

    async def _react(self, emoji: str) -> None:
        """A reaction is gone as soon as it is shown: it needs no row, lock or ORM hop, only
        a member present in the room (which this joined socket is; a removed or banned
        member's socket is closed). Past the room's share per second, reactions are
        dropped: one emoji among hundreds is never missed, a backlog would be."""
        if not _room_allows(_reaction_buckets, self.room_id, REACTIONS_PER_SECOND):
            return
        text = protocol.reaction(member=self.member.pk, emoji=emoji)
        try:
            await self.channel_layer.group_send(
                broadcast.room_group(self.room_id), {"type": "room.event", "text": text}
            )
        except Exception as exc:  # Redis away: a reaction is not worth keeping
            log.warning("room %s: a reaction was not sent: %r", self.room_id, exc)

    # --- Media ------------------------------------------------------------------------------

    async def _media_offer(self, sdp: str) -> None:
        # A mute or demotion committed while we read (or while aiortc sets up) wins.
        as_of = media_bridge.hub().mark()
        allowed = await database_sync_to_async(selectors.media_offer_allowed)(
            room_id=self.room_id, member=self.member, connection=self.channel_name
        )
        recordings_live.ensure_known(self.room_id)
        try:
            answer = await media_bridge.hub().attach(
                self.room_id,
                self.member.pk,
                self.channel_name,
                sdp,
                publishing=allowed,
                as_of=as_of,
            )
        except MediaError as exc:
            await self.send(text_data=protocol.error(exc.code, exc.message))
            return
        self.has_media = True
        await self.send(text_data=protocol.rtc_answer(sdp=answer))
        # speakers.active goes out only when it changes: a member arriving while someone
        # talks learns it here (on the room's brain, which knows it).
        forwarder = media_bridge.hub().rooms.get(self.room_id)
        if forwarder is not None and forwarder.active:
            await self.send(text_data=protocol.speakers_active(members=sorted(forwarder.active)))

    async def _media_candidate(self, message) -> None:
        try:
            candidate = candidate_from_sdp(message.candidate.removeprefix("candidate:"))
        except Exception:  # aiortc's parser raises IndexError, ValueError...
            await self.send(
                text_data=protocol.error("bad_candidate", "That ICE candidate is malformed.")
            )
            return
        candidate.sdpMid = message.sdpMid
        candidate.sdpMLineIndex = message.sdpMLineIndex
        try:
            await media_bridge.hub().add_candidate(self.room_id, self.member.pk, candidate)
        except MediaError as exc:
            await self.send(text_data=protocol.error(exc.code, exc.message))

    async def resync(self) -> None:
        """After lost events: still admitted? Then resync; if not, closed as a removal."""
        try:
            await database_sync_to_async(selectors.media_offer_allowed)(
                room_id=self.room_id, member=self.member, connection=self.channel_name
            )
        except RoomNotLive:
            await self.send(text_data=protocol.room_ended(version=0))
            await self.close(code=Close.ENDED)
            return
        except NotAllowed:  # removed, banned, suspended, or this socket replaced
            await self.send(text_data=protocol.removed_for("gone"))
            await self.close(code=Close.FORBIDDEN)
            return
        except outage.DATABASE_DOWN:
            pass  # the client's state.sync will be answered `unavailable`, and retried
        await self.send(text_data=protocol.resync())

    # --- Channel-layer events (server-made) -------------------------------------------------

    async def room_event(self, event: dict) -> None:
        await self.send(text_data=event["text"])

    async def room_role(self, event: dict) -> None:
        await self._set_moderator_group(event["can_moderate"])
        await self.send(text_data=event["text"])

    async def room_closing(self, event: dict) -> None:
        await self.send(text_data=event["text"])
        await self.close(code=event["code"])

    async def room_ejected(self, event: dict) -> None:
        if event["rooms"] is None or self.room_id in event["rooms"]:
            await self.send(text_data=event["text"])
            await self.close(code=Close.FORBIDDEN)

    async def room_moving(self, event: dict) -> None:
        await self.close(code=Close.MOVING)

    async def room_hand_queue(self, event: dict) -> None:
        # Re-read the member's blocks at most once a second: a block made while in the room
        # applies within a second, and a busy hand queue (up to HAND_TOGGLES_PER_SECOND
        # changes) doesn't put a query ahead of this moderator's own next action. With the
        # database away, the last reading.
        now = time.monotonic()
        if now - self.hidden_at >= BLOCKS_FRESH_FOR:
            try:
                self.hidden = await database_sync_to_async(blocked_ids)(self.member)
                self.hidden_at = now
            except outage.DATABASE_DOWN:
                pass
        queue = [entry for entry in event["queue"] if entry["member"] not in self.hidden]
        await self.send(text_data=protocol.hand_queue(version=event["version"], queue=queue))

    async def room_questions(self, event: dict) -> None:
        # Who is hidden from this member either way, read once, at the first questions
        # update (a block made later applies from the member's next visit).
        if self.questions_hidden is None:
            try:
                self.questions_hidden = await database_sync_to_async(blocked_between_ids)(
                    self.member
                )
            except outage.DATABASE_DOWN:
                return  # the next update, or the client's state.sync, brings them
        shown = [q for q in event["questions"] if q["member"] not in self.questions_hidden]
        ids = {q["id"] for q in shown}
        voted = sorted(self.voted & ids)
        await self.send(text_data=protocol.questions(questions=shown, voted=voted))

    async def room_replaced(self, event: dict) -> None:
        if event["channel"] != self.channel_name:
            await self.send(text_data=protocol.session_replaced())
            await self.close(code=Close.REPLACED)

    async def _set_moderator_group(self, wanted: bool) -> None:
        if wanted == self.in_moderators:
            return
        group = broadcast.moderators_group(self.room_id)
        if wanted:
            await self.channel_layer.group_add(group, self.channel_name)
        else:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.in_moderators = wanted
