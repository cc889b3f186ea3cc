"""A fleet in a process of its own, for benches and tests: ``FleetProcess`` starts
``python bench/fleet.py --serve ...`` and talks to it over its stdin and stdout.

The protocol is JSON lines. The fleet prints ``{"event": "ready", "nodes": [ids...],
"enlist_s": ...}`` once every node has joined (or resumed) and its loop runs, and then one
``{"event": "reply", "id": N, "result": ...}`` (or ``"error": "..."``) per command it read:
``{"id": N, "cmd": "stats", "nodes": [ids] | null}``, ``{"id": N, "cmd": "exit", "service":
S, "count": K, "code": C}``, ``{"id": N, "cmd": "stop"}``. It logs JSON lines (warnings and
worse) to its stderr, which goes to a file. It stops on ``stop``, at end of input, or on
SIGTERM.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def proc_rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident set size of process ``pid`` (0 when it is gone); ``field="VmHWM"``: its
    peak so far."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, with those of its children it
    waited for (a manager's snapshot is encoded in a child: still the manager's work);
    0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class FleetProcess:
    def __init__(
        self,
        *,
        join_addr: str,
        token: str,
        nodes: int,
        state_dir: Path,
        log_path: Path,
        extra: Sequence[str] = (),
        timeout: float = 600.0,
    ) -> None:
        argv = [
            sys.executable, str(ROOT / "bench" / "fleet.py"), "--serve",
            "--join-addr", join_addr, "--join-token", token, "--nodes", str(nodes),
            "--state-dir", str(state_dir), *extra,
        ]  # fmt: skip
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="fleet-stdout", daemon=True)
        self._reader.start()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        ready = self._next(timeout)
        if ready.get("event") != "ready":
            raise RuntimeError(f"the fleet did not start: {ready}")
        self.node_ids: list[str] = list(ready["nodes"])
        self.enlist_s = float(ready["enlist_s"])

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self._lines.put(json.loads(line))
        self._lines.put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            item = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"no word from the fleet within {timeout:g}s") from None
        if item is None:
            code = self.process.wait(timeout=10)
            raise RuntimeError(f"the fleet exited ({code}); see its log")
        return item

    def request(self, cmd: str, timeout: float = 60.0, **args: Any) -> Any:
        with self._lock:
            rid = next(self._ids)
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"id": rid, "cmd": cmd, **args}) + "\n")
            self.process.stdin.flush()
            while True:
                reply = self._next(timeout)
                if reply.get("id") == rid:
                    break
        if "error" in reply:
            raise RuntimeError(f"fleet {cmd}: {reply['error']}")
        return reply.get("result")

    def stats(self, nodes: Sequence[str] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.request("stats", nodes=list(nodes) if nodes else None)
        return result

    def exit_tasks(self, service: str, count: int, code: int = 0) -> int:
        return int(self.request("exit", service=service, count=count, code=code))

    def rss_bytes(self) -> int:
        return proc_rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.request("stop", timeout=10)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()
