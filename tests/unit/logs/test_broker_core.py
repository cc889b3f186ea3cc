"""The log broker's core, driven without threads or sockets (actors/logs/broker_core.py)."""

from __future__ import annotations

import pytest

from actors.logs.broker_core import (
    UNKNOWN_SUBSCRIPTION,
    BrokerCore,
    BrokerError,
    BrokerLimits,
    Effects,
    TaskPlace,
)
from actors.logs.wire import LogOptions, LogRecord, PublishBatch

PLACES = {
    "t1": TaskPlace("n1", "s1"),
    "t2": TaskPlace("n2", "s1"),
    "t3": TaskPlace("n1", "other"),
}


def lookup(task_id: str) -> TaskPlace | None:
    return PLACES.get(task_id)


def line(task_id: str, text: str, ts: int = 1) -> LogRecord:
    return LogRecord(task_id, ts, "stdout", text.encode())


def subscribed(core: BrokerCore, follow: bool = False, owner: str = "me") -> str:
    core.subscribe(
        0.0, "sub", owner, LogOptions(follow=follow), service_ids={"s1"}, task_nodes={"n1", "n2"}
    )
    return "sub"


def test_listening_nodes_hear_of_a_subscription_and_later_listeners_when_they_listen() -> None:
    core = BrokerCore()
    core.listen(0.0, "n1")
    effects = core.subscribe(
        0.0, "sub", "me", LogOptions(follow=True), service_ids={"s1"}, task_nodes={"n1", "n2"}
    )
    assert [(d.node_id, [m.id for m in d.messages]) for d in effects.deliveries] == [
        ("n1", ["sub"])
    ]
    assert [m.id for m in core.listen(1.0, "n2")] == ["sub"]


def test_a_node_may_publish_only_its_own_selected_tasks() -> None:
    core = BrokerCore()
    core.listen(0.0, "n1")
    core.listen(0.0, "n2")
    sub = subscribed(core)
    batch = PublishBatch(sub, (line("t1", "mine"), line("t2", "n2's"), line("t3", "unselected")))
    result, _ = core.publish(1.0, "n1", batch, lookup)
    assert (result.accepted, result.refused, result.stop) == (1, 2, False)
    read = core.read(1.0, sub, "me", 0)
    assert read is not None and [r.data for r in read.records] == [b"mine"]
    # a node the subscription was not sent to is told to stop
    stranger, _ = core.publish(1.0, "n9", PublishBatch(sub, (line("t1", "x"),)), lookup)
    assert stranger.stop and stranger.accepted == 0


def test_without_follow_the_reader_is_told_done_once_every_node_closed_and_all_is_read() -> None:
    core = BrokerCore()
    core.listen(0.0, "n1")
    core.listen(0.0, "n2")
    sub = subscribed(core)
    core.publish(1.0, "n1", PublishBatch(sub, (line("t1", "a"),), close=True), lookup)
    first = core.read(1.0, sub, "me", 0)
    assert first is not None and not first.done and first.seq == 1
    core.publish(1.0, "n2", PublishBatch(sub, (line("t2", "b"),), close=True), lookup)
    last = core.read(1.0, sub, "me", first.seq)
    assert last is not None and last.done and [r.data for r in last.records] == [b"b"]


def test_a_node_not_listening_is_skipped_with_a_notice_unless_following() -> None:
    core = BrokerCore()
    core.listen(0.0, "n1")
    sub = subscribed(core)
    core.publish(1.0, "n1", PublishBatch(sub, (), close=True), lookup)
    read = core.read(1.0, sub, "me", 0)
    assert read is not None and read.done
    assert any("not connected" in n for n in read.notices)


def test_a_follow_waits_for_a_node_and_says_lines_may_be_missed_when_it_goes() -> None:
    core = BrokerCore()
    sub = subscribed(core, follow=True)
    assert core.read(0.0, sub, "me", 0) is None  # nothing yet: the shell waits
    assert [m.id for m in core.listen(1.0, "n1")] == [sub]
    effects = core.unlisten("n1", "is down")
    assert sub in effects.wake
    read = core.read(1.0, sub, "me", 0)
    assert read is not None and not read.done
    assert read.notices == ("node n1 is down: lines may have been missed",)


