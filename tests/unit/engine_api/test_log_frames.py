"""Docker's multiplexed log stream (actors/engine_api/log_frames.py)."""

from __future__ import annotations

import struct

import pytest

from actors.engine_api.errors import EngineError
from actors.engine_api.log_frames import error_frame, log_frame, parse_log_query
from actors.engine_api.logs import subscription_lost

CONTEXT = {"node_id": "n1", "service_id": "s1", "task_id": "t1"}
RECORD = {"task_id": "t1", "ts": 1_700_000_000_000_000_001, "stream": "stdout", "data": b"hi"}


def split(frame: bytes) -> tuple[int, bytes]:
    stream, size = struct.unpack(">BxxxL", frame[:8])
    assert size == len(frame) - 8
    return stream, frame[8:]


def test_the_clis_query_gives_details_and_timestamps() -> None:
    query = parse_log_query(
        {"stdout": "1", "stderr": "1", "details": "1", "timestamps": "1", "tail": "all"}
    )
    frame = log_frame(query, RECORD, CONTEXT)
    assert frame is not None
    stream, payload = split(frame)
    assert stream == 1
    assert payload == (
        b"2023-11-14T22:13:20.000000001Z com.docker.swarm.node.id=n1,"
        b"com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 hi\n"
    )
    err = log_frame(query, {**RECORD, "stream": "stderr", "data": b"oops\n"}, CONTEXT)
    assert err is not None and split(err)[0] == 2


def test_streams_tail_since_and_refusals() -> None:
    only_err = parse_log_query({"stderr": "true", "tail": "5", "since": "1700000000.5"})
    assert log_frame(only_err, RECORD, CONTEXT) is None
    assert only_err.options() == {"follow": False, "tail": 5, "since": 1_700_000_000_500_000_000}
    plain = parse_log_query({"stdout": "1", "follow": "1"})
    frame = log_frame(plain, RECORD, CONTEXT)
    assert frame is not None and split(frame)[1] == b"hi\n"
    assert plain.options()["follow"] is True and plain.options()["tail"] == -1
    with pytest.raises(EngineError, match="at least one stream"):
        parse_log_query({})
    with pytest.raises(EngineError, match="invalid tail"):
        parse_log_query({"stdout": "1", "tail": "many"})


def test_a_stream_that_fails_ends_with_dockerds_error_frame() -> None:
    """Stream 3 (dockerd's system error): the docker CLI shows it and exits 1, where a
    stream that simply ended would read as complete."""
    stream, payload = split(error_frame("no leader"))
    assert (stream, payload) == (3, b"Error grabbing logs: no leader\n")
    assert error_frame("no leader", raw=True) == b"Error grabbing logs: no leader\n"


def test_a_leader_changes_refusals_take_a_new_subscription() -> None:
    for code in ("unavailable", "not_leader", "unknown_subscription", "timeout"):
        assert subscription_lost(EngineError(503, "x", code)), code
    for code in ("not_found", "invalid_argument", ""):
        assert not subscription_lost(EngineError(400, "x", code)), code
