"""``swarmctl node ls`` (its ``*`` and ``--filter``) and ``node ps [NODE...]``
(cli/node.py, cli/node_ps.py), driven with a fake control connection of two nodes whose
control socket is m1's."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from cli.ctl import parse
from cli.errors import CliError

M1, W1 = "m1" + "0" * 23, "w1" + "0" * 23
NODES = [
    {"id": M1, "hostname": "m1", "status": "ready", "availability": "active",
     "manager_status": {"leader": True, "reachability": "reachable", "addr": ""}},
    {"id": W1, "hostname": "w1", "status": "ready", "availability": "active",
     "manager_status": None},
]  # fmt: skip


def task(task_id: str, slot: int, node_id: str, desired: str, created: float) -> dict[str, Any]:
    return {
        "id": task_id + "x" * (25 - len(task_id)), "name": f"web.{slot}", "service_id": "s1",
        "service_name": "web", "slot": slot, "node_id": node_id, "node": node_id[:2],
        "image": "busybox", "desired_state": desired, "state": desired, "message": "",
        "error": "", "timestamp": 0.0, "created_at": created, "ports": [],
    }  # fmt: skip


# web.1 ran on w1 first (failed), then on m1; web.2 runs on w1
TASKS = {
    M1: [task("new1", 1, M1, "running", 20.0)],
    W1: [task("two", 2, W1, "running", 5.0), task("old1", 1, W1, "shutdown", 10.0)],
}


class Fake:
    """Answers version (m1), node ls and task ls by node; records what was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __enter__(self) -> Fake:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def request(self, type_: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.calls.append((type_, dict(body or {})))
        if type_ == "version":
            return {"node_id": M1, "role": "manager", "version": "test"}
        assert type_ == "control.node.ls"
        return {"nodes": [dict(n) for n in NODES]}

    def rows(self, type_: str, body: Mapping[str, Any], rows_key: str) -> dict[str, Any]:
        assert rows_key == "nodes"
        return self.request(type_, body)

    def listing(self, type_: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append((type_, dict(body)))
        node = next((n["id"] for n in NODES if body["node"] in (n["id"], n["hostname"])), None)
        if node is None:
            raise CliError(f"no such node: {body['node']}")
        return {"tasks": [dict(t) for t in TASKS[node]]}


def run(*words: str) -> tuple[Fake, int]:
    _parser, args = parse(["node", *words])
    connection = Fake()
    return connection, int(args.run(args, connection, "test"))


def lines(out: str) -> Iterator[list[str]]:
    for line in out.splitlines()[1:]:
        yield line.split()


def test_node_ls_marks_the_node_of_the_control_socket(capsys: pytest.CaptureFixture[str]) -> None:
    connection, _code = run("ls")
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["ID", "HOSTNAME"]
    assert [row[:3] for row in lines(out)] == [[M1, "*", "m1"], [W1, "w1", "Ready"]]
    assert connection.calls == [("control.node.ls", {}), ("version", {})]
    run("ls", "--format", "json")
    assert [n["self"] for n in json.loads(capsys.readouterr().out)] == [True, False]
    connection, _code = run("ls", "-q")  # ids only: who this node is does not matter
    assert capsys.readouterr().out.split() == [M1, W1]
    assert connection.calls == [("control.node.ls", {})]


def test_node_ls_sends_its_filters_checked(capsys: pytest.CaptureFixture[str]) -> None:
    connection, _code = run("ls", "-f", "role=manager", "--filter", "node.label=zone=a")
    assert connection.calls[0] == (
        "control.node.ls",
        {"filters": ["role=manager", "node.label=zone=a"]},
    )
    for bad, said in (
        ("colour=red", "unknown key 'colour'"),
        ("role=boss", "expected manager or worker"),
        ("membership=maybe", "expected accepted or pending"),
    ):
        with pytest.raises(SystemExit) as exited:
            parse(["node", "ls", "--filter", bad])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert f"invalid filter {bad!r}" in err and said in err, err


def test_node_ps_lists_this_node_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    connection, code = run("ps")
    assert code == 0
    assert connection.calls == [("version", {}), ("control.task.ls", {"node": M1})]
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE", "CURRENT", "STATE", "ERROR", "PORTS",
    ]  # fmt: skip
    assert [row[:2] for row in lines(out)] == [["new1xxxxxxxx", "web.1"]]


def test_node_ps_of_several_nodes_groups_a_slot_wherever_it_ran(
    capsys: pytest.CaptureFixture[str],
) -> None:
    connection, _code = run("ps", "w1", "self", "m1", "-f", "label=tier")
    assert [body for _type, body in connection.calls] == [
        {},  # version: self was named
        {"node": "w1", "filters": ["label=tier"]},
        {"node": M1, "filters": ["label=tier"]},
        {"node": "m1", "filters": ["label=tier"]},
    ]
    # web.1's current task (on m1) first, its history (on w1) under it; each task once
    assert [row[:3] for row in lines(capsys.readouterr().out)] == [
        ["new1xxxxxxxx", "web.1", "busybox"],
        ["old1xxxxxxxx", "\\_", "web.1"],
        ["twoxxxxxxxxx", "web.2", "busybox"],
    ]
    run("ps", "-q", "--no-trunc", "w1")
    assert capsys.readouterr().out.split() == ["old1" + "x" * 21, "two" + "x" * 22]


def test_node_ps_shows_what_it_found_then_the_refusals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _parser, args = parse(["node", "ps", "ghost", "w1", "spook"])
    with pytest.raises(CliError) as refused:
        args.run(args, Fake(), "test")
    assert str(refused.value) == "no such node: ghost\nno such node: spook"  # as docker
    assert len(capsys.readouterr().out.splitlines()) == 3  # the header and w1's two tasks
    _parser, args = parse(["node", "ps", "ghost"])
    with pytest.raises(CliError):
        args.run(args, Fake(), "test")
    assert capsys.readouterr().out == ""  # nothing found: no empty table


def test_node_ps_refuses_a_bad_filter_before_asking(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("node=w1", "desired-state=asleep", "name"):
        with pytest.raises(SystemExit) as exited:
            parse(["node", "ps", "--filter", bad])
        assert exited.value.code == 2
        assert f"invalid filter {bad!r}" in capsys.readouterr().err
