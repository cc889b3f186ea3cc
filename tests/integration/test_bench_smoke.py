"""Every bench runs: ``bench/NAME.py --smoke`` exits 0 and prints one JSON document.

A bench's timings are its own business (tests assert no time); this only keeps each one
working as the code under it changes. ``bench/_*.py`` are helpers, not benches. A bench
that drives Docker (converge, mesh, update, worker_waits) takes the ``docker_client``
fixture, so it skips without an engine, and fails under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.parallel import SWARM_MODE_BENCHES

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))
NEEDS_DOCKER = frozenset({"converge", "engine_api", "mesh", "update", "worker_waits"})
TIMEOUT_S = 600


def test_the_benches_are_found() -> None:
    expected = {"cli", "converge", "engine_api", "failover", "fleet", "flood", "logs", "raft"}
    assert expected | {"mesh", "scale", "transport", "update"} <= set(BENCHES)
    assert set(BENCHES) >= SWARM_MODE_BENCHES


# each on an xdist worker of its own, but those in SWARM_MODE_BENCHES one after the other
# (tests/support/parallel.py; their --smoke skips swarm mode today)
@pytest.mark.parametrize("name", BENCHES)
def test_bench_smoke_prints_json(name: str, request: pytest.FixtureRequest) -> None:
    if name in NEEDS_DOCKER:
        request.getfixturevalue("docker_client")
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, f"bench/{name}.py --smoke failed:\n{result.stderr[-3000:]}"
    document: Any = json.loads(result.stdout)
    assert isinstance(document, dict) and document, result.stdout[:500]
