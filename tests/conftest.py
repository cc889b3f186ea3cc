"""Suite-wide fixtures, and how pytest-xdist workers share the suite. Docker tests fail
instead of skipping under CI=true."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.support.testimage import ensure_test_image

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests check what a function does, never how long it takes: hypothesis's
# per-example deadline (200 ms) and its too-slow health check fail an example that a
# loaded machine merely ran slowly (test_codec's random envelopes did so once under xdist).
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # a hook of pytest-xdist's
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``: modules as units, but the bench smoke tests spread (see
    tests/support/parallel.py)."""
    if config.getoption("dist") != "loadfile":
        return None
    from tests.support.parallel import FileScheduling

    return FileScheduling(config, log)


def _docker_client_or_reason() -> tuple[Any, str]:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        return client, ""
    except Exception as exc:
        return None, f"no reachable Docker engine: {exc}"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    client, reason = _docker_client_or_reason()
    if client is None:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client: Any) -> str:
    """Name of the local busybox image, imported once per run."""
    return ensure_test_image(docker_client)


@pytest.fixture
def docker_node(tmp_path: Path, docker_client: Any, test_image: str) -> Iterator[Any]:
    """One ``swarm-node`` (a manager) with the docker executor, ready; its containers and
    networks removed afterwards."""
    from tests.support.swarm import Swarm

    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        started = swarm.start_node("m1", executor="docker")
        started.wait_ready()
        yield started
