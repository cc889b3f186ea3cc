"""``swarmctl service inspect`` and ``network inspect`` take several objects, as ``docker
service inspect`` and ``docker network inspect`` do (cli/service_inspect.py,
cli/network.py), driven with a recording control connection."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from cli.ctl import parse


class Recording:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def request(self, type_: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        kind = type_.split(".")[1]  # control.KIND.inspect
        name = str((body or {})[kind])
        self.asked.append(name)
        summary = {"id": f"id-{name}", "name": name, "driver": "bridge", "internal": False,
                   "labels": {}, "used_by": []}  # fmt: skip
        return {kind: {"id": f"id-{name}"}, "summary": summary}


def test_inspect_shows_every_service_named(capsys: pytest.CaptureFixture[str]) -> None:
    _parser, args = parse(["service", "inspect", "--format", "json", "web", "db"])
    connection = Recording()
    assert args.run(args, connection, "test") == 0
    assert connection.asked == ["web", "db"]
    assert json.loads(capsys.readouterr().out) == [{"id": "id-web"}, {"id": "id-db"}]


def test_network_inspect_shows_every_network_named(capsys: pytest.CaptureFixture[str]) -> None:
    _parser, args = parse(["network", "inspect", "front", "back"])
    connection = Recording()
    assert args.run(args, connection, "test") == 0
    assert connection.asked == ["front", "back"]
    blocks = capsys.readouterr().out.split("\n\n")
    assert [b.splitlines()[1] for b in blocks] == ["Name     : front", "Name     : back"]
