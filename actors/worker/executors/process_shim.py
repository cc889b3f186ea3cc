"""Runs a task's command as the leader of its process group and records its exit code.

Usage: ``python -I process_shim.py EXIT_FILE -- COMMAND [ARG...]`` with the task's launch
settings as one JSON object on stdin: ``{"env": {...}, "cwd": DIR, "user": [UID, GID,
[GROUP...]] or null}`` (on stdin rather than in the shim's own environment, so variables
meant for the task, ``LD_PRELOAD`` say, never act on the shim; standard library only, so
it runs as a plain script). The process executor starts it with ``start_new_session``:
the shim is the group leader, so a signal to the group reaches the command directly. The
shim keeps the node's user, so the task cannot signal it or touch EXIT_FILE; the command
runs as ``user`` (groups, gid, then uid dropped before exec) in ``cwd`` with ``env`` and
no stdin. The shim survives catchable signals (the command gets the default handlers back
at exec). The executor starts it with them blocked, so a signal sent to the group while
the shim itself starts waits until its handlers are in place; one that came before the
command was running is passed on to the command once it is (a stop right after start
stops the command, and is not lost). The shim waits for the command and writes its exit
code (128+N for
signal N) to EXIT_FILE atomically with mode 0600, followed by a line with an error for a
command that could not be run. A worker that restarted, and so is not the shim's parent,
reads the code from there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def _write(path: str, code: int, error: str = "") -> None:
    # Not actors.durable: ``python -I`` ignores PYTHONPATH and the script's directory, so a
    # node run from a checkout (bin/swarm-node) could not import the project here. The file
    # only has to outlive a worker restart, not a machine crash (which ends the task too),
    # so the rename needs no directory fsync; every byte is written all the same.
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        left = memoryview(f"{code}\n{error}\n".encode())
        while left:
            left = left[os.write(fd, left) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


_early: list[int] = []  # signals that came before the command was running


def _remember(signum: int, _frame: object) -> None:
    _early.append(signum)


def _ignore(_signum: int, _frame: object) -> None:
    pass  # the command is running: a signal to the group reached it directly


def _launch_options(settings: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "env": {str(k): str(v) for k, v in dict(settings.get("env") or {}).items()},
        "cwd": settings.get("cwd") or None,
        "stdin": subprocess.DEVNULL,
    }
    user = settings.get("user")
    if user:
        uid, gid, groups = user
        options.update(user=int(uid), group=int(gid), extra_groups=[int(g) for g in groups])
    return options


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: process_shim.py EXIT_FILE -- COMMAND [ARG...] < SETTINGS\n")
        return 2
    exit_file, command = argv[1], argv[3:]
    for signum in FORWARDED:
        signal.signal(signum, _remember)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # blocked by the executor
    try:
        options = _launch_options(json.loads(sys.stdin.read() or "{}"))
    except (ValueError, TypeError) as exc:
        message = f"process shim: bad launch settings: {exc}"
        sys.stderr.write(message + "\n")
        _write(exit_file, 126, message)
        return 126
    try:
        child = subprocess.Popen(command, **options)
    except OSError as exc:
        message = f'exec: "{command[0]}": {exc.strerror or exc}'
        sys.stderr.write(message + "\n")
        _write(exit_file, 127, message)
        return 127
    except subprocess.SubprocessError as exc:  # a failed user switch or chdir in the child
        message = f'exec: "{command[0]}": {exc}'
        sys.stderr.write(message + "\n")
        _write(exit_file, 126, message)
        return 126
    for handled in FORWARDED:
        signal.signal(handled, _ignore)
    for early in _early:
        child.send_signal(early)
    code = child.wait()
    if code < 0:
        code = 128 - code
    _write(exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
