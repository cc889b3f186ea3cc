"""Runs a task's command as the leader of its process group and records its exit code.

Usage: ``python process_shim.py EXIT_FILE -- COMMAND [ARG...]`` (standard library only, so
it runs as a plain script). The process executor starts it with ``start_new_session``: the
shim is the group leader, so a signal to the group reaches the command directly. The shim
itself survives catchable signals (its handlers do nothing; the command gets the default
ones back at exec), waits for the command and writes its exit code (128+N for signal N)
to EXIT_FILE atomically, followed by a line with an error for a command that could not be
run. A worker that restarted, and so is not the shim's parent, reads the code from there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

_FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def _write(path: str, code: int, error: str = "") -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        handle.write(f"{code}\n{error}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _ignore(_signum: int, _frame: object) -> None:
    pass


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: process_shim.py EXIT_FILE -- COMMAND [ARG...]\n")
        return 2
    exit_file, command = argv[1], argv[3:]
    for signum in _FORWARDED:
        signal.signal(signum, _ignore)
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        message = f'exec: "{command[0]}": {exc.strerror or exc}'
        sys.stderr.write(message + "\n")
        _write(exit_file, 127, message)
        return 127
    code = child.wait()
    if code < 0:
        code = 128 - code
    _write(exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
