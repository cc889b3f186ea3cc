"""Healthchecks with Docker's semantics, for executors that run them themselves (the
process executor; the Docker engine runs its own). Decisions only, no I/O.

Rules (moby's ``daemon/health.go``):
- The check: ``("CMD", program, args...)`` runs the program, ``("CMD-SHELL", command)``
  runs ``/bin/sh -c command``; ``("NONE",)`` or no test: no check (the task is healthy
  once it runs). Any other form is refused.
- Defaults for a zero value: interval 30 s, timeout 30 s, retries 3, start period 0.
- The first check runs ``interval`` after the task started, each next one ``interval``
  after the previous one ended. A check that runs past ``timeout`` is killed and fails.
- Exit 0 is healthy: the failing streak resets. Anything else fails: the streak grows,
  and at ``retries`` the task is unhealthy, except that while it has never been healthy a
  check that started within ``start period`` of the task's start does not count.
- The status starts as *starting*. The last ``LOG_ENTRIES`` results are kept, their
  output cut to ``OUTPUT_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from actors.worker.executors.base import Health
from api.specs import HealthConfig

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "LOG_ENTRIES",
    "OUTPUT_BYTES",
    "TIMED_OUT",
    "HealthPolicy",
    "HealthState",
    "ProbeResult",
    "after_probe",
    "health_policy",
    "next_probe_at",
]

DEFAULT_INTERVAL: Final = 30.0
DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_RETRIES: Final = 3
LOG_ENTRIES: Final = 5
OUTPUT_BYTES: Final = 4096
TIMED_OUT: Final = -1  # the exit code of a check killed at its timeout


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    argv: tuple[str, ...]
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    start_period: float = 0.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    start: float
    end: float
    exit_code: int  # TIMED_OUT when killed at the timeout
    output: str


@dataclass(frozen=True, slots=True)
class HealthState:
    status: Health = Health.STARTING
    failing_streak: int = 0
    log: tuple[ProbeResult, ...] = ()

    @property
    def output(self) -> str:
        """The last check's output (stripped), for a task's error."""
        return self.log[-1].output.strip() if self.log else ""


def health_policy(config: HealthConfig | None) -> HealthPolicy | None:
    """The check ``config`` asks for; None for none. ValueError for a test form that is
    not CMD, CMD-SHELL or NONE."""
    if config is None or not config.test or config.test[0] == "NONE":
        return None
    kind, rest = config.test[0], config.test[1:]
    if kind == "CMD" and rest:
        argv: tuple[str, ...] = tuple(rest)
    elif kind == "CMD-SHELL" and len(rest) == 1 and rest[0]:
        argv = ("/bin/sh", "-c", rest[0])
    else:
        raise ValueError(
            f"healthcheck test {list(config.test)!r}: expected ['CMD', program, args...], "
            "['CMD-SHELL', command] or ['NONE']"
        )
    return HealthPolicy(
        argv=argv,
        interval=config.interval or DEFAULT_INTERVAL,
        timeout=config.timeout or DEFAULT_TIMEOUT,
        retries=config.retries or DEFAULT_RETRIES,
        start_period=config.start_period,
    )


def next_probe_at(state: HealthState, policy: HealthPolicy, task_started: float) -> float:
    """When the next check is due."""
    last = state.log[-1].end if state.log else task_started
    return last + policy.interval


def _cut(output: str) -> str:
    data = output.encode("utf-8", "replace")
    return output if len(data) <= OUTPUT_BYTES else data[:OUTPUT_BYTES].decode("utf-8", "ignore")


def after_probe(
    state: HealthState, policy: HealthPolicy, result: ProbeResult, task_started: float
) -> HealthState:
    """The state once ``result`` is in."""
    result = replace(result, output=_cut(result.output))
    log = (*state.log, result)[-LOG_ENTRIES:]
    if result.exit_code == 0:
        return HealthState(Health.HEALTHY, 0, log)
    starting = state.status is Health.STARTING
    if starting and result.start - task_started < policy.start_period:
        return replace(state, log=log)  # the start period: not counted
    streak = state.failing_streak + 1
    status = Health.UNHEALTHY if streak >= policy.retries else state.status
    return HealthState(status, streak, log)
