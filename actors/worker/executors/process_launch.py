"""Launching a process task's shim and finding it again through ``/proc``: the I/O side
of the process executor that needs no task (actors/worker/executors/process.py).

- ``launch_shim`` starts ``process_shim.py`` as the leader of a new session, with the
  signals the shim handles blocked until its handlers are in place (process_shim.py).
- ``process_start_ticks`` tells a live process from a pid reused since: a restarted
  worker adopts a recorded pid only when its start time matches.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from actors.worker.executors.process_policy import MINIMAL_PATH
from actors.worker.executors.process_shim import FORWARDED as SHIM_SIGNALS

__all__ = ["SHIM", "launch_shim", "process_start_ticks"]

SHIM = Path(__file__).with_name("process_shim.py")


def process_start_ticks(pid: int) -> int | None:
    """The start time of a live (non-zombie) ``pid`` in clock ticks, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def launch_shim(exit_file: Path, argv: Sequence[str], log_fd: int) -> subprocess.Popen[bytes]:
    """``process_shim.py`` running ``argv``, its output to ``log_fd``, waiting for its launch
    settings on stdin. It gets no task settings in its own environment (module docstring),
    and starts with the signals it handles blocked: it unblocks them once its handlers are
    in place, so a signal sent to the group at once is not lost (process_shim.py)."""
    unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, SHIM_SIGNALS)
    try:
        return subprocess.Popen(
            [sys.executable, "-I", str(SHIM), str(exit_file), "--", *argv],
            stdin=subprocess.PIPE,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            env={"PATH": MINIMAL_PATH},
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
