"""The Engine API's latency: the real ``docker`` CLI against ``swarm-node --engine-api``
beside the same commands against Docker's own swarm mode, on the same engine.

    python bench/engine_api.py [--services 10] [--runs 20] [--smoke]

One real single-node ``swarm-node --executor docker --engine-api unix://...`` and the
engine's swarm mode (``bench/_docker_swarm.py``: ``docker swarm init`` unless the engine
already is a swarm member, left as it was found). Each side holds ``--services`` services
of 0 replicas (what ``service ls`` lists; no container to wait for), then, run by run in
ABBA order, the wall time of one ``docker`` process:

- **service_ls**: ``docker service ls`` (the CLI asks ``/services?status=true``, then
  ``/nodes`` for nothing: it prints a table of every service);
- **service_create**: ``docker service create --detach --no-resolve-image --replicas 0``
  of a new service (removed afterwards, untimed).

Both include the CLI's own start (the same binary, so the same cost on both sides).
Prints one JSON document: per measure both medians and swarmnode/swarm (below 1 means
swarmnode is faster), and every run. ``--smoke``: 2 services, 2 runs, swarmnode only (the
engine's swarm state is not touched). Everything it created is removed in ``finally``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py
sys.path.append(str(ROOT / "bench"))  # would shadow the transport package

from _docker_swarm import swarm_mode, wait_for  # noqa: E402
from converge import median, ratio  # noqa: E402

from tests.support.testimage import ensure_test_image  # noqa: E402

REFERENCE = "Docker's swarm mode on the same engine, through the same docker CLI"


def log(message: str) -> None:
    print(f"[engine_api] {message}", file=sys.stderr, flush=True)


class Side:
    """One endpoint the docker CLI talks to (``env``: its DOCKER_HOST, or the engine's)."""

    def __init__(self, tag: str, env: dict[str, str], prefix: str, image: str) -> None:
        self.tag = tag
        self.env = env
        self.prefix = prefix
        self.image = image
        self.created: list[str] = []
        self.runs: dict[str, list[float]] = {"service_ls_s": [], "service_create_s": []}

    def docker(self, *args: str) -> float:
        """Run ``docker ARGS``; its wall time in seconds (RuntimeError if it failed)."""
        started = time.monotonic()
        result = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError(f"{self.tag}: docker {' '.join(args)}: {result.stderr.strip()}")
        return elapsed

    def create(self, name: str) -> float:
        self.created.append(name)
        return self.docker(
            "service", "create", "--detach", "--quiet", "--no-resolve-image",
            "--replicas", "0", "--name", name, self.image, "sleep", "3600",
        )  # fmt: skip

    def cleanup(self) -> None:
        for name in reversed(self.created):
            with contextlib.suppress(Exception):
                self.docker("service", "rm", name)
        self.created.clear()


def measure(sides: list[Side], args: argparse.Namespace) -> None:
    for side in sides:
        for i in range(args.services):
            side.create(f"{side.prefix}{side.tag}-held-{i}")
        side.docker("service", "ls")  # warm: the first call pays for connections
    for run in range(args.runs):
        order = sides if run % 2 == 0 else list(reversed(sides))  # ABBA
        for side in order:
            side.runs["service_ls_s"].append(round(side.docker("service", "ls"), 4))
            name = f"{side.prefix}{side.tag}-new-{run}"
            side.runs["service_create_s"].append(round(side.create(name), 4))
            side.docker("service", "rm", name)
            side.created.remove(name)
        log(f"run {run + 1}/{args.runs}: " + ", ".join(
            f"{s.tag} ls {s.runs['service_ls_s'][-1]:.3f}s create "
            f"{s.runs['service_create_s'][-1]:.3f}s" for s in sides
        ))  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=10, help="services each side holds")
    parser.add_argument("--runs", type=int, default=20, help="runs per measure; the median")
    parser.add_argument("--skip-swarm", action="store_true", help="skip Docker's swarm mode")
    parser.add_argument("--smoke", action="store_true", help="2 services, 2 runs, swarmnode only")
    args = parser.parse_args(argv)
    if args.smoke:
        args.services, args.runs, args.skip_swarm = 2, 2, True
    if args.services < 0 or args.runs < 1:
        parser.error("--services must be >= 0 and --runs at least 1")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import docker

    from tests.support.swarm import Swarm

    signal.signal(signal.SIGTERM, _terminate)
    client = docker.from_env(timeout=120)
    image = ensure_test_image(client)
    prefix = f"bench-{os.getpid()}-"
    workdir = Path(tempfile.mkdtemp(prefix="swarmnode-bench-engine-"))
    socket = workdir / "engine.sock"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    base_env["DOCKER_CONFIG"] = str(workdir / "docker-config")
    result: dict[str, Any] = {
        "bench": "engine_api",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "engine": client.version().get("Version"),
        },
        "services_held": args.services,
        "runs": args.runs,
        "reference": REFERENCE,
        "load_average_before": os.getloadavg(),
    }
    errors: list[str] = []
    sides: list[Side] = []
    swarm = Swarm(workdir, docker_client=client)
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(swarm.cleanup)
            node = swarm.start_node(
                "bench", executor="docker", extra=("--engine-api", f"unix://{socket}")
            )
            node.wait_ready(timeout=60)
            wait_for(socket.exists, "the Engine API socket", 30)
            ours = Side("sn", {**base_env, "DOCKER_HOST": f"unix://{socket}"}, prefix, image)
            stack.callback(ours.cleanup)
            sides.append(ours)
            if not args.skip_swarm:
                result["swarm_mode_initialized_by_bench"] = stack.enter_context(swarm_mode(client))
                theirs = Side("dk", dict(base_env), prefix, image)
                stack.callback(theirs.cleanup)
                sides.append(theirs)
            try:
                measure(sides, args)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                log(errors[-1])
            result["load_average_after"] = os.getloadavg()
    finally:
        with contextlib.suppress(OSError):
            for path in sorted(workdir.rglob("*"), reverse=True):
                path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
            workdir.rmdir()
    by_tag = {s.tag: s.runs for s in sides}
    for measure_name in ("service_ls_s", "service_create_s"):
        ours_m = median(by_tag.get("sn", {}).get(measure_name, []))
        theirs_m = median(by_tag.get("dk", {}).get(measure_name, []))
        result[measure_name] = {
            "swarmnode": ours_m,
            "swarm": theirs_m,
            "swarmnode_over_swarm": ratio(ours_m, theirs_m),
        }
    result["all_runs"] = by_tag
    result["errors"] = errors
    print(json.dumps(result, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
