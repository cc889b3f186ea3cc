"""What a node says about its host: the ``NodeDescription`` it registers and sends with
each dispatcher session (hostname, platform, CPUs, memory, the Docker engine's version
and labels when it runs tasks on Docker, and its executor's kind and capabilities)."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import replace

from actors.log import get_logger
from api.executor_capabilities import capabilities_of
from api.objects import EngineDescription, ExecutorDescription, NodeDescription, Platform
from api.specs import Resources

__all__ = ["describe_executor", "describe_host", "docker_engine", "parse_engine_labels"]

NANO = 1_000_000_000

_log = get_logger("node")


def _memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_engine_labels(labels: Sequence[str] | None) -> Mapping[str, str]:
    """Docker's ``Info.Labels`` (``["k=v", ...]``) as a mapping."""
    out: dict[str, str] = {}
    for item in labels or ():
        key, _, value = str(item).partition("=")
        if key:
            out[key] = value
    return out


def docker_engine(timeout: float = 5.0) -> EngineDescription:
    """The local engine's version and labels; empty (and logged) if it does not answer."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            info = client.info()
        finally:
            client.close()
    except Exception as exc:
        _log.warning("node.engine.describe_failed", error=str(exc))
        return EngineDescription()
    return EngineDescription(
        engine_version=str(info.get("ServerVersion", "")),
        labels=parse_engine_labels(info.get("Labels")),
    )


def describe_executor(kind: str) -> ExecutorDescription:
    """The executor ``kind`` and what it can honour, sorted (the scheduler places a task
    only where its executor can run it)."""
    names = sorted(str(cap) for cap in capabilities_of(kind))
    return ExecutorDescription(kind=kind, capabilities=tuple(names))


def describe_host(
    hostname: str, executor_kind: str, labels: Mapping[str, str] | None = None
) -> NodeDescription:
    """What the node reports about itself. ``labels`` (``swarm-node --label``) join the
    engine's labels, over the Docker engine's own, as ``dockerd --label`` gives them: a
    node's own claim, for ``engine.labels.KEY`` constraints. ``node.labels`` are the
    managers' to set (``node update``): a node never sets its own, as placement of
    sensitive tasks trusts them."""
    engine = docker_engine() if executor_kind == "docker" else EngineDescription()
    if labels:
        engine = replace(engine, labels={**engine.labels, **labels})
    return NodeDescription(
        hostname=hostname,
        platform=Platform(os=platform.system().lower(), architecture=platform.machine()),
        resources=Resources(nano_cpus=_cpus() * NANO, memory_bytes=_memory_bytes()),
        engine=engine,
        executor=describe_executor(executor_kind),
    )
