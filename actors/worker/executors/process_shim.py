"""Runs a task's command as the leader of its process group, records its output and its
exit code.

Usage: ``python -I process_shim.py EXIT_FILE -- COMMAND [ARG...]`` with the task's launch
settings as one JSON object on stdin: ``{"env": {...}, "cwd": DIR, "user": [UID, GID,
[GROUP...]] or null, "nofile": SOFT or null, "log": {"path": FILE, "max_bytes": N,
"max_files": K}}`` (on stdin
rather than in the shim's own environment, so variables meant for the task,
``LD_PRELOAD`` say, never act on the shim; standard library only, so it runs as a plain
script). The process executor starts it with ``start_new_session``: the shim is the group
leader, so a signal to the group reaches the command directly. The shim keeps the node's
user, so the task cannot signal it or touch EXIT_FILE or its log; the command runs as
``user`` (groups, gid, then uid dropped before exec) in ``cwd`` with ``env`` and no stdin,
with the soft descriptor limit ``nofile`` (the node's own was raised for its sockets:
actors/descriptors.py; the shim sets its own before it starts the command, which inherits
it).
The shim survives catchable signals (the command gets the default handlers back at exec;
the shim writes a newline to its stdout once its own are in place, which ``start`` waits
for); one that comes before the command runs is passed on to it once it does, so a stop
right after start is not lost. It waits for the command and writes its exit code (128+N for
signal N) to EXIT_FILE atomically with mode 0600, followed by a line with an error for a
command that could not be run. A worker that restarted, and so is not the shim's parent,
reads the code from there.

Output: the command's stdout and stderr come through two pipes; each line becomes one
JSON line of the log file (mode 0600), ``{"time": NANOSECONDS, "stream": "stdout" |
"stderr", "log": TEXT}``, its newline kept, bytes that are not UTF-8 kept as surrogate
escapes (actors/worker/executors/process_logs.py reads it back). A line longer than 16 KiB
is written in pieces. The log is rotated at ``max_bytes``: FILE.1 ... FILE.(K-1) hold the
older records, the oldest file is dropped. The log is complete (closed) before EXIT_FILE
is written; after the command exits, output still in the pipes is read for at most a
second (a process it left behind may hold them open). The shim's own errors (a command
that cannot be run) are recorded on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

_FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
MAX_LINE = 16 * 1024  # actors/worker/executors/output.py MAX_LINE_BYTES
DRAIN_AFTER_EXIT = 1.0  # seconds
_READ = 64 * 1024


def _write_all(fd: int, data: bytes) -> None:
    left = memoryview(data)
    while left:
        left = left[os.write(fd, left) :]


def _write(path: str, code: int, error: str = "") -> None:
    # Not actors.durable: ``python -I`` ignores PYTHONPATH and the script's directory, so a
    # node run from a checkout (bin/swarm-node) could not import the project here. The file
    # only has to outlive a worker restart, not a machine crash (which ends the task too),
    # so the rename needs no directory fsync; every byte is written all the same.
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, f"{code}\n{error}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class LogWriter:
    """JSON lines into ``path`` (None: output dropped), rotated at ``max_bytes`` keeping
    ``max_files`` files."""

    def __init__(self, path: str | None, max_bytes: int, max_files: int) -> None:
        self.path = path
        self.max_bytes = max(1024, int(max_bytes))
        self.max_files = max(1, int(max_files))
        self.fd = -1
        self.size = 0
        self.partial = {"stdout": b"", "stderr": b""}
        if path is not None:
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self.fd, 0o600)  # a file left by an older version may be looser
        self.size = os.fstat(self.fd).st_size

    def _rotate(self) -> None:
        assert self.path is not None
        os.close(self.fd)
        if self.max_files == 1:
            os.unlink(self.path)
        else:
            for i in range(self.max_files - 1, 1, -1):
                older = f"{self.path}.{i - 1}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{i}")
            os.replace(self.path, f"{self.path}.1")
        self._open()

    def record(self, stream: str, data: bytes) -> None:
        if self.fd < 0 or not data:
            return
        text = data.decode("utf-8", "surrogateescape")
        line = json.dumps({"time": time.time_ns(), "stream": stream, "log": text}) + "\n"
        encoded = line.encode("ascii")  # json.dumps escapes everything else
        if self.size and self.size + len(encoded) > self.max_bytes:
            self._rotate()
        _write_all(self.fd, encoded)
        self.size += len(encoded)

    def feed(self, stream: str, chunk: bytes) -> None:
        """Bytes read from ``stream``: each complete line (or 16 KiB piece) recorded, the
        rest kept for the next chunk."""
        pending = self.partial[stream] + chunk
        start = 0
        while True:
            end = pending.find(b"\n", start, start + MAX_LINE)
            if end >= 0:
                self.record(stream, pending[start : end + 1])
                start = end + 1
            elif len(pending) - start >= MAX_LINE:
                self.record(stream, pending[start : start + MAX_LINE])
                start += MAX_LINE
            else:
                break
        self.partial[stream] = pending[start:]

    def close(self) -> None:
        for stream in self.partial:
            rest, self.partial[stream] = self.partial[stream], b""
            self.record(stream, rest)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_early: list[int] = []  # signals that came before the command was running


def _remember(signum: int, _frame: object) -> None:
    _early.append(signum)


def _ignore(_signum: int, _frame: object) -> None:
    pass


def _launch_options(settings: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "env": {str(k): str(v) for k, v in dict(settings.get("env") or {}).items()},
        "cwd": settings.get("cwd") or None,
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
    }
    user = settings.get("user")
    if user:
        uid, gid, groups = user
        options.update(user=int(uid), group=int(gid), extra_groups=[int(g) for g in groups])
    return options


def _set_descriptor_limit(settings: dict[str, Any]) -> None:
    soft = settings.get("nofile")
    if soft is None:
        return
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(int(soft), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(soft), hard))


def _log_writer(settings: dict[str, Any]) -> LogWriter:
    log = settings.get("log") or {}
    path = log.get("path")
    return LogWriter(
        str(path) if path else None,
        int(log.get("max_bytes") or 10 * 1024 * 1024),
        int(log.get("max_files") or 3),
    )


def _pump(child: subprocess.Popen[bytes], log: LogWriter) -> int:
    """Record the child's output until both pipes close (or a second after it exits);
    its exit code."""
    selector = selectors.DefaultSelector()
    for pipe, stream in ((child.stdout, "stdout"), (child.stderr, "stderr")):
        assert pipe is not None
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe, selectors.EVENT_READ, stream)
    drain_until: float | None = None
    while selector.get_map():
        if drain_until is None and child.poll() is not None:
            drain_until = time.monotonic() + DRAIN_AFTER_EXIT
        if drain_until is not None and time.monotonic() >= drain_until:
            break
        for key, _ in selector.select(timeout=0.2):
            try:
                chunk = os.read(key.fd, _READ)
            except BlockingIOError:
                continue
            if chunk:
                log.feed(key.data, chunk)
            else:
                selector.unregister(key.fileobj)
    selector.close()
    return child.wait()


def _ready() -> None:
    """Tell the executor the signal handlers are in place: it waits for this newline on
    the shim's stdout, which then points at /dev/null."""
    with contextlib.suppress(OSError):  # the executor stopped listening: nothing to tell
        os.write(1, b"\n")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: process_shim.py EXIT_FILE -- COMMAND [ARG...] < SETTINGS\n")
        return 2
    exit_file, command = argv[1], argv[3:]
    for signum in _FORWARDED:
        signal.signal(signum, _remember)
    try:
        settings = json.loads(sys.stdin.read() or "{}")
        log = _log_writer(settings)
        options = _launch_options(settings)
        _set_descriptor_limit(settings)
    except (ValueError, TypeError, OSError) as exc:
        message = f"process shim: bad launch settings: {exc}"
        sys.stderr.write(message + "\n")
        _write(exit_file, 126, message)
        return 126
    _ready()
    try:
        child = subprocess.Popen(command, **options)
    except (OSError, subprocess.SubprocessError) as exc:
        # a failed user switch or chdir in the child is a SubprocessError
        code = 127 if isinstance(exc, OSError) else 126
        detail = (exc.strerror or exc) if isinstance(exc, OSError) else exc
        message = f'exec: "{command[0]}": {detail}'
        log.record("stderr", (message + "\n").encode())
        log.close()
        _write(exit_file, code, message)
        return code
    for handled in _FORWARDED:  # the command runs: a signal to the group reaches it
        signal.signal(handled, _ignore)
    for early in _early:
        child.send_signal(early)
    code = _pump(child, log)
    log.close()
    if code < 0:
        code = 128 - code
    _write(exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
