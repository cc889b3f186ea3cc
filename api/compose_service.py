"""One compose service → a ``ServiceSpec``, as ``docker stack deploy`` converts it
(docker/cli ``cli/compose/convert/service.go``).

Rules:
- The service is named ``STACK_key``. Its labels are ``deploy.labels`` plus the stack's
  (``com.docker.stack.namespace``, ``com.docker.stack.image``); the container's labels
  are the service-level ``labels`` plus the namespace label.
- ``entrypoint`` is the container's command, ``command`` its arguments; a string is split
  as a shell would. The environment is sorted; a variable without a value takes the
  client's, as Docker's loader does, and is left bare when the client has none.
- ``env_file`` (a path or a list, relative to ``base_dir``) is read by the caller's
  reader (cli/env_file.py's rules): the files' variables come first, a later file's over
  an earlier one's, and ``environment`` wins over them all, as in Docker's loader.
- ``deploy:`` gives the mode (replicated, global, replicated-job, global-job), replicas,
  placement, resources, restart policy, update and rollback configs, the endpoint mode,
  with Docker's defaults where the file says nothing.
- Secrets and configs are referenced by their key in the file's top-level sections (the
  object's name is the stack's: ``STACK_key``, or the external name); a secret's file is
  ``/run/secrets/<key>`` unless a target is given, a config's ``/<key>``. Ports, volumes
  and networks: api/compose_host.py; read_only, cap_add, ulimits and the other
  kernel-facing options: api/compose_container.py.
- Anything else is refused, naming its key (api/compose_fields.py).

Pure: no I/O.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from api.compose_container import CONTAINER_KEYS, container_options, log_driver
from api.compose_fields import LABEL_IMAGE, LABEL_NAMESPACE, ComposeError, Section, key_values
from api.compose_host import (
    VolumePlan,
    endpoint_mode,
    service_mounts,
    service_networks,
    service_ports,
)
from api.enums import FailureAction, RestartCondition, UpdateOrder
from api.host_resources import with_task_ports
from api.specs import (
    ConfigReference,
    ContainerSpec,
    EndpointSpec,
    GlobalJob,
    GlobalService,
    HealthConfig,
    Placement,
    PlacementPreference,
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

__all__ = [
    "LABEL_IMAGE",
    "LABEL_NAMESPACE",
    "SERVICE_KEYS",
    "StackNames",
    "convert_service",
]

SERVICE_KEYS: Final = frozenset(
    {
        "image",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "labels",
        "deploy",
        "healthcheck",
        "secrets",
        "configs",
        "user",
        "working_dir",
        "hostname",
        "stop_signal",
        "stop_grace_period",
        "ports",
        "volumes",
        "networks",
        *CONTAINER_KEYS,  # read_only, cap_add, ulimits, ... (api/compose_container.py)
    }
)
_DEPLOY_KEYS: Final = frozenset(
    {
        "mode",
        "endpoint_mode",
        "replicas",
        "placement",
        "resources",
        "restart_policy",
        "update_config",
        "rollback_config",
        "labels",
    }
)
_UPDATE_KEYS: Final = frozenset(
    {"parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order"}
)
_REF_KEYS: Final = frozenset({"source", "target", "uid", "gid", "mode"})


@dataclass(frozen=True)
class StackNames:
    """What a service's conversion needs from the rest of the file: the stack's name, the
    object names of the top-level secrets, configs, networks and volumes by their key, the
    directory relative paths start from, and the client's environment (for variables
    listed without a value)."""

    namespace: str
    secrets: Mapping[str, str] = field(default_factory=dict)
    configs: Mapping[str, str] = field(default_factory=dict)
    networks: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, VolumePlan] = field(default_factory=dict)
    base_dir: str = "/"
    environ: Mapping[str, str] = field(default_factory=dict)
    # the ``KEY=value`` entries of the env file at a path (ValueError saying why it
    # cannot); None: env_file is refused
    read_env_file: Callable[[str], Sequence[str]] | None = None

    def scoped(self, key: str) -> str:
        return f"{self.namespace}_{key}"


def convert_service(key: str, raw: Any, names: StackNames) -> ServiceSpec:
    s = Section(raw, f"services.{key}", SERVICE_KEYS)
    image = s.text("image")
    if not image:
        raise ComposeError(s.at("image"), "an image is required")
    deploy = s.section("deploy", _DEPLOY_KEYS)
    namespace = {LABEL_NAMESPACE: names.namespace}
    container = ContainerSpec(
        image=image,
        command=_command(s, "entrypoint"),
        args=_command(s, "command"),
        env=_environment(s, names),
        labels={**key_values(s.raw("labels") or {}, s.at("labels")), **namespace},
        user=s.text("user"),
        dir=s.text("working_dir"),
        hostname=s.text("hostname"),
        healthcheck=_healthcheck(s),
        stop_signal=s.text("stop_signal"),
        stop_grace_period=s.duration("stop_grace_period", 10.0),
        secrets=tuple(_secret(s, i, item, names) for i, item in enumerate(s.entries("secrets"))),
        configs=tuple(_config(s, i, item, names) for i, item in enumerate(s.entries("configs"))),
        mounts=service_mounts(s, names.volumes, names.base_dir),
        pids_limit=_pids_limit(deploy),
        **container_options(s),
    )
    task = TaskSpec(
        container=container,
        resources=_resources(deploy),
        restart_policy=_restart_policy(deploy),
        placement=_placement(deploy),
        networks=service_networks(s, key, names.networks),
        log_driver=log_driver(s),
    )
    labels = key_values(deploy.raw("labels") or {}, deploy.at("labels"))
    spec = ServiceSpec(
        name=names.scoped(key),
        labels={**labels, **namespace, LABEL_IMAGE: image},
        task=task,
        mode=_mode(deploy),
        update_config=_update_config(deploy, "update_config", "pause|continue|rollback"),
        rollback_config=_update_config(deploy, "rollback_config", "pause|continue"),
        endpoint=EndpointSpec(ports=service_ports(s), mode=endpoint_mode(deploy)),
    )
    return with_task_ports(spec)  # as the manager stores it, so an unchanged one compares equal


# --- container -------------------------------------------------------------------------


def _command(s: Section, key: str) -> tuple[str, ...]:
    value = s.raw(key)
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise ComposeError(s.at(key), f"cannot split {value!r}: {exc}") from None
    return s.strings(key)


def _env_files(s: Section, names: StackNames) -> dict[str, str | None]:
    raw = s.raw("env_file")
    if raw is None:
        return {}
    paths = [raw] if isinstance(raw, str) else s.strings("env_file")
    if names.read_env_file is None:
        raise ComposeError(s.at("env_file"), "env files cannot be read here")
    found: dict[str, str | None] = {}
    for i, path in enumerate(paths):
        at = s.at("env_file") if isinstance(raw, str) else f"{s.at('env_file')}[{i}]"
        try:
            entries = names.read_env_file(posixpath.normpath(posixpath.join(names.base_dir, path)))
        except ValueError as exc:
            raise ComposeError(at, str(exc)) from None
        for entry in entries:
            key, _, value = entry.partition("=")
            found[key] = value
    return found


def _environment(s: Section, names: StackNames) -> tuple[str, ...]:
    env = _env_files(s, names)
    listed = key_values(s.raw("environment") or {}, s.at("environment"), keep_none=True)
    for name, value in listed.items():
        env[name] = names.environ.get(name) if value is None else value
    return tuple(
        sorted(name if value is None else f"{name}={value}" for name, value in env.items())
    )


def _healthcheck(s: Section) -> HealthConfig | None:
    if "healthcheck" not in s:
        return None
    h = s.section(
        "healthcheck", {"test", "interval", "timeout", "retries", "start_period", "disable"}
    )
    if h.boolean("disable"):
        if "test" in h:
            raise ComposeError(h.at("disable"), "disable: true and a test conflict")
        return HealthConfig(test=("NONE",))
    test: tuple[str, ...] = ()
    raw = h.raw("test")
    if isinstance(raw, str):
        test = ("CMD-SHELL", raw)
    elif raw is not None:
        test = h.strings("test")
        if not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise ComposeError(
                h.at("test"), "a list starts with CMD, CMD-SHELL or NONE (or give a string)"
            )
    return HealthConfig(
        test=test,
        interval=h.duration("interval"),
        timeout=h.duration("timeout"),
        retries=h.integer("retries"),
        start_period=h.duration("start_period"),
    )


def _reference(
    s: Section, kind: str, i: int, item: Any, declared: Mapping[str, str]
) -> tuple[str, Section | None]:
    """The compose key an item names, and its long form (None for the short one)."""
    path = f"{s.at(kind + 's')}[{i}]"
    if isinstance(item, str):
        key, long = item, None
    else:
        long = Section(item, path, _REF_KEYS)
        key = long.text("source")
        if not key:
            raise ComposeError(long.at("source"), f"a {kind} reference needs a source")
    if key not in declared:
        raise ComposeError(path, f"{kind} {key!r} is not declared in the top-level {kind}s")
    return key, long


def _mode_bits(long: Section) -> int:
    value = long.raw("mode")
    if value is None:
        return 0o444
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # YAML reads 0440 as octal already
    text = str(value).strip().lower().removeprefix("0o")
    try:
        return int(text, 8)
    except ValueError:
        raise ComposeError(
            long.at("mode"), f"expected an octal mode (0440), got {value!r}"
        ) from None


def _secret(s: Section, i: int, item: Any, names: StackNames) -> SecretReference:
    key, long = _reference(s, "secret", i, item, names.secrets)
    if long is None:
        return SecretReference(secret_name=names.secrets[key], target=key)
    return SecretReference(
        secret_name=names.secrets[key],
        target=long.text("target", key),
        uid=long.integer("uid"),
        gid=long.integer("gid"),
        mode=_mode_bits(long),
    )


def _config(s: Section, i: int, item: Any, names: StackNames) -> ConfigReference:
    key, long = _reference(s, "config", i, item, names.configs)
    target = f"/{key}" if long is None else long.text("target", f"/{key}")
    ref = ConfigReference(
        config_name=names.configs[key],
        target=target if target.startswith("/") else f"/{target}",
    )
    if long is None:
        return ref
    return ConfigReference(
        config_name=ref.config_name,
        target=ref.target,
        uid=long.integer("uid"),
        gid=long.integer("gid"),
        mode=_mode_bits(long),
    )


# --- deploy ----------------------------------------------------------------------------


def _mode(deploy: Section) -> ServiceMode:
    mode = deploy.text("mode", "replicated")
    replicas = deploy.integer("replicas", 1)
    if mode == "replicated":
        return ReplicatedService(replicas=replicas)
    if mode == "replicated-job":
        return ReplicatedJob(max_concurrent=replicas, total_completions=replicas)
    if mode not in ("global", "global-job"):
        raise ComposeError(
            deploy.at("mode"),
            f"unknown mode {mode!r} (expected replicated, global, replicated-job or global-job)",
        )
    if "replicas" in deploy:
        raise ComposeError(deploy.at("replicas"), f"replicas cannot be used with mode {mode}")
    return GlobalService() if mode == "global" else GlobalJob()


def _placement(deploy: Section) -> Placement:
    p = deploy.section("placement", {"constraints", "preferences", "max_replicas_per_node"})
    preferences = []
    for i, item in enumerate(p.entries("preferences")):
        pref = Section(item, f"{p.at('preferences')}[{i}]", {"spread"})
        if "spread" not in pref:
            raise ComposeError(pref.path, "a preference is spread: DESCRIPTOR")
        preferences.append(PlacementPreference(spread=pref.text("spread")))
    return Placement(
        constraints=p.strings("constraints"),
        preferences=tuple(preferences),
        max_replicas=p.integer("max_replicas_per_node"),
    )


def _resources(deploy: Section) -> ResourceRequirements:
    r = deploy.section("resources", {"limits", "reservations"})

    def part(key: str) -> Resources:
        values = r.section(
            key, {"cpus", "memory", "pids"} if key == "limits" else {"cpus", "memory"}
        )
        return Resources(nano_cpus=values.cpus("cpus"), memory_bytes=values.memory("memory"))

    return ResourceRequirements(limits=part("limits"), reservations=part("reservations"))


def _pids_limit(deploy: Section) -> int:
    """``deploy.resources.limits.pids`` (Docker's Limits.Pids: the container's)."""
    resources = deploy.section("resources", {"limits", "reservations"})
    return resources.section("limits", {"cpus", "memory", "pids"}).integer("pids")


def _choice(s: Section, key: str, cls: Any, choices: str, default: Any) -> Any:
    value = s.text(key)
    if not value:
        return default
    if value.lower() not in choices.split("|"):
        raise ComposeError(s.at(key), f"unknown value {value!r} (expected {choices})")
    return cls(value.lower())


def _restart_policy(deploy: Section) -> RestartPolicy:
    r = deploy.section("restart_policy", {"condition", "delay", "max_attempts", "window"})
    default = RestartPolicy()
    return RestartPolicy(
        condition=_choice(
            r, "condition", RestartCondition, "none|on-failure|any", default.condition
        ),
        delay=r.duration("delay", default.delay),
        max_attempts=r.integer("max_attempts"),
        window=r.duration("window"),
    )


def _update_config(deploy: Section, key: str, actions: str) -> UpdateConfig:
    u = deploy.section(key, _UPDATE_KEYS)
    default = UpdateConfig()
    ratio = u.number("max_failure_ratio")
    if not 0.0 <= ratio <= 1.0:
        raise ComposeError(u.at("max_failure_ratio"), f"must be in 0..1, got {ratio}")
    return UpdateConfig(
        parallelism=u.integer("parallelism", default.parallelism),
        delay=u.duration("delay"),
        failure_action=_choice(u, "failure_action", FailureAction, actions, default.failure_action),
        monitor=u.duration("monitor", default.monitor),
        max_failure_ratio=ratio,
        order=_choice(u, "order", UpdateOrder, "stop-first|start-first", default.order),
    )
