"""The web view's log tail: read through the control API's log calls until the broker is
done, bounded in lines, time and number at once; errors become a panel message."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from actors.web.logs import Call, ControlLogTail, read_tail
from api.errors import RemoteError, RequestTimeout


class Broker:
    """Answers the calls as the control API would, from a script of read replies."""

    def __init__(self, reads: list[dict[str, Any]], clock: list[float] | None = None) -> None:
        self.reads = reads
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.clock = clock

    def __call__(self, type_: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        self.calls.append((type_, dict(body)))
        if type_ == "control.logs.subscribe":
            return {"subscription_id": "sub1"}
        if self.clock is not None:
            self.clock[0] += float(body["wait"])
        return self.reads.pop(0)


def record(i: int, stream: str = "stdout") -> dict[str, Any]:
    return {"task_id": "t1", "ts": 1_000 + i, "stream": stream, "data": f"line {i}\n".encode()}


def reply(
    seq: int, records: list[dict[str, Any]], *, done: bool = False, **extra: Any
) -> dict[str, Any]:
    return {
        "seq": seq,
        "records": records,
        "tasks": [],
        "notices": [],
        "dropped": 0,
        "done": done,
        **extra,
    }


def test_a_tail_reads_until_done_and_keeps_the_last_lines() -> None:
    broker = Broker(
        [
            reply(2, [record(1), record(2, "stderr")]),
            reply(3, [record(3)], done=True, notices=["node w1 did not answer"]),
        ]
    )
    answer = read_tail(broker, "t1", 2, clock=lambda: 0.0, deadline=10.0)
    assert answer["available"] is True
    assert [(line["line"], line["stream"]) for line in answer["lines"]] == [
        ("line 2", "stderr"),
        ("line 3", "stdout"),
    ]
    assert answer["notices"] == ["node w1 did not answer"]
    subscribe, first, second = broker.calls
    assert subscribe == (
        "control.logs.subscribe",
        {
            "selector": {"tasks": ["t1"]},
            "options": {"follow": False, "tail": 2, "since": 0},
        },
    )
    assert (first[1]["after"], second[1]["after"]) == (0, 2)


def test_a_tail_that_does_not_end_shows_what_came_by_the_deadline() -> None:
    now = [0.0]
    broker = Broker([reply(1, [record(1)]), reply(1, []), reply(1, []), reply(1, [])], clock=now)
    answer = read_tail(broker, "t1", 10, clock=lambda: now[0], deadline=5.0)
    assert [line["line"] for line in answer["lines"]] == ["line 1"]
    assert "did not end in time" in answer["notices"][-1]


class Connection:
    def __init__(self, call: Call) -> None:
        self.call = call

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Call]:
        yield self.call


def test_errors_become_the_panels_message() -> None:
    def refuse(type_: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        raise RemoteError("unavailable", "no leader")

    tail = ControlLogTail(Connection(refuse), threading.BoundedSemaphore(1), clock=lambda: 0.0)
    answer = tail.tail("t1", 10)
    assert answer["available"] is False and "no leader" in answer["message"]

    def silent(type_: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        raise RequestTimeout("no reply")

    answer = ControlLogTail(
        Connection(silent), threading.BoundedSemaphore(1), clock=lambda: 0.0
    ).tail("t1", 1)
    assert answer["available"] is False and "did not answer" in answer["message"]


def test_tails_at_once_are_bounded() -> None:
    slots = threading.BoundedSemaphore(1)
    slots.acquire()  # one tail is being read
    tail = ControlLogTail(Connection(Broker([])), slots, clock=lambda: 0.0)
    assert "too many" in tail.tail("t1", 10)["message"]
