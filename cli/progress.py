"""Live progress of ``service create|update|scale`` until the service converges.

Rules (judged from ``control.service.ps`` replies, the way ``docker service create``
without ``--detach`` does):
- converged *in the requested spec*: the service is still at the ``spec_version`` the
  change wrote, its update (or rollback) is not running any more (the orchestrator keeps
  it running until the new tasks are past their monitor window), and every wanted slot
  (replicated: 1..replicas; global: each node with a task that should run) has a task at
  the current spec that is RUNNING;
- failed: the update was paused or rolled back (its message names the failing task and
  its error), the service moved to another spec version meanwhile, or tasks at the
  current spec keep failing: ``max_failures`` failed or rejected since we started
  watching (one when the restart policy is ``none``), or a task stayed PENDING with the
  scheduler's message for ``pending_grace`` seconds (it fits on no node), or the service
  was removed;
- otherwise it is still converging; the caller gives up at its deadline.

``ProgressJudge`` is pure (the clock is injected); ``wait_converged`` polls with a
deadline and draws lines: redrawn in place on a terminal, plain lines when they change
otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from api.task_state import TaskState
from cli.errors import CliError

__all__ = [
    "CONVERGED",
    "ProgressJudge",
    "ProgressRenderer",
    "Verdict",
    "finished_task_ids",
    "wait_converged",
]

_FAILED = ("failed", "rejected")
_PAUSED = ("paused", "rollback_paused")
_RUNNING = ("updating", "rollback_started")
_ROLLBACK = ("rollback_started", "rollback_paused", "rollback_completed")


def _rank(label: str) -> TaskState:
    try:
        return TaskState[label.upper()]
    except KeyError:
        return TaskState.NEW


CONVERGED = "verify: Service converged"


@dataclass(frozen=True)
class Verdict:
    done: bool
    failed: str  # why it cannot converge ("" unless it cannot)
    running: int
    desired: int
    lines: tuple[str, ...] = field(default=())
    finish: str = CONVERGED  # the last line once done ("": none), as Docker's CLI ends it


def finished_task_ids(reply: Mapping[str, Any]) -> set[str]:
    """Ids of the tasks in a ``control.service.ps`` reply that are in a terminal state."""
    return {r["id"] for r in reply["tasks"] if _rank(r["state"]).is_terminal}


class ProgressJudge:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        pending_grace: float = 15.0,
        max_failures: int = 3,
        baseline: set[str] | None = None,
        spec_version: int | None = None,
        rollback: bool = False,
    ) -> None:
        """`baseline`: ids of tasks that had finished before the change was written (their
        failures don't count). Callers that can read it before writing should pass it (empty
        for a new service); otherwise the first reply judged stands in for it, which misses
        failures that happen before that first reply. `spec_version`: the version the change
        wrote (the service must stay at it); `rollback`: the change is a rollback, so a
        completed rollback is its success (for any other change, a rollback is a failure)."""
        self._clock = clock
        self._pending_grace = pending_grace
        self._max_failures = max_failures
        self._baseline = baseline
        self._spec_version = spec_version
        self._rollback = rollback
        self._pending_since: dict[str, float] = {}
        self._unplaced_since: float | None = None  # a global service without tasks since

    def judge(self, reply: Mapping[str, Any]) -> Verdict:
        service = reply["service"]
        rows: Sequence[Mapping[str, Any]] = reply["tasks"]
        now = self._clock()
        finished = finished_task_ids(reply)
        if self._baseline is None:
            self._baseline = finished  # failures from before we watched don't count
        active = [r for r in rows if _rank(r["desired_state"]) <= TaskState.RUNNING]

        if service.get("mode") == "global":
            keys = sorted({r["node_id"] for r in active if r["node_id"]})
            by_key = {k: [r for r in active if r["node_id"] == k] for k in keys}
            desired = len(keys)
            labels = {k: k[:12] for k in keys}
        else:
            desired = int(service["replicas_desired"])
            # Scale-down removes slots node by node (SwarmKit's rule), so the slots left
            # need not be 1..desired: lines are numbered by position, as docker's are.
            keys = sorted({r["slot"] for r in active})
            by_key = {k: [r for r in active if r["slot"] == k] for k in keys}
            labels = {k: f"{i}/{desired}" for i, k in enumerate(keys, 1)}

        running = 0
        lines = []
        for key in keys[:desired]:
            current = [r for r in by_key[key] if r["up_to_date"]]
            row = current[0] if current else by_key[key][0]
            state = row["state"]
            ok = row["up_to_date"] and state == "running"
            running += ok
            detail = row["error"] or (row["message"] if state == "pending" else "")
            lines.append(f"{labels[key]}: {state}" + (f"  {detail}" if detail else ""))
        lines.extend(f"{i}/{desired}: new" for i in range(len(keys) + 1, desired + 1))
        lines.insert(0, f"overall progress: {running} out of {desired} tasks")

        settled, why = self._update_state(service)
        why = why or self._failure(service, rows, active, finished, now)
        # a global service's tasks are the nodes' own: none yet means the orchestrator has
        # not made them (or no node is eligible), never that it converged with none
        unplaced = service.get("mode") == "global" and not keys
        why = why or self._none_placed(service["name"], unplaced, now)
        status = service.get("update_status") or {}
        if status.get("state") in _RUNNING:
            lines.insert(1, f"{status['state'].replace('_', ' ')}: {status.get('message', '')}")
        done = (
            settled
            and not why
            and not unplaced
            and len(keys) == running == desired
            and all(r["up_to_date"] for r in active)
        )
        return Verdict(done, why, running, desired, tuple(lines))

    def _none_placed(self, name: str, unplaced: bool, now: float) -> str:
        """Why a global service without a task cannot converge, once that has lasted
        ``pending_grace`` seconds ("" before, or when it has tasks)."""
        if not unplaced:
            self._unplaced_since = None
            return ""
        if self._unplaced_since is None:
            self._unplaced_since = now
        if now - self._unplaced_since < self._pending_grace:
            return ""
        return (
            f"global service {name} has no task: no node is eligible (Ready, Active and "
            "matching its constraints)"
        )

    def _update_state(self, service: Mapping[str, Any]) -> tuple[bool, str]:
        """(whether the service's update has settled, why it failed: "" if it did not)."""
        name = service["name"]
        status = service.get("update_status") or {}
        state, message = status.get("state") or "", status.get("message") or ""
        version = service.get("spec_version")
        wanted = self._spec_version
        if wanted is not None and version is not None and version != wanted:
            if state in _ROLLBACK and not self._rollback:
                return False, _rolled_back(name, message)
            return False, (
                f"service {name} changed while waiting: at spec version {version}, not "
                f"{wanted} (see 'swarmctl service history {name}')"
            )
        if state in _PAUSED:
            what = "rollback" if state in _ROLLBACK else "update"
            if message.startswith(what):  # "update paused due to ...": it says it all
                return False, message
            return False, f"{what} of {name} paused" + (f": {message}" if message else "")
        if state == "rollback_completed" and not self._rollback:
            return False, _rolled_back(name, message)
        return state not in _RUNNING, ""

    def _failure(
        self,
        service: Mapping[str, Any],
        rows: Sequence[Mapping[str, Any]],
        active: Sequence[Mapping[str, Any]],
        finished: set[str],
        now: float,
    ) -> str:
        name = service["name"]
        if service.get("pending_delete"):
            return f"service {name} was removed"
        baseline = self._baseline or set()
        condition = service.get("restart_condition", "any")
        stopped = _FAILED if condition == "any" else (*_FAILED, "complete")
        new_failures = [
            r for r in rows if r["up_to_date"] and r["state"] in stopped and r["id"] not in baseline
        ]
        limit = 1 if condition == "none" else self._max_failures
        attempts = int(service.get("restart_max_attempts") or 0)
        if attempts:
            limit = min(limit, attempts + 1)
        if len(new_failures) >= limit:
            last = max(new_failures, key=lambda r: (r["timestamp"], r["created_at"]))
            what = last["error"] or last["message"] or last["state"]
            return f"task {last['name']} ({last['id'][:12]}) {last['state']}: {what}" + (
                f" ({len(new_failures)} tasks failed)" if len(new_failures) > 1 else ""
            )
        pending_now = {r["id"]: r for r in active if r["state"] == "pending" and r["message"]}
        for tid in list(self._pending_since):
            if tid not in pending_now:
                del self._pending_since[tid]
        for tid, row in pending_now.items():
            since = self._pending_since.setdefault(tid, now)
            if now - since >= self._pending_grace:
                return f"task {row['name']} ({tid[:12]}) is pending: {row['message']}"
        return ""


class ProgressRenderer:
    """Draws a verdict's lines: in place on a terminal, only changed lines otherwise."""

    def __init__(self, out: TextIO, tty: bool | None = None) -> None:
        self._out = out
        self._tty = out.isatty() if tty is None else tty
        self._drawn = 0
        self._seen: dict[int, str] = {}

    def draw(self, lines: Sequence[str]) -> None:
        out = self._out
        if self._tty:
            if self._drawn:
                out.write(f"\x1b[{self._drawn}A")
            for line in lines:
                out.write(f"\x1b[2K{line}\n")
            for _ in range(self._drawn - len(lines)):
                out.write("\x1b[2K\n")
            self._drawn = max(self._drawn, len(lines))
        else:
            for i, line in enumerate(lines):
                if self._seen.get(i) != line:
                    self._seen[i] = line
                    out.write(line + "\n")
        out.flush()

    def finish(self, message: str) -> None:
        self._out.write(message + "\n")
        self._out.flush()


def wait_converged(
    fetch: Callable[[], Mapping[str, Any]],
    *,
    out: TextIO,
    timeout: float,
    interval: float = 0.2,
    judge: ProgressJudge | None = None,
    tty: bool | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """Poll ``fetch`` (a ``control.service.ps`` reply) until converged; CliError with the
    reason when the service cannot converge or the deadline passes."""
    judge = judge if judge is not None else ProgressJudge(clock)
    renderer = ProgressRenderer(out, tty)
    deadline = clock() + timeout
    while True:
        reply = fetch()
        verdict = judge.judge(reply)
        renderer.draw(verdict.lines)
        name = reply["service"]["name"]
        if verdict.failed:
            raise CliError(f"service {name} cannot converge: {verdict.failed}")
        if verdict.done:
            if verdict.finish:
                renderer.finish(verdict.finish)
            return verdict
        if clock() >= deadline:
            raise CliError(
                f"service {name} did not converge within {timeout:g}s: "
                f"{verdict.running} of {verdict.desired} tasks running "
                "(it keeps converging; see 'swarmctl service ps')"
            )
        sleep(interval)


def _rolled_back(name: str, message: str) -> str:
    """Why the update of ``name`` was rolled back: the orchestrator's message says it
    ("update rolled back due to ...", kept in "rollback completed: ...")."""
    why = message.removeprefix("rollback completed: ")
    return why if why.startswith("update rolled back") else f"update of {name} rolled back: {why}"
