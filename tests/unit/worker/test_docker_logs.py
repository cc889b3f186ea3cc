"""The engine's log frames read apart by stream, and the query the engine is sent."""

from __future__ import annotations

from actors.worker.executors.docker_logs import log_params, parse_frame
from actors.worker.executors.output import STDERR, STDOUT, OutputLine, OutputQuery
from api.timestamps import parse_rfc3339_ns


def test_a_frame_is_its_stream_time_and_line() -> None:
    stamp = "2024-05-01T10:00:00.000000123Z"
    assert parse_frame(1, f"{stamp} hello\n".encode()) == OutputLine(
        parse_rfc3339_ns(stamp), STDOUT, b"hello\n"
    )
    assert parse_frame(2, f"{stamp} \xff oops\n".encode("latin-1")).stream == STDERR


def test_frames_without_a_time_or_of_stdin_are_skipped() -> None:
    assert parse_frame(1, b"no-time-here\n") is None
    assert parse_frame(1, b"garbage line\n") is None
    assert parse_frame(0, b"2024-05-01T10:00:00Z stdin\n") is None


def test_the_query_goes_to_the_engine_as_it_is() -> None:
    assert log_params(OutputQuery()) == {
        "stdout": 1,
        "stderr": 1,
        "timestamps": 1,
        "follow": 0,
        "tail": "all",
    }
    params = log_params(OutputQuery(since=1_700_000_000_000_000_005, tail=10, follow=True))
    assert params["since"] == "1700000000.000000005"
    assert (params["tail"], params["follow"]) == ("10", 1)
