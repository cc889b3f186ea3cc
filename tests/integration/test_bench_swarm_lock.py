"""Benches that toggle Docker's swarm mode take turns (bench/_docker_swarm.py `swarm_lock`):
a second holder waits for the first, and fails naming it when the wait runs out; a holder
that dies (kill -9) releases the lock. Tests that need the engine's DNS steady hold it
shared, together, and keep a bench out meanwhile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT / "bench"))

from _docker_swarm import swarm_lock  # noqa: E402

from tests.support.swarm import poll  # noqa: E402

HOLDER = """
import sys, time
sys.path.append(sys.argv[2])
from pathlib import Path
from _docker_swarm import swarm_lock
with swarm_lock(Path(sys.argv[1]), shared=sys.argv[3] == "shared"):
    print("held", flush=True)
    time.sleep(600)
"""


def free_for_a_bench(lock: Path) -> bool:
    """Whether a bench could take ``lock`` (exclusive) now."""
    try:
        with swarm_lock(lock, timeout=0.0):
            return True
    except TimeoutError:
        return False


def test_a_second_holder_waits_and_names_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "swarm.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), str(ROOT / "bench"), "exclusive"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(TimeoutError, match=f"by pid {holder.pid}"),
            swarm_lock(lock, timeout=0.3, interval=0.05),
        ):
            pass
        holder.kill()  # a holder that dies releases the lock
        holder.wait(timeout=30)
        assert poll(lambda: free_for_a_bench(lock), "the lock free after its holder died", 30)
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_shared_holders_hold_together_and_keep_a_bench_out(tmp_path: Path) -> None:
    """Tests that need the engine's DNS steady hold the lock shared: together, while a
    bench that would toggle swarm mode waits, naming what holds it."""
    lock = tmp_path / "swarm.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), str(ROOT / "bench"), "shared"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with swarm_lock(lock, timeout=0.0, shared=True):
            pass  # a second shared holder at once
        with (
            pytest.raises(TimeoutError, match="tests that need the engine's DNS steady"),
            swarm_lock(lock, timeout=0.3, interval=0.05),
        ):
            pass
        holder.kill()
        holder.wait(timeout=30)
        assert poll(
            lambda: free_for_a_bench(lock), "the lock free for a bench after the tests ended", 30
        )
    finally:
        holder.kill()
        holder.wait(timeout=30)
