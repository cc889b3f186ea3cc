"""Service convergence: swarmnode against Docker's own swarm mode, on the same engine.

    python bench/converge.py [--sizes 1,10,50,100] [--runs 5] [--quick] [--smoke]

In one run on the local engine, with the test image (``swarmnode-test:busybox``, command
``sleep 3600``), measures the median of ``--runs`` runs of:

- the engine alone: containers started per second, ``--threads`` (10) ``docker run -d`` at
  a time (create + start through the API), ``--runs`` times before the orchestrators and
  as many after them (the median of all);
- swarmnode: a real single-node ``swarm-node`` (``--executor docker``, fresh state dir,
  free 127.0.0.1 port); ``swarmctl service create --detach --replicas N`` until N tasks
  run; ``swarmctl service scale NAME=50`` from 10 running until 50 run; a killed container
  (``docker kill``, service with ``--restart-delay 0``) until a new task in its slot runs;
- Docker's swarm mode (``docker swarm init --advertise-addr 127.0.0.1`` unless the engine is
  already a swarm member, which is then reused and not left): ``docker service create
  --no-resolve-image --detach`` and the same three measures (``--restart-delay 0s``).

A converge time runs from launching the CLI's create (or scale) command to the first poll
that sees N tasks running (desired and observed); polls are in-process (swarmnode's control
socket, the engine's API), every 50 ms. Between runs the service is removed and the bench
waits until none of its containers is left. The engine alone goes first and last; between,
both orchestrators are up together and take turns run by run, in ABBA order, so a load that
changes during the bench (other work on a shared machine) weighs on both alike.

Prints one JSON document: per size both medians and swarmnode/swarm (below 1 means
swarmnode is faster), each over the time the engine alone takes for as many containers at
its rate (issue 14's aim: swarmnode within 1.2x at 50 and 100), the same for scale
10 → 50 and replacement, the engine-alone rate, the figures of issue 4 for comparison, and
per size where swarmnode's time went (``detail.swarmnode.milestones_s``, from the node's
log: bench/_trace.py). Everything it created (services, containers,
the node process, swarm mode) is removed in ``finally``, also on Ctrl-C or SIGTERM. Each
wait has a deadline and ``--budget`` bounds the whole run: what does not fit is skipped and
reported as such. ``--smoke``: 1 replica, scale 1 → 2, one run, 5 containers alone, both
orchestrators (swarm mode under bench/_docker_swarm.py's lock, so benches running at once
take turns).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py
sys.path.append(str(ROOT / "bench"))  # would shadow the transport package

from _common import machine, ratio, stop_on_sigterm, use_bytecode_cache  # noqa: E402
from _docker_swarm import DockerSwarm, engine_alone, swarm_mode, wait_for  # noqa: E402
from _trace import RunWindow, summarize_milestones  # noqa: E402

from tests.support.testimage import ensure_test_image  # noqa: E402

REFERENCE = {
    "source": "issue 4: Docker swarm mode on this kind of machine (2 cores), median of 5",
    "swarm_converge_s": {"1": 0.62, "10": 1.64, "50": 15.99, "100": 31.74},
    "swarm_scale_10_to_50_s": 11.9,
    "swarm_replace_s": 0.59,
    "engine_alone_containers_per_s": 7.5,
}
AIM_OVER_ENGINE = 1.2  # issue 14: within 1.2x of the engine alone at 50 and 100 replicas
SCALE_FROM, SCALE_TO = 10, 50
COMMAND = ("sleep", "3600")


class Budget:
    """The whole run's deadline: a measure that would start after it is skipped."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.skipped: list[str] = []

    def allows(self, what: str) -> bool:
        if time.monotonic() < self.deadline:
            return True
        self.skipped.append(what)
        return False


def converge_timeout(replicas: int) -> float:
    return 60.0 + 3.0 * replicas


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def log(message: str) -> None:
    print(f"[converge] {message}", file=sys.stderr, flush=True)


def timed(action: Callable[[], Any], done: Callable[[], Any], what: str, timeout: float) -> float:
    started = time.monotonic()
    action()
    wait_for(done, what, timeout)
    return time.monotonic() - started


