"""What every bench shares: a SIGTERM that unwinds like Ctrl-C (so each bench's cleanup
runs: containers, swarm mode, child processes) and the machine line of its JSON."""

from __future__ import annotations

import os
import platform
import signal
from typing import Any


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _raise_interrupt)


def machine(client: Any) -> dict[str, Any]:
    """Cores, Python and the Docker engine's version (``client``: a docker SDK client)."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "engine": client.version().get("Version"),
    }
