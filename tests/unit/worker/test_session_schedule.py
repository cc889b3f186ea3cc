"""An agent session's schedule (actors/worker/session_schedule.py), on a clock the test
moves: when heartbeats and status batches are due, lost frames, and which TLS report a
heartbeat carries."""

from __future__ import annotations

from actors.worker.session import BUSY_RETRY
from actors.worker.session_schedule import SessionSchedule
from api.objects import NodeTLSInfo

OLD = NodeTLSInfo(("oldroot",), b"subject", b"old-key")
NEW = NodeTLSInfo(("oldroot", "newroot"), b"subject", b"new-key")


def test_a_heartbeat_is_due_a_period_after_the_first_frame_then_after_each_reply() -> None:
    schedule = SessionSchedule(100.0, 5.0, None)
    assert not schedule.beat_due(104.9) and schedule.beat_due(105.0)
    schedule.beat_answered(105.2, 3.0, 1, None)  # the reply names the next period
    assert not schedule.beat_due(108.1) and schedule.beat_due(108.2)


def test_a_busy_heartbeat_is_made_again_after_busy_retry() -> None:
    schedule = SessionSchedule(100.0, 5.0, None)
    schedule.beat_busy(105.0)
    assert schedule.next_beat == 105.0 + BUSY_RETRY


def test_frames_are_lost_when_fewer_came_than_the_manager_streamed_a_beat_before() -> None:
    schedule = SessionSchedule(0.0, 5.0, None)
    assert schedule.lost_frames() is None  # the first beat: nothing said yet
    schedule.beat_answered(5.0, 5.0, 3, None)  # the manager had streamed 3
    schedule.frame_received()
    assert schedule.lost_frames() == "session stream lost frames (2 of 3 received)"
    schedule.frame_received()
    assert schedule.lost_frames() is None


def test_every_part_of_a_full_set_counts_as_a_frame_received() -> None:
    schedule = SessionSchedule(0.0, 5.0, None, received=4)  # the first set, in 4 parts
    schedule.beat_answered(5.0, 5.0, 7, None)
    schedule.frame_received(2)  # 2 parts of the next set read, not whole yet
    assert schedule.lost_frames() == "session stream lost frames (6 of 7 received)"
    schedule.frame_received(1)
    assert schedule.lost_frames() is None


def test_a_tls_report_goes_with_a_heartbeat_until_one_that_carried_it_is_answered() -> None:
    schedule = SessionSchedule(0.0, 5.0, OLD)  # the session request carried OLD
    assert schedule.tls_report(OLD) is None
    assert schedule.tls_report(NEW) == NEW  # a renewal installed meanwhile
    schedule.beat_busy(5.0)  # not taken: the next beat carries it again
    assert schedule.tls_report(NEW) == NEW
    schedule.beat_answered(5.5, 5.0, 1, NEW)
    assert schedule.tls_report(NEW) is None


def test_a_node_that_reported_nothing_reports_once_it_has_a_certificate() -> None:
    schedule = SessionSchedule(0.0, 5.0, None)
    assert schedule.tls_report(None) is None
    assert schedule.tls_report(OLD) == OLD


def test_statuses_wait_busy_retry_after_a_busy_batch_and_shorten_the_wait() -> None:
    schedule = SessionSchedule(0.0, 5.0, None)
    assert schedule.statuses_may_go(0.0)
    assert schedule.wait(1.0, statuses_waiting=False) == 4.0
    assert schedule.wait(1.0, statuses_waiting=True) == 0.0  # they may go now
    schedule.statuses_busy(1.0)
    assert not schedule.statuses_may_go(1.0)
    assert schedule.wait(1.0, statuses_waiting=True) == BUSY_RETRY
    assert schedule.statuses_may_go(1.0 + BUSY_RETRY)
    assert schedule.wait(4.9, statuses_waiting=True) == 0.0  # never negative for statuses


def test_a_hold_keeps_the_next_status_batch_back_for_its_seconds() -> None:
    schedule = SessionSchedule(0.0, 5.0, None)
    schedule.hold_statuses(1.0, 0.25)  # the fleet's pacing: one batch per flush interval
    assert not schedule.statuses_may_go(1.2) and schedule.statuses_may_go(1.25)
    assert schedule.wait(1.0, statuses_waiting=True) == 0.25
