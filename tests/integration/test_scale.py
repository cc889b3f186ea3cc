"""bench/scale.py at a small size, for correctness only (issue 14 item 2): 3 real managers,
a fleet of 50 simulated workers (each with its own identity, certificate and session over
CURVE), 2,000 tasks in 4 services; then a snapshot on every manager, 5 nodes drained and
the leader killed. The bench checks, and this test asserts, that every replica runs, the
fleet runs exactly the tasks the store counts, every manager snapshots, drained nodes end
empty and every task runs again after the leader's loss. No time is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_scale_bench_at_50_nodes_and_2000_tasks_is_correct(tmp_path: Path) -> None:
    argv = [
        sys.executable, str(ROOT / "bench" / "scale.py"),
        "--sizes", "50x2000", "--services", "4", "--drain", "5", "--out", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=850,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    document = json.loads(result.stdout)
    assert document["errors"] == [], result.stderr[-3000:]
    checks = document["checks"]
    assert checks and all(checks.values()), checks
    assert {"create", "snapshot", "drain", "leader_loss"} <= set(document["sizes"][0])
    assert result.returncode == 0
    assert (tmp_path / "scale.png").stat().st_size > 0
    assert json.loads((tmp_path / "scale.json").read_text())["checks"] == checks
