"""``service create --env-file``: read as Docker reads an env file, before ``--env``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from cli.ctl import build_parser
from cli.env_file import EnvFileError, parse_env_file
from cli.errors import CliError
from cli.service import run_create


def test_lines_comments_blanks_and_bare_keys() -> None:
    data = (
        b"\xef\xbb\xbf# a comment\n"
        b"\n"
        b"A=1\r\n"
        b"   B = spaced value \n"
        b"\tC\n"
        b"MISSING\n"
        b"D=\n"
        b"E=x=y # not a comment\n"
    )
    # "B " has a space in the key: Docker refuses it
    with pytest.raises(EnvFileError, match=r"env file app\.env, line 4: variable 'B ' contains"):
        parse_env_file(data, "app.env", {"C": "from-shell"})
    data = data.replace(b"   B = spaced value ", b"   B= spaced value ")
    assert parse_env_file(data, "app.env", {"C": "from-shell"}) == [
        "A=1",
        "B= spaced value ",
        "C=from-shell",
        "D=",
        "E=x=y # not a comment",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"A=1\n=2\n", r"env file f, line 2: no variable name in '=2'"),
        (b"A=1\nB=\xff\n", r"env file f: line 2 is not valid UTF-8"),
    ],
)
def test_bad_lines_name_the_file_and_line(data: bytes, message: str) -> None:
    with pytest.raises(EnvFileError, match=message):
        parse_env_file(data, "f", {})


class _Connection:
    """Records the spec a create sends; answers as the manager would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def request(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((method, body))
        return {"id": "svc1", "service": {}, "version": 1}


def _create(*argv: str) -> dict[str, Any]:
    args = build_parser().parse_args(["service", "create", "--detach", "--name", "web", *argv])
    connection = _Connection()
    run_create(argparse.Namespace(**vars(args)), connection, "")  # type: ignore[arg-type]
    (method, body), *_ = connection.sent
    assert method == "control.service.create"
    return dict(body["spec"]["task"]["container"])


def test_env_files_come_before_env_flags(tmp_path: Path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("A=1\nB=2\n")
    second.write_text("# second\nC=3\n")
    container = _create(
        "--env-file", str(first), "--env", "B=flag", "--env-file", str(second), "busybox"
    )
    assert container["env"] == ["A=1", "B=2", "C=3", "B=flag"]


def test_a_missing_or_bad_env_file_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"env file .*/nope\.env: No such file"):
        _create("--env-file", str(tmp_path / "nope.env"), "busybox")
    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nNOT OK=2\n")
    with pytest.raises(CliError, match=r"bad\.env, line 2: variable 'NOT OK' contains"):
        _create("--env-file", str(bad), "busybox")


def test_update_has_no_env_file() -> None:  # as Docker's service update
    with pytest.raises(SystemExit):
        build_parser().parse_args(["service", "update", "--env-file", "x", "web"])
