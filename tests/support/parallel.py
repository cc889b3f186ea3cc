"""What runs side by side under pytest-xdist (``make test``: ``-n N --dist loadgroup``).

With ``--dist loadgroup`` each test is its own unit of work unless it carries an
``xdist_group`` mark: every test of one group runs on one worker, one after the other.
Two kinds of tests need that:

- tests that share a module- or class-scoped fixture (one ``swarm-node`` started for the
  whole module, say): split over workers, each worker would start its own, and a test
  that relies on what an earlier one left there would see a fresh one. `group_by_module`
  gives each such test its module's group.
- tests that switch the Docker engine itself into swarm mode (``docker swarm init`` and
  ``leave``, as the converge, update, engine_api and logs benches do for their reference
  figures): there is one engine, so two of them at once would leave each other's swarm
  under the other's feet. They carry `DOCKER_SWARM_MODE`.

Everything else each test owns by construction: its ``tmp_path`` (a base temp dir per
worker), ports the OS gave (`tests.support.swarm.free_port`), loopback blocks drawn at
random, iptables rules tagged per cut, Docker containers and networks labelled with its
own nodes' ids, named volumes with a random suffix.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

__all__ = ["DOCKER_SWARM_MODE", "group_by_module"]

DOCKER_SWARM_MODE = pytest.mark.xdist_group("docker-swarm-mode")

_SHARED_SCOPES = frozenset({"module", "class", "package"})


def _shares_a_fixture(item: pytest.Item) -> bool:
    """Whether ``item`` uses a fixture set up once for several tests of its own module
    (session fixtures, such as the Docker client, are per worker and hold no test's
    state)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        definition.scope in _SHARED_SCOPES
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


def group_by_module(items: Iterable[pytest.Item]) -> None:
    """Give each test that shares a module- or class-scoped fixture its module's
    ``xdist_group``, unless it has a group already. Must run before pytest-xdist reads
    the marks (a ``tryfirst`` ``pytest_collection_modifyitems``)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None and _shares_a_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
