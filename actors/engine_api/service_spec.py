"""Docker's ServiceSpec JSON → our `ServiceSpec` (pure; service_doc.py is the way back).

Rules:
- Every field Docker sends is either translated or, when set to something we cannot
  honour, refused with 400 naming its path (``TaskTemplate.ContainerSpec.Privileges``): nothing
  is accepted and dropped. Fields at their zero value (what the docker CLI sends when a
  flag is not given) pass.
- swarmnode's own spec fields (schedule, dependencies, rebalancing, the scheduling
  strategy) have no place in Docker's spec: an update keeps them from the service's
  current spec (``base``), so a ``docker service scale`` never drops them.
- Durations travel as nanoseconds; our specs keep seconds. The result is not validated
  here: the control API validates it, as every spec (api/validation.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from actors.engine_api.container_doc import container_options_from_docker
from actors.engine_api.doc_fields import Doc
from actors.engine_api.doc_fields import (
    enum_value as _enum,
)
from actors.engine_api.doc_fields import (
    get as _get,
)
from actors.engine_api.doc_fields import (
    int_at as _int,
)
from actors.engine_api.doc_fields import (
    labels_at as _labels,
)
from actors.engine_api.doc_fields import (
    list_at as _list,
)
from actors.engine_api.doc_fields import (
    object_at as _map,
)
from actors.engine_api.doc_fields import (
    refuse_set as _refuse_set,
)
from actors.engine_api.doc_fields import (
    str_at as _str,
)
from actors.engine_api.doc_fields import (
    strings_at as _strings,
)
from actors.engine_api.errors import bad_request, not_supported
from actors.engine_api.mount_doc import mounts_from_docker
from actors.engine_api.wire import from_ns
from api.endpoint_mode import invalid_mode
from api.enums import (
    EndpointMode,
    FailureAction,
    PortProtocol,
    PublishMode,
    RestartCondition,
    UpdateOrder,
)
from api.secret_refs import SECRETS_DIR
from api.specs import (
    ConfigReference,
    ContainerSpec,
    EndpointSpec,
    GlobalJob,
    GlobalService,
    HealthConfig,
    LogDriver,
    NetworkAttachmentConfig,
    Placement,
    PlacementPreference,
    PortConfig,
    ReplicatedJob,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    SecretReference,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)

__all__ = ["from_docker_spec"]

# set to anything but their zero value, these are refused (swarmnode cannot honour them)
_CONTAINER_UNSUPPORTED = ("Privileges", "OpenStdin")
_DEFAULT_GRACE = ContainerSpec().stop_grace_period
_DEFAULT_RESTART_DELAY = RestartPolicy().delay
_DEFAULT_MONITOR = UpdateConfig().monitor
_MODES = ("Replicated", "Global", "ReplicatedJob", "GlobalJob")
_TASK_UNSUPPORTED = ("PluginSpec", "NetworkAttachmentSpec")


# -- Docker → ours ----------------------------------------------------------------------


def _health(doc: Doc, path: str) -> HealthConfig | None:
    if not doc:
        return None
    _refuse_set(doc, ("StartInterval",), path)  # 1.44's: no executor here runs it
    return HealthConfig(
        test=_strings(doc, "Test", path),
        interval=from_ns(_get(doc, "Interval"), f"{path}Interval"),
        timeout=from_ns(_get(doc, "Timeout"), f"{path}Timeout"),
        retries=_int(doc, "Retries", path),
        start_period=from_ns(_get(doc, "StartPeriod"), f"{path}StartPeriod"),
    )


def _file_target(ref: Doc, path: str) -> tuple[str, int, int, int]:
    file = _map(ref, "File", path)
    if _get(ref, "Runtime"):
        raise not_supported(f"{path}Runtime")

    def owner(key: str) -> int:
        value = _get(file, key, "0") or "0"
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"{path}File.{key}: expected a numeric id, got {value!r}") from None

    mode = _int(file, "Mode", f"{path}File.", 0o444)
    return _str(file, "Name", f"{path}File."), owner("UID"), owner("GID"), mode


def _secret_target(target: str) -> str:
    """Docker takes an absolute target too; ours are relative to /run/secrets, so one
    under it is the same file (any other absolute path the control API refuses)."""
    prefix = SECRETS_DIR + "/"
    return target[len(prefix) :] if target.startswith(prefix) else target


def _secrets(doc: Doc, path: str) -> tuple[SecretReference, ...]:
    refs = []
    for i, ref in enumerate(_list(doc, "Secrets", path)):
        sub = f"{path}Secrets[{i}]."
        target, uid, gid, mode = _file_target(ref, sub)
        target = _secret_target(target)
        refs.append(
            SecretReference(
                secret_id=_str(ref, "SecretID", sub),
                secret_name=_str(ref, "SecretName", sub),
                target=target,
                uid=uid,
                gid=gid,
                mode=mode,
            )
        )
    return tuple(refs)


def _configs(doc: Doc, path: str) -> tuple[ConfigReference, ...]:
    refs = []
    for i, ref in enumerate(_list(doc, "Configs", path)):
        sub = f"{path}Configs[{i}]."
        target, uid, gid, mode = _file_target(ref, sub)
        refs.append(
            ConfigReference(
                config_id=_str(ref, "ConfigID", sub),
                config_name=_str(ref, "ConfigName", sub),
                target=target,
                uid=uid,
                gid=gid,
                mode=mode,
            )
        )
    return tuple(refs)


def _networks(doc: Doc, path: str) -> tuple[NetworkAttachmentConfig, ...]:
    attached = []
    for i, network in enumerate(_list(doc, "Networks", path)):
        sub = f"{path}Networks[{i}]."
        _refuse_set(network, ("DriverOpts",), sub)
        target = _str(network, "Target", sub)
        if not target:
            raise bad_request(f"{sub}Target: name the network")
        attached.append(
            NetworkAttachmentConfig(target=target, aliases=_strings(network, "Aliases", sub))
        )
    return tuple(attached)


def _container(doc: Doc, path: str) -> ContainerSpec:
    _refuse_set(doc, _CONTAINER_UNSUPPORTED, path)
    if _str(doc, "Isolation", path) not in ("", "default"):
        raise not_supported(f"{path}Isolation {_get(doc, 'Isolation')!r}")
    grace = _get(doc, "StopGracePeriod")
    return ContainerSpec(
        image=_str(doc, "Image", path),
        command=_strings(doc, "Command", path),
        args=_strings(doc, "Args", path),
        env=_strings(doc, "Env", path),
        labels=_labels(doc, "Labels", path),
        user=_str(doc, "User", path),
        dir=_str(doc, "Dir", path),
        hostname=_str(doc, "Hostname", path),
        healthcheck=_health(_map(doc, "Healthcheck", path), f"{path}Healthcheck."),
        stop_signal=_str(doc, "StopSignal", path),
        mounts=mounts_from_docker(doc, path),
        stop_grace_period=(
            _DEFAULT_GRACE if grace is None else from_ns(grace, f"{path}StopGracePeriod")
        ),
        secrets=_secrets(doc, path),
        configs=_configs(doc, path),
        **container_options_from_docker(doc, path),
    )


def _resources(doc: Doc, path: str) -> Resources:
    """Limits or reservations (a PIDs limit is read apart: ours is the container's)."""
    if _get(doc, "GenericResources"):
        raise not_supported(f"{path}GenericResources")
    return Resources(
        nano_cpus=_int(doc, "NanoCPUs", path), memory_bytes=_int(doc, "MemoryBytes", path)
    )


def _log_driver(doc: Doc, path: str) -> LogDriver | None:
    """``{Name, Options}``; no name is the engine's default driver: with Options, the
    default driver with them (what ``docker stack deploy`` sends for a compose file's
    ``logging.options`` without ``driver``), else Docker's nil."""
    name = _str(doc, "Name", path)
    options = _labels(doc, "Options", path)
    if not name and not options:
        return None
    return LogDriver(name=name, options=options)


def _restart(doc: Doc, path: str) -> RestartPolicy:
    if not doc:
        return RestartPolicy()
    delay = _get(doc, "Delay")
    return RestartPolicy(
        condition=_enum(
            _str(doc, "Condition", path), RestartCondition, f"{path}Condition", RestartCondition.ANY
        ),
        delay=_DEFAULT_RESTART_DELAY if delay is None else from_ns(delay, f"{path}Delay"),
        max_attempts=_int(doc, "MaxAttempts", path),
        window=from_ns(_get(doc, "Window"), f"{path}Window"),
    )


def _placement(doc: Doc, path: str, base: Placement) -> Placement:
    if _get(doc, "Platforms"):
        raise not_supported(f"{path}Platforms")
    preferences = []
    for i, pref in enumerate(_list(doc, "Preferences", path)):
        spread = _map(pref, "Spread", f"{path}Preferences[{i}].")
        descriptor = _str(spread, "SpreadDescriptor", f"{path}Preferences[{i}].Spread.")
        if not descriptor:
            raise bad_request(f"{path}Preferences[{i}]: only Spread preferences exist")
        preferences.append(PlacementPreference(spread=descriptor))
    return Placement(
        constraints=_strings(doc, "Constraints", path),
        preferences=tuple(preferences),
        max_replicas=_int(doc, "MaxReplicas", path),
        strategy=base.strategy,
    )


def _mode(doc: Doc) -> ServiceMode:
    if not doc:
        return ReplicatedService()
    if len(doc) != 1:
        raise bad_request(f"Mode: exactly one mode, got {sorted(doc)}")
    [(name, body)] = doc.items()
    body = body or {}
    name = {m.lower(): m for m in _MODES}.get(str(name).lower(), str(name))
    if name == "Replicated":
        return ReplicatedService(replicas=_int(body, "Replicas", "Mode.Replicated.", 1))
    if name == "Global":
        return GlobalService()
    if name == "ReplicatedJob":
        concurrent = _int(body, "MaxConcurrent", "Mode.ReplicatedJob.", 1)
        total = _int(body, "TotalCompletions", "Mode.ReplicatedJob.", concurrent)
        return ReplicatedJob(max_concurrent=concurrent, total_completions=total)
    if name == "GlobalJob":
        return GlobalJob()
    raise bad_request(f"Mode: unknown mode {name!r}")


def _update_config(doc: Doc, path: str) -> UpdateConfig:
    if not doc:
        return UpdateConfig()
    monitor = _get(doc, "Monitor")
    ratio = _get(doc, "MaxFailureRatio") or 0
    if isinstance(ratio, bool) or not isinstance(ratio, int | float):
        raise bad_request(f"{path}MaxFailureRatio: expected a number")
    return UpdateConfig(
        parallelism=_int(doc, "Parallelism", path, 1),
        delay=from_ns(_get(doc, "Delay"), f"{path}Delay"),
        failure_action=_enum(
            _str(doc, "FailureAction", path),
            FailureAction,
            f"{path}FailureAction",
            FailureAction.PAUSE,
        ),
        monitor=_DEFAULT_MONITOR if not monitor else from_ns(monitor, f"{path}Monitor"),
        max_failure_ratio=float(ratio),
        order=_enum(_str(doc, "Order", path), UpdateOrder, f"{path}Order", UpdateOrder.STOP_FIRST),
    )


def _endpoint(doc: Doc) -> EndpointSpec:
    path = "EndpointSpec."
    mode = _str(doc, "Mode", path) or EndpointMode.VIP
    if mode not in EndpointMode.__members__.values():  # dockerd's check: exact, lower-case
        raise bad_request(invalid_mode(mode))
    ports = []
    for i, port in enumerate(_list(doc, "Ports", path)):
        sub = f"{path}Ports[{i}]."
        ports.append(
            PortConfig(
                name=_str(port, "Name", sub),
                protocol=_enum(
                    _str(port, "Protocol", sub), PortProtocol, f"{sub}Protocol", PortProtocol.TCP
                ),
                target_port=_int(port, "TargetPort", sub),
                published_port=_int(port, "PublishedPort", sub),
                publish_mode=_enum(
                    _str(port, "PublishMode", sub),
                    PublishMode,
                    f"{sub}PublishMode",
                    PublishMode.INGRESS,
                ),
            )
        )
    return EndpointSpec(ports=tuple(ports), mode=EndpointMode(mode))


def from_docker_spec(doc: Doc, base: ServiceSpec | None = None) -> ServiceSpec:
    """A Docker ServiceSpec → ours; swarmnode's own fields come from ``base`` (the
    service's current spec on an update). EngineError (400/501) names a bad field."""
    if not isinstance(doc, Mapping):
        raise bad_request("the body must be a ServiceSpec object")
    base = base or ServiceSpec()
    template = _map(doc, "TaskTemplate", "")
    # the deprecated top-level Networks, or the task template's (not both, as Docker)
    networks = _networks(doc, "") or _networks(template, "TaskTemplate.")
    _refuse_set(template, _TASK_UNSUPPORTED, "TaskTemplate.")
    if _str(template, "Runtime", "TaskTemplate.") not in ("", "container"):
        raise not_supported(f"TaskTemplate.Runtime {_get(template, 'Runtime')!r}")
    resources = _map(template, "Resources", "TaskTemplate.")
    limits = _map(resources, "Limits", "TaskTemplate.Resources.")
    reservations = _map(resources, "Reservations", "TaskTemplate.Resources.")
    _refuse_set(reservations, ("Pids",), "TaskTemplate.Resources.Reservations.")
    container = _container(
        _map(template, "ContainerSpec", "TaskTemplate."), "TaskTemplate.ContainerSpec."
    )
    # Docker's Resources.Limits.Pids is SwarmKit's ContainerSpec.PidsLimit
    pids = _int(limits, "Pids", "TaskTemplate.Resources.Limits.")
    task = TaskSpec(
        container=replace(container, pids_limit=pids),
        resources=ResourceRequirements(
            limits=_resources(limits, "TaskTemplate.Resources.Limits."),
            reservations=_resources(reservations, "TaskTemplate.Resources.Reservations."),
        ),
        restart_policy=_restart(
            _map(template, "RestartPolicy", "TaskTemplate."), "TaskTemplate.RestartPolicy."
        ),
        placement=_placement(
            _map(template, "Placement", "TaskTemplate."),
            "TaskTemplate.Placement.",
            base.task.placement,
        ),
        force_update=_int(template, "ForceUpdate", "TaskTemplate."),
        networks=networks,
        log_driver=_log_driver(
            _map(template, "LogDriver", "TaskTemplate."), "TaskTemplate.LogDriver."
        ),
    )
    return replace(
        base,
        name=_str(doc, "Name", ""),
        labels=_labels(doc, "Labels", ""),
        task=task,
        mode=_mode(_map(doc, "Mode", "")),
        update_config=_update_config(_map(doc, "UpdateConfig", ""), "UpdateConfig."),
        rollback_config=_update_config(_map(doc, "RollbackConfig", ""), "RollbackConfig."),
        endpoint=_endpoint(_map(doc, "EndpointSpec", "")),
    )
