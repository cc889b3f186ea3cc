"""Task listings over one message's limit come whole, in frames: swarmctl task ls and
service ps, and the Engine API's task list. The control endpoint here has a 64 KiB
message limit, so 600 tasks (about 190 KB of rows) stand for the 50,000 that pass the
real 16 MiB."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.control import control_handlers
from actors.engine_api.control import ControlCaller
from api.errors import RemoteError
from api.task_state import TaskState
from tests.integration.control_server import seeded_store
from tests.integration.test_ctl_service import Ctl, run_tasks
from transport.client import Client
from transport.endpoint import Endpoint

LIMIT = 64 * 1024
REPLICAS = 600


@pytest.fixture
def big(tmp_path: Path) -> Iterator[Ctl]:
    store = seeded_store()
    socket = tmp_path / "control.sock"
    endpoint = Endpoint(
        f"ipc://{socket}", control_handlers(store), name="control", max_message_size=LIMIT
    )
    endpoint.start()
    try:
        ctl = Ctl(socket, store)
        created = ctl.run(
            "service", "create", "--detach", "--name", "big", "--replicas", str(REPLICAS), "busybox"
        )
        assert created.returncode == 0, created.stderr
        run_tasks(store, "big", TaskState.RUNNING)
        yield ctl
    finally:
        endpoint.stop()


def test_swarmctl_lists_every_task_over_one_messages_limit(big: Ctl) -> None:
    rows = big.json("task", "ls")
    assert len(rows) == REPLICAS
    assert sorted(r["slot"] for r in rows) == list(range(1, REPLICAS + 1))
    assert len({r["id"] for r in big.json("service", "ps", "big")}) == REPLICAS
    quiet = big.run("service", "ps", "-q", "big")
    assert quiet.returncode == 0, quiet.stderr
    assert len(quiet.stdout.split()) == REPLICAS


def test_a_listing_asked_whole_over_the_limit_is_refused_by_name(big: Ctl) -> None:
    with Client(f"ipc://{big.socket}", timeout=10) as client, pytest.raises(RemoteError) as refused:
        client.request("control.task.ls", {})
    assert refused.value.code == "too_large"
    assert "600 rows" in refused.value.message and "stream" in refused.value.message


def test_the_engine_apis_task_list_gathers_whole_tasks_in_frames(big: Ctl) -> None:
    caller = ControlCaller(f"ipc://{big.socket}", timeout=10)
    caller.open()
    try:
        listed = asyncio.run(caller.listing("control.task.ls", {"full": True}))
    finally:
        caller.close()
    assert len(listed["tasks"]) == REPLICAS
    assert all(row["object"]["id"] == row["id"] for row in listed["tasks"])
