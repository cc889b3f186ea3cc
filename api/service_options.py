"""``docker service`` flags, as parsed values, applied to a ``ServiceSpec``.

``swarmctl`` turns its flags into an *options* map (plain msgpack values: durations in
float seconds, CPUs in nano-CPUs, memory in bytes) and the control API applies that map
to a spec: to a default spec for ``service create`` (swarmctl sends the resulting spec),
to the service's current spec for ``service update`` (swarmctl sends the options, the
manager applies them under a version check and retries on conflict). Both sides run the
same function, so a bad flag is refused by swarmctl before anything is sent, and again by
the manager, which never trusts its input.

Keys are the flags' names with ``_`` for ``-``. List and map options come in three forms,
applied in this order: the whole value (``env``, ``labels``, ``constraints``, ...), then
removals (``env_rm``, ``label_rm``, ...), then additions (``env_add``, ``label_add``, ...).
Unknown keys and values of the wrong type raise ``InvalidSpec`` naming the flag. The
result is not validated here: call ``api.validation.validate_service_spec`` on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final, TypeVar

from api.container_options import CONTAINER_OPTION_TYPES, apply_container_options
from api.endpoint_mode import ENDPOINT_OPTION_TYPES, apply_endpoint_options
from api.enums import FailureAction, RestartCondition, SchedulingStrategy, UpdateOrder
from api.host_resources import HOST_OPTION_TYPES, apply_host_options
from api.job_options import JOB_OPTION_TYPES, MODES, apply_job_options, apply_mode
from api.runtime_options import RUNTIME_OPTION_TYPES, apply_runtime_options
from api.secret_refs import apply_reference_options
from api.specs import (
    HealthConfig,
    PlacementPreference,
    Resources,
    ServiceSpec,
    UpdateConfig,
)
from api.validation import InvalidSpec, parse_constraint, parse_placement_preference

__all__ = ["MODES", "OPTION_TYPES", "apply_options", "merge_env"]

T = TypeVar("T")

# option → the Python type its value must have on the wire
OPTION_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "name": str,
    "image": str,
    "args": list,
    "entrypoint": list,
    "mode": str,
    "replicas": int,
    "env": list,
    "env_add": list,
    "env_rm": list,
    "labels": dict,
    "label_add": dict,
    "label_rm": list,
    "container_labels": dict,
    "container_label_add": dict,
    "container_label_rm": list,
    "constraints": list,
    "constraint_add": list,
    "constraint_rm": list,
    "placement_prefs": list,
    "placement_pref_add": list,
    "placement_pref_rm": list,
    "replicas_max_per_node": int,
    "reserve_cpu": int,
    "reserve_memory": int,
    "limit_cpu": int,
    "limit_memory": int,
    "restart_condition": str,
    "restart_delay": (int, float),
    "restart_max_attempts": int,
    "restart_window": (int, float),
    "stop_signal": str,
    "stop_grace_period": (int, float),
    "update_parallelism": int,
    "update_delay": (int, float),
    "update_order": str,
    "update_failure_action": str,
    "update_monitor": (int, float),
    "update_max_failure_ratio": (int, float),
    "rollback_parallelism": int,
    "rollback_delay": (int, float),
    "rollback_order": str,
    "rollback_failure_action": str,
    "rollback_monitor": (int, float),
    "rollback_max_failure_ratio": (int, float),
    "strategy": str,
    "health_cmd": str,
    "health_interval": (int, float),
    "health_timeout": (int, float),
    "health_retries": int,
    "health_start_period": (int, float),
    "no_healthcheck": bool,
    "user": str,
    "workdir": str,
    "hostname": str,
    "force": bool,
    "secrets": list,
    "secret_add": list,
    "secret_rm": list,
    "configs": list,
    "config_add": list,
    "config_rm": list,
    **HOST_OPTION_TYPES,  # ports, mounts, networks (api/host_resources.py)
    **ENDPOINT_OPTION_TYPES,  # endpoint_mode (api/endpoint_mode.py)
    **JOB_OPTION_TYPES,
    **CONTAINER_OPTION_TYPES,  # read_only, caps, ulimits, dns, ... (api/container_options.py)
    **RUNTIME_OPTION_TYPES,  # limit_pids, oom_score_adj, log_driver (api/runtime_options.py)
}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _check(options: Mapping[str, Any]) -> None:
    for key, value in options.items():
        expected = OPTION_TYPES.get(key)
        if expected is None:
            raise InvalidSpec(key, f"unknown option {_flag(key)}")
        if isinstance(value, bool) and expected is not bool:
            raise InvalidSpec(key, f"{_flag(key)}: expected a value, got {value!r}")
        if not isinstance(value, expected):
            raise InvalidSpec(key, f"{_flag(key)}: wrong type {type(value).__name__}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise InvalidSpec(key, f"{_flag(key)}: expected strings")
        if isinstance(value, dict) and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise InvalidSpec(key, f"{_flag(key)}: expected string keys and values")


def _enum(key: str, value: str, cls: Callable[[str], T], choices: str) -> T:
    try:
        return cls(value.lower())
    except ValueError:
        raise InvalidSpec(
            key, f"{_flag(key)}: unknown value {value!r} (expected {choices})"
        ) from None


def merge_env(env: tuple[str, ...], remove: list[str], add: list[str]) -> tuple[str, ...]:
    """Docker's ``--env-rm`` then ``--env-add``: an added KEY replaces the KEY already set."""
    drop = {r.partition("=")[0] for r in remove}
    out = [e for e in env if e.partition("=")[0] not in drop]
    for entry in add:
        key = entry.partition("=")[0]
        out = [e for e in out if e.partition("=")[0] != key]
        out.append(entry)
    return tuple(out)


