"""Explained states (issue 11 item 5): one place that words why a task is where it is
and why an update stopped, for the worker that records it and for every view that shows
it (``service ps``, ``task inspect``, ``service inspect``, the progress of ``service
create|update``).

- Why a task failed, as the worker records it in ``TaskStatus.err``: a non-zero exit
  with its code and the engine's message (`exit_error`), an unhealthy container with the
  output of its last health check (`unhealthy_error`).
- Why a task is pending: the scheduler's message (actors/scheduler/filters.py
  ``explain``: the reasons, each with its node count), shown as it is.
- `task_reason` picks what a view shows for a task row (actors/control/views.py
  ``task_row``): the error of a task that failed or was rejected (with its exit code when
  the error does not say it), the scheduler's message of one still waiting.
- `update_reason` words an update's status: why it paused or rolled back.

Pure: strings in, strings out; texts are bounded so a status stays small.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "MAX_HEALTH_OUTPUT",
    "exit_error",
    "health_output",
    "task_reason",
    "unhealthy_error",
    "update_reason",
    "update_status_rows",
]

MAX_HEALTH_OUTPUT: Final = 300  # characters of a health check's output kept in a status
# pending: the scheduler's message says why it waits; preparing: the worker's says what it
# prepares (an image pull's progress)
_WAITING: Final = ("pending", "preparing")
_FAILED: Final = ("failed", "rejected")
_STOPPED_UPDATES: Final = ("paused", "rollback_paused", "rollback_started", "rollback_completed")


def health_output(output: str) -> str:
    """A health check's output as kept: whitespace folded, the end kept when long (the end
    of a failing check's output usually says why)."""
    text = " ".join(output.split())
    if len(text) > MAX_HEALTH_OUTPUT:
        text = "..." + text[-(MAX_HEALTH_OUTPUT - 3) :]
    return text


def unhealthy_error(output: str = "") -> str:
    """``task: unhealthy container (last health check: <output>)``."""
    kept = health_output(output)
    if not kept:
        return "task: unhealthy container"
    return f"task: unhealthy container (last health check: {kept})"


def exit_error(exit_code: int, engine_message: str = "") -> str:
    """``task: non-zero exit (N)``, then the engine's message when it gave one."""
    err = f"task: non-zero exit ({exit_code})"
    return f"{err}: {engine_message}" if engine_message else err


def task_reason(row: Mapping[str, Any]) -> str:
    """What a view shows for a task row (``state``, ``message``, ``error``,
    ``exit_code``): why it failed, or why it still waits; "" when nothing needs saying."""
    state = str(row.get("state", ""))
    error = str(row.get("error") or "")
    exit_code = row.get("exit_code")
    if state in _FAILED or (error and state not in _WAITING):
        if (
            isinstance(exit_code, int)
            and exit_code != 0
            and "exit" not in error
            and state in _FAILED
        ):
            return f"{error} (exit code {exit_code})" if error else f"exit code {exit_code}"
        return error
    if state in _WAITING:
        return str(row.get("message") or "")
    return ""


def update_reason(status: Mapping[str, Any] | None) -> str:
    """Why an update stopped (paused, rolled back), or "" while it goes on or is done."""
    if not status:
        return ""
    state = str(status.get("state", ""))
    if state not in _STOPPED_UPDATES:
        return ""
    message = str(status.get("message") or "")
    words = state.replace("_", " ")
    if message.startswith(f"update {words}"):  # "update paused due to ...": says it all
        return message
    if message.startswith(words):  # "rollback paused due to ...", "rollback completed: why"
        return f"update {message}"
    return f"update {words}: {message}" if message else f"update {words}"


def update_status_rows(status: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(label, value)`` rows of an update's status for a detailed view: its state, when
    it started and completed, and its message (why it paused, if it did)."""
    if not status:
        return []
    rows = [("Update Status", str(status.get("state", "")).replace("_", " "))]
    for label, key in (("Update Started", "started_at"), ("Update Completed", "completed_at")):
        when = status.get(key)
        if isinstance(when, int | float) and when > 0:
            rows.append((label, _utc(float(when))))
    if status.get("message"):
        rows.append(("Update Message", str(status["message"])))
    return rows


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
