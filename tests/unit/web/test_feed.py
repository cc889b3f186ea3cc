"""The live feed on an event loop over a local store: pushed on changes, bounded, reloaded
when the store is replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from actors.control.raft_members import RaftView
from actors.control.readiness import LEADERLESS_SETTLED
from actors.web.feed import FeedBusy, LiveFeed, Message, Stream
from actors.web.quorum import quorum_of
from api.enums import NodeRole
from api.objects import ManagerStatus, Node, NodeDescription
from tests.unit.control.helpers import Cluster


def run(scenario: Callable[[Cluster, LiveFeed], Awaitable[None]], **feed_args: Any) -> None:
    cluster = Cluster()
    cluster.add_node("m1", manager=True)

    async def main() -> None:
        feed = LiveFeed(cluster.store, **feed_args)
        feed.start()
        try:
            await scenario(cluster, feed)
        finally:
            feed.stop()

    asyncio.run(main())


async def settle() -> None:
    """Let the loop run the pumps the store's notifications queued."""
    for _ in range(5):
        await asyncio.sleep(0)


async def take(stream: Stream) -> Message:
    message = await stream.next(5.0)
    assert message is not None
    return message


def test_a_page_gets_the_document_then_one_patch_per_pump() -> None:
    async def scenario(cluster: Cluster, feed: LiveFeed) -> None:
        stream = feed.subscribe()
        first = await take(stream)
        assert first.kind == "state" and [n["hostname"] for n in first.data["nodes"]] == ["m1"]
        cluster.create(name="web", replicas=2)
        cluster.create(name="db", replicas=1)
        await settle()
        patches = []
        while stream.queue:
            patches.append(await take(stream))
        assert patches and all(p.kind == "patch" for p in patches)
        names = [s["name"] for p in patches for s in p.data["put"]["services"]]
        assert sorted(names) == ["db", "web"]
        assert patches[-1].version == cluster.store.version
        assert await stream.next(0.01) is None  # nothing more: no timer re-sends anything

    run(scenario)


def test_a_stream_that_falls_behind_is_ended_and_a_new_one_starts_over() -> None:
    async def scenario(cluster: Cluster, feed: LiveFeed) -> None:
        stream = feed.subscribe()
        for i in range(6):
            cluster.create(name=f"s{i}", replicas=1)
            await settle()
        assert stream.overflowed and feed.streams == 0
        assert await stream.next(0.01) is None
        fresh = feed.subscribe()
        state = await take(fresh)
        assert state.kind == "state" and len(state.data["services"]) == 6

    run(scenario, queue_size=2)


def test_streams_are_bounded() -> None:
    async def scenario(_cluster: Cluster, feed: LiveFeed) -> None:
        feed.subscribe()
        second = feed.subscribe()
        with pytest.raises(FeedBusy, match="2 web view streams"):
            feed.subscribe()
        feed.unsubscribe(second)
        feed.subscribe()

    run(scenario, max_streams=2)


def test_a_replaced_store_reloads_the_board_and_resends_the_document() -> None:
    async def scenario(cluster: Cluster, feed: LiveFeed) -> None:
        snapshot = cluster.store.snapshot()
        cluster.create(name="web", replicas=1)
        await settle()
        stream = feed.subscribe()
        assert [s["name"] for s in (await take(stream)).data["services"]] == ["web"]
        cluster.store.restore(snapshot)  # as a Raft snapshot does: "web" was not in it
        await settle()
        message = await take(stream)
        assert message.kind == "state" and message.data["services"] == []
        cluster.create(name="db", replicas=1)  # and the feed watches again
        await settle()
        patch = await take(stream)
        assert [s["name"] for s in patch.data["put"]["services"]] == ["db"]

    run(scenario)


def test_stopping_ends_every_stream() -> None:
    async def scenario(_cluster: Cluster, feed: LiveFeed) -> None:
        stream = feed.subscribe()
        await take(stream)
        feed.stop()
        assert stream.closed and await stream.next(0.01) is None
        assert feed.streams == 0

    run(scenario)


def test_the_feed_says_when_this_manager_loses_and_finds_its_leader() -> None:
    leaderless: list[float | None] = [0.0]

    async def scenario(_cluster: Cluster, feed: LiveFeed) -> None:
        stream = feed.subscribe()
        first = await take(stream)
        assert first.data["quorum"] == {"leader": True, "message": ""}
        leaderless[0] = 2.0  # an election under way: nothing said yet
        assert await stream.next(0.05) is None
        leaderless[0] = LEADERLESS_SETTLED
        lost = await take(stream)
        assert lost.kind == "quorum" and lost.data["leader"] is False
        assert lost.data["message"].startswith("The swarm does not have a leader.")
        assert feed.document()["quorum"] == lost.data  # a new page starts from it too
        assert await stream.next(0.05) is None  # said once, not at every check
        leaderless[0] = 0.0
        found = await take(stream)
        assert found.kind == "quorum" and found.data == {"leader": True, "message": ""}

    run(scenario, quorum=lambda: quorum_of(leaderless[0]), quorum_check_s=0.005)


def test_managers_live_status_is_pushed_when_the_raft_view_changes() -> None:
    answers: list[RaftView | Exception] = [
        RaftView(raft_id=1, leader_id=1, voters=frozenset({1})),
        TimeoutError("busy"),  # a view it cannot get leaves the last one shown
        RaftView(raft_id=1, leader_id=0, voters=frozenset({1})),
    ]

    def raft_view() -> RaftView:
        answer = answers[0] if len(answers) == 1 else answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def patch_of(stream: Stream) -> dict[str, object]:
        message = await take(stream)
        while message.kind != "patch":  # the quorum's own messages
            message = await take(stream)
        [row] = message.data["put"]["nodes"]
        return dict(row["manager_status"])

    async def scenario(_cluster: Cluster, feed: LiveFeed) -> None:
        stream = feed.subscribe()
        await take(stream)
        # this member itself is reachable (the store had it unknown), and leads
        assert await patch_of(stream) == {"leader": True, "reachability": "reachable", "addr": ""}
        # a view it could not get changed nothing; the next one knows no leader
        assert await patch_of(stream) == {"leader": False, "reachability": "reachable", "addr": ""}
        assert len(answers) == 1

    cluster_node = Node(
        id="m1id",
        role=NodeRole.MANAGER,
        description=NodeDescription(hostname="m1"),
        manager_status=ManagerStatus(raft_id=1, leader=True),
    )

    async def with_member(cluster: Cluster, feed: LiveFeed) -> None:
        cluster.store.update(lambda tx: tx.create(cluster_node))
        await settle()
        await scenario(cluster, feed)

    run(with_member, raft_view=raft_view, quorum_check_s=0.01)
