"""The real docker CLI pointed at a node's Engine API endpoint (``--engine-api``).

``DockerCli(socket).run("service", "ls")`` runs ``docker`` with ``DOCKER_HOST`` set for
that one process only: the node itself (its docker executor) keeps talking to the real
engine. Without a ``docker`` binary the test skips, and under ``CI=true`` fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import IN_CI
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.support.swarm import Swarm, SwarmNode

__all__ = ["DockerCli", "docker_binary", "engine_flags"]


def docker_binary() -> str:
    found = shutil.which("docker")
    if found is None:
        if IN_CI:
            pytest.fail("CI=true but no docker CLI on PATH (Debian's docker.io installs it)")
        pytest.skip("no docker CLI on PATH")
    return found


def engine_flags(socket: Path) -> tuple[str, ...]:
    return ("--engine-api", f"unix://{socket}")


def start_engine_manager(
    swarm: Swarm, socket: Path, name: str = "m1", executor: str = "docker"
) -> SwarmNode:
    """A manager of ``swarm`` serving the Engine API on ``socket``: ready, the socket there."""
    node = swarm.start_node(name, executor=executor, extra=engine_flags(socket))
    node.wait_ready()
    wait_for(socket.exists, "the Engine API socket")
    return node


class DockerCli:
    """``api_version``: the version the CLI speaks (``DOCKER_API_VERSION``), as an older
    client would; by default it negotiates the endpoint's newest."""

    def __init__(self, socket: Path, cwd: Path | None = None, api_version: str = "") -> None:
        self.binary = docker_binary()
        self.socket = socket
        self.cwd = cwd
        config = (cwd or socket.parent) / "docker-config"
        config.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{socket}",
            "DOCKER_CONFIG": str(config),  # no user config or context of this machine
            "DOCKER_CLI_HINTS": "false",
        }
        self.env.pop("DOCKER_CONTEXT", None)
        self.env.pop("DOCKER_TLS_VERIFY", None)
        self.env.pop("DOCKER_API_VERSION", None)
        if api_version:
            self.env["DOCKER_API_VERSION"] = api_version

    def run(
        self, *args: str, input: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args],
            env=self.env,
            cwd=self.cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str, input: str | None = None, timeout: float = 120.0) -> str:
        """stdout of a command that must succeed (AssertionError shows its stderr)."""
        result = self.run(*args, input=input, timeout=timeout)
        assert result.returncode == 0, (
            f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
        )
        return result.stdout

    def fails(self, *args: str, input: str | None = None) -> str:
        """stderr of a command that must fail."""
        result = self.run(*args, input=input)
        assert result.returncode != 0, f"docker {' '.join(args)} succeeded: {result.stdout}"
        return result.stderr

    def json_lines(self, *args: str) -> list[Any]:
        """``docker ... --format '{{json .}}'``: one JSON document per line."""
        out = self.ok(*args, "--format", "{{json .}}")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def inspect(self, *args: Sequence[str] | str) -> Any:
        return json.loads(self.ok(*[str(a) for a in args]))

    def update_rolled(self, service: str, *flags: str, timeout: float = 60.0) -> None:
        """``docker service update -d FLAGS SERVICE`` of a change that replaces tasks, then
        a wait for the rollout's ``completed``. The updater writes that state into the
        service, moving its version; the CLI's next update of the service names the
        version it read, and a stale one is refused, as dockerd refuses it."""
        before = self._update_status(service)
        self.ok("service", "update", "-d", *flags, service)
        wait_for(
            lambda: (
                (now := self._update_status(service)).get("State") == "completed"
                and now.get("StartedAt") != before.get("StartedAt")
            ),
            f"{service}'s update completed",
            timeout,
            interval=0.1,
            describe=lambda: self._update_status(service),
        )

    def _update_status(self, service: str) -> dict[str, Any]:
        [found] = self.inspect("service", "inspect", service)
        return dict(found.get("UpdateStatus") or {})
