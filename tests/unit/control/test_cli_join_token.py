"""``swarmctl cluster join-token ROLE`` prints the command to join with this manager's
own address, as ``docker swarm join-token`` does, not a placeholder (cli/cluster.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from cli.ctl import parse
from cli.errors import CliError

TOKEN = "SWMTKN-1-" + "a" * 50 + "-" + "b" * 25


class Manager:
    """Answers as a manager advertising ``addr`` (None: its node cannot be read)."""

    def __init__(self, addr: str | None) -> None:
        self.addr = addr

    def __enter__(self) -> Manager:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def request(self, type_: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if type_ == "control.cluster.join_token":
            return {"role": dict(body or {})["role"], "token": TOKEN}
        if type_ == "version":
            return {"node_id": "m1id", "role": "manager", "version": "0"}
        if type_ == "control.node.inspect" and self.addr is not None:
            assert dict(body or {}) == {"node": "m1id"}
            return {"summary": {"manager_status": {"addr": self.addr, "leader": True}}}
        raise CliError("no such node: m1id")


def join_command(addr: str | None, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    _parser, args = parse(["cluster", "join-token", *flags, "worker"])
    assert args.run(args, Manager(addr), "test") == 0
    return capsys.readouterr().out


def test_the_join_command_names_this_managers_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = join_command("10.0.0.1:4242", capsys)
    assert f"    swarm-node --join-token {TOKEN} --join-addr 10.0.0.1:4242\n" in out


def test_a_placeholder_when_the_address_cannot_be_told(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "--join-addr MANAGER_ADDR\n" in join_command(None, capsys)


def test_quiet_prints_the_token_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert join_command("10.0.0.1:4242", capsys, "-q") == TOKEN + "\n"
