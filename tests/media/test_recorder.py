"""The recorder: speakers' packets, unchanged, into one Ogg Opus file each. Read back with
PyAV and by walking the Ogg pages; the packets are real Opus, from aiortc or libopus."""

import array
import asyncio
import functools
import itertools
import logging
import math
import os
import struct
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

import av
import pytest

from media import recorder as recorder_module
from media.hub import MediaHub
from media.recorder import RoomRecorder
from tests.media.peers import FRAME, RATE, Browser, loopback_only, within

ROOM = 7
WRAP = 0xFFFFFFFF


@functools.cache
def opus_packets(count: int) -> tuple[bytes, ...]:
    """`count` 20 ms Opus packets of a 440 Hz tone, from libopus."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.open()
    packets, step = [], 2 * math.pi * 440 / RATE
    for n in range(count + 1):
        pcm = array.array("h", (int(8000 * math.sin(step * (n * FRAME + i))) for i in range(FRAME)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(pcm.tobytes())
        frame.sample_rate = RATE
        frame.pts = n * FRAME
        frame.time_base = Fraction(1, RATE)
        packets.extend(bytes(p) for p in encoder.encode(frame))
    return tuple(packets[:count])


@dataclass
class Ogg:
    payloads: list[bytes]
    pts: list[int]
    duration_ms: int  # the last page's granule position, less the pre-skip
    stream_seconds: float  # what PyAV says the stream lasts


def read_ogg(path) -> Ogg:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.size]
        payloads = [bytes(p) for p in packets]
        pts = [p.pts for p in packets]
        seconds = float(stream.duration * stream.time_base)
    data = path.read_bytes()
    at, granule, pre_skip = 0, -1, None
    while at < len(data):
        assert data[at : at + 4] == b"OggS"
        segments = data[at + 27 : at + 27 + data[at + 26]]
        body = at + 27 + len(segments)
        if pre_skip is None:  # the first page is the OpusHead
            assert data[body : body + 8] == b"OpusHead"
            pre_skip = struct.unpack_from("<H", data, body + 10)[0]
        page_granule = struct.unpack_from("<q", data, at + 6)[0]
        if page_granule != -1:
            granule = page_granule
        at = body + sum(segments)
    return Ogg(payloads, pts, (granule - pre_skip) * 1000 // RATE, seconds)


def gaps(pts: list[int]) -> list[tuple[int, int]]:
    """(index, step) for each packet that starts later than the end of the one before. A
    reader places a gap at a page boundary (ffmpeg: after the page's first packet)."""
    return [(i + 1, b - a) for i, (a, b) in enumerate(itertools.pairwise(pts)) if b - a > FRAME]


class Handed:
    """A second tap: what the forwarder handed over, until there is `enough`."""

    def __init__(self, enough: int) -> None:
        self.payloads: list[bytes] = []
        self.times: list[float] = []
        self.enough = asyncio.Event()
        self._count = enough

    def packet(self, member_id, timestamp, payload, level, now) -> None:
        self.payloads.append(payload)
        self.times.append(now)
        if len(self.payloads) >= self._count:
            self.enough.set()


@pytest.mark.asyncio
async def test_it_records_the_forwarded_packets_byte_for_byte(tmp_path, monkeypatch):
    loopback_only(monkeypatch)
    hub = MediaHub(ice_servers=[])
    recorder = RoomRecorder(tmp_path / "span", offset_ms=1500, members={1})
    handed = Handed(enough=150)  # 3 s
    hub.set_tap(ROOM, "recorder", recorder)
    hub.set_tap(ROOM, "handed", handed)
    speaker = Browser(tone=440)
    try:
        offer = await speaker.offer()
        await speaker.accept(await within(hub.attach(ROOM, 1, "socket-1", offer, publishing=True)))
        await speaker.connected()
        await within(handed.enough.wait())
    finally:
        hub.set_tap(ROOM, "recorder", None)  # both at once: no packet comes in between
        hub.set_tap(ROOM, "handed", None)
        await within(hub.close_room(ROOM))
        await speaker.close()
    [track] = await within(asyncio.to_thread(recorder.stop))

    ogg = read_ogg(track.path)
    assert track.path == tmp_path / "span" / "1.ogg"
    assert ogg.payloads == handed.payloads
    assert track.packets == len(handed.payloads)
    sent = handed.times[-1] - handed.times[0] + 0.02
    assert ogg.stream_seconds == pytest.approx(sent, abs=0.5)
    assert ogg.duration_ms / 1000 == pytest.approx(sent, abs=0.5)
    assert track.duration_ms == ogg.duration_ms
    assert track.dropped == 0
    assert track.starts_ms >= 1500


def test_it_keeps_a_silence_as_a_gap_in_time(tmp_path):
    packets = opus_packets(100)
    recorder = RoomRecorder(tmp_path, members={1})
    timestamp, now = 123_456, time.monotonic()
    for i, payload in enumerate(packets):
        if i == 50:
            timestamp += 2 * RATE  # two seconds without packets (DTX, or a mute)
            now += 2
        # Talking, then silent (127) or without the level extension (-1).
        level = 30 if i < 50 else (-1 if i % 2 else 127)
        recorder.packet(1, timestamp & WRAP, payload, level, now)
        timestamp += FRAME
        now += 0.02
    [track] = recorder.stop()

    ogg = read_ogg(track.path)
    assert ogg.payloads == list(packets)
    assert ogg.duration_ms == pytest.approx(4000, abs=40)
    assert track.duration_ms == ogg.duration_ms
    [(where, step)] = gaps(ogg.pts)
    assert step == 2 * RATE + FRAME
    assert abs(where - 50) <= 5  # where it was, give or take a page (100 ms)
    assert track.talk_ms == 1000


def test_only_allowed_members_are_written_and_allow_adds_one_from_then(tmp_path):
    packets = opus_packets(40)
    recorder = RoomRecorder(tmp_path, offset_ms=5000, members={1})
    now = time.monotonic()
    for i, payload in enumerate(packets):
        if i == 20:
            recorder.allow({1, 2})  # member 2 consents; member 3 never does
        for member in (1, 2, 3):
            recorder.packet(member, 1000 + i * FRAME, payload, 30, now + i * 0.02)
    files = {track.member_id: track for track in recorder.stop()}

    assert set(files) == {1, 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.ogg", "2.ogg"]
    assert read_ogg(files[1].path).payloads == list(packets)
    assert read_ogg(files[2].path).payloads == list(packets[20:])
    assert files[1].starts_ms >= 5000
    assert files[2].starts_ms - files[1].starts_ms == pytest.approx(400, abs=1)


def test_a_full_queue_refuses_packets_without_waiting_and_says_so(tmp_path, monkeypatch, caplog):
    entered, release = threading.Event(), threading.Event()
    real_open = recorder_module._open_ogg

    def stuck_disk(path):
        entered.set()
        release.wait(10)
        return real_open(path)

    monkeypatch.setattr(recorder_module, "_open_ogg", stuck_disk)
    [payload] = opus_packets(1)
    recorder = RoomRecorder(tmp_path, members={1, 9})
    now = time.monotonic()
    recorder.packet(9, 0, payload, 30, now)
    assert entered.wait(5)  # the writer is stuck opening 9.ogg, and the queue is empty
    limit = recorder.queue_limit
    with caplog.at_level(logging.WARNING, logger="media.recorder"):
        began = time.monotonic()
        for i in range(limit + 100):
            recorder.packet(1, i * FRAME, payload, 30, now)
        took = time.monotonic() - began
    release.set()
    files = {track.member_id: track for track in recorder.stop()}

    assert took < 1.0  # 8,292 calls that never waited on the writer
    assert recorder.dropped == 100
    assert (files[1].dropped, files[9].dropped) == (100, 0)
    assert files[1].packets == limit
    assert len(read_ogg(files[1].path).payloads) == limit
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # at most one a second
    assert "dropped" in warnings[0].getMessage()


def test_a_timestamp_wrapping_past_2_32_stays_continuous(tmp_path):
    packets = opus_packets(50)
    recorder = RoomRecorder(tmp_path, members={1})
    first = 2**32 - 25 * FRAME
    for i, payload in enumerate(packets):
        recorder.packet(1, (first + i * FRAME) & WRAP, payload, 30, time.monotonic())
    [track] = recorder.stop()

    ogg = read_ogg(track.path)
    assert ogg.payloads == list(packets)
    assert ogg.pts == [i * FRAME for i in range(50)]
    assert track.duration_ms == ogg.duration_ms == 1000
    assert recorder.stop() == [track]  # stop() again changes nothing


def test_a_late_or_repeated_packet_is_skipped_and_a_new_stream_goes_on_by_the_clock(tmp_path):
    packets = opus_packets(20)
    recorder = RoomRecorder(tmp_path, members={1})
    now = time.monotonic()
    for i in range(10):
        recorder.packet(1, 5000 + i * FRAME, packets[i], 30, now + i * 0.02)
    recorder.packet(1, 5000 + 9 * FRAME, packets[0], 30, now + 0.19)  # repeated
    recorder.packet(1, 5000 + 5 * FRAME, packets[0], 30, now + 0.19)  # late
    # The speaker reconnected a second later: a new stream, from another random timestamp.
    for i in range(10, 20):
        recorder.packet(1, 3_000_000_000 + i * FRAME, packets[i], 30, now + 1 + i * 0.02)
    [track] = recorder.stop()

    ogg = read_ogg(track.path)
    assert ogg.payloads == list(packets)
    [(where, step)] = gaps(ogg.pts)
    assert step == pytest.approx(1.02 * RATE, abs=FRAME)
    assert abs(where - 10) <= 5
    assert track.packets == 20


def test_a_track_that_cant_be_written_is_dropped_and_the_others_are_complete(tmp_path, caplog):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full to stand for a full disk")
    (tmp_path / "2.ogg").symlink_to("/dev/full")  # member 2's writes fail: "no space left"
    packets = opus_packets(50)
    recorder = RoomRecorder(tmp_path, members={1, 2})
    with caplog.at_level(logging.ERROR, logger="media.recorder"):
        for i in range(3000):
            for member in (1, 2):
                recorder.packet(member, i * FRAME, packets[i % 50], 30, time.monotonic())
        files = recorder.stop()

    assert [track.member_id for track in files] == [1]
    ogg = read_ogg(files[0].path)
    assert ogg.payloads == [packets[i % 50] for i in range(3000)]
    assert ogg.duration_ms == files[0].duration_ms == 60_000
    assert not (tmp_path / "2.ogg").is_symlink()  # deleted, not left half written
    assert recorder.write_errors == 1
    assert ["member 2" in r.getMessage() for r in caplog.records] == [True]
