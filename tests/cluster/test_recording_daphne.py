"""Recording and captions through a real node (Daphne, runnode, PostgreSQL, Redis).

Everything a client can send about recording goes to the real server: the host's
switches, a listener's attempts at them, malformed answers, a speaker who tries to speak
before agreeing. A speaker then says known sentences (espeak-ng, through aiortc on
loopback); the listener gets captions of them; the host ends the room, and the node's own
worker turns the recording into a replay with a transcript. The node's log must hold no
traceback (checked when the cluster stops)."""

import asyncio
import wave
from pathlib import Path

import pytest
from aiortc.contrib.media import MediaPlayer
from channels.db import database_sync_to_async

from rooms.models import AuditAction, AuditEntry, Recording, RecordingTrack, TranscriptSegment
from rooms.recordings import demo
from tests.cluster.clients import Peer, RoomSocket, session_cookie
from tests.conftest import make_member, make_room

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not demo.espeak_available(), reason="espeak-ng is missing"),
]

SENTENCES = [
    "good morning everyone and welcome to the talk",
    "today we discuss the future of remote work",
    "thank you all for listening",
]
WORDS = {w for s in SENTENCES for w in s.split()}


def _speech_wav(path: Path) -> tuple[Path, list[float]]:
    """The sentences with half a second between them; and when each ends, in seconds."""
    pcm, ends = b"", []
    for sentence in SENTENCES:
        pcm += demo.speak(sentence, "en-us+f2").tobytes()
        ends.append(len(pcm) / 2 / demo.RATE)
        pcm += bytes(demo.RATE)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(demo.RATE)
        wav.writeframes(pcm)
    return path, ends


class Speaker(Peer):
    """A browser whose microphone says the sentences, once, in real time."""

    def __init__(self, wav: Path) -> None:
        super().__init__()
        self.player = MediaPlayer(str(wav))
        self.mic.sender.replaceTrack(self.player.audio)


async def _eventually(check, timeout: float):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await database_sync_to_async(check)()
        if value:
            return value
        assert loop.time() < deadline, "it didn't happen in time"
        await asyncio.sleep(0.25)


def _setup():
    alice, bob, carol = (make_member(n) for n in ("Alice Host", "Bob Speaker", "Carol Listener"))
    room = make_room(alice, speakers=[bob], captions=True)
    return room, alice, bob, carol, [session_cookie(m) for m in (alice, bob, carol)]


async def test_a_recorded_captioned_talk_through_a_real_node(cluster, tmp_path):
    (node,) = cluster.start("a")
    room, _, bob, carol, cookies = await database_sync_to_async(_setup)()
    host, speaker, listener = [await RoomSocket.open(node, room.pk, c) for c in cookies]
    assert listener.state["recording"] == {"state": "off", "captions": True}

    # Not the listener's to do, or not well formed: refused, and nothing changes.
    for kind, fields, code in [
        ("recording.start", {}, "not_allowed"),
        ("recording.pause", {}, "not_allowed"),
        ("captions.set", {"on": False}, "not_allowed"),
        ("recording.consent", {"agree": "yes"}, "invalid_message"),
        ("recording.consent", {}, "invalid_message"),
        ("recording.consent", {"agree": True, "member": bob.pk}, "invalid_message"),
        ("captions.set", {"on": 1}, "invalid_message"),
        ("recording.start", {"span": 1}, "invalid_message"),
    ]:
        await listener.send(kind, **fields)
        error = await listener.until("error")
        assert error["code"] == code, (kind, fields, error)
    assert not await database_sync_to_async(Recording.objects.filter(room=room).exists)()

    await host.send("recording.start")
    for sock in (host, speaker, listener):
        assert (await sock.until("recording"))["state"] == "on"
    # Before agreeing, the speaker can't be heard.
    await speaker.send("unmute.self")
    assert (await speaker.until("error"))["code"] == "consent_required"
    await speaker.send("recording.consent", agree=True)
    await speaker.until("role.changed", where=lambda e: e["you"]["consent"] == "agreed")
    await speaker.send("unmute.self")
    await speaker.until("role.changed", where=lambda e: not e["you"]["muted"])

    wav, ends = _speech_wav(tmp_path / "speech.wav")
    voice = Speaker(wav)
    await voice.join(speaker)
    loop = asyncio.get_running_loop()
    started = loop.time()  # about when the microphone starts playing
    heard: set[str] = set()
    first_caption = None
    sentence_done: dict[int, float] = {}  # sentence -> when a final line with its last word came
    deadline = started + ends[-1] + 6
    while loop.time() < deadline and len(sentence_done) < len(SENTENCES):
        try:
            event = await listener.until("captions", timeout=deadline - loop.time())
        except AssertionError:
            break
        now = loop.time() - started
        first_caption = first_caption or now
        for line in event["lines"]:
            assert line["member"] == bob.pk
            words = set(line["text"].split())
            heard |= words
            for n, sentence in enumerate(SENTENCES):
                if line["final"] and n not in sentence_done and sentence.split()[-1] in words:
                    sentence_done[n] = now - ends[n]
    assert len(heard & WORDS) >= len(WORDS) // 2, f"captions heard {sorted(heard)}"
    # Figures for docs/benchmarks.md (-s shows them): speech to the listener's socket.
    print(
        f"\ncaptions at the listener: the first {first_caption:.2f} s after the speech began; "
        "each sentence's last word in a final line "
        + ", ".join(f"{sentence_done[n]:.2f} s" for n in sorted(sentence_done))
        + " after it was said"
    )

    await asyncio.sleep(1)
    await host.send("room.end")
    await host.until("room.ended")
    for sock in (host, speaker, listener):
        await sock.close()
    await voice.close()

    # The node saves the track and starts its worker; the replay is published with a
    # transcript of Bob's words.
    recording = await _eventually(
        lambda: Recording.objects.filter(room=room, status=Recording.Status.READY).first(), 120
    )
    tracks = await database_sync_to_async(
        lambda: list(RecordingTrack.objects.filter(recording=recording))
    )()
    # Only the speaker who agreed and spoke is on the record; the listener never is.
    assert [t.member_id for t in tracks] == [bob.pk]
    assert carol.pk not in {t.member_id for t in tracks}
    assert (cluster.tmp_path / "var-a" / "recordings" / recording.audio.name).stat().st_size > 1000
    said = await database_sync_to_async(
        lambda: " ".join(
            TranscriptSegment.objects.filter(recording=recording).values_list("text", flat=True)
        )
    )()
    assert len(set(said.split()) & WORDS) >= len(WORDS) // 2, said
    actions = await database_sync_to_async(
        lambda: list(AuditEntry.objects.filter(room=room).values_list("action", flat=True))
    )()
    assert AuditAction.RECORDING_START in actions
