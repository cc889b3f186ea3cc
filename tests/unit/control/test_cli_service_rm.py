"""``swarmctl service rm A B...`` removes each service on its own, as ``docker service
rm`` does: one that cannot be removed is named (exit 1) and the others are still removed.
It sent them in one request, which the manager refuses whole when one is missing, so
``service rm web gone`` left web running."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from cli.ctl import parse
from cli.errors import CliError


class Recording:
    """A control connection that removes any service but ``gone``, as the manager does:
    a request naming ``gone`` is refused whole."""

    def __init__(self) -> None:
        self.removed: list[str] = []

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def request(self, type_: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        assert type_ == "control.service.rm"
        names = list((body or {})["services"])
        if "gone" in names:
            raise CliError("no such service: gone")
        self.removed += names
        return {"removed": [f"id-{n}" for n in names]}


def _run(*words: str) -> tuple[Recording, int | None]:
    _parser, args = parse(["service", "rm", *words])
    connection = Recording()
    try:
        return connection, int(args.run(args, connection, "test"))
    except CliError as exc:
        assert str(exc) == "no such service: gone"
        return connection, None


def test_a_missing_service_does_not_keep_the_others(capsys: pytest.CaptureFixture[str]) -> None:
    connection, code = _run("web", "gone", "api")
    assert code is None  # the error: exit 1
    assert connection.removed == ["web", "api"]
    assert capsys.readouterr().out.split() == ["web", "api"]


def test_json_lists_the_ids_removed(capsys: pytest.CaptureFixture[str]) -> None:
    connection, code = _run("--format", "json", "web", "api", "web")
    assert code == 0
    assert connection.removed == ["web", "api"]
    assert json.loads(capsys.readouterr().out) == ["id-web", "id-api"]
