"""What every bench shares: a SIGTERM that unwinds like Ctrl-C (so each bench's cleanup
runs: containers, swarm mode, child processes), the machine line of its JSON, the ratio of
a figure to its reference, and the environment of the Python processes it starts
(bytecode caches on)."""

from __future__ import annotations

import os
import platform
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _raise_interrupt)


def machine(client: Any = None) -> dict[str, Any]:
    """Cores, Python and, given ``client`` (a docker SDK client), the Docker engine's
    version."""
    out: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    if client is not None:
        out["engine"] = client.version().get("Version")
    return out


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``ours / theirs`` to 3 places; None when either is missing or ``theirs`` is 0."""
    return round(ours / theirs, 3) if ours is not None and theirs else None


def with_bytecode_cache(env: Mapping[str, str], directory: Path) -> dict[str, str]:
    """``env`` for Python processes that keep bytecode caches, as an installed swarmnode
    has them: ``PYTHONDONTWRITEBYTECODE`` (set where the benches run) unset, and the caches
    in ``directory`` (``PYTHONPYCACHEPREFIX``), not in the checkout. Without them every
    ``swarmctl`` compiles its modules again: 0.1-0.3 s of CPU per call."""
    out = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["PYTHONPYCACHEPREFIX"] = str(directory)
    return out


def use_bytecode_cache(directory: Path) -> None:
    """``with_bytecode_cache`` for every process this one starts from now on (the nodes and
    the CLI commands a bench runs inherit ``os.environ``)."""
    env = with_bytecode_cache(os.environ, directory)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(env)
