"""``swarmctl version`` says when the manager is locked (cli/version.py): it answered
as any manager, so nothing told why every other command was refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from cli.ctl import parse


class Node:
    def __init__(self, **extra: Any) -> None:
        self.reply = {"node_id": "n1", "role": "manager", "version": "1.0", **extra}

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def request(self, type_: str, _body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        assert type_ == "version"
        return dict(self.reply)


def version(node: Node, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    _parser, args = parse(["version", *flags])
    assert args.run(args, node, "1.0") == 0
    return capsys.readouterr().out


def test_a_locked_manager_is_shown_locked(capsys: pytest.CaptureFixture[str]) -> None:
    out = version(Node(locked=True), capsys)
    assert " Locked:   yes (run swarmctl unlock)\n" in out
    assert json.loads(version(Node(locked=True), capsys, "--format", "json"))["server"] == {
        "node_id": "n1", "role": "manager", "version": "1.0", "locked": True,
    }  # fmt: skip


def test_an_unlocked_node_shows_no_lock(capsys: pytest.CaptureFixture[str]) -> None:
    assert "Locked" not in version(Node(), capsys)
    assert "locked" not in json.loads(version(Node(), capsys, "--format", "json"))["server"]
