"""How ``make test`` spreads the suite over pytest-xdist workers (``-n N --dist loadfile``).

The unit of work is a test module, as with xdist's own ``loadfile``: one worker runs all
of a module's tests, in order. Modules rely on that: a module-scoped fixture (one
``swarm-node`` or cluster for the whole module) is set up once, and some tests use what
an earlier test of the module left there. Modules are handed out largest first, then as
workers come free.

One exception, `work_unit`: the bench smoke tests (tests/integration/test_bench_smoke.py)
are independent and long, so each is a unit of its own, except those whose bench switches
the Docker engine itself into swarm mode (``docker swarm init`` and ``leave``; see
bench/_docker_swarm.py): there is one engine, so they share one unit and run one after
the other.

xdist's ``loadgroup`` with ``xdist_group`` marks would say the same per test, but it
renames the test (a ``@group`` suffix on ``item._nodeid``), which pytest 9 no longer
reads: the marks are ignored and every test becomes a unit. Hence a scheduler that groups
by node id (`FileScheduling`, installed by tests/conftest.py for ``--dist loadfile``).

Everything else a test owns by construction: its ``tmp_path`` (a base temp dir per
worker), ports picked from its worker's slice (tests/support/ports.py), loopback blocks
drawn at random, iptables rules tagged per cut, Docker containers and networks labelled
with its own nodes' ids, named volumes with a random suffix.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

__all__ = ["SWARM_MODE_BENCHES", "FileScheduling", "work_unit"]

BENCH_SMOKE = "test_bench_smoke.py"
# the benches that switch the engine into swarm mode for their reference figures
SWARM_MODE_BENCHES = frozenset({"converge", "engine_api", "update"})
DOCKER_SWARM_MODE = "docker-swarm-mode"


def work_unit(nodeid: str) -> str:
    """The unit of work (run by one worker, in order) that the test ``nodeid`` is part of."""
    path, _, name = nodeid.partition("::")
    if not path.endswith("/" + BENCH_SMOKE):
        return path
    bench = name[name.find("[") + 1 : -1] if name.endswith("]") else ""
    return DOCKER_SWARM_MODE if bench in SWARM_MODE_BENCHES else nodeid


class FileScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with `work_unit` as the scope."""

    def _split_scope(self, nodeid: str) -> str:
        return work_unit(nodeid)
