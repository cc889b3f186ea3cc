"""How many descriptors this process may hold (``RLIMIT_NOFILE``): its soft limit raised
to its hard one at start, as Go programs (dockerd, swarmd) have done since Go 1.19.

Why: every connection to a manager's remote port costs a descriptor before its handshake
tells a member from anyone else, and ZeroMQ aborts the whole process when it finds none
for a socket of its own (``Too many open files (ipc_listener.cpp)`` at the next control
socket client). The remote port closes connections that would take the last quarter of
the soft limit (at most 1024: transport/strangers.py, `descriptor_reserve`), so the soft
limit is what members and joins get: a distribution's default of 1024 leaves a manager
fewer than 700 connections, the hard limit (commonly 524,288 or more) as many as the
cluster has nodes.

A hard limit of "unlimited" is taken as the kernel's ceiling (``/proc/sys/fs/nr_open``),
the most the soft limit may be on Linux.
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Final

__all__ = ["NR_OPEN", "raise_descriptor_limit"]

NR_OPEN: Final = Path("/proc/sys/fs/nr_open")


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one; returns (soft before, soft now).
    A limit the system refuses to raise stays as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return soft, soft
    wanted = hard
    if hard == resource.RLIM_INFINITY:
        try:
            wanted = int(NR_OPEN.read_text())
        except (OSError, ValueError):
            return soft, soft
    if soft >= wanted:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (OSError, ValueError):
        return soft, soft
    return soft, wanted
