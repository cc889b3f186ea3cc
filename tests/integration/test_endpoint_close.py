"""An endpoint that stops delivers the replies queued before it was told to stop: a node
answers ``cluster leave`` and then stops its endpoints at once (actors/node/leaving.py),
with no grace to guess."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from actors.node import leaving
from actors.node.leaving import LeaveDesk, LeaveOutcome, LeavingNode, leave_handler
from api.enums import NodeRole
from api.schema.control import CONTROL_CLUSTER_LEAVE
from tests.integration.transport_server import ECHO
from tests.support.waiting import wait_for
from transport import Client, Endpoint, Request

# more than the socket buffers hold: the reply is still on its way when the stop comes
TEXT = "x" * (4 * 1024 * 1024)
ROUNDS = 5


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # ipc paths are limited to about 100 bytes; pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="sn-") as d:
        yield Path(d)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_reply_queued_before_the_stop_reaches_its_client(short_dir: Path, round_: int) -> None:
    answered = threading.Event()

    def answer_then_stop(request: Request) -> Mapping[str, Any] | None:
        request.reply({"n": request.body["n"], "text": TEXT})
        answered.set()  # as the leave handler's ``replied``: the endpoint stops now
        return None

    endpoint = Endpoint(f"ipc://{short_dir / 'c.sock'}", {ECHO.name: answer_then_stop})
    endpoint.start()
    client = Client(endpoint.address, timeout=10.0)
    try:
        reply = client.request_async(ECHO.name, {"n": round_})
        assert answered.wait(10.0)
        endpoint.stop()
        body = reply.result(timeout=10.0)
        assert body["n"] == round_ and len(body["text"]) == len(TEXT)
    finally:
        client.close()
        endpoint.stop()


def test_a_leave_answered_then_stopped_at_once_gets_its_answer(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner's side of ``cluster leave``: once the handler has queued the answer,
    the control endpoint stops with no grace; the answer (here naming many task
    directories, more than the socket buffers hold) still reaches swarmctl."""
    removed = tuple(f"/dev/shm/swarmnode/n1/task{i:05d}-{'d' * 1000}" for i in range(4000))
    monkeypatch.setattr(leaving, "leave_swarm", lambda *_a, **_k: LeaveOutcome("n1", removed))
    stop = threading.Event()
    desk = LeaveDesk(lambda: None, stop.is_set)
    handlers = leave_handler(desk.begin, lambda _force: None, 30.0)
    endpoint = Endpoint(f"ipc://{short_dir / 'control.sock'}", handlers, name="control")
    endpoint.start()
    client = Client(endpoint.address, timeout=10.0)
    try:
        answer = client.request_async(CONTROL_CLUSTER_LEAVE.name, {"force": False})
        request = wait_for(lambda: desk.pending, "the leave handed to the runner")
        assert request is not None
        node = cast(LeavingNode, SimpleNamespace(role=NodeRole.WORKER))  # steps stubbed
        desk.carry_out(
            request, node, stop=stop, task_timeout=1.0, raft_timeout=1.0, reply_wait=10.0
        )
        endpoint.stop()  # as the runner's tree stop, at once
        body = answer.result(timeout=10.0)
        assert body["node_id"] == "n1" and tuple(body["removed"]) == removed
    finally:
        client.close()
        endpoint.stop()
