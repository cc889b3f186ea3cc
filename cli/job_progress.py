"""Waiting for a job (``service create|update`` of a replicated-job or global-job without
``--detach``): the run started by the change must complete.

Rules (judged from ``control.service.ps`` replies, the summary's ``job``):
- the run to wait for is the first one numbered above ``after`` (the run before the
  change; 0 for a new job);
- done once that run is COMPLETED, ending with "job complete" as Docker's CLI does for a
  job (a service ends with "verify: Service converged"); failed (its message, exit
  non-zero) once it FAILED, or once a newer run replaced it, or the service was removed;
- a scheduled job is not waited for: its runs start when they are due.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cli.progress import ProgressJudge, Verdict

__all__ = ["JOB_COMPLETE", "JobJudge"]

JOB_COMPLETE: Final = "job complete"  # docker/cli's last line for a job's progress


class JobJudge(ProgressJudge):
    def __init__(self, after: int) -> None:
        super().__init__()
        self._after = after

    def judge(self, reply: Mapping[str, Any]) -> Verdict:
        service = reply["service"]
        job = service.get("job") or {}
        name = service["name"]
        total = int(job.get("total", 0))
        completed = int(job.get("completed", 0))
        iteration = int(job.get("iteration", 0))
        line = f"job progress: {completed} out of {total} completed"
        if job.get("schedule"):
            line = f"scheduled ({job['schedule']}): runs start when they are due"
            return Verdict(True, "", completed, total, (line,), finish="")
        if service.get("pending_delete"):
            return Verdict(False, f"service {name} was removed", completed, total, (line,))
        if iteration <= self._after:
            return Verdict(False, "", 0, total, ("job progress: waiting for the run to start",))
        if iteration > self._after + 1:
            why = f"run {self._after + 1} was replaced by run {iteration}"
            return Verdict(False, why, completed, total, (line,))
        lines = (f"run {iteration}: {completed} out of {total} completed",)
        if job.get("state") == "failed":
            return Verdict(False, str(job.get("message", "")), completed, total, lines)
        done = job.get("state") == "completed"
        return Verdict(done, "", completed, total, lines, finish=JOB_COMPLETE)
