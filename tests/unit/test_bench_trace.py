"""bench/_trace.py: a converge run's milestones read from the node's log events."""

from __future__ import annotations

from bench._trace import RunWindow, milestones

LAUNCH = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def at(seconds: float, **fields: object) -> dict[str, object]:
    micros = round(seconds * 1_000_000)
    stamp = f"2023-11-14T22:13:{20 + micros // 1_000_000:02d}.{micros % 1_000_000:06d}Z"
    return {"timestamp": stamp, **fields}


def test_a_task_that_goes_to_preparing_at_once_counts_as_accepted() -> None:
    # the Docker executor's new tasks skip the accepted transition (no inspect first)
    events = [
        at(0.10, event="orchestrator.tick.complete", created=2),
        at(0.11, event="scheduler.tick.complete", assigned=2),
        at(0.13, event="worker.task.transition", state="preparing"),
        at(0.14, event="worker.task.transition", state="accepted"),
        at(0.20, event="worker.task.transition", state="ready"),
        at(0.50, event="worker.task.transition", state="running"),
        at(0.70, event="worker.task.transition", state="running"),
    ]
    found = milestones(events, RunWindow(2, LAUNCH, LAUNCH + 0.05, LAUNCH + 0.8))
    assert found == {
        "cli": 0.05,
        "orchestrator": 0.1,
        "scheduler": 0.11,
        "first_accepted": 0.13,
        "first_ready": 0.2,
        "first_running": 0.5,
        "last_running": 0.7,
        "seen": 0.8,
    }
