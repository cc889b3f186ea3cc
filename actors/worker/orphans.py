"""The worker's orphan sweep: containers (or processes) of tasks the worker no longer
holds are removed (the worker: actors/worker/worker.py, which runs the sweep on a thread
of its own at start and after every full assignment set).

Rules:
- An orphan is a task the executor lists that the worker neither holds nor keeps a
  status for (a task being removed keeps its status until its runner is done).
- The executor's errors are logged and never stop the sweep: a listing that fails ends
  this sweep (the next full set sweeps again), a removal that fails moves on to the next.
"""

from __future__ import annotations

from typing import Any

from actors.worker.executors.base import Executor
from actors.worker.status_book import StatusBook

__all__ = ["remove_orphans"]


def remove_orphans(executor: Executor, book: StatusBook, log: Any) -> None:
    """One sweep (the module's rules); ``log`` is the worker's logger."""
    try:
        found = executor.list_tasks()
    except Exception as exc:
        log.warning("worker.orphans.list_failed", error=str(exc))
        return
    for task_id in found:
        if task_id in book.task_ids() or book.status(task_id) is not None:
            continue
        try:
            executor.remove_orphan(task_id)
            log.info("worker.orphan.removed", task_id=task_id)
        except Exception as exc:
            log.warning("worker.orphan.remove_failed", task_id=task_id, error=str(exc))
