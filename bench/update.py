"""Rolling updates and automatic rollbacks: swarmnode against Docker's swarm mode, on the
same engine.

    python bench/update.py [--replicas 20] [--parallelism 5] [--runs 3] [--smoke]

With the test image (``swarmnode-test:busybox``, ``sleep 3600``), on a real single-node
``swarm-node --executor docker`` and on Docker's swarm mode (``bench/_docker_swarm.py``:
``docker swarm init`` unless the engine already is a swarm member), each run measures:

- **update**: a service of ``--replicas`` running tasks gets a new environment variable
  (``service update --detach --env-add``), replaced ``--parallelism`` at a time with no
  delay, stop-first; from launching the command until the update status is *completed*
  and every task runs (both wait ``--monitor`` after the last batch before completing);
- **rollback**: the same service gets a command that exits 1 at once, with
  ``--update-failure-action rollback``; from launching the command until the update
  status is *rollback_completed* and every task runs the first spec again (the rollback
  is paced by ``--rollback-parallelism`` = ``--parallelism`` set at create).

Both sides are created with the same flags (``--update-parallelism``,
``--update-delay 0s``, ``--update-monitor``, ``--rollback-parallelism``,
``--rollback-monitor``, ``--restart-delay 0s``, ``--stop-signal SIGKILL``: ``sleep`` as
PID 1 ignores TERM, and ten seconds of grace per task would hide what is measured) and
polled in-process every 50 ms (swarmnode's control socket, the engine's API); they take
turns run by run in ABBA order.
Between runs the service is removed and the bench waits for its containers to go.

Prints one JSON document: per measure both medians and swarmnode/swarm (below 1 means
swarmnode is faster), and every run. ``--smoke``: 2 replicas, parallelism 1, monitor 1s,
one run, both sides (swarm mode under bench/_docker_swarm.py's lock, so benches running at
once take turns).
Everything it created is removed in ``finally``, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py
sys.path.append(str(ROOT / "bench"))  # would shadow the transport package

from _common import machine, stop_on_sigterm, use_bytecode_cache  # noqa: E402
from _docker_swarm import DockerSwarm, docker_cli, swarm_mode, wait_for  # noqa: E402
from converge import Budget, SwarmnodeSide, median, ratio  # noqa: E402

from tests.support.testimage import ensure_test_image  # noqa: E402

FAILING = "sh -c 'exit 1'"


def log(message: str) -> None:
    print(f"[update] {message}", file=sys.stderr, flush=True)


# -- what each side needs beyond bench/converge.py's sides ----------------------------------
def update(side: Any, name: str, *flags: str) -> None:
    if isinstance(side, DockerSwarm):
        docker_cli("service", "update", "--detach", "--quiet", *flags, name)
    else:
        side.ctl("service", "update", "--detach", *flags, name)


def update_state(side: Any, name: str) -> str:
    if isinstance(side, DockerSwarm):
        status = side.client.api.inspect_service(name).get("UpdateStatus") or {}
        return str(status.get("State", ""))
    reply = side.connection.request("control.service.inspect", {"service": name})
    return str((reply["service"].get("update_status") or {}).get("state", ""))


def settled(side: Any, name: str, state: str, replicas: int) -> bool:
    return update_state(side, name) == state and side.running(name) >= replicas


# -- the measures -----------------------------------------------------------------------------
def create(side: Any, name: str, args: argparse.Namespace) -> None:
    side.create(
        name, args.replicas,
        "--update-parallelism", str(args.parallelism), "--update-delay", "0s",
        "--update-monitor", f"{args.monitor}s", "--rollback-parallelism", str(args.parallelism),
        "--rollback-monitor", f"{args.monitor}s", "--restart-delay", "0s",
        "--stop-signal", "SIGKILL",
    )  # fmt: skip
    wait_for(lambda: side.running(name) >= args.replicas, f"{name} running", args.timeout)


def measure_once(side: Any, run: int, args: argparse.Namespace) -> None:
    name = f"{side.prefix}{side.tag}-upd-{run}"
    create(side, name, args)
    started = time.monotonic()
    update(side, name, "--env-add", f"RUN={run}")
    wait_for(
        lambda: settled(side, name, "completed", args.replicas), f"{name} updated", args.timeout
    )
    updated = time.monotonic() - started
    started = time.monotonic()
    update(side, name, "--update-failure-action", "rollback", "--args", FAILING)
    wait_for(
        lambda: settled(side, name, "rollback_completed", args.replicas),
        f"{name} rolled back",
        args.timeout,
    )
    rolled = time.monotonic() - started
    side.results.setdefault("update_runs_s", []).append(round(updated, 3))
    side.results.setdefault("rollback_runs_s", []).append(round(rolled, 3))
    log(f"{side.tag} run {run + 1}: update {updated:.2f}s, rollback {rolled:.2f}s")
    side.rm(name, args.timeout)


def measure(sides: list[Any], args: argparse.Namespace, budget: Budget) -> None:
    for run in range(args.runs):
        for side in sides if run % 2 == 0 else sides[::-1]:
            if budget.allows(f"{side.tag} run {run + 1}"):
                measure_once(side, run, args)


# -- main -------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=20, help="tasks of the service")
    parser.add_argument("--parallelism", type=int, default=5, help="tasks replaced at once")
    parser.add_argument("--monitor", type=float, default=5.0, help="monitor period, seconds")
    parser.add_argument("--runs", type=int, default=3, help="runs per side; the median")
    parser.add_argument("--timeout", type=float, default=300.0, help="deadline of one wait")
    parser.add_argument("--budget", type=float, default=3600, help="seconds for the whole run")
    parser.add_argument("--skip-swarm", action="store_true", help="skip Docker's swarm mode")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="2 replicas, parallelism 1, monitor 1s, one run (swarm mode included: its "
        "side must not rot either)",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.replicas, args.parallelism, args.monitor, args.runs = 2, 1, 1.0, 1
        args.budget = min(args.budget, 300.0)
    if args.replicas < 1 or args.parallelism < 1 or args.runs < 1:
        parser.error("--replicas, --parallelism and --runs must be at least 1")
    return args


def _pair(ours: dict[str, Any], theirs: dict[str, Any], key: str) -> dict[str, Any]:
    a, b = median(ours.get(key, [])), median(theirs.get(key, []))
    return {"swarmnode_s": a, "swarm_s": b, "ratio": ratio(a, b)}


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
        "bench": "update",
        "machine": machine(client),
        "image": image,
        "replicas": args.replicas,
        "parallelism": args.parallelism,
        "monitor_s": args.monitor,
        "runs": args.runs,
        "load_average_before": os.getloadavg(),
    }
    ours: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    errors: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="swarmnode-bench-update-"))
    use_bytecode_cache(workdir / "pycache")
    try:
        with contextlib.ExitStack() as stack:
            sn = SwarmnodeSide(client, workdir, prefix)
            sn.results = ours
            stack.callback(sn.stop)
            sn.start()
            sides: list[Any] = [sn]
            if not args.skip_swarm:
                result["swarm_mode_initialized_by_bench"] = stack.enter_context(
                    swarm_mode(client, lock_timeout=args.budget)
                )
                dk = DockerSwarm(client, prefix, image)
                dk.results = theirs
                stack.callback(dk.cleanup, 120)
                sides.append(dk)
            try:
                measure(sides, args, budget)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                log(errors[-1])
            result["load_average_after"] = os.getloadavg()
    except KeyboardInterrupt as exc:
        errors.append(f"interrupted: {exc or 'Ctrl-C'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    result.update(
        {
            "update": _pair(ours, theirs, "update_runs_s"),
            "rollback": _pair(ours, theirs, "rollback_runs_s"),
            "ratio_note": "swarmnode / swarm mode: below 1 means swarmnode is faster",
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
