"""``swarmctl stack services STACK`` prints ``service ls``'s columns for the stack's
services, PORTS included (as ``docker stack services`` does); it left PORTS out, so a
stack's published ports showed only in ``service ls``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from cli.ctl import parse

WEB = {
    "id": "ebkceek9scln0000000000000",
    "name": "shop_web",
    "mode": "replicated",
    "replicas_desired": 2,
    "replicas_running": 2,
    "image": "swarmnode-test:busybox",
    "labels": {"com.docker.stack.namespace": "shop"},
    "ports": [
        {"published_port": 8080, "target_port": 80, "protocol": "tcp", "publish_mode": "ingress"}
    ],
    "job": None,
}
OTHER = WEB | {"id": "x" * 25, "name": "other", "labels": {}}


class Listing:
    """A control connection whose ``service ls`` holds the stack's web and another
    service."""

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def rows(self, type_: str, _body: Mapping[str, Any], rows_key: str) -> dict[str, Any]:
        assert (type_, rows_key) == ("control.service.ls", "services")
        return {"services": [WEB, OTHER]}


def test_stack_services_shows_the_published_ports(capsys: pytest.CaptureFixture[str]) -> None:
    _parser, args = parse(["stack", "services", "shop"])
    assert args.run(args, Listing(), "test") == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert row.split() == [
        "ebkceek9scln",
        "shop_web",
        "replicated",
        "2/2",
        "swarmnode-test:busybox",
        "*:8080->80/tcp",
    ]
