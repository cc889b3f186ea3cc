"""CLI start-up: wall time of ``swarmctl version`` and ``swarmctl service ls`` (issue 9, item 6).

    python bench/cli.py [--runs 21] [--smoke]

One manager (a real ``swarm-node`` process, ``--executor process``,
tests/support/swarm.py) with three services of 0 replicas, so ``service ls`` has rows to
print. Each round runs, one after the other: ``python -c pass`` with the same interpreter
(the floor: what any Python command costs), ``swarmctl version``, ``swarmctl service ls``
and, when a Docker daemon answers, ``docker version --format x`` (the docker CLI's
equivalent of the first, for reference). Rounds interleave the commands so that the load
of whatever else runs on the machine weighs on all alike. The commands run with bytecode
caches, as an installed swarmctl has them: ``PYTHONPYCACHEPREFIX`` names a directory of
the bench's own (``PYTHONDONTWRITEBYTECODE`` unset), so the warm-up round that goes first
writes them there, not in the checkout. ``swarmctl`` is the console script next to the
interpreter (``python -m cli.ctl`` when there is none).

Prints one JSON document: for each command the median, minimum and the median CPU time
(user + system of the process, less sensitive to a busy machine than wall time) in
seconds; swarmctl's medians less the floor; the ratios to the docker CLI; and the aim
(0.1 s per swarmctl call). ``--smoke``: 3 rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py

from _common import with_bytecode_cache  # noqa: E402

from tests.support.swarm import Swarm  # noqa: E402

AIM_S = 0.1
SERVICES = 3
COMMAND_TIMEOUT_S = 60.0


def swarmctl_command() -> list[str]:
    script = Path(sys.executable).with_name("swarmctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.ctl"]


def timed(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(
            ["docker", "version", "--format", "x"], capture_output=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def figures(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls = [wall for wall, _ in samples]
    return {
        "median_s": round(statistics.median(walls), 4),
        "min_s": round(min(walls), 4),
        "cpu_median_s": round(statistics.median(cpu for _, cpu in samples), 4),
    }


def run(rounds: int) -> dict[str, Any]:
    ctl = swarmctl_command()
    with tempfile.TemporaryDirectory(prefix="sn-cli-") as tmp, Swarm(Path(tmp)) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        for i in range(SERVICES):
            node.ctl_json(
                "service", "create", "--name", f"bench-{i}", "--replicas", "0", "--detach",
                "busybox", "sleep", "1",
            )  # fmt: skip
        socket = ["--socket", str(node.socket)]
        commands = {
            "python_floor": [sys.executable, "-c", "pass"],
            "swarmctl_version": [*ctl, *socket, "version"],
            "swarmctl_service_ls": [*ctl, *socket, "service", "ls"],
        }
        if docker_answers():
            commands["docker_version"] = ["docker", "version", "--format", "x"]
        env = with_bytecode_cache(os.environ, Path(tmp) / "pycache")
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for argv in commands.values():  # warm-up: bytecode caches, page cache
            timed(argv, env)
        for _ in range(rounds):
            for name, argv in commands.items():
                samples[name].append(timed(argv, env))
    measured = {name: figures(runs) for name, runs in samples.items()}
    return {"swarmctl_command": " ".join(ctl), **compare(measured)}


def compare(measured: dict[str, dict[str, float]]) -> dict[str, Any]:
    floor = measured["python_floor"]["median_s"]
    docker = measured.get("docker_version", {}).get("median_s")
    calls = ("swarmctl_version", "swarmctl_service_ls")
    return {
        "commands": measured,
        "above_floor_s": {name: round(measured[name]["median_s"] - floor, 4) for name in calls},
        "ratio_to_docker": (
            {name: round(measured[name]["median_s"] / docker, 1) for name in calls}
            if docker
            else None
        ),
        "aim_s": AIM_S,
        "within_aim": all(measured[name]["median_s"] <= AIM_S for name in calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21, help="rounds of every command")
    parser.add_argument("--smoke", action="store_true", help="3 rounds")
    args = parser.parse_args()
    rounds = 3 if args.smoke else args.runs
    if rounds < 1:
        parser.error("--runs must be at least 1")
    result = {
        "benchmark": "cli.startup",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "smoke": args.smoke,
        "rounds": rounds,
        **run(rounds),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
