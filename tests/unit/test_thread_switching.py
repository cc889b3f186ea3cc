"""The GIL switch interval every Raft member's process runs with (actors/thread_switching.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from actors.thread_switching import SWITCH_INTERVAL, tune_switch_interval

ROOT = Path(__file__).resolve().parents[2]


def test_tune_switch_interval_sets_it_and_returns_the_old_one() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.004)
        assert tune_switch_interval() == 0.004
        assert sys.getswitchinterval() == SWITCH_INTERVAL
    finally:
        sys.setswitchinterval(before)


def test_the_node_and_the_bench_member_run_with_the_same_interval() -> None:
    """bench/raft.py measures what swarm-node does: both processes tune it, one way."""
    assert "tune_switch_interval()" in (ROOT / "cli" / "node_main.py").read_text()
    member = (ROOT / "tests" / "support" / "raft_server.py").read_text()
    assert "tune_switch_interval()" in member
    assert "setswitchinterval" not in member
