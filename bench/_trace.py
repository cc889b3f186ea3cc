"""Where a swarmnode service's converge time goes, read from the node's JSON log.

A converge run (bench/converge.py) knows when it launched the CLI, when the CLI returned
and when its poll first saw every task running. The node's log events carry their times
(ISO 8601, UTC, microseconds), so the milestones in between are the first event of each
kind inside the run's window:

- ``orchestrator``: the orchestrator's tick that created the service's tasks;
- ``scheduler``: the scheduler's tick that assigned them;
- ``first_accepted``: the worker took the first task (its assignment arrived): its
  first transition, ``accepted``, or ``preparing`` for a new task the Docker executor
  prepares without inspecting first (actors/worker/controller.py);
- ``first_ready``, ``first_running``: the first task prepared (its container
  created) and running; ``last_running``: the last of the run's tasks running;
- ``seen``: the bench's poll saw them all (the status went worker -> agent -> dispatcher ->
  store -> control socket).

Each milestone is in seconds from the launch of the CLI. Runs are sequential, so a
window holds one service's events only (a previous service's removal creates and assigns
nothing, and its worker transitions are not ``accepted`` / ``ready`` / ``running``).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["RunWindow", "milestones", "summarize_milestones"]

MILESTONES = (
    "cli",
    "orchestrator",
    "scheduler",
    "first_accepted",
    "first_ready",
    "first_running",
    "last_running",
    "seen",
)


@dataclass(frozen=True)
class RunWindow:
    """One converge run, in wall-clock seconds (``time.time()``)."""

    size: int
    launched: float
    cli_returned: float
    seen: float


def event_time(event: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


def milestones(events: Iterable[Mapping[str, Any]], run: RunWindow) -> dict[str, float | None]:
    """The run's milestones (seconds from launch; None: not in the log)."""
    found: dict[str, float | None] = dict.fromkeys(MILESTONES)
    found["cli"] = run.cli_returned - run.launched
    found["seen"] = run.seen - run.launched
    running: list[float] = []
    for event in events:
        t = event_time(event)
        if t < run.launched or t > run.seen + 1.0:
            continue
        name = event.get("event")
        at = t - run.launched
        if name == "orchestrator.tick.complete" and event.get("created"):
            _first(found, "orchestrator", at)
        elif name == "scheduler.tick.complete" and event.get("assigned"):
            _first(found, "scheduler", at)
        elif name == "worker.task.transition":
            state = event.get("state")
            if state in ("accepted", "preparing"):
                _first(found, "first_accepted", at)
            if state == "ready":
                _first(found, "first_ready", at)
            elif state == "running":
                _first(found, "first_running", at)
                running.append(at)
    if running:
        found["last_running"] = max(running)
    return {k: None if v is None else round(v, 3) for k, v in found.items()}


def _first(found: dict[str, float | None], key: str, at: float) -> None:
    current = found[key]
    if current is None or at < current:
        found[key] = at


def summarize_milestones(
    events: Sequence[Mapping[str, Any]], runs: Sequence[RunWindow]
) -> dict[str, dict[str, float | None]]:
    """Per size, the median of each milestone over the runs of that size."""
    per_size: dict[int, list[dict[str, float | None]]] = {}
    for run in runs:
        per_size.setdefault(run.size, []).append(milestones(events, run))
    out: dict[str, dict[str, float | None]] = {}
    for size, rows in sorted(per_size.items()):
        out[str(size)] = {}
        for key in MILESTONES:
            values = [r[key] for r in rows if r[key] is not None]
            out[str(size)][key] = round(statistics.median(values), 3) if values else None  # type: ignore[type-var]
    return out
