"""When a scheduled job starts a run (swarmnode extension: ``--schedule``).

Rules (the leader's orchestrator decides; its clock is wall time, the cron grammar is
api/schedule.py's, in UTC):
- Due times are counted from the last due time acted on (``JobStatus.last_scheduled``,
  in the store, so a new leader carries on from it), or from the service's creation
  before its first run.
- At each pass, if due times have passed since then, the schedule acts once, for the
  latest of them: runs missed while no leader was deciding (a leader change, a manager
  down) are coalesced into one run, never replayed one by one.
- A due time while the current run is still going is decided by the policy: ``skip``
  (nothing starts; the due time counts as acted on), ``replace`` (the new run starts;
  the previous run's tasks are shut down) or ``allow`` (the new run starts; the previous
  run's tasks run on to their end).
- The pass then asks to run again at the next due time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from api.enums import SchedulePolicy
from api.schedule import next_due, previous_due

__all__ = ["CronAction", "CronVerdict", "judge_schedule"]


class CronAction(enum.StrEnum):
    WAIT = "wait"  # nothing due
    RUN = "run"  # start a run now
    SKIP = "skip"  # due, but the previous run still goes and the policy is skip


@dataclass(frozen=True, slots=True)
class CronVerdict:
    action: CronAction
    due_at: float | None = None  # the due time acted on (RUN, SKIP)
    missed: int = 0  # earlier due times coalesced into this one (at least; capped count)
    next_at: float | None = None  # the next due time after this decision; None: never
    error: str = ""  # the expression did not evaluate (it was validated: a bug or a date)


_COUNT_CAP = 1000  # counting missed due times stops here (an every-second schedule...)


def judge_schedule(
    cron: str,
    policy: SchedulePolicy,
    *,
    last_scheduled: float | None,
    created_at: float,
    now: float,
    run_going: bool,
) -> CronVerdict:
    """What the schedule does at ``now``."""
    since = last_scheduled if last_scheduled is not None else created_at
    try:
        first = next_due(cron, since)
        if first > now:
            return CronVerdict(CronAction.WAIT, next_at=first)
        latest = previous_due(cron, now)
        following = next_due(cron, latest)
        missed = 0
        due = first
        while due < latest and missed < _COUNT_CAP:
            missed += 1
            due = next_due(cron, due)
    except (ValueError, KeyError, OverflowError) as exc:  # croniter's errors are ValueErrors
        return CronVerdict(CronAction.WAIT, error=f"schedule {cron!r}: {exc}")
    if run_going and policy == SchedulePolicy.SKIP:
        return CronVerdict(CronAction.SKIP, latest, missed, following)
    return CronVerdict(CronAction.RUN, latest, missed, following)
