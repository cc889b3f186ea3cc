"""Executors: the runtimes a worker runs tasks with (``docker``, ``process``, ``sim``).

``make_executor(kind, ...)`` builds one; ``default_executor_kind()`` says ``docker`` when a
Docker engine answers, else ``process`` (the node logs which it picked). The docker SDK is
imported only when the docker executor is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from actors.worker.executors.base import Executor

if TYPE_CHECKING:
    from actors.worker.executors.process_sandbox import ProcessSandbox
    from actors.worker.resources import TaskResources
    from actors.worker.task_files import TaskFiles
    from api.objects import NodeDescription

__all__ = ["EXECUTOR_KINDS", "ExecutorKind", "default_executor_kind", "make_executor"]

ExecutorKind = Literal["docker", "process", "sim"]
EXECUTOR_KINDS: tuple[ExecutorKind, ...] = ("docker", "process", "sim")


def default_executor_kind(timeout: float = 3.0) -> ExecutorKind:
    """``docker`` when an engine answers a ping within ``timeout`` seconds, else ``process``."""
    from actors.worker.executors.docker import engine_available

    return "docker" if engine_available(timeout) else "process"


def make_executor(
    kind: str,
    *,
    state_dir: Path,
    node_id: str,
    sandbox: ProcessSandbox | None = None,
    resources: TaskResources | None = None,
    publish_ip: str = "",
    files: TaskFiles | None = None,
    description: NodeDescription | None = None,
) -> Executor:
    """The executor ``kind`` for node ``node_id``; the process executor keeps its files in
    ``state_dir/process`` and runs tasks in ``sandbox`` (default: as this process's user,
    in `process_sandbox.default_work_root`); the docker executor publishes ports on
    ``publish_ip`` (empty: every address) and reads networks and registry credentials
    from ``resources``. ``files``: where tasks' secrets and configs go (a task that has
    some is refused without). ``description``: this node's, for the docker and process
    executors to expand tasks' templates with (api/templates.py). ValueError for an
    unknown kind."""
    if kind == "docker":
        from actors.worker.executors.docker import DockerExecutor

        return DockerExecutor(
            node_id,
            resources=resources,
            publish_ip=publish_ip,
            files=files,
            description=description,
        )
    if kind == "process":
        from actors.worker.executors.process import ProcessExecutor
        from actors.worker.executors.process_sandbox import prepare_sandbox

        if sandbox is None:
            sandbox = prepare_sandbox(None, state_dir=state_dir, node_id=node_id)
        return ProcessExecutor(
            Path(state_dir) / "process",
            node_id,
            sandbox=sandbox,
            files=files,
            description=description,
        )
    if kind == "sim":
        from actors.worker.executors.sim import SimExecutor

        return SimExecutor(node_id)
    raise ValueError(f"unknown executor {kind!r} (expected one of: {', '.join(EXECUTOR_KINDS)})")
