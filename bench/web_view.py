"""Web view: how soon a ``swarmctl service scale`` reaches an open page (issue 13 item 4).

    python bench/web_view.py [--runs 20] [--smoke]

One manager (a real ``swarm-node`` process with ``--web-addr``, ``--executor process``,
tests/support/swarm.py) and one service of 0 replicas. A reader holds the page's stream
(``GET /api/stream``, server-sent events: what the page's EventSource reads) open on its
own thread, timestamping each event as it arrives. Each round runs ``swarmctl service
scale bench=N --detach`` and waits for the first patch whose service row says N desired.

Prints one JSON document: for each round's scale, the time from starting the command to
the patch (what a user at the CLI sees: it includes swarmctl's own start-up, about half
of it) and from the change's commit (the time the store stamped on it; same machine, same
clock) to the patch (the push alone); medians, maxima, and the aim the issue names (on the
page within one second). ``--smoke``: 3 rounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.swarm import Swarm, free_port  # noqa: E402

AIM_S = 1.0
WAIT_S = 30.0
SERVICE = "bench"


def swarmctl_command() -> list[str]:
    script = Path(sys.executable).with_name("swarmctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.ctl"]


class StreamReader(threading.Thread):
    """Reads the stream; for each row of SERVICE queues its arrival (perf_counter), how
    long after its commit it arrived (wall clock less the service event's time) and the
    replicas desired."""

    def __init__(self, port: int) -> None:
        super().__init__(name="web-stream", daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.seen: queue.Queue[tuple[float, float, int]] = queue.Queue()

    def run(self) -> None:
        try:
            self._read()
        except (OSError, AttributeError, ValueError, http.client.HTTPException):
            return  # closed at the end of the bench

    def _read(self) -> None:
        self.conn.request("GET", "/api/stream")
        response = self.conn.getresponse()
        kind = ""
        while True:
            line = response.readline()
            if not line:
                return
            arrived, wall = time.perf_counter(), time.time()
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                kind = text[len("event: ") :]
            elif text.startswith("data: "):
                data = json.loads(text[len("data: ") :])
                rows = data["services"] if kind == "state" else data["put"]["services"]
                committed = [e["time"] for e in data["events"] if e["name"] == SERVICE]
                after_commit = wall - committed[-1] if committed and kind == "patch" else 0.0
                for row in rows:
                    if row["name"] == SERVICE:
                        self.seen.put((arrived, after_commit, int(row["replicas_desired"])))

    def wait_for(self, replicas: int) -> tuple[float, float]:
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no patch with {replicas} replicas within {WAIT_S} s")
            arrived, after_commit, desired = self.seen.get(timeout=left)
            if desired == replicas:
                return arrived, after_commit


def figures(samples: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(samples), 4),
        "max_s": round(max(samples), 4),
        "min_s": round(min(samples), 4),
    }


def run(rounds: int) -> dict[str, Any]:
    ctl = swarmctl_command()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sn-web-") as tmp, Swarm(Path(tmp)) as swarm:
        node = swarm.start_node("m1", executor="process", extra=("--web-addr", str(port)))
        node.wait_ready()
        node.ctl_json(
            "service", "create", "--name", SERVICE, "--replicas", "0", "--detach",
            "busybox", "sleep", "300",
        )  # fmt: skip
        reader = StreamReader(port)
        reader.start()
        reader.wait_for(0)
        from_start: list[float] = []
        from_commit: list[float] = []
        for i in range(rounds):
            replicas = 1 + i % 2  # 1, 2, 1, ...: every round changes the service
            argv = [*ctl, "--socket", str(node.socket), "service", "scale"]
            started = time.perf_counter()
            result = subprocess.run(
                [*argv, f"{SERVICE}={replicas}", "--detach"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if result.returncode != 0:
                raise RuntimeError(f"swarmctl service scale failed: {result.stderr}")
            arrived, after_commit = reader.wait_for(replicas)
            from_start.append(arrived - started)
            from_commit.append(after_commit)
        reader.conn.close()
    return {
        "scale_to_page": figures(from_start),
        "committed_to_page": figures(from_commit),
        "aim_s": AIM_S,
        "within_aim": max(from_start) <= AIM_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="rounds of scale")
    parser.add_argument("--smoke", action="store_true", help="3 rounds")
    args = parser.parse_args()
    rounds = 3 if args.smoke else args.runs
    if rounds < 1:
        parser.error("--runs must be at least 1")
    result = {
        "benchmark": "web_view.scale_to_page",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "smoke": args.smoke,
        "rounds": rounds,
        **run(rounds),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
