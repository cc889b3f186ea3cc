"""What running tasks cost a worker while they run: threads, memory and connections to
the Docker engine, for N tasks that sleep.

    python bench/worker_waits.py [--tasks 100,300] [--smoke]

For each count N, a worker actor over the Docker executor (as tests/support/docker_worker
builds it, in this process, on a node id of its own) is given N tasks of the test image
running ``sleep`` (its ``sleeping_tasks``); once all are RUNNING and the thread count
stays put for a second, the JSON gives this process's threads (``/proc/self/status``
Threads), its RSS, and its open connections to the engine's socket (our socket inodes
whose peer is the engine's ``docker.sock``), with the idle worker's figures subtracted per
task, and the threads by kind (task runner actors, executor calls, the executor's own).
Every container the bench made is removed in ``finally``. Each count runs in a process of
its own (comparable RSS).
``--smoke``: 5 tasks.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402
import structlog  # noqa: E402
from _common import machine, stop_on_sigterm  # noqa: E402

from api.task_state import TaskState  # noqa: E402
from tests.support.docker_worker import (  # noqa: E402
    docker_worker,
    remove_containers,
    sleeping_tasks,
)
from tests.support.testimage import ensure_test_image  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

ENGINE_SOCKET = "/var/run/docker.sock"
SETTLE_S = 1.0  # the thread count holds this long before it is read
RUN_TIMEOUT_S = 600.0


def log(message: str) -> None:
    print(f"[worker_waits] {message}", file=sys.stderr, flush=True)


def proc_status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Threads", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


def engine_connections() -> int:
    """This process's sockets whose peer is the engine's listening socket."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        found = re.fullmatch(r"socket:\[(\d+)\]", target)
        if found:
            ours.add(found.group(1))
    listing = subprocess.run(
        ["ss", "-xn", "src", ENGINE_SOCKET], check=True, capture_output=True, text=True
    ).stdout.splitlines()[1:]
    peers = {line.split()[-1] for line in listing if line.split()}
    return len(ours & peers)


def thread_kinds() -> dict[str, int]:
    kinds: collections.Counter[str] = collections.Counter()
    for thread in threading.enumerate():
        name = thread.name
        if name.startswith("TaskRunner"):
            kinds["task_runner_actors"] += 1
        elif name.startswith("task-"):
            kinds["executor_calls"] += 1
        elif name.startswith("docker-"):
            kinds["executor_own"] += 1
        else:
            kinds["other"] += 1
    return dict(kinds)


def settled(deadline: float) -> dict[str, Any]:
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = proc_status()["Threads"]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= SETTLE_S:
            break
        time.sleep(0.1)
    status = proc_status()
    return {
        "threads": status["Threads"],
        "rss_kib": status["VmRSS"],
        "engine_connections": engine_connections(),
        "thread_kinds": thread_kinds(),
    }


def measure(count: int, client: Any, image: str) -> dict[str, Any]:
    node_id = f"benchwait{uuid.uuid4().hex[:10]}"
    try:
        with (
            tempfile.TemporaryDirectory() as state,
            docker_worker(Path(state), node_id, client) as ref,
        ):
            proxy = ref.proxy()
            idle = settled(time.monotonic() + 10)
            tasks = sleeping_tasks(
                count, image=image, node_id=node_id, seconds=3600, service="benchwait"
            )
            started = time.monotonic()
            proxy.apply_assignments(True, tasks, []).get()

            def running() -> int:
                statuses = dict(proxy.current_statuses().get(timeout=10))
                return sum(
                    1
                    for t in tasks
                    if t.id in statuses and statuses[t.id].state is TaskState.RUNNING
                )

            wait_for(
                lambda: running() == count,
                f"{count} tasks running",
                RUN_TIMEOUT_S,
                interval=0.5,
                describe=running,
            )
            to_running = time.monotonic() - started
            busy = settled(time.monotonic() + 30)
            log(f"{count} tasks running in {to_running:.1f} s: {busy}")
            proxy.apply_assignments(True, [], []).get()
    finally:
        remove_containers(client, node_id)

    def per_task(key: str) -> float:
        return round((busy[key] - idle[key]) / count, 2)

    return {
        "tasks": count,
        "idle": idle,
        "running": busy,
        "per_task": {k: per_task(k) for k in ("threads", "rss_kib", "engine_connections")},
        "to_running_s": round(to_running, 1),
    }


def one_count(count: int) -> dict[str, Any]:
    """``measure(count)`` in a process of its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(count)], check=True, stdout=subprocess.PIPE
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="100,300", help="task counts (100,300)")
    parser.add_argument("--smoke", action="store_true", help="5 tasks")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child: one count
    args = parser.parse_args()
    stop_on_sigterm()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    client = docker.from_env(timeout=60)
    image = ensure_test_image(client)
    if args.one is not None:
        print(json.dumps(measure(args.one, client, image)))
        return
    counts = [5] if args.smoke else [int(n) for n in args.tasks.split(",")]
    results = [one_count(n) for n in counts]
    print(json.dumps({"bench": "worker_waits", "machine": machine(client), "runs": results}))


if __name__ == "__main__":
    main()
