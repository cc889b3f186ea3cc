"""A fleet node's session as a state machine: the agent's rules, driven by hand."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from actors.dispatcher.core import NODE_REMOVED
from actors.dispatcher.wire import ManagerAddress, SessionFrame, encode_frame
from actors.node.fleet.loop import FleetNode
from actors.node.fleet.members import FleetMember
from actors.node.fleet.session import (
    Connect,
    Disconnect,
    Effect,
    FleetSession,
    Forget,
    Phase,
    Send,
    SessionConfig,
)
from actors.node.fleet.tasks import NodeTasks
from actors.worker.executors.sim import SimExecutor
from actors.worker.session import BUSY_RETRY
from actors.worker.session_calls import Call
from api.objects import NodeDescription, Task
from api.task_state import TaskState
from tests.unit.worker.helpers import make_task
from transport.keys import KeyPair

M1 = ManagerAddress("tcp://127.0.0.1:1", b"k" * 40)
M2 = ManagerAddress("tcp://127.0.0.1:2", b"j" * 40)
CONFIG = SessionConfig(connect_timeout=5, request_timeout=5, flush_interval=0.1)


def session() -> FleetSession:
    tasks = NodeTasks(SimExecutor("node1"))
    return FleetSession(
        "node1", NodeDescription(hostname="h"), [M1, M2], tasks, random.Random(1), CONFIG
    )


def frame(
    tasks: tuple[Task, ...] = (), *, full: bool = False, closed: str | None = None
) -> dict[str, Any]:
    return encode_frame(SessionFrame("s1", 2.0, (M1, M2), full, tasks, (), closed))


def sends(effects: list[Effect], call: Call) -> list[Send]:
    return [e for e in effects if isinstance(e, Send) and e.call is call]


def opened(s: FleetSession, now: float = 0.0, tasks: tuple[Task, ...] = ()) -> FleetSession:
    effects = s.poll(now)
    assert effects[0] == Connect(M1)
    (ask,) = sends(effects, Call.SESSION)
    assert ask.body["node_id"] == "node1"
    assert s.on_frame(now, frame(tasks, full=True), wall=1000.0) == []
    assert s.phase is Phase.OPEN and s.session_id == "s1"
    return s


def test_open_applies_the_full_set_and_sends_statuses_in_a_batch() -> None:
    s = opened(session(), tasks=(make_task("t1"), make_task("t2")))
    (batch,) = sends(s.poll(0.0), Call.STATUS)
    assert {u["task_id"] for u in batch.body["updates"]} == {"t1", "t2"}
    assert batch.body["session_id"] == "s1"
    s.tasks.apply(False, [make_task("t3")], [], 1000.0)
    assert sends(s.poll(0.05), Call.STATUS) == []  # one batch in flight at a time
    s.on_reply(0.05, Call.STATUS, {"accepted": 2, "refused": []})
    assert s.next_wakeup() == 0.1  # the next batch waits for the flush interval
    (second,) = sends(s.poll(0.1), Call.STATUS)
    assert [u["task_id"] for u in second.body["updates"]] == ["t3"]


def test_heartbeats_at_the_period_and_lost_frames_reopen_the_session() -> None:
    s = opened(session())
    assert s.poll(1.0) == []
    (beat,) = sends(s.poll(2.0), Call.HEARTBEAT)
    assert beat.body == {"node_id": "node1", "session_id": "s1"}
    s.on_reply(2.1, Call.HEARTBEAT, {"period": 3.0, "frames": 2})
    assert s.next_wakeup() == 5.1
    effects = s.poll(5.1)  # two frames streamed, one received
    assert effects[0] == Disconnect("session stream lost frames (1 of 2 received)")
    assert s.phase is Phase.WAITING
    retry = s.next_wakeup()
    assert 5.1 < retry <= 5.2
    assert s.poll(retry)[0] == Connect(M2)  # the next manager


def test_a_heartbeat_that_times_out_ends_the_session() -> None:
    s = opened(session())
    sends(s.poll(2.0), Call.HEARTBEAT)
    assert s.next_wakeup() == 7.0  # its deadline: the loop does not spin while it waits
    effects = s.poll(7.0)
    assert isinstance(effects[0], Disconnect) and s.last_end == "heartbeat timed out"


def test_a_status_batch_with_no_reply_in_time_keeps_the_session_and_is_sent_again() -> None:
    s = opened(session(), tasks=(make_task("t1"),))
    (batch,) = sends(s.poll(0.0), Call.STATUS)
    assert s.next_wakeup() == 2.0  # the heartbeat, before the batch's deadline
    sends(s.poll(2.0), Call.HEARTBEAT)
    s.on_reply(2.1, Call.HEARTBEAT, {"period": 3.0, "frames": 1})
    effects = s.poll(5.0)  # no reply to the batch: put back, its late reply dropped
    assert effects == [Forget(Call.STATUS)]
    assert s.phase is Phase.OPEN and s.ends == {} and s.late_status_batches == 1
    assert len(s.tasks.statuses) == 1 and s.next_wakeup() == 5.1  # the next heartbeat
    sends(s.poll(5.1), Call.HEARTBEAT)
    assert sends(s.poll(5.0 + BUSY_RETRY / 2), Call.STATUS) == []
    (again,) = sends(s.poll(5.0 + BUSY_RETRY), Call.STATUS)
    assert again.body["updates"] == batch.body["updates"]
    s.on_reply(5.6, Call.STATUS, {"accepted": 1, "refused": []})
    assert len(s.tasks.statuses) == 0 and s.phase is Phase.OPEN


def test_a_node_forgets_the_replies_owed_to_its_late_batches_only() -> None:
    s = session()
    member = FleetMember("node1", "h", Path("unused"), KeyPair(b"p" * 40, b"s" * 40), (M1,))
    node = FleetNode(member, s, s.tasks, SimExecutor("node1"))
    node.pending = {1: Call.STATUS, 2: Call.HEARTBEAT, 3: Call.SESSION, 4: Call.STATUS}
    node.forget(Call.STATUS)
    assert node.pending == {2: Call.HEARTBEAT, 3: Call.SESSION}


def test_a_failed_status_batch_is_put_back() -> None:
    s = opened(session(), tasks=(make_task("t1"),))
    sends(s.poll(0.0), Call.STATUS)
    s.on_failure(0.1, Call.STATUS, "unavailable: no dispatcher")
    assert s.phase is Phase.WAITING and len(s.tasks.statuses) == 1
    assert s.last_end == "status batch failed: unavailable: no dispatcher"


def test_a_follower_refuses_and_the_next_manager_is_tried_after_a_backoff() -> None:
    s = session()
    s.poll(0.0)
    effects = s.on_failure(0.01, Call.SESSION, "unavailable: not the leader")
    assert isinstance(effects[0], Disconnect)
    assert s.poll(0.02) == []  # backing off
    assert s.poll(s.next_wakeup())[0] == Connect(M2)


def test_a_frame_with_only_a_new_manager_list_moves_the_next_session_there() -> None:
    """A quiet node's dispatcher sends a changed manager list in a frame of its own
    (actors/dispatcher/notices.py): the next session is opened with those managers."""
    m3 = ManagerAddress("tcp://127.0.0.1:3", b"m" * 40)
    s = opened(session())
    only_managers = SessionFrame("s1", 2.0, (m3,), False, (), ())
    assert s.on_frame(0.5, encode_frame(only_managers), wall=1000.0) == []
    s.on_frame(1.0, frame(closed="dispatcher stopped"), wall=1000.0)
    assert s.poll(s.next_wakeup())[0] == Connect(m3)


def test_every_end_is_counted_not_only_the_last() -> None:
    s = opened(session())
    sends(s.poll(2.0), Call.HEARTBEAT)
    s.poll(7.0)  # the heartbeat timed out
    s.poll(s.next_wakeup())
    s.on_failure(s.next_wakeup(), Call.SESSION, "unavailable: not the leader")
    assert s.last_end == "session stream failed: unavailable: not the leader"
    assert s.ends == {
        "heartbeat timed out": 1,
        "session stream failed: unavailable: not the leader": 1,
    }


def test_no_first_frame_in_time_ends_the_attempt() -> None:
    s = session()
    s.poll(0.0)
    assert s.next_wakeup() == 5.0
    assert isinstance(s.poll(5.0)[0], Disconnect) and s.phase is Phase.WAITING


def test_a_new_session_resends_every_status_its_full_set_does_not_hold() -> None:
    s = opened(session(), tasks=(make_task("t1"),))
    sends(s.poll(0.0), Call.STATUS)
    s.on_reply(0.1, Call.STATUS, {"accepted": 1, "refused": []})
    s.on_frame(0.2, frame(closed="dispatcher stopped"), wall=1000.0)
    assert s.phase is Phase.WAITING and len(s.tasks.statuses) == 0
    s.poll(s.next_wakeup())
    s.on_frame(1.0, frame((make_task("t1"),), full=True), wall=1001.0)
    (batch,) = sends(s.poll(1.0), Call.STATUS)
    assert batch.body["updates"][0]["status"]["state"] == TaskState.RUNNING
    # the next session's full set holds the task as the node runs it: nothing to send
    s.on_reply(1.1, Call.STATUS, {"accepted": 1, "refused": []})
    (running,) = s.tasks.current_statuses()
    s.on_frame(1.2, frame(closed="dispatcher stopped"), wall=1002.0)
    s.poll(s.next_wakeup())
    held = replace(make_task("t1"), status=running[1])
    s.on_frame(2.0, frame((held,), full=True), wall=1003.0)
    assert len(s.tasks.statuses) == 0 and sends(s.poll(2.0), Call.STATUS) == []


def test_a_removed_node_never_reconnects() -> None:
    s = opened(session())
    effects = s.on_frame(1.0, frame(closed=NODE_REMOVED), wall=1000.0)
    assert isinstance(effects[0], Disconnect)
    assert s.phase is Phase.REMOVED and s.next_wakeup() == float("inf")
    assert s.poll(100.0) == []


def test_the_stream_ending_without_a_reason_ends_the_session() -> None:
    s = opened(session())
    s.on_reply(1.0, Call.SESSION, {})
    assert s.phase is Phase.WAITING and s.last_end == "the manager ended the stream"


def test_an_undecodable_frame_ends_the_session() -> None:
    s = opened(session())
    bad = frame()
    bad["tasks"] = [{"id": 5}]
    s.on_frame(1.0, bad, wall=1000.0)
    assert s.phase is Phase.WAITING and s.last_end.startswith("undecodable session frame")


def test_frames_and_status_batches_are_counted() -> None:
    s = opened(session(), tasks=(make_task("t1"), make_task("t2")))
    assert s.frames_received == 1  # the full set
    sends(s.poll(0.0), Call.STATUS)
    assert (s.status_batches, s.status_updates) == (1, 2)
    s.on_reply(0.05, Call.STATUS, {"accepted": 2, "refused": []})
    s.on_frame(0.05, frame((make_task("t3"),)), wall=1000.0)
    s.on_frame(0.06, {"garbage": True}, wall=1000.0)  # undecodable: not counted
    assert s.frames_received == 2


def test_a_status_batch_answered_busy_keeps_the_session_and_is_sent_again_later() -> None:
    s = opened(session(), tasks=(make_task("t1"),))
    (batch,) = sends(s.poll(0.0), Call.STATUS)
    reason = "busy: endpoint 'remote' is busy: too many requests queued"
    assert s.on_failure(0.1, Call.STATUS, reason, "busy") == []
    assert s.phase is Phase.OPEN and s.ends == {} and len(s.tasks.statuses) == 1
    assert sends(s.poll(0.2), Call.STATUS) == []  # not at once: the manager is full
    (again,) = sends(s.poll(0.1 + BUSY_RETRY), Call.STATUS)
    assert again.body["updates"] == batch.body["updates"]


def test_a_heartbeat_answered_busy_is_made_again_later_and_other_errors_still_end() -> None:
    s = opened(session())
    sends(s.poll(2.0), Call.HEARTBEAT)
    assert s.on_failure(2.1, Call.HEARTBEAT, "busy: full", "busy") == []
    assert s.phase is Phase.OPEN and s.poll(2.2) == []
    sends(s.poll(2.1 + BUSY_RETRY), Call.HEARTBEAT)
    s.on_failure(2.7, Call.HEARTBEAT, "unavailable: no dispatcher", "unavailable")
    assert s.phase is Phase.WAITING
    assert s.last_end == "heartbeat failed: unavailable: no dispatcher"
