"""Flags (as options) applied to specs: create from defaults, update onto a spec."""

from __future__ import annotations

import pytest

from api.enums import FailureAction, RestartCondition, SchedulingStrategy, UpdateOrder
from api.service_options import apply_options, merge_env
from api.specs import GlobalService, ReplicatedService, ServiceSpec, UpdateConfig
from api.validation import InvalidSpec, validate_service_spec


def test_create_options_build_the_spec() -> None:
    spec = apply_options(
        ServiceSpec(),
        {
            "name": "web",
            "image": "busybox",
            "args": ["sleep", "60"],
            "replicas": 3,
            "env": ["A=1", "B=2"],
            "labels": {"tier": "front"},
            "container_labels": {"c": "1"},
            "constraints": ["node.labels.zone==a"],
            "placement_prefs": ["spread=node.labels.rack"],
            "replicas_max_per_node": 2,
            "reserve_cpu": 500_000_000,
            "reserve_memory": 64 * 1024**2,
            "limit_cpu": 1_000_000_000,
            "limit_memory": 128 * 1024**2,
            "restart_condition": "on-failure",
            "restart_delay": 1.0,
            "restart_max_attempts": 4,
            "restart_window": 60.0,
            "stop_signal": "SIGINT",
            "stop_grace_period": 3.0,
            "update_parallelism": 2,
            "update_delay": 10.0,
            "update_order": "start-first",
            "strategy": "binpack",
            "health_cmd": "true",
            "health_interval": 2.0,
        },
    )
    validate_service_spec(spec)
    task = spec.task
    assert spec.mode == ReplicatedService(3)
    assert task.container.args == ("sleep", "60")
    assert task.container.env == ("A=1", "B=2")
    assert task.container.labels == {"c": "1"}
    assert task.placement.constraints == ("node.labels.zone==a",)
    assert task.placement.preferences[0].spread == "node.labels.rack"
    assert task.placement.max_replicas == 2
    assert task.placement.strategy == SchedulingStrategy.BINPACK
    assert task.resources.reservations.nano_cpus == 500_000_000
    assert task.resources.limits.memory_bytes == 128 * 1024**2
    assert task.restart_policy.condition == RestartCondition.ON_FAILURE
    assert task.restart_policy.max_attempts == 4
    assert task.container.stop_signal == "SIGINT"
    assert task.container.healthcheck is not None
    assert task.container.healthcheck.test == ("CMD-SHELL", "true")
    assert spec.update_config.order == UpdateOrder.START_FIRST
    assert spec.labels == {"tier": "front"}


def test_update_options_merge() -> None:
    spec = apply_options(
        ServiceSpec(),
        {"name": "web", "image": "a", "env": ["A=1", "B=2"], "labels": {"x": "1", "y": "2"}},
    )
    updated = apply_options(
        spec,
        {
            "image": "b",
            "env_add": ["A=9", "C=3"],
            "env_rm": ["B"],
            "label_add": {"z": "3"},
            "label_rm": ["x"],
            "constraint_add": ["node.role==worker"],
            "force": True,
        },
    )
    assert updated.task.container.image == "b"
    assert updated.task.container.env == ("A=9", "C=3")
    assert updated.labels == {"y": "2", "z": "3"}
    assert updated.task.placement.constraints == ("node.role==worker",)
    assert updated.task.force_update == 1
    assert updated.name == "web"
    assert (
        apply_options(updated, {"constraint_rm": ["node.role==worker"]}).task.placement.constraints
        == ()
    )


def test_merge_env_replaces_keys() -> None:
    assert merge_env(("A=1", "B=2"), ["A"], ["B=3"]) == ("B=3",)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"replicas": -1}, "replicas"),
        ({"mode": "sideways"}, "mode"),
        ({"mode": "global", "replicas": 2}, "replicas"),
        ({"constraints": ["node.foo=x"]}, "constraint[0]"),
        ({"constraints": ["node.role==boss"]}, "constraint[0]"),
        ({"placement_prefs": ["pack=node.labels.x"]}, "placement_pref[0]"),
        ({"restart_condition": "sometimes"}, "restart_condition"),
        ({"update_order": "random"}, "update_order"),
        ({"rollback_order": "random"}, "rollback_order"),
        ({"rollback_failure_action": "rollback"}, "rollback_failure_action"),
        ({"rollback_failure_action": "explode"}, "rollback_failure_action"),
        ({"strategy": "fastest"}, "strategy"),
        ({"env": ["=x"]}, "env[0]"),
        ({"replicas": "3"}, "replicas"),
        ({"replicas": True}, "replicas"),
        ({"no_such_flag": 1}, "no_such_flag"),
    ],
)
def test_bad_options_name_the_flag(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        apply_options(ServiceSpec(name="x"), {"image": "busybox", **options})
    assert info.value.field == field


def test_global_mode() -> None:
    spec = apply_options(ServiceSpec(), {"name": "g", "image": "x", "mode": "global"})
    assert spec.mode == GlobalService()


def test_validation_catches_what_options_allow() -> None:
    spec = apply_options(
        ServiceSpec(), {"name": "web", "image": "x", "reserve_memory": 10, "limit_memory": 5}
    )
    with pytest.raises(InvalidSpec, match="exceeds the limit"):
        validate_service_spec(spec)


def test_rollback_options_build_the_rollback_config() -> None:
    options = {
        "rollback_parallelism": 4,
        "rollback_delay": 2.5,
        "rollback_order": "start-first",
        "rollback_failure_action": "continue",
        "rollback_monitor": 7,
        "rollback_max_failure_ratio": 0.25,
    }
    spec = apply_options(ServiceSpec(name="web"), {"image": "busybox", **options})
    assert spec.rollback_config == UpdateConfig(
        parallelism=4,
        delay=2.5,
        order=UpdateOrder.START_FIRST,
        failure_action=FailureAction.CONTINUE,
        monitor=7.0,
        max_failure_ratio=0.25,
    )
    assert spec.update_config == UpdateConfig()  # untouched
    later = apply_options(spec, {"rollback_parallelism": 1})
    assert later.rollback_config == UpdateConfig(
        parallelism=1,
        delay=2.5,
        order=UpdateOrder.START_FIRST,
        failure_action=FailureAction.CONTINUE,
        monitor=7.0,
        max_failure_ratio=0.25,
    )


def test_a_rollback_that_would_roll_back_is_invalid() -> None:
    spec = ServiceSpec(
        name="web", rollback_config=UpdateConfig(failure_action=FailureAction.ROLLBACK)
    )
    spec = apply_options(spec, {"image": "busybox"})
    with pytest.raises(InvalidSpec) as info:
        validate_service_spec(spec)
    assert info.value.field == "rollback_config.failure_action"
