"""Rows (api/codec_rows.py): a task's row holds what its map holds, in the layout's order,
and is built by one generated function (its nested rows read inline)."""

from __future__ import annotations

import sys
from dataclasses import replace
from types import FrameType
from typing import Any

import pytest

from actors.store.sharing import NO_LABELS
from actors.store.sharing import SharedStrings as Strings
from actors.store.task_rows import TASK_ROWS
from api.codec_fast import Invalid
from api.codec_objects import encode
from api.enums import PortProtocol, PublishMode
from api.objects import ContainerStatus, Meta, Task, TaskStatus
from api.specs import PortConfig, TaskSpec
from api.task_state import TaskState

_PORTS = (PortConfig("web", PortProtocol.UDP, 80, 8080, PublishMode.HOST),)


def _task(container: ContainerStatus | None, ports: tuple[PortConfig, ...], labels: Any) -> Task:
    status = TaskStatus(
        timestamp=5.5,
        state=TaskState.RUNNING,
        message="started",
        err="",
        container_status=container,
        port_status=ports,
        started_at=6.5,
    )
    return Task(
        id="t1",
        meta=Meta(version=7, created_at=1.5, updated_at=2.5),
        spec=TaskSpec(),
        service_id="s1",
        service_name="web",
        slot=3,
        node_id="n1",
        desired_state=TaskState.RUNNING,
        status=status,
        spec_version=2,
        labels=labels,
        job_iteration=4,
    )


CASES = [
    pytest.param(ContainerStatus("c" * 64, 42, 0), _PORTS, {"a": "b"}, id="every-part"),
    pytest.param(None, (), {}, id="no-container-no-ports-no-labels"),
    pytest.param(ContainerStatus("c1", 1, 137), (), {}, id="container-only"),
]


@pytest.mark.parametrize(("container", "ports", "labels"), CASES)
def test_a_task_row_holds_its_map_in_the_layouts_order(
    container: ContainerStatus | None, ports: tuple[PortConfig, ...], labels: Any
) -> None:
    t = _task(container, ports, labels)
    row = TASK_ROWS.encode(t, 9)
    assert TASK_ROWS.as_map(row, TASK_ROWS.layout) == {**encode(t), "spec": 9}
    assert TASK_ROWS.decode(row, t.spec) == t


@pytest.mark.parametrize(("container", "ports", "labels"), CASES)
def test_a_status_row_alone_is_the_one_nested_in_a_task_row(
    container: ContainerStatus | None, ports: tuple[PortConfig, ...], labels: Any
) -> None:
    t = _task(container, ports, labels)
    assert TASK_ROWS.encoder(TaskStatus)(t.status) == TASK_ROWS.encode(t, 0)[8]


def _python_calls(fn: Any, *args: Any) -> list[str]:
    calls: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return calls


def test_a_task_row_is_built_in_one_call() -> None:
    # a snapshot builds 100,000 of them: each call of a nested row's encoder (meta,
    # status, container status, the empty port statuses and labels) was a fifth of it
    t = _task(ContainerStatus("c1", 1, 0), (), {})
    assert _python_calls(TASK_ROWS.encode, t, 0) == ["encode_row"]


def test_a_task_row_is_read_in_one_call() -> None:
    # a restore reads 100,000 of them: its meta, status and container status were calls
    # of their own, and so were its floats and enumerations
    t = _task(ContainerStatus("c1", 1, 0), _PORTS, {"a": "b"})
    row = TASK_ROWS.encode(t, 0)
    calls = _python_calls(TASK_ROWS.decode, row, t.spec)
    assert calls.count("decode_row") == 1 and "decode_dc" in calls  # the port: not a row
    assert _python_calls(TASK_ROWS.decode, TASK_ROWS.encode(_task(None, (), {}), 0), t.spec) == [
        "decode_row"
    ]


@pytest.mark.parametrize(("container", "ports", "labels"), CASES)
def test_a_shared_decode_holds_the_given_strings_and_empty_map(
    container: ContainerStatus | None, ports: tuple[PortConfig, ...], labels: Any
) -> None:
    t = _task(container, ports, labels)
    row = TASK_ROWS.encode(t, 0)
    strings = Strings()
    held = {s: strings[s] for s in ("s1", "web", "n1", "started")}
    shared = TASK_ROWS.decode_shared(row, t.spec, strings)
    assert shared == t
    assert shared.service_id is held["s1"] and shared.node_id is held["n1"]
    assert shared.service_name is held["web"] and shared.status.message is held["started"]
    assert (shared.labels is NO_LABELS) == (not labels)


def test_the_layout_is_the_same_in_every_process() -> None:
    # a snapshot's header and an entry's hold it: a set's order varies with the hash seed
    assert list(TASK_ROWS.layout) == sorted(TASK_ROWS.layout)


def _newer_layout() -> dict[str, list[str]]:
    """A newer writer's: a field more in Task and TaskStatus, Task's fields reversed, and
    TaskStatus without ``started_at`` (an older writer's lack, at once)."""
    layout = {name: list(fields) for name, fields in TASK_ROWS.layout.items()}
    layout["Task"] = [*reversed(layout["Task"]), "restart_budget"]
    layout["TaskStatus"] = [f for f in layout["TaskStatus"] if f != "started_at"] + ["health"]
    return layout


def _written_with(layout: dict[str, list[str]], task: Task, spec_ref: int) -> list[Any]:
    """``task``'s row as a writer of ``layout`` writes it (its new fields' values set)."""
    own = TASK_ROWS.as_map(TASK_ROWS.encode(task, spec_ref), TASK_ROWS.layout)

    def row(cls: str, values: dict[str, Any]) -> list[Any]:
        return [values.get(name) for name in layout[cls]]

    status = {**own["status"], "health": "healthy"}
    if status["container_status"] is not None:
        status["container_status"] = row("ContainerStatus", status["container_status"])
    meta, status_row = row("Meta", own["meta"]), row("TaskStatus", status)
    return row("Task", {**own, "restart_budget": 3, "meta": meta, "status": status_row})


@pytest.mark.parametrize(("container", "ports", "labels"), CASES)
def test_a_row_of_another_layout_is_reordered_into_this_ones(
    container: ContainerStatus | None, ports: tuple[PortConfig, ...], labels: Any
) -> None:
    """A rolling upgrade's rows: those of a newer (or older) writer's layout are read as
    this version's own, without a map: the fields this version lacks dropped, those the
    writer lacked at their defaults."""
    task = _task(container, ports, labels)
    layout = _newer_layout()
    translate = TASK_ROWS.translator(layout)
    assert translate is not None
    written = _written_with(layout, task, 0)
    expected = replace(task, status=replace(task.status, started_at=0.0))
    assert TASK_ROWS.decode(translate(written), task.spec) == expected
    with pytest.raises(Invalid):
        translate([*written, "one more"])


def test_a_layout_that_cannot_be_reordered_is_read_as_maps() -> None:
    """A required field or a row class the writer lacks, or a malformed layout: None."""
    layout = _newer_layout()
    for required in ("id", "spec"):
        lacking = {**layout, "Task": [f for f in layout["Task"] if f != required]}
        assert TASK_ROWS.translator(lacking) is None
    assert TASK_ROWS.translator({k: v for k, v in layout.items() if k != "Meta"}) is None
    assert TASK_ROWS.translator({**layout, "Task": "id"}) is None
    assert TASK_ROWS.translator([1]) is None
