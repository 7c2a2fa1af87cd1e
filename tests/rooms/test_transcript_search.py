"""The site search (/search/?q=) finds what was said in replays the viewer may hear
(rooms.recordings.search): full text on PostgreSQL, a substring on SQLite. Every test here
passes on both."""

import html
import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.services import block_create
from rooms.models import Recording, Room, RoomBan
from rooms.recordings.deletion import recording_delete
from tests.conftest import make_group, make_member
from tests.rooms.replays import (
    ended_room,
    recording_of,
    recordings_root,  # noqa: F401 - keeps replay files under tmp_path
)


def _said(client, query: str) -> list[str]:
    """The "Said in replays" hits, as text."""
    response = client.get("/search/", {"q": query})
    assert response.status_code == 200
    page = response.content.decode()
    section = re.search(r'<ul class="timeline search-said">(.*?)</ul>', page, re.S)
    if section is None:
        return []
    items = re.findall(r"<li>(.*?)</li>", section[1], re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", i)).split()) for i in items]


@pytest.fixture
def talk(alice, bob):
    room = ended_room(alice, title="Sharding Postgres", speakers=[bob])
    recording_of(
        room,
        lines=[
            (alice, 5_000, 9_000, "Welcome, everyone."),
            (bob, 75_400, 80_000, "We moved to sharding by tenant last spring."),
        ],
    )
    return room


def test_it_finds_a_word_said_in_a_replay(client, carol, talk):
    client.force_login(carol)

    response = client.get("/search/", {"q": "sharding"})
    hits = _said(client, "sharding")

    assert hits == [
        "Sharding Postgres · Bob Okafor at 1:15 “We moved to sharding by tenant last spring.”"
    ]
    assert f'href="/rooms/{talk.pk}/?t=75"' in response.content.decode()


def test_it_finds_the_words_whatever_their_case(client, carol, talk):
    client.force_login(carol)

    assert len(_said(client, "TENANT")) == 1
    assert _said(client, "kubernetes") == []


def test_signed_out_visitors_find_no_lines(client, talk):
    assert _said(client, "sharding") == []


def test_it_keeps_group_only_replays_to_the_group(client, alice, bob, dan):
    group = make_group(alice, "Security Council", private=True, members=[bob])
    room = ended_room(
        alice, title="Red team debrief", group=group, visibility=Room.Visibility.GROUP
    )
    recording_of(room, lines=[(alice, 1_000, 2_000, "The phishing drill results.")])

    client.force_login(dan)
    outsider = _said(client, "phishing")
    client.force_login(bob)
    member = _said(client, "phishing")

    assert outsider == []
    assert len(member) == 1 and "Red team debrief" in member[0]


def test_it_hides_replays_the_viewer_is_banned_or_blocked_from(client, alice, carol, dan, talk):
    RoomBan.objects.create(room=talk, member=dan, banned_by=alice)
    block_create(blocker=alice, blocked=carol)

    client.force_login(dan)
    banned = _said(client, "sharding")
    client.force_login(carol)
    blocked = _said(client, "sharding")

    assert banned == [] and blocked == []


def test_a_deleted_replay_is_never_found(
    client, alice, carol, talk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        recording_delete(actor=alice, recording_id=talk.recording.pk)
    client.force_login(carol)

    assert _said(client, "sharding") == []


@pytest.mark.parametrize(
    "status", [Recording.Status.PROCESSING, Recording.Status.FAILED, Recording.Status.DELETED]
)
def test_only_ready_replays_are_searched(client, alice, carol, status):
    room = ended_room(alice)
    # Lines left behind (the worker's, before it failed): still not found.
    recording_of(room, status=status, lines=[(alice, 0, 1_000, "Sharding at scale.")])
    client.force_login(carol)

    assert _said(client, "sharding") == []


def test_it_takes_as_many_queries_for_2_hits_as_for_20(client, alice, carol):
    def talks(n: int) -> None:
        for _ in range(n):
            speaker = make_member()
            room = ended_room(alice, speakers=[speaker])
            recording_of(room, lines=[(speaker, 1_000, 2_000, "Sharding is hard.")])

    client.force_login(carol)
    talks(2)
    with CaptureQueriesContext(connection) as two:
        assert len(_said(client, "sharding")) == 2
    talks(18)
    with CaptureQueriesContext(connection) as twenty:
        assert len(_said(client, "sharding")) == 20

    assert len(twenty.captured_queries) == len(two.captured_queries)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's full-text search")
def test_on_postgresql_it_matches_words_and_ranks_them(client, alice, carol):
    room = ended_room(alice, title="Databases")
    recording_of(
        room,
        lines=[
            (alice, 1_000, 2_000, "Shards, shards and more shards of tenants."),
            (alice, 3_000, 4_000, "We shard by tenant every spring."),
            (alice, 5_000, 6_000, "Nothing to see here."),
        ],
    )
    client.force_login(carol)

    hits = _said(client, "sharded tenants")  # stems: shard, tenant
    websearch = _said(client, "tenant -spring")

    assert [h.split("“")[1] for h in hits] == [
        "Shards, shards and more shards of tenants.”",
        "We shard by tenant every spring.”",
    ]
    assert len(websearch) == 1 and "more shards of tenants" in websearch[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's full-text search")
def test_on_postgresql_the_match_is_the_gin_indexs_expression(talk):
    # Django's SearchVector would wrap the column in COALESCE, which the index of rooms 0008
    # doesn't match. With a handful of rows the planner prefers other paths; with
    # sequential scans off, the match alone must be able to use the index.
    from rooms.models import TranscriptSegment
    from rooms.recordings.search import _matching

    lines = _matching(TranscriptSegment.objects.all(), "sharding").order_by().values("pk")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = lines.explain()

    assert "rooms_transcript_fts" in plan
