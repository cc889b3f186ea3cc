"""The cron grammar of ``--schedule`` (swarmnode extension), checked the same way by
swarmctl and by the manager.

Expressions are croniter's: five fields (minute hour day-of-month month day-of-week), with
ranges, steps, lists and names (``*/15 * * * *``, ``0 3 * * mon-fri``), the ``@hourly``
family, and an optional sixth field, last, for seconds (``* * * * * */30``: every 30
seconds; not first, as Quartz has it: ``*/5 * * * * *`` is every second of every fifth
minute). Times are UTC. croniter also reads a seventh field (years), which is refused: a
year past makes a schedule that never fires. croniter is imported on first use: swarmctl
loads it only for ``--schedule``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from api.spec_limits import InvalidSpec

__all__ = ["MAX_SCHEDULE_CHARS", "check_schedule", "next_due", "previous_due"]

MAX_SCHEDULE_CHARS: Final = 256


def check_schedule(expr: str, field: str = "schedule") -> None:
    """InvalidSpec naming what is wrong with a cron expression."""
    from croniter import CroniterError, croniter

    if not expr.strip():
        raise InvalidSpec(field, "an empty schedule (expected a cron expression)")
    if len(expr) > MAX_SCHEDULE_CHARS:
        raise InvalidSpec(field, f"schedule longer than {MAX_SCHEDULE_CHARS} characters")
    fields = expr.split()
    if not fields[0].startswith("@") and len(fields) not in (5, 6):
        raise InvalidSpec(field, f"invalid cron expression {expr!r} ({_EXPECTED})")
    try:
        croniter(expr, datetime(2000, 1, 1, tzinfo=UTC)).get_next(float)  # "30 2 *": never
    except (CroniterError, ValueError, KeyError) as exc:
        raise InvalidSpec(field, f"invalid cron expression {expr!r} ({exc}); {_EXPECTED}") from None


_EXPECTED: Final = (
    "expected five fields 'MINUTE HOUR DAY MONTH WEEKDAY', e.g. '*/15 * * * *', or a sixth, "
    "last, for seconds: '* * * * * */30'"
)


def next_due(expr: str, after: float) -> float:
    """The first due time strictly after ``after`` (seconds since the epoch, UTC)."""
    from croniter import croniter

    due: float = croniter(expr, datetime.fromtimestamp(after, UTC)).get_next(float)
    return due


def previous_due(expr: str, at: float) -> float:
    """The last due time at or before ``at``."""
    from croniter import croniter

    due: float = croniter(expr, datetime.fromtimestamp(at, UTC)).get_prev(float)
    # get_prev is strictly before its start: ``at`` itself may be a due time
    after = next_due(expr, due)
    return after if after <= at else due
