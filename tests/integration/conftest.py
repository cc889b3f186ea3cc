"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import Swarm, SwarmNode


@pytest.fixture
def docker_node(tmp_path: Path, docker_client: Any, test_image: str) -> Iterator[SwarmNode]:
    """One manager (``m1``) with the docker executor on the real engine, ready."""
    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        started = swarm.start_node("m1", executor="docker")
        started.wait_ready()
        yield started
