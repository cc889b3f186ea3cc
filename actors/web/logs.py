"""A task's log tail for the page's log panel.

`NoTaskLogs` is what a manager without a log broker answers: the panel says so rather
than showing an empty log as if the task printed nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NoTaskLogs"]


class NoTaskLogs:
    def tail(self, task_id: str, lines: int) -> dict[str, Any]:
        return {
            "available": False,
            "lines": [],
            "notices": [],
            "message": "task logs are not available from this manager (no log broker)",
        }
