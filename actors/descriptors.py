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

The processes this one starts for tasks get the soft limit it started with back
(`child_descriptor_limit`), as Go restores it for the processes it starts: a task sees the
limit it would have had without swarm-node, not the one raised for the node's sockets.
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Final

__all__ = ["NR_OPEN", "child_descriptor_limit", "raise_descriptor_limit"]

NR_OPEN: Final = Path("/proc/sys/fs/nr_open")

_started_with: int | None = None  # the soft limit before the first raise


def raise_descriptor_limit(wanted: int | None = None) -> tuple[int, int]:
    """Raise the soft descriptor limit to ``wanted`` (at most the hard one), or to the
    hard one; returns (soft before, soft now). A limit the system refuses to raise, or
    one already high enough, stays as it was."""
    global _started_with
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return soft, soft
    ceiling = hard
    if hard == resource.RLIM_INFINITY:
        try:
            ceiling = int(NR_OPEN.read_text())
        except (OSError, ValueError):
            return soft, soft
    target = ceiling if wanted is None else min(wanted, ceiling)
    if soft >= target:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError):
        return soft, soft
    if _started_with is None:
        _started_with = soft
    return soft, target


def child_descriptor_limit() -> int | None:
    """The soft limit a process started for a task should have: the one this process
    started with, when it raised its own since; None when it never did (nothing to put
    back)."""
    return _started_with
