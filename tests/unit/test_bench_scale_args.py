"""bench/scale.py's --workdir: kept after the run, refused when it holds something (a
cluster's state there would be started again, not a new cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale import parse_args


def test_workdir_absent_or_empty_is_taken(tmp_path: Path) -> None:
    assert parse_args(["--smoke", "--workdir", str(tmp_path / "new")]).workdir == tmp_path / "new"
    assert parse_args(["--smoke", "--workdir", str(tmp_path)]).workdir == tmp_path


def test_workdir_that_holds_something_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m1.1.log").write_text("")
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--smoke", "--workdir", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"--workdir {tmp_path} is not empty" in capsys.readouterr().err