def _merge_map(
    current: Mapping[str, str], options: Mapping[str, Any], whole: str, rm: str, add: str
) -> Mapping[str, str]:
    out = dict(options[whole]) if whole in options else dict(current)
    for key in options.get(rm, ()):
        out.pop(key, None)
    out.update(options.get(add, {}))
    return out


def _merge_list(
    current: tuple[str, ...], options: Mapping[str, Any], whole: str, rm: str, add: str
) -> tuple[str, ...]:
    out = list(options[whole]) if whole in options else list(current)
    removed = set(options.get(rm, ()))
    out = [x for x in out if x not in removed]
    out.extend(x for x in options.get(add, ()) if x not in out)
    return tuple(out)


def apply_options(spec: ServiceSpec, options: Mapping[str, Any]) -> ServiceSpec:
    """The spec with ``options`` applied. InvalidSpec names the offending flag."""
    _check(options)
    o = options
    task = spec.task
    c = task.container

    # -- container ---------------------------------------------------------------------
    env = c.env if "env" not in o else tuple(o["env"])
    for i, entry in enumerate([*o.get("env", ()), *o.get("env_add", ())]):
        if not entry or entry.startswith("="):
            raise InvalidSpec(f"env[{i}]", f"--env: expected KEY=VALUE, got {entry!r}")
    env = merge_env(env, list(o.get("env_rm", ())), list(o.get("env_add", ())))
    health = c.healthcheck
    if o.get("no_healthcheck"):
        if "health_cmd" in o:
            raise InvalidSpec(
                "no_healthcheck", "--no-healthcheck conflicts with --health-* options"
            )
        health = HealthConfig(test=("NONE",))
    elif any(k.startswith("health_") for k in o):
        base = health if health is not None and health.test != ("NONE",) else HealthConfig()
        if "health_cmd" in o:
            base = replace(base, test=("CMD-SHELL", o["health_cmd"]) if o["health_cmd"] else ())
        base = replace(
            base,
            interval=float(o.get("health_interval", base.interval)),
            timeout=float(o.get("health_timeout", base.timeout)),
            start_period=float(o.get("health_start_period", base.start_period)),
        )
        if "health_retries" in o:
            base = replace(base, retries=o["health_retries"])
        health = base
    c = replace(
        c,
        image=o.get("image", c.image),
        args=tuple(o["args"]) if "args" in o else c.args,
        command=tuple(o["entrypoint"]) if "entrypoint" in o else c.command,
        env=env,
        labels=_merge_map(
            c.labels, o, "container_labels", "container_label_rm", "container_label_add"
        ),
        user=o.get("user", c.user),
        dir=o.get("workdir", c.dir),
        hostname=o.get("hostname", c.hostname),
        stop_signal=o.get("stop_signal", c.stop_signal),
        stop_grace_period=float(o.get("stop_grace_period", c.stop_grace_period)),
        healthcheck=health,
    )
    c = apply_container_options(apply_reference_options(c, o), o)

    # -- resources, restart policy, placement ------------------------------------------
    res = task.resources
    res = replace(
        res,
        reservations=Resources(
            nano_cpus=o.get("reserve_cpu", res.reservations.nano_cpus),
            memory_bytes=o.get("reserve_memory", res.reservations.memory_bytes),
        ),
        limits=Resources(
            nano_cpus=o.get("limit_cpu", res.limits.nano_cpus),
            memory_bytes=o.get("limit_memory", res.limits.memory_bytes),
        ),
    )
    rp = task.restart_policy
    if "restart_condition" in o:
        rp = replace(
            rp,
            condition=_enum(
                "restart_condition", o["restart_condition"], RestartCondition, "none|on-failure|any"
            ),
        )
    rp = replace(
        rp,
        delay=float(o.get("restart_delay", rp.delay)),
        max_attempts=o.get("restart_max_attempts", rp.max_attempts),
        window=float(o.get("restart_window", rp.window)),
    )
    pl = task.placement
    constraints = _merge_list(pl.constraints, o, "constraints", "constraint_rm", "constraint_add")
    for i, expr in enumerate(constraints):
        parse_constraint(expr, f"constraint[{i}]")
    current_prefs = tuple(f"spread={p.spread}" for p in pl.preferences)
    prefs = _merge_list(
        current_prefs, o, "placement_prefs", "placement_pref_rm", "placement_pref_add"
    )
    pl = replace(
        pl,
        constraints=constraints,
        preferences=tuple(
            PlacementPreference(parse_placement_preference(p, f"placement_pref[{i}]"))
            for i, p in enumerate(prefs)
        ),
        max_replicas=o.get("replicas_max_per_node", pl.max_replicas),
    )
    if "strategy" in o:
        pl = replace(
            pl,
            strategy=_enum("strategy", o["strategy"], SchedulingStrategy, "spread|binpack|random"),
        )
    force = task.force_update + (1 if o.get("force") else 0)
    task = replace(
        task, container=c, resources=res, restart_policy=rp, placement=pl, force_update=force
    )
    task = apply_runtime_options(task, o)

    # -- mode ----------------------------------------------------------------------------
    mode = apply_mode(spec.mode, o)

    # -- update and rollback configs -------------------------------------------------
    uc = _update_config(spec.update_config, o, "update", "pause|continue|rollback")
    rc = _update_config(spec.rollback_config, o, "rollback", "pause|continue")
    changed = replace(
        spec,
        name=o.get("name", spec.name),
        labels=_merge_map(spec.labels, o, "labels", "label_rm", "label_add"),
        task=task,
        mode=mode,
        update_config=uc,
        rollback_config=rc,
    )
    changed = apply_endpoint_options(apply_host_options(changed, o), o)
    return apply_job_options(changed, o)


def _update_config(
    config: UpdateConfig, o: Mapping[str, Any], prefix: str, actions: str
) -> UpdateConfig:
    """``--update-*`` (prefix ``update``) or ``--rollback-*`` applied to ``config``; a
    rollback's failure action is pause or continue (a rollback is never rolled back)."""
    order, action = f"{prefix}_order", f"{prefix}_failure_action"
    if order in o:
        config = replace(
            config, order=_enum(order, o[order], UpdateOrder, "stop-first|start-first")
        )
    if action in o:
        chosen = _enum(action, o[action], FailureAction, actions)
        if chosen.value not in actions.split("|"):
            raise InvalidSpec(
                action, f"{_flag(action)}: unknown value {o[action]!r} (expected {actions})"
            )
        config = replace(config, failure_action=chosen)
    return replace(
        config,
        parallelism=o.get(f"{prefix}_parallelism", config.parallelism),
        delay=float(o.get(f"{prefix}_delay", config.delay)),
        monitor=float(o.get(f"{prefix}_monitor", config.monitor)),
        max_failure_ratio=float(o.get(f"{prefix}_max_failure_ratio", config.max_failure_ratio)),
    )
