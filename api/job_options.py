"""The service options of issue 10's jobs, schedules, dependencies and rebalancing,
applied to a ``ServiceSpec`` (api/service_options.py calls these; same rules: keys are
flag names with ``_``, InvalidSpec names the flag).

- ``mode``: replicated | global | replicated-job | global-job. ``replicas`` is the replica
  count of a replicated service and the completions of a replicated job;
  ``max_concurrent`` (replicated jobs) defaults to the completions when a job is created,
  as ``docker service create --mode replicated-job`` does.
- ``schedule`` (a cron expression; "" removes it) and ``schedule_policy``
  (skip|replace|allow): jobs only (validation says so).
- ``depends_on`` (whole list), ``depends_on_rm`` (service names), ``depends_on_add``:
  ``SERVICE[:running|healthy|completed]``; adding a service already listed replaces its
  condition.
- ``rebalance`` (manual|auto); ``rebalance_now`` asks for one rebalance round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from api.dependencies import parse_dependency
from api.enums import RebalanceMode, SchedulePolicy
from api.spec_limits import InvalidSpec
from api.specs import (
    Dependency,
    GlobalJob,
    GlobalService,
    JobSchedule,
    ReplicatedJob,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
)

__all__ = ["JOB_OPTION_TYPES", "MODES", "apply_job_options", "apply_mode"]

MODES: Final = ("replicated", "global", "replicated-job", "global-job")

JOB_OPTION_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "max_concurrent": int,
    "schedule": str,
    "schedule_policy": str,
    "depends_on": list,
    "depends_on_add": list,
    "depends_on_rm": list,
    "rebalance": str,
    "rebalance_now": bool,
}


def _count(o: Mapping[str, Any], key: str) -> int:
    value = int(o[key])
    if value < 0:
        raise InvalidSpec(key, f"--{key.replace('_', '-')} must be >= 0, got {value}")
    return value


def apply_mode(mode: ServiceMode, o: Mapping[str, Any]) -> ServiceMode:
    """The mode with ``mode``, ``replicas`` and ``max_concurrent`` applied."""
    if "mode" in o:
        wanted = str(o["mode"]).lower()
        if wanted not in MODES:
            raise InvalidSpec(
                "mode", f"--mode: unknown mode {o['mode']!r} (expected {'|'.join(MODES)})"
            )
        if wanted != mode.TAG:
            if wanted == "replicated-job":
                total = _count(o, "replicas") if "replicas" in o else 1
                mode = ReplicatedJob(max_concurrent=total, total_completions=total)
            else:
                mode = {
                    "replicated": ReplicatedService,
                    "global": GlobalService,
                    "global-job": GlobalJob,
                }[wanted]()
    if "replicas" in o:
        replicas = _count(o, "replicas")
        if isinstance(mode, ReplicatedService):
            mode = ReplicatedService(replicas=replicas)
        elif isinstance(mode, ReplicatedJob):
            mode = replace(mode, total_completions=replicas)
        else:
            raise InvalidSpec(
                "replicas", "--replicas can only be used with replicated or replicated-job mode"
            )
    if "max_concurrent" in o:
        if not isinstance(mode, ReplicatedJob):
            raise InvalidSpec("max_concurrent", "--max-concurrent needs replicated-job mode")
        mode = replace(mode, max_concurrent=_count(o, "max_concurrent"))
    return mode


def _enum_option(o: Mapping[str, Any], key: str, cls: type[Any]) -> Any:
    try:
        return cls(str(o[key]).lower())
    except ValueError:
        choices = "|".join(m.value for m in cls)
        flag = "--" + key.replace("_", "-")
        raise InvalidSpec(key, f"{flag}: unknown value {o[key]!r} (expected {choices})") from None


def _dependencies(current: tuple[Dependency, ...], o: Mapping[str, Any]) -> tuple[Dependency, ...]:
    deps = list(current)
    if "depends_on" in o:
        deps = [parse_dependency(e, f"depends_on[{i}]") for i, e in enumerate(o["depends_on"])]
    removed = {str(name).partition(":")[0].strip() for name in o.get("depends_on_rm", ())}
    deps = [d for d in deps if d.service not in removed]
    for i, expr in enumerate(o.get("depends_on_add", ())):
        dep = parse_dependency(expr, f"depends_on_add[{i}]")
        deps = [d for d in deps if d.service != dep.service]
        deps.append(dep)
    return tuple(deps)


def apply_job_options(spec: ServiceSpec, o: Mapping[str, Any]) -> ServiceSpec:
    """``spec`` with the schedule, dependency and rebalance options applied."""
    schedule = spec.schedule
    if "schedule" in o:
        cron = str(o["schedule"]).strip()
        policy = schedule.policy if schedule is not None else SchedulePolicy.SKIP
        schedule = JobSchedule(cron, policy) if cron else None
    if "schedule_policy" in o:
        if schedule is None:
            raise InvalidSpec("schedule_policy", "--schedule-policy needs --schedule")
        schedule = replace(schedule, policy=_enum_option(o, "schedule_policy", SchedulePolicy))
    if o.get("rebalance_now") and not isinstance(spec.mode, ReplicatedService):
        raise InvalidSpec("rebalance", f"only replicated services rebalance, not {spec.mode.TAG}")
    rebalance = spec.rebalance
    if "rebalance" in o:
        rebalance = _enum_option(o, "rebalance", RebalanceMode)
    return replace(
        spec,
        schedule=schedule,
        depends_on=_dependencies(spec.depends_on, o),
        rebalance=rebalance,
        rebalance_requests=spec.rebalance_requests + (1 if o.get("rebalance_now") else 0),
    )
