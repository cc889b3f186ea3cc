"""``swarmctl service inspect`` takes several services, as ``docker service inspect``
does (cli/service_inspect.py), driven with a recording control connection."""

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
        assert type_ == "control.service.inspect"
        name = str((body or {})["service"])
        self.asked.append(name)
        return {"service": {"id": f"id-{name}"}, "summary": {}}


def test_inspect_shows_every_service_named(capsys: pytest.CaptureFixture[str]) -> None:
    _parser, args = parse(["service", "inspect", "--format", "json", "web", "db"])
    connection = Recording()
    assert args.run(args, connection, "test") == 0
    assert connection.asked == ["web", "db"]
    assert json.loads(capsys.readouterr().out) == [{"id": "id-web"}, {"id": "id-db"}]
