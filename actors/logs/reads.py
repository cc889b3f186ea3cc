"""What a node reads for one log subscription of tasks: which of its tasks, and with which
query, given what was read so far. Pure: the publisher (publishing.py) does the reads.

Rules:
- A subscription selects the node's tasks of its services and its named tasks.
- Without follow, each selected task is read once (``since`` and ``tail`` as asked); the
  subscription is finished when every read has ended.
- With follow, a task is read with follow while it runs. A read that ends while the task
  has not reached a terminal state (its container was not started yet, the engine's stream
  broke) is opened again on the next scan from just after the last line seen; once the
  task is terminal one last read without follow takes what it wrote at the end, then the
  task is done. So a follow started before a task starts shows its first line.
- ``tail`` applies to the first read that gave lines; later reads take every new line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from actors.logs.wire import SubscriptionMessage
from actors.worker.executors.output import OutputQuery
from api.objects import Task
from api.task_state import TaskState

__all__ = ["ReadState", "Scan", "plan_reads", "selects"]


@dataclass(slots=True)
class ReadState:
    """One task's reads within a subscription."""

    last_ts: int = -1  # the last line's time (-1: no line yet)
    reading: bool = False
    done: bool = False  # nothing more will be read


@dataclass(frozen=True, slots=True)
class Scan:
    """Reads to open now, and whether the subscription has nothing more to read."""

    opens: tuple[tuple[Task, OutputQuery], ...]
    finished: bool


def selects(message: SubscriptionMessage, task: Task) -> bool:
    return task.service_id in message.service_ids or task.id in message.task_ids


def plan_reads(
    message: SubscriptionMessage,
    held: Iterable[tuple[Task, TaskState]],
    reads: Mapping[str, ReadState],
) -> Scan:
    """The reads to open for ``message`` given the node's ``held`` tasks (with their
    observed states) and the ``reads`` so far (updated by the caller: ``reading`` when it
    opens one, ``done`` as returned queries say)."""
    options = message.options
    opens: list[tuple[Task, OutputQuery]] = []
    for task, state in held:
        if not selects(message, task):
            continue
        read = reads.get(task.id)
        if read is not None and (read.reading or read.done):
            continue
        since, tail = options.since, options.tail
        if read is not None and read.last_ts >= 0:
            since, tail = max(since, read.last_ts + 1), -1
        follow = options.follow and state < TaskState.COMPLETE
        opens.append((task, OutputQuery(since=since, tail=tail, follow=follow)))
    finished = not options.follow and not opens and all(r.done for r in reads.values())
    return Scan(tuple(opens), finished)
