"""An agent session's calls as data (actors/worker/session_calls.py): what heartbeats and
status batches carry, how frames and heartbeat replies are read, which failures end the
session."""

from __future__ import annotations

import pytest

from actors.dispatcher.core import NODE_REMOVED
from actors.dispatcher.spec_tables import HeldSpecs
from actors.dispatcher.tls_report import TLS_FIELD, parse_tls_report
from actors.dispatcher.wire import ManagerAddress, SessionFrame, encode_frame
from actors.worker.session_calls import (
    Call,
    SessionEnded,
    closed_reason,
    heartbeat_body,
    keeps_session,
    period_and_frames,
    read_frame,
    removes_node,
    status_body,
)
from api.objects import NodeTLSInfo, TaskStatus
from api.task_state import TaskState
from tests.unit.worker.helpers import make_task

M1 = ManagerAddress("tcp://10.0.0.1:4242", b"1" * 40)
TLS = NodeTLSInfo(("root",), b"subject", b"key")


def test_a_heartbeat_names_the_session_and_carries_a_tls_report_only_when_given() -> None:
    assert heartbeat_body("n1", "s1", None) == {"node_id": "n1", "session_id": "s1"}
    body = heartbeat_body("n1", "s1", TLS)
    assert parse_tls_report(body) == TLS and body[TLS_FIELD]


def test_a_status_batch_carries_its_updates() -> None:
    body = status_body("n1", "s1", [("t1", TaskStatus(state=TaskState.RUNNING))])
    assert (body["node_id"], body["session_id"]) == ("n1", "s1")
    assert [u["task_id"] for u in body["updates"]] == ["t1"]


def test_a_heartbeat_reply_names_the_period_and_the_frames_streamed() -> None:
    assert period_and_frames({"period": 5, "frames": 3}) == (5.0, 3)
    assert period_and_frames({"period": 2.5}) == (2.5, 0)  # a manager that counts none


def test_a_frame_is_read_against_the_sessions_specs_and_a_bad_one_ends_the_session() -> None:
    body = encode_frame(SessionFrame("s1", 5.0, (M1,), True, (make_task("t1"),), ()))
    frame = read_frame(body, HeldSpecs())
    assert [t.id for t in frame.tasks] == ["t1"] and closed_reason(frame) is None
    with pytest.raises(SessionEnded, match="undecodable session frame"):
        read_frame({"garbage": True}, HeldSpecs())


def test_a_closing_frame_says_why_and_whether_the_node_was_removed() -> None:
    body = encode_frame(SessionFrame("s1", 5.0, (M1,), False, (), (), NODE_REMOVED))
    reason = closed_reason(read_frame(body, HeldSpecs()))
    assert reason == f"the manager closed the session: {NODE_REMOVED}" and removes_node(reason)
    assert not removes_node(Call.HEARTBEAT.failed("unavailable: not the leader"))


@pytest.mark.parametrize(
    ("call", "busy", "timed_out", "keeps"),
    [
        (Call.HEARTBEAT, True, False, True),
        (Call.STATUS, True, False, True),
        (Call.STATUS, False, True, True),  # the heartbeat says whether the manager is there
        (Call.HEARTBEAT, False, True, False),
        (Call.HEARTBEAT, False, False, False),
        (Call.STATUS, False, False, False),
        (Call.SESSION, True, False, False),
    ],
)
def test_only_busy_calls_and_late_status_batches_keep_the_session(
    call: Call, busy: bool, timed_out: bool, keeps: bool
) -> None:
    assert keeps_session(call, busy=busy, timed_out=timed_out) is keeps


def test_a_failed_call_names_itself_in_the_reason() -> None:
    assert Call.SESSION.failed("x") == "session stream failed: x"
    assert Call.HEARTBEAT.failed("x") == "heartbeat failed: x"
    assert Call.STATUS.failed("x") == "status batch failed: x"
