"""Service logs: swarmnode's log broker against Docker swarm mode's ``docker service logs``.

    python bench/logs.py [--lines 20000] [--runs 3] [--executor docker|process]
                         [--no-docker] [--smoke]

Measures, as the median of ``--runs`` runs:

- ``core_lines_per_s``: lines through the broker's pure core (actors/logs/broker_core.py)
  in this process: batches of 500 published, then read, as the leader does; the ceiling
  the shells around it can reach;
- ``first_line_s``: from launching ``swarmctl service create --detach`` (a task that
  prints one line and sleeps) to the first line that ``swarmctl service logs -f --raw``,
  launched as soon as the create returned, prints;
- ``lines_per_s``: a task prints ``--lines`` lines (``seq``) and sleeps; once all are
  there, ``swarmctl service logs --raw`` reads them all: lines over the time it took, from
  the executor through the node's publisher, the leader's broker and the control socket.

A real single-node ``swarm-node`` (fresh state dir, free port) runs the tasks with
``--executor`` (docker on the local engine when it answers, else process). Unless
``--no-docker`` (or ``--smoke``), the same two end-to-end measures run on Docker's swarm
mode on the same engine (``docker service create --no-resolve-image``, ``docker service
logs``), and the JSON gives swarmnode/swarm ratios (first line: below 1 is faster;
lines/s: above 1 is faster). Swarm mode is left as found (see bench/_docker_swarm.py);
every service, container and process the bench made is removed in ``finally``.
``--smoke``: the process executor, 500 lines, one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py
sys.path.append(str(ROOT / "bench"))  # would shadow the transport package

from _common import ratio  # noqa: E402
from _docker_swarm import docker_cli, swarm_mode, wait_for  # noqa: E402

from actors.logs.broker_core import BrokerCore, BrokerLimits, TaskPlace  # noqa: E402
from actors.logs.wire import LogOptions, LogRecord, PublishBatch  # noqa: E402

IMAGE = "swarmnode-test:busybox"
BATCH = 500


def log(message: str) -> None:
    print(f"[logs] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


# -- the core ---------------------------------------------------------------------------------
def core_lines_per_s(lines: int) -> float:
    core = BrokerCore(BrokerLimits(buffer_records=lines + 1, idle_timeout=1e9))
    core.listen(0.0, "n1")
    core.subscribe(0.0, "s", "me", LogOptions(follow=True), service_ids={"svc"}, task_nodes={"n1"})
    place = TaskPlace("n1", "svc")
    batch = tuple(
        LogRecord("t1", i, "stdout", b"a line of a task's output\n") for i in range(BATCH)
    )
    started = time.perf_counter()
    after, read = 0, 0
    for _ in range(max(1, lines // BATCH)):
        core.publish(0.0, "n1", PublishBatch("s", batch), lambda _t: place)
        got = core.read(0.0, "s", "me", after)
        assert got is not None
        after, read = got.seq, read + len(got.records)
    return read / (time.perf_counter() - started)


# -- one orchestrator's side ------------------------------------------------------------------
class Side:
    """How to create, follow, read and remove a service on one orchestrator."""

    tag = ""

    def create(self, name: str, script: str) -> None: ...
    def logs_argv(self, name: str, follow: bool) -> list[str]: ...
    def rm(self, name: str) -> None: ...


class Swarmnode(Side):
    tag = "swarmnode"

    def __init__(self, workdir: Path, executor: str, docker: Any) -> None:
        from tests.support.swarm import Swarm

        self.executor = executor
        self.swarm = Swarm(workdir, docker_client=docker)
        self.node = self.swarm.start_node("bench", executor=executor)
        self.node.wait_ready(timeout=60)

    def ctl_argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cli.ctl", "--socket", str(self.node.socket), *args]

    def create(self, name: str, script: str) -> None:
        run(
            self.ctl_argv(
                "service", "create", "--detach", "--name", name, IMAGE, "sh", "-c", script
            )
        )

    def logs_argv(self, name: str, follow: bool) -> list[str]:
        return self.ctl_argv("service", "logs", "--raw", *(["-f"] if follow else []), name)

    def rm(self, name: str) -> None:
        with contextlib.suppress(RuntimeError):
            run(self.ctl_argv("service", "rm", name))

    def stop(self) -> None:
        self.swarm.cleanup()


class DockerSwarmMode(Side):
    tag = "swarm"

    def create(self, name: str, script: str) -> None:
        docker_cli(
            "service", "create", "--no-resolve-image", "--detach", "--quiet",
            "--name", name, IMAGE, "sh", "-c", script,
        )  # fmt: skip

    def logs_argv(self, name: str, follow: bool) -> list[str]:
        return ["docker", "service", "logs", "--raw", *(["-f"] if follow else []), name]

    def rm(self, name: str) -> None:
        with contextlib.suppress(RuntimeError):
            docker_cli("service", "rm", name)


def run(argv: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}...: {result.stderr.strip()[-500:]}")
    return result.stdout


def first_line_s(side: Side, name: str) -> float:
    started = time.monotonic()
    side.create(name, "echo first; sleep 3600")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    follow = subprocess.Popen(
        side.logs_argv(name, follow=True), stdout=subprocess.PIPE, cwd=ROOT, env=env
    )
    deadline = threading.Timer(120.0, follow.kill)  # a follower that never prints
    deadline.start()
    try:
        assert follow.stdout is not None
        line = follow.stdout.readline()
        if line.strip() != b"first":
            raise RuntimeError(f"{side.tag}: unexpected first line {line!r}")
        return time.monotonic() - started
    finally:
        deadline.cancel()
        follow.kill()
        follow.wait(timeout=30)


def lines_per_s(side: Side, name: str, lines: int) -> float:
    side.create(name, f"seq 1 {lines}; sleep 3600")

    def count() -> int:
        return run(side.logs_argv(name, follow=False)).count("\n")

    wait_for(lambda: count() >= lines, f"{lines} lines of {name}", 120.0, interval=0.5)
    started = time.monotonic()
    got = count()
    elapsed = time.monotonic() - started
    if got < lines:
        raise RuntimeError(f"{side.tag}: read {got} lines of {lines}")
    return got / elapsed


def measure(side: Side, runs: int, lines: int, prefix: str) -> dict[str, Any]:
    firsts: list[float] = []
    rates: list[float] = []
    for i in range(runs):
        for what, action, into in (
            ("first", lambda n: first_line_s(side, n), firsts),
            ("rate", lambda n: lines_per_s(side, n, lines), rates),
        ):
            name = f"{prefix}-{what}-{i}"
            try:
                into.append(action(name))
            finally:
                side.rm(name)
        log(f"{side.tag} run {i + 1}: first line {firsts[-1]:.3f}s, {rates[-1]:.0f} lines/s")
    return {"first_line_s": median(firsts), "lines_per_s": median(rates)}


def engine() -> Any:
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except Exception as exc:
        log(f"no Docker engine ({exc}): swarmnode alone, process executor")
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--executor", choices=("docker", "process"), default=None)
    parser.add_argument("--no-docker", action="store_true", help="skip Docker swarm mode")
    parser.add_argument("--smoke", action="store_true", help="process executor, 500 lines, 1 run")
    args = parser.parse_args(argv)
    if args.smoke:
        args.lines, args.runs, args.executor, args.no_docker = 500, 1, "process", True
    needs_engine = not args.no_docker or args.executor == "docker"
    client = engine() if needs_engine else None
    executor = args.executor or ("docker" if client is not None else "process")
    if executor == "docker":
        from tests.support.testimage import ensure_test_image

        ensure_test_image(client)
    prefix = f"benchlogs{os.getpid()}"
    result: dict[str, Any] = {
        "lines": args.lines,
        "runs": args.runs,
        "executor": executor,
        "core_lines_per_s": round(core_lines_per_s(max(args.lines, 50_000)), 0),
    }
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        ours = Swarmnode(Path(tmp), executor, client)
        try:
            result["swarmnode"] = measure(ours, args.runs, args.lines, prefix)
        finally:
            ours.stop()
    if client is not None and not args.no_docker:
        with swarm_mode(client):
            theirs = DockerSwarmMode()
            result["swarm"] = measure(theirs, args.runs, args.lines, prefix)
        result["ratio_first_line"] = ratio(
            result["swarmnode"]["first_line_s"], result["swarm"]["first_line_s"]
        )
        result["ratio_lines_per_s"] = ratio(
            result["swarmnode"]["lines_per_s"], result["swarm"]["lines_per_s"]
        )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