def test_a_follow_takes_in_a_node_that_gets_one_of_its_tasks() -> None:
    core = BrokerCore()
    core.listen(0.0, "n3")
    sub = subscribed(core, follow=True)
    effects = core.task_seen(1.0, "t9", TaskPlace("n3", "s1"))
    assert [d.node_id for d in effects.deliveries] == ["n3"]
    assert core.task_seen(1.0, "t9", TaskPlace("n3", "s1")).deliveries == []  # once
    assert sub


def test_subscriptions_are_their_owners() -> None:
    core = BrokerCore()
    sub = subscribed(core, owner="a")
    with pytest.raises(BrokerError) as caught:
        core.read(0.0, sub, "b", 0)
    assert caught.value.code == UNKNOWN_SUBSCRIPTION


def test_a_slow_reader_is_bounded_and_told_how_many_lines_were_dropped() -> None:
    core = BrokerCore(BrokerLimits(buffer_records=3))
    core.listen(0.0, "n1")
    sub = subscribed(core, follow=True)
    records = tuple(line("t1", str(i), ts=i) for i in range(10))
    result, _ = core.publish(1.0, "n1", PublishBatch(sub, records), lookup)
    assert result.backlog == 3  # what the node is told, to hold back
    read = core.read(1.0, sub, "me", 0)
    assert read is not None
    assert [r.data for r in read.records] == [b"7", b"8", b"9"]
    assert read.dropped == 7


def test_an_unread_subscription_is_dropped_and_its_nodes_told_to_close_it() -> None:
    core = BrokerCore(BrokerLimits(idle_timeout=5.0))
    core.listen(0.0, "n1")
    sub = subscribed(core, follow=True)
    assert core.tick(4.0).deliveries == []
    effects = core.tick(6.0)
    assert [(d.node_id, d.messages[0].close) for d in effects.deliveries] == [("n1", True)]
    assert effects.expired == [(sub, "idle")]  # the shell logs it and counts it
    assert len(core) == 0
    with pytest.raises(BrokerError):
        core.read(6.0, sub, "me", 0)


def test_a_reader_closes_its_subscription_and_its_nodes_are_told_at_once() -> None:
    core = BrokerCore()
    core.listen(0.0, "n1")
    sub = subscribed(core, follow=True)
    assert core.close(sub, "someone-else") == (False, Effects())  # not theirs to close
    assert len(core) == 1
    closed, effects = core.close(sub, "me")
    assert closed
    assert [(d.node_id, d.messages[0].close) for d in effects.deliveries] == [("n1", True)]
    assert len(core) == 0
    assert core.close(sub, "me") == (False, Effects())  # once: closing again is harmless


def test_a_silent_node_ends_its_part_of_a_read_without_follow() -> None:
    core = BrokerCore(BrokerLimits(node_timeout=2.0, idle_timeout=100.0))
    core.listen(0.0, "n1")
    core.listen(0.0, "n2")
    sub = subscribed(core)
    core.publish(1.0, "n1", PublishBatch(sub, (), close=True), lookup)
    core.tick(3.0)
    read = core.read(3.0, sub, "me", 0)
    assert read is not None and read.done
    assert any("n2 did not answer" in n for n in read.notices)


def test_ending_a_follow_completes_it_with_its_reason() -> None:
    core = BrokerCore()
    sub = subscribed(core, follow=True)
    assert core.follows_of("s1") == [sub]
    core.end(sub, "service web was removed")
    read = core.read(0.0, sub, "me", 0)
    assert read is not None and read.done and read.notices == ("service web was removed",)


def test_the_leader_holds_a_bounded_number_of_subscriptions() -> None:
    core = BrokerCore(BrokerLimits(max_subscriptions=1))
    subscribed(core)
    with pytest.raises(BrokerError):
        core.subscribe(0.0, "two", "me", LogOptions(), service_ids={"s1"})
