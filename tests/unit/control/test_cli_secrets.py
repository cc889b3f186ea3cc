"""swarmctl's secret and config nouns and the services' --secret/--config flags: parsed
into options (bad values: test_cli_flags.py), data read within its limit."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cli.ctl import build_parser
from cli.errors import CliError
from cli.file_objects import MAX_DATA_BYTES, read_data
from cli.service_flags import options_of


def parse(*argv: str) -> object:
    return build_parser().parse_args(list(argv))


def test_service_flags_become_options() -> None:
    args = parse(
        "service", "create", "--name", "web",
        "--secret", "db_pass", "--secret", "source=tls,target=tls/key.pem,mode=0400",
        "--config", "source=site,target=/etc/site.conf",
        "busybox",
    )  # fmt: skip
    assert options_of(args) == {  # type: ignore[arg-type]
        "secrets": ["db_pass", "source=tls,target=tls/key.pem,mode=0400"],
        "configs": ["source=site,target=/etc/site.conf"],
    }
    args = parse(
        "service", "update", "--secret-rm", "pw_v1", "--secret-add", "source=pw_v2,target=pw",
        "--config-add", "c2", "--config-rm", "c1", "web",
    )  # fmt: skip
    assert options_of(args) == {  # type: ignore[arg-type]
        "secret_rm": ["pw_v1"],
        "secret_add": ["source=pw_v2,target=pw"],
        "config_add": ["c2"],
        "config_rm": ["c1"],
    }


def test_nouns_parse() -> None:
    args = parse("secret", "create", "--label", "a=b", "pw")
    assert (args.name, args.file, args.labels) == ("pw", "-", [("a", "b")])  # type: ignore[attr-defined]
    args = parse("config", "rm", "a", "b")
    assert args.refs == ["a", "b"]  # type: ignore[attr-defined]


def test_data_is_read_within_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_bytes(b"x" * MAX_DATA_BYTES)
    assert len(read_data(str(path), "secret")) == MAX_DATA_BYTES
    assert read_data("-", "secret", io.BytesIO(b"from stdin")) == b"from stdin"
    path.write_bytes(b"x" * (MAX_DATA_BYTES + 1))
    with pytest.raises(CliError, match="over the limit of 500 KiB"):
        read_data(str(path), "secret")
    with pytest.raises(CliError, match="from stdin is empty"):
        read_data("-", "config", io.BytesIO(b""))
    with pytest.raises(CliError, match="cannot read"):
        read_data(str(tmp_path / "missing"), "secret")
