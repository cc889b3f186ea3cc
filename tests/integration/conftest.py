"""Fixtures shared by the integration tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

from _docker_swarm import swarm_lock

# how long a test waits for a bench that holds the engine in swarm mode (converge's smoke
# holds it about 110 s); such tests get a pytest timeout of their own to allow for it
DNS_LOCK_WAIT_S = 300.0


@pytest.fixture
def engine_dns_steady() -> Iterator[None]:
    """No bench toggles the engine's swarm mode while the test runs: that breaks the
    engine's DNS for running containers on bridge networks (bench/_docker_swarm.py), and a
    test that resolves a task by name would wait for an answer that never comes."""
    with swarm_lock(timeout=DNS_LOCK_WAIT_S, shared=True):
        yield
