"""Seeded simulation of Raft clusters under faults, checked for safety after every step and
for linearizability at the end. SIM_SEEDS=N runs N seeds; SIM_SEED=S runs only seed S."""

from __future__ import annotations

import os

import pytest

from tests.sim.linearizability import check_history
from tests.sim.world import World

SEEDS = (
    [int(os.environ["SIM_SEED"])]
    if os.environ.get("SIM_SEED")
    else list(range(int(os.environ.get("SIM_SEEDS", "300"))))
)


def _reproduce(seed: int) -> str:
    return f"SIM_SEED={seed} .venv/bin/pytest tests/sim/test_raft_sim.py::test_raft_sim"


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: str(s))
def test_raft_sim(seed: int) -> None:
    world = World(seed)
    try:
        world.run()
    except AssertionError as exc:
        trace = "\n".join(world.trace[-15:])
        raise AssertionError(
            f"seed {seed} failed at step {world.steps}: {exc}\nfaults: {world.faults_at_start}\n"
            f"last events:\n{trace}\nreproduce: {_reproduce(seed)}"
        ) from exc
    # Liveness once the faults stop: a leader has committed an entry of its own term.
    if world.committing_leader() is None:
        trace = "\n".join(world.trace[-15:])
        raise AssertionError(
            f"seed {seed}: no leader committing after a quiet period of {world.quiet_ticks} "
            f"ticks\nfaults: {world.faults_at_start}\nlast events:\n{trace}\n"
            f"reproduce: {_reproduce(seed)}"
        )
    bad_key = check_history(world.history())
    assert bad_key is None, (
        f"seed {seed}: history of key {bad_key!r} is not linearizable\n"
        f"reproduce: {_reproduce(seed)}"
    )


def test_a_seed_reproduces() -> None:
    """A failing seed reproduces: one seed, one run, crashes inside Readies included (a
    leader that sent its appends and died before its fsync among them)."""
    runs = [World(23, ticks=250) for _ in range(2)]
    for world in runs:
        world.run()
    first, second = runs
    assert first.trace == second.trace and first.steps == second.steps
    assert first.committed == second.committed and first.workload.ops == second.workload.ops
    assert any("(leader) after sending, before its fsync" in t for t in first.trace)
