"""Heartbeat deadlines: three periods for a session, six after a leader change."""

from __future__ import annotations

import random

import pytest

from actors.dispatcher.heartbeats import (
    HEARTBEAT_FAILURE,
    UNKNOWN_HEARTBEAT_FAILURE,
    HeartbeatConfig,
    HeartbeatTracker,
)
from tests.unit.dispatcher.helpers import NODE_A, NODE_B


def test_period_has_bounded_jitter() -> None:
    config = HeartbeatConfig(period=5.0)
    rng = random.Random(7)
    periods = [config.next_period(rng) for _ in range(500)]
    assert all(4.5 <= p <= 5.5 for p in periods)
    assert len(set(periods)) > 1  # workers do not beat in step


def test_jitter_is_a_fraction_of_short_periods() -> None:
    config = HeartbeatConfig(period=0.2)
    rng = random.Random(1)
    assert all(0.18 <= config.next_period(rng) <= 0.22 for _ in range(200))


@pytest.mark.parametrize("period", [0.05, 0.2, 5.0, 30.0])
def test_the_jitter_is_the_shared_backoffs_and_draws_as_before(period: float) -> None:
    # before the shared Backoff: period + uniform(-epsilon, epsilon), the same rng draws
    config = HeartbeatConfig(period=period)
    epsilon = min(period * config.jitter, config.max_jitter)
    old, new = random.Random(3), random.Random(3)
    for _ in range(50):
        expected = period + old.uniform(-epsilon, epsilon)
        assert config.next_period(new) == pytest.approx(expected, rel=1e-12)


def test_non_positive_period_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        HeartbeatConfig(period=0)
    with pytest.raises(ValueError, match="jitter"):
        HeartbeatConfig(jitter=1.0)


def test_node_expires_after_three_missed_periods() -> None:
    tracker = HeartbeatTracker(HeartbeatConfig(period=5.0))
    tracker.beat(NODE_A, now=100.0, period=5.0)
    assert tracker.expired(114.9) == []
    expired = tracker.expired(115.0)
    assert [e.node_id for e in expired] == [NODE_A]
    assert expired[0].message == HEARTBEAT_FAILURE
    assert NODE_A not in tracker
    assert tracker.expired(1000.0) == []  # reported once


def test_each_beat_pushes_the_deadline_back() -> None:
    tracker = HeartbeatTracker(HeartbeatConfig(period=1.0))
    now = 0.0
    for _ in range(20):
        tracker.beat(NODE_A, now, 1.0)
        now += 2.5  # late, but within three periods
        assert tracker.expired(now) == []
    assert [e.node_id for e in tracker.expired(now + 3.0)] == [NODE_A]


def test_deadline_uses_the_jittered_period_given() -> None:
    tracker = HeartbeatTracker(HeartbeatConfig(period=5.0))
    tracker.beat(NODE_A, 0.0, 5.4)
    assert tracker.deadline(NODE_A) == pytest.approx(16.2)


def test_unknown_nodes_get_six_periods_of_grace() -> None:
    tracker = HeartbeatTracker(HeartbeatConfig(period=5.0))
    tracker.watch_unknown(NODE_A, now=0.0)
    tracker.watch_unknown(NODE_B, now=0.0)
    assert tracker.is_unknown(NODE_A)
    assert tracker.expired(29.9) == []
    tracker.beat(NODE_B, 29.9, 5.0)  # NODE_B reconnected in time
    expired = tracker.expired(30.0)
    assert [(e.node_id, e.unknown) for e in expired] == [(NODE_A, True)]
    assert expired[0].message == UNKNOWN_HEARTBEAT_FAILURE
    assert not tracker.is_unknown(NODE_B)


def test_expired_in_deadline_order() -> None:
    tracker = HeartbeatTracker(HeartbeatConfig(period=1.0))
    tracker.beat(NODE_B, 0.0, 1.0)
    tracker.beat(NODE_A, 1.0, 1.0)
    assert [e.node_id for e in tracker.expired(10.0)] == [NODE_B, NODE_A]


def test_forget() -> None:
    tracker = HeartbeatTracker(HeartbeatConfig(period=1.0))
    tracker.beat(NODE_A, 0.0, 1.0)
    tracker.forget(NODE_A)
    tracker.forget(NODE_A)
    assert tracker.expired(100.0) == []


def test_nothing_is_due_before_the_earliest_deadline() -> None:
    tracker = HeartbeatTracker(HeartbeatConfig(period=1.0, grace=3, unknown_grace=6))
    assert tracker.next_due == float("inf")
    tracker.watch_unknown(NODE_A, now=0.0)  # due at 6
    tracker.beat(NODE_B, now=0.0, period=1.0)  # due at 3
    assert tracker.next_due == 3.0
    tracker.beat(NODE_B, now=2.0, period=1.0)  # due at 5: 3 is still a lower bound
    assert tracker.next_due <= 5.0
    assert tracker.expired(4.0) == []
    assert tracker.next_due == 5.0  # a scan found the true earliest
    assert [e.node_id for e in tracker.expired(5.0)] == [NODE_B]
    assert tracker.next_due == 6.0
    assert [e.node_id for e in tracker.expired(7.0)] == [NODE_A]
    assert tracker.next_due == float("inf")