# -- swarmnode ------------------------------------------------------------------------------
class SwarmnodeSide:
    """One real ``swarm-node`` with the docker executor, driven through ``swarmctl``."""

    def __init__(self, client: Any, workdir: Path, prefix: str) -> None:
        from tests.support.swarm import Swarm

        self.client = client
        self.prefix = prefix
        self.tag = "sn"
        self.results: dict[str, Any] = {}
        self.windows: list[RunWindow] = []  # the converge runs, for the log's milestones
        self.swarm = Swarm(workdir, docker_client=client)
        self.node: Any = None
        self.connection: Any = None
        self.swarmctl = self._swarmctl_argv()

    @staticmethod
    def _swarmctl_argv() -> list[str]:
        script = Path(sys.executable).with_name("swarmctl")
        if script.exists():
            return [str(script)]
        return [sys.executable, "-m", "cli.ctl"]

    def start(self) -> None:
        from cli.connection import ControlConnection

        self.node = self.swarm.start_node("bench", executor="docker")
        self.node.wait_ready(timeout=60)
        self.connection = ControlConnection(self.node.socket, timeout=30).__enter__()

    def ctl(self, *args: str) -> str:
        result = subprocess.run(
            [*self.swarmctl, "--socket", str(self.node.socket), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"swarmctl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    # actions
    def create(self, name: str, replicas: int, *extra: str) -> None:
        self.ctl(
            "service", "create", "--detach", "--name", name, "--replicas", str(replicas),
            *extra, "swarmnode-test:busybox", *COMMAND,
        )  # fmt: skip

    def scale(self, name: str, replicas: int) -> None:
        self.ctl("service", "scale", "--detach", f"{name}={replicas}")

    def rm(self, name: str, timeout: float) -> None:
        with contextlib.suppress(RuntimeError):
            self.ctl("service", "rm", name)
        wait_for(lambda: not self.containers(), f"containers of {name} removed", timeout, 0.2)

    # observation
    def tasks(self, name: str) -> list[dict[str, Any]]:
        return list(self.connection.request("control.service.ps", {"service": name})["tasks"])

    def running(self, name: str) -> int:
        return sum(
            1
            for t in self.tasks(name)
            if t["state"] == "running" and t["desired_state"] == "running"
        )

    def running_task(self, name: str, slot: int) -> dict[str, Any] | None:
        for t in self.tasks(name):
            if t["slot"] == slot and t["state"] == "running" and t["desired_state"] == "running":
                return t
        return None

    def containers(self) -> list[dict[str, Any]]:
        label = f"com.docker.swarm.node.id={self.node.node_id}"
        return list(self.client.api.containers(all=True, filters={"label": label}))

    def milestones(self) -> dict[str, Any]:
        """Per size, where the converge time went (bench/_trace.py), from the node's log."""
        if self.node is None or not self.windows:
            return {}
        return summarize_milestones(self.node.log_events(), self.windows)

    def copy_log(self, destination: str) -> None:
        if self.node is not None:
            with contextlib.suppress(OSError):
                shutil.copy(self.node.log_path, destination)

    def stop(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.__exit__(None, None, None)
        self.swarm.cleanup()  # kill -9 the node, then remove the containers with its id


# -- the measures, the same for both sides ------------------------------------------------
def warm_up(side: Any) -> None:
    """First service and first container of the side (not counted)."""
    name = f"{side.prefix}{side.tag}-warm"
    side.create(name, 1)
    wait_for(lambda: side.running(name) >= 1, f"{name} running", converge_timeout(1))
    side.rm(name, converge_timeout(1))


def converge_once(side: Any, size: int, run: int, out: dict[str, Any]) -> None:
    name = f"{side.prefix}{side.tag}-n{size}-{run}"
    launched = time.time()
    started = time.monotonic()
    side.create(name, size)
    cli = time.monotonic() - started
    wait_for(lambda: side.running(name) >= size, f"{name}: {size} running", converge_timeout(size))
    elapsed = time.monotonic() - started
    side.windows.append(RunWindow(size, launched, launched + cli, launched + elapsed))
    out.setdefault("converge_runs_s", {}).setdefault(str(size), []).append(round(elapsed, 3))
    out.setdefault("create_cli_runs_s", {}).setdefault(str(size), []).append(round(cli, 3))
    log(f"{side.tag} {size} replicas: {elapsed:.2f}s (create command {cli:.2f}s)")
    side.rm(name, converge_timeout(size))


def scale_once(
    side: Any, run: int, out: dict[str, Any], scale: tuple[int, int] = (SCALE_FROM, SCALE_TO)
) -> None:
    name = f"{side.prefix}{side.tag}-scale-{run}"
    start, end = scale
    side.create(name, start)
    wait_for(
        lambda: side.running(name) >= start,
        f"{name}: {start} running",
        converge_timeout(start),
    )
    elapsed = timed(
        lambda: side.scale(name, end),
        lambda: side.running(name) >= end,
        f"{name}: {end} running",
        converge_timeout(end),
    )
    out.setdefault("scale_runs_s", []).append(round(elapsed, 3))
    log(f"{side.tag} scale {start}->{end}: {elapsed:.2f}s")
    side.rm(name, converge_timeout(end))


def replace_setup(side: Any) -> dict[str, Any]:
    name = f"{side.prefix}{side.tag}-replace"
    side.create(name, 1, "--restart-delay", "0s")
    task: dict[str, Any] = wait_for(lambda: side.running_task(name, 1), f"{name} running", 60)
    return task


def replace_once(side: Any, current: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """``docker kill`` the container of slot 1's task; until another task runs in slot 1."""
    name = f"{side.prefix}{side.tag}-replace"
    old_id, container = task_id_and_container(current)
    started = time.monotonic()
    side.client.api.kill(container)
    new: dict[str, Any] = wait_for(
        lambda: _replaced(side.running_task(name, 1), old_id), f"{name}: slot 1 replaced", 60
    )
    elapsed = time.monotonic() - started
    out.setdefault("replace_runs_s", []).append(round(elapsed, 3))
    log(f"{side.tag} replace: {elapsed:.2f}s")
    return new


def summarize(out: dict[str, Any]) -> None:
    out["converge_s"] = {k: median(v) for k, v in out.get("converge_runs_s", {}).items()}
    out["create_cli_s"] = {k: median(v) for k, v in out.get("create_cli_runs_s", {}).items()}
    out["scale_10_to_50_s"] = median(out.get("scale_runs_s", []))
    out["replace_s"] = median(out.get("replace_runs_s", []))


def measure(
    sides: list[Any],
    sizes: Sequence[int],
    runs: int,
    budget: Budget,
    scale: tuple[int, int] = (SCALE_FROM, SCALE_TO),
) -> None:
    """Every measure on every side, run by run, the sides in ABBA order (so a load that
    drifts during the bench weighs on both alike)."""

    def order(run: int) -> list[Any]:
        return sides if run % 2 == 0 else sides[::-1]

    for side in sides:
        warm_up(side)
    for size in sizes:
        for run in range(runs):
            for side in order(run):
                if budget.allows(f"{side.tag} converge {size} run {run + 1}"):
                    converge_once(side, size, run, side.results)
    for run in range(runs):
        for side in order(run):
            if budget.allows(f"{side.tag} scale run {run + 1}"):
                scale_once(side, run, side.results, scale)
    current = {side.tag: replace_setup(side) for side in sides}
    for run in range(runs):
        for side in order(run):
            if budget.allows(f"{side.tag} replace run {run + 1}"):
                current[side.tag] = replace_once(side, current[side.tag], side.results)
    for side in sides:
        side.rm(f"{side.prefix}{side.tag}-replace", 120)


def task_id_and_container(task: dict[str, Any]) -> tuple[str, str]:
    if "ID" in task:  # Docker's task object
        return str(task["ID"]), str(task["Status"]["ContainerStatus"]["ContainerID"])
    return str(task["id"]), str(task["container_id"])


def _replaced(task: dict[str, Any] | None, old_id: str) -> dict[str, Any] | None:
    if task is None:
        return None
    return task if task_id_and_container(task)[0] != old_id else None


# -- main -----------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10,50,100", help="replica counts (1,10,50,100)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measure; the median")
    parser.add_argument("--quick", action="store_true", help="sizes 1,10 and one run")
    parser.add_argument("--threads", type=int, default=10, help="engine alone: concurrency")
    parser.add_argument("--engine-count", type=int, default=50, help="engine alone: containers")
    parser.add_argument("--budget", type=float, default=3600, help="seconds for the whole run")
    parser.add_argument("--skip-swarmnode", action="store_true")
    parser.add_argument("--skip-swarm", action="store_true", help="skip Docker's swarm mode")
    parser.add_argument(
        "--keep-node-log", metavar="PATH", help="copy the swarm-node's JSON log here"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="1 replica, scale 1->2, one run, 5 containers alone (swarm mode included: "
        "its side must not rot either)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.runs, args.engine_count = "1,10", 1, 20
    args.scale = (SCALE_FROM, SCALE_TO)
    if args.smoke:
        args.sizes, args.runs, args.engine_count = "1", 1, 5
        args.budget, args.scale = min(args.budget, 300.0), (1, 2)
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    if not args.sizes or min(args.sizes) < 1 or args.runs < 1:
        parser.error("sizes must be positive integers and --runs at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import docker

    stop_on_sigterm()
    client = docker.from_env(timeout=120)
    image = ensure_test_image(client)
    budget = Budget(args.budget)
    prefix = f"bench-{os.getpid()}-"
    started = time.monotonic()
    result: dict[str, Any] = {
        "bench": "converge",
        "machine": machine(client),
        "image": image,
        "sizes": args.sizes,
        "scale": list(args.scale),  # the scale_10_to_50 figures are of this scale
        "runs": args.runs,
        "reference": REFERENCE,
        "load_average_before": os.getloadavg(),
    }
    ours: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    errors: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="swarmnode-bench-converge-"))
    use_bytecode_cache(workdir / "pycache")  # the warm-up writes them, before any timing
    try:
        # 1. the engine alone (again after the orchestrators: step 3)
        rates: list[float] = []

        def engine_rounds(first: int) -> None:
            for run in range(first, first + args.runs):
                r = engine_alone(client, image, args.engine_count, args.threads, f"{prefix}{run}")
                rates.append(r["rate"])
                log(f"engine alone: {r['rate']:.2f} containers/s")

        engine_rounds(0)

        # 2. both orchestrators, run by run
        with contextlib.ExitStack() as stack:
            sides: list[Any] = []
            if not args.skip_swarmnode:
                sn = SwarmnodeSide(client, workdir, prefix)
                sn.results = ours
                stack.callback(sn.stop)
                if args.keep_node_log:
                    stack.callback(sn.copy_log, args.keep_node_log)
                sn.start()
                sides.append(sn)
            if not args.skip_swarm:
                result["swarm_mode_initialized_by_bench"] = stack.enter_context(
                    swarm_mode(client, lock_timeout=args.budget)
                )
                dk = DockerSwarm(client, prefix, image)
                dk.results = theirs
                stack.callback(dk.cleanup, 120)
                sides.append(dk)
            try:
                measure(sides, args.sizes, args.runs, budget, args.scale)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                log(errors[-1])
            if not args.skip_swarmnode:
                ours["milestones_s"] = sn.milestones()
        # 3. the engine alone again, so that a load that drifts weighs on it too
        engine_rounds(args.runs)
        result["load_average_after"] = os.getloadavg()
    except KeyboardInterrupt as exc:
        errors.append(f"interrupted: {exc or 'Ctrl-C'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    engine = {
        "containers_per_s": median(rates),
        "runs": [round(r, 3) for r in rates],
        "containers": args.engine_count,
        "threads": args.threads,
    }
    summarize(ours)
    summarize(theirs)
    sizes: dict[str, Any] = {}
    engine_rate = engine.get("containers_per_s")
    for size in args.sizes:
        key = str(size)
        a = (ours.get("converge_s") or {}).get(key)
        b = (theirs.get("converge_s") or {}).get(key)
        alone = round(size / engine_rate, 3) if engine_rate else None
        sizes[key] = {
            "swarmnode_s": a,
            "swarm_s": b,
            "engine_alone_s": alone,
            "ratio": ratio(a, b),
            "swarmnode_over_engine": ratio(a, alone),
            "swarm_over_engine": ratio(b, alone),
            "swarm_reference_s": REFERENCE["swarm_converge_s"].get(key),
            "swarmnode_containers_per_s": round(size / a, 2) if a else None,
            "swarm_containers_per_s": round(size / b, 2) if b else None,
        }

    def pair(key: str, ref: str) -> dict[str, Any]:
        a, b = ours.get(key), theirs.get(key)
        return {
            "swarmnode_s": a, "swarm_s": b, "ratio": ratio(a, b),
            "swarm_reference_s": REFERENCE[ref],  # type: ignore[literal-required]
        }  # fmt: skip

    result.update(
        {
            "converge": sizes,
            "scale_10_to_50": pair("scale_10_to_50_s", "swarm_scale_10_to_50_s"),
            "replace_killed": pair("replace_s", "swarm_replace_s"),
            "engine_alone": engine
            | {"reference_containers_per_s": REFERENCE["engine_alone_containers_per_s"]},
            "ratio_note": "swarmnode / swarm mode: below 1 means swarmnode is faster; "
            "X_over_engine: X's converge time over engine_alone_s, the time the engine "
            "alone takes for as many containers at its measured rate (aim: swarmnode "
            f"at most {AIM_OVER_ENGINE} at 50 and 100 replicas)",
            "aim": {
                "swarmnode_over_swarm_below": 1.0,
                "swarmnode_over_engine_at_most": AIM_OVER_ENGINE,
            },
            "detail": {"swarmnode": ours, "swarm": theirs},
            "skipped": budget.skipped,
            "errors": errors,
            "elapsed_s": round(time.monotonic() - started, 1),
        }
    )
    print(json.dumps(result, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
