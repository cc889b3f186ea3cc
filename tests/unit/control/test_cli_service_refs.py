"""``swarmctl service ps|inspect A B...``: a service that cannot be found is named on
stderr (exit 1) after the others are shown, as ``docker service ps|inspect`` do; it hid
them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from cli.ctl import parse
from cli.errors import CliError


class Listing:
    """A control connection knowing the service ``web`` with one running task."""

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def listing(self, type_: str, body: Mapping[str, Any]) -> dict[str, Any]:
        assert type_ == "control.service.ps"
        if body["service"] != "web":
            raise CliError(f"no such service: {body['service']}")
        task = {
            "id": "t1" * 12, "name": "web.1", "service_id": "s1", "service_name": "web",
            "slot": 1, "node": "n1", "node_id": "n1", "image": "busybox",
            "desired_state": "running", "state": "running", "timestamp": 0.0, "created_at": 0.0,
            "message": "", "err": "",
        }  # fmt: skip
        return {"tasks": [task], "service": {"update_status": None}}

    def request(self, type_: str, body: Mapping[str, Any]) -> dict[str, Any]:
        assert type_ == "control.service.inspect"
        if body["service"] != "web":
            raise CliError(f"no such service: {body['service']}")
        return {"service": {"id": "s1"}, "summary": {}}


def test_a_missing_service_does_not_hide_the_others(capsys: pytest.CaptureFixture[str]) -> None:
    _parser, args = parse(["service", "ps", "-q", "gone", "web"])
    with pytest.raises(CliError, match=r"^no such service: gone$"):
        args.run(args, Listing(), "test")
    assert capsys.readouterr().out.split() == ["t1t1t1t1t1t1"]


def test_only_missing_services_print_no_table(capsys: pytest.CaptureFixture[str]) -> None:
    _parser, args = parse(["service", "ps", "gone", "lost"])
    with pytest.raises(CliError) as refused:
        args.run(args, Listing(), "test")
    assert str(refused.value) == "no such service: gone\nno such service: lost"  # as docker
    assert capsys.readouterr().out == ""


def test_inspect_shows_the_services_found(capsys: pytest.CaptureFixture[str]) -> None:
    _parser, args = parse(["service", "inspect", "--format", "json", "web", "gone"])
    with pytest.raises(CliError, match=r"^no such service: gone$"):
        args.run(args, Listing(), "test")
    assert json.loads(capsys.readouterr().out) == [{"id": "s1"}]
