"""A node restarted with another executor (``--executor``, or the default's choice when
the Docker engine did or did not answer) leaves nothing of the one before running.

Rules:
- The state dir records the executor kind the node's worker last started on
  (``STATE_DIR/executor``; a leave wipes it with the rest of the swarm state).
- When the worker starts on another kind than the recorded one, what the recorded
  executor holds for the node is killed and removed first (as a leave does,
  actors/node/leaving.py ``remove_executor_tasks``): those are the worker's tasks from
  before, which the new executor cannot find and reports failed, so their orchestrators
  run them again elsewhere; left running they would run twice (a container the worker
  no longer manages, or a process). Then the new kind is recorded.
- If that removal cannot be done (the old runtime does not answer: its Docker engine is
  down), it is logged and the old kind stays recorded, so the next start tries again.
- No record (a first start, or a state dir older than the record): the kind is recorded
  and nothing removed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from actors.durable import write_durable
from actors.log import get_logger
from actors.node.leaving import remove_executor_tasks
from actors.worker.executors.base import Executor

__all__ = ["EXECUTOR_FILE", "executor_to_clear", "switch_executor"]

EXECUTOR_FILE: Final = "executor"
_MAX_KIND_CHARS: Final = 64

_log = get_logger("node")


def executor_to_clear(recorded: str | None, chosen: str) -> str | None:
    """The kind whose leftovers go before ``chosen`` starts (None: nothing to clear)."""
    if not recorded or recorded == chosen:
        return None
    return recorded


def switch_executor(state_dir: Path, chosen: str, make: Callable[[str], Executor]) -> None:
    """Clear what the recorded executor left, if it is not ``chosen``, and record
    ``chosen`` (the module's rules); ``make(kind)`` builds an executor for this node."""
    path = state_dir / EXECUTOR_FILE
    try:
        recorded: str | None = path.read_text()[:_MAX_KIND_CHARS].strip()
    except FileNotFoundError:
        recorded = None
    previous = executor_to_clear(recorded, chosen)
    if previous is not None:
        _log.info("node.executor.switched", previous=previous, executor=chosen)
        try:
            cleared = remove_executor_tasks(make(previous))
        except Exception as exc:  # building it failed: a Docker client that cannot connect
            _log.warning("node.executor.leftovers_kept", previous=previous, error=str(exc)[:300])
            cleared = False
        if not cleared:
            return  # tried again at the next start
    if recorded != chosen:
        write_durable(path, chosen.encode())
