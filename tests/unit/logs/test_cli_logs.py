"""swarmctl's log reader: prefixes as ``docker service logs``, and a follow that subscribes
again after a leader change (cli/logs.py), driven with a scripted control socket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from api.errors import RemoteError, RequestTimeout
from cli.errors import CliError
from cli.logs import LineFormat, LogFollower

CTX = {"id": "abcdefghijklmnopqrstuvwxy", "service": "web", "slot": 2, "node": "w1"}


def test_prefixes_follow_docker_service_logs() -> None:
    record = {"task_id": CTX["id"], "ts": 0, "stream": "stdout", "data": b"hi\n"}
    assert LineFormat().line(record, CTX) == b"web.2.abcdefghijkl@w1    | hi\n"
    assert LineFormat(trunc=False).prefix(CTX, CTX["id"]) == f"web.2.{CTX['id']}@w1"
    assert LineFormat(task_ids=False).prefix(CTX, CTX["id"]) == "web.2@w1"
    assert LineFormat(raw=True, timestamps=True).line(record, CTX) == (
        b"1970-01-01T00:00:00.000000000Z hi\n"
    )
    global_task = {**CTX, "slot": 0, "node_id": "nodeid"}
    assert LineFormat(task_ids=False).prefix(global_task, CTX["id"]) == "web.nodeid@w1"


class Script:
    """Replies (or errors) in order, recording the calls."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.calls: list[tuple[str, Mapping[str, Any]]] = []

    def __call__(self, type_: str, body: Mapping[str, Any], _timeout: float) -> dict[str, Any]:
        self.calls.append((type_, body))
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return dict(step)


def batch(seq: int, *ts: int, done: bool = False) -> dict[str, Any]:
    records = [{"task_id": "t", "ts": t, "stream": "stdout", "data": b"x"} for t in ts]
    return {"seq": seq, "records": records, "tasks": [], "notices": [], "dropped": 0, "done": done}


def test_a_follow_subscribes_again_from_after_its_last_line_and_says_so() -> None:
    script = Script(
        {"subscription_id": "one"},
        batch(2, 10, 20),
        RequestTimeout("the leader died"),
        RemoteError("unavailable", "no leader yet"),
        {"subscription_id": "two"},
        batch(1, 21, done=True),
    )
    written: list[int] = []
    notices: list[str] = []
    follower = LogFollower(
        script,
        {"services": ["web"]},
        {"follow": True, "tail": 5, "since": 0},
        lambda record, _ctx: written.append(int(record["ts"])),
        notices.append,
        sleep=lambda _s: None,
    )
    follower.run()
    assert written == [10, 20, 21]
    assert any("lines may have been missed" in n for n in notices)
    resubscribe = [body for kind, body in script.calls if kind == "control.logs.subscribe"][-1]
    assert resubscribe["options"] == {"follow": True, "tail": -1, "since": 21}
    reads = [body for kind, body in script.calls if kind == "control.logs.read"]
    assert [(r["subscription_id"], r["after"]) for r in reads] == [
        ("one", 0),
        ("one", 2),
        ("two", 0),
    ]


def test_a_refused_subscription_says_what_the_manager_said_as_other_commands_do() -> None:
    """``service logs nosuch`` printed ``not_found: no such service: nosuch``: the error
    code was shown where every other command shows the manager's message alone."""
    follower = LogFollower(
        Script(RemoteError("not_found", "no such service: nosuch")),
        {"services": ["nosuch"]},
        {"follow": False, "tail": -1, "since": 0},
        lambda _record, _ctx: None,
        lambda _notice: None,
        sleep=lambda _s: None,
    )
    with pytest.raises(CliError) as raised:
        follower.run()
    assert str(raised.value) == "no such service: nosuch"


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), BrokenPipeError()])
def test_a_reader_stopped_before_the_end_closes_its_subscription(stop: BaseException) -> None:
    """Ctrl-C or a closed pipe: the broker is told at once, rather than keeping the
    subscription (and its nodes sending) until its idle timeout."""

    def write(_record: Mapping[str, Any], _ctx: Mapping[str, Any] | None) -> None:
        raise stop

    script = Script({"subscription_id": "one"}, batch(1, 10), {"closed": True})
    follower = LogFollower(
        script,
        {"services": ["web"]},
        {"follow": True, "tail": -1, "since": 0},
        write,
        lambda _notice: None,
        sleep=lambda _s: None,
    )
    with pytest.raises(type(stop)):
        follower.run()
    assert script.calls[-1] == ("control.logs.close", {"subscription_id": "one"})


def test_a_subscription_the_broker_completed_is_not_closed_again() -> None:
    script = Script({"subscription_id": "one"}, batch(1, 10, done=True))
    follower = LogFollower(
        script,
        {"services": ["web"]},
        {"follow": False, "tail": -1, "since": 0},
        lambda _record, _ctx: None,
        lambda _notice: None,
        sleep=lambda _s: None,
    )
    follower.run()
    assert [kind for kind, _ in script.calls] == ["control.logs.subscribe", "control.logs.read"]


class LateReply:
    """A subscribe's reply that was still on its way when the reader was stopped: the
    first wait is interrupted, a second one gets it (or it never comes)."""

    def __init__(self, stop: BaseException, reply: dict[str, Any] | None) -> None:
        self.stop, self.reply = stop, reply
        self.waits: list[float | None] = []

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        self.waits.append(timeout)
        if len(self.waits) == 1:
            raise self.stop
        if self.reply is None:
            raise TimeoutError
        return self.reply


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), SystemExit(143)])
@pytest.mark.parametrize("late", [{"subscription_id": "one"}, None])
def test_a_reader_stopped_before_its_subscription_id_came_still_closes_it(
    stop: BaseException, late: dict[str, Any] | None
) -> None:
    """Ctrl-C (or SIGTERM) while the subscribe was unanswered: the reader waits briefly for
    the id, and closes that subscription rather than leaving it to the idle timeout."""
    script = Script({"closed": True})
    answer = LateReply(stop, late)
    follower = LogFollower(
        script,
        {"services": ["web"]},
        {"follow": True, "tail": -1, "since": 0},
        lambda _record, _ctx: None,
        lambda _notice: None,
        sleep=lambda _s: None,
        call_async=lambda _type, _body, _timeout: answer,  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(type(stop)):
        follower.run()
    assert answer.waits == [None, 2.0]
    closes = [body for kind, body in script.calls if kind == "control.logs.close"]
    assert closes == ([{"subscription_id": "one"}] if late else [])
