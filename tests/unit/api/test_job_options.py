"""Issue 10's options: job modes, --schedule, --depends-on, --rebalance; their validation,
the cron grammar and the dependency cycle check."""

from __future__ import annotations

from typing import Any

import pytest

from api.dependencies import find_cycle, format_dependency, parse_dependency
from api.enums import DependencyCondition, RebalanceMode, SchedulePolicy
from api.schedule import check_schedule, next_due, previous_due
from api.service_options import apply_options
from api.specs import Dependency, GlobalJob, JobSchedule, ReplicatedJob, ServiceSpec
from api.validation import InvalidSpec, validate_service_spec

BASE = {"name": "job", "image": "busybox"}


def spec_of(**options: Any) -> ServiceSpec:
    spec = apply_options(ServiceSpec(), {**BASE, **options})
    validate_service_spec(spec)
    return spec


def test_replicated_job_takes_completions_and_max_concurrent() -> None:
    assert spec_of(mode="replicated-job", replicas=5).mode == ReplicatedJob(5, 5)
    assert spec_of(mode="replicated-job", replicas=6, max_concurrent=2).mode == ReplicatedJob(2, 6)
    assert spec_of(mode="replicated-job").mode == ReplicatedJob(1, 1)
    assert spec_of(mode="global-job").mode == GlobalJob()
    # an update of the completions keeps max_concurrent
    job = spec_of(mode="replicated-job", replicas=4, max_concurrent=2)
    assert apply_options(job, {"replicas": 8}).mode == ReplicatedJob(2, 8)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"mode": "cron"}, "unknown mode 'cron'"),
        ({"mode": "global-job", "replicas": 2}, "--replicas can only be used"),
        ({"max_concurrent": 2}, "--max-concurrent needs replicated-job"),
        ({"mode": "replicated-job", "replicas": -1}, "must be >= 0"),
        ({"schedule": "*/5 * * * *"}, "--schedule needs a job mode"),
        ({"mode": "global-job", "schedule": "61 * * * *"}, "invalid cron expression"),
        ({"mode": "global-job", "schedule": "0 0 30 2 *"}, "invalid cron expression"),
        ({"mode": "global-job", "schedule_policy": "skip"}, "--schedule-policy needs --schedule"),
        (
            {"mode": "global-job", "schedule": "* * * * *", "schedule_policy": "later"},
            "expected skip|replace|allow",
        ),
        ({"depends_on": ["db:ready"]}, "unknown condition 'ready'"),
        ({"depends_on": [":healthy"]}, "expected SERVICE"),
        ({"depends_on": ["job"]}, "cannot depend on itself"),
        ({"depends_on": ["db", "db:healthy"]}, "named twice"),
        ({"depends_on": ["no such"]}, "is not a service name"),
        ({"mode": "global", "rebalance": "auto"}, "--rebalance auto needs replicated mode"),
        ({"rebalance": "sometimes"}, "expected manual|auto"),
        ({"mode": "global", "rebalance_now": True}, "only replicated services rebalance"),
    ],
)
def test_bad_options_are_refused_naming_the_flag(options: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidSpec) as refused:
        spec_of(**options)
    assert words in str(refused.value)


def test_schedule_and_policy() -> None:
    spec = spec_of(mode="replicated-job", schedule="*/5 * * * *", schedule_policy="replace")
    assert spec.schedule == JobSchedule("*/5 * * * *", SchedulePolicy.REPLACE)
    assert apply_options(spec, {"schedule": "0 * * * *"}).schedule == JobSchedule(
        "0 * * * *", SchedulePolicy.REPLACE
    )
    assert apply_options(spec, {"schedule": ""}).schedule is None


def test_dependencies_whole_add_and_remove() -> None:
    spec = spec_of(depends_on=["db:healthy", "cache"])
    assert spec.depends_on == (
        Dependency("db", DependencyCondition.HEALTHY),
        Dependency("cache", DependencyCondition.RUNNING),
    )
    changed = apply_options(spec, {"depends_on_rm": ["cache"], "depends_on_add": ["db:running"]})
    assert changed.depends_on == (Dependency("db", DependencyCondition.RUNNING),)
    assert [format_dependency(d) for d in changed.depends_on] == ["db:running"]
    assert parse_dependency(" migrate:Completed ").condition is DependencyCondition.COMPLETED


def test_rebalance_mode_and_requests() -> None:
    spec = spec_of(rebalance="auto")
    assert spec.rebalance is RebalanceMode.AUTO
    assert apply_options(spec, {"rebalance_now": True}).rebalance_requests == 1


def test_cycles_are_found_with_their_path() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"web": ["web"]}) == ["web", "web"]
    chain = {str(i): [str(i + 1)] for i in range(3000)}  # deeper than the recursion limit
    assert find_cycle(chain) is None
    chain["2999"] = ["0"]
    cycle = find_cycle(chain)
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 3001


def test_cron_next_and_previous_due_times() -> None:
    check_schedule("* * * * * */10")  # seconds, as croniter takes them
    noon = 1_735_732_800.0  # 2025-01-01 12:00:00 UTC
    assert next_due("0 * * * *", noon) == noon + 3600
    assert next_due("0 * * * *", noon - 1) == noon
    assert previous_due("0 * * * *", noon) == noon  # a due time is its own previous
    assert previous_due("0 * * * *", noon + 3599) == noon
    assert next_due("* * * * * */10", noon + 3) == noon + 10


def test_a_seventh_cron_field_is_refused() -> None:
    """croniter reads a seventh field as years: ``0 0 1 1 * 0 2025`` was accepted and then
    never fired (the leader's cron judge found no next date). Five or six fields only."""
    for expr in ("0 0 1 1 * 0 2025", "* * * *", "* * * * * * * *"):
        with pytest.raises(InvalidSpec, match=r"expected five fields .* a sixth, last, for"):
            check_schedule(expr)
    check_schedule("@hourly")
    check_schedule("0 3 * * mon-fri")
