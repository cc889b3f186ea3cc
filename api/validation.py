"""Validation of user-owned specs, before anything is written.

Every check raises ``InvalidSpec`` with one line naming the field, e.g.
``invalid spec: mode.replicated.replicas: must be >= 0, got -1``. Sizes and counts follow
`api.spec_limits` (Docker's limits where it has them); a whole spec, or the description a
node reports at join and with each session, must encode within the spec budget of
`api.limits`. Constraint expressions are parsed here too (``parse_constraint``), so the
scheduler and the CLI share one grammar: ``KEY==VALUE`` or ``KEY!=VALUE`` over the keys
in ``CONSTRAINT_KEYS`` and the prefixes ``node.labels.`` and ``engine.labels.``.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.container_options import validate_container_options
from api.dependencies import MAX_DEPENDENCIES
from api.endpoint_mode import validate_endpoint_mode
from api.enums import (
    DependencyCondition,
    FailureAction,
    NodeAvailability,
    NodeRole,
    RebalanceMode,
    RestartCondition,
    SchedulePolicy,
    SchedulingStrategy,
    UpdateOrder,
)
from api.host_resources import (
    MAX_MOUNTS,
    validate_mounts,
    validate_network_attachments,
    validate_ports,
)
from api.image_ref import check_reference
from api.limits import format_bytes
from api.node_tls import validate_node_tls_info
from api.runtime_options import validate_runtime_options
from api.schedule import check_schedule
from api.secret_refs import validate_references
from api.spec_limits import (
    MAX_CONSTRAINTS,
    MAX_ENV,
    MAX_HOSTNAME_BYTES,
    MAX_IMAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_REPLICAS,
    InvalidSpec,
    check_count,
    check_labels,
    check_spec_budget,
    check_string,
    check_strings,
    shown_name,
    utf8_size,
)
from api.specs import (
    ContainerSpec,
    EndpointSpec,
    GlobalJob,
    GlobalService,
    Placement,
    ReplicatedJob,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from api.templates import TemplateContext, example_context, example_refusal, expand_container

if TYPE_CHECKING:  # annotations only: a service's commands do not import these
    from api.cluster_specs import ClusterSpec, NodeSpec
    from api.objects import ExecutorDescription, NodeDescription

__all__ = [
    "CONSTRAINT_KEYS",
    "CONSTRAINT_PREFIXES",
    "Constraint",
    "InvalidSpec",
    "parse_constraint",
    "parse_placement_preference",
    "validate_cluster_spec",
    "validate_hostname",
    "validate_labels",
    "validate_node_description",
    "validate_node_spec",
    "validate_service_spec",
    "validate_task_spec",
]

CONSTRAINT_KEYS = (
    "node.id",
    "node.hostname",
    "node.ip",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
)
CONSTRAINT_PREFIXES = ("node.labels.", "engine.labels.")
MIN_CERT_EXPIRY = 3600.0

# SwarmKit's rule for service names: DNS-label-like, at most 63 characters.
_NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[-_a-zA-Z0-9]*[a-zA-Z0-9])?\Z")
_NAME_CHARS = "only [a-zA-Z0-9-_] are allowed, and the start and end character must be [a-zA-Z0-9]"
_EXECUTOR_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*\Z")
_CONSTRAINT_RE = re.compile(r"^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str  # "node.labels.zone"
    operator: str  # "==" or "!="
    value: str

    @property
    def equals(self) -> bool:
        return self.operator == "=="

    def __str__(self) -> str:
        return f"{self.key}{self.operator}{self.value}"


def parse_constraint(expr: str, field: str = "constraint") -> Constraint:
    """Parse ``KEY==VALUE`` / ``KEY!=VALUE``; InvalidSpec says what is wrong."""
    m = _CONSTRAINT_RE.match(expr)
    if m is None:
        raise InvalidSpec(
            field, f"malformed constraint {expr!r} (expected KEY==VALUE or KEY!=VALUE)"
        )
    key, op, value = m.groups()
    if "==" in value or "!=" in value:
        raise InvalidSpec(field, f"malformed constraint {expr!r}: more than one operator")
    if value == "":
        raise InvalidSpec(field, f"malformed constraint {expr!r}: empty value")
    lowered = key.lower()
    if lowered in CONSTRAINT_KEYS:
        key = lowered
    else:
        prefix = next((p for p in CONSTRAINT_PREFIXES if lowered.startswith(p)), None)
        if prefix is None or len(key) == len(prefix):
            known = ", ".join((*CONSTRAINT_KEYS, *(p + "<label>" for p in CONSTRAINT_PREFIXES)))
            raise InvalidSpec(field, f"unknown constraint key {key!r} (expected one of {known})")
        key = prefix + key[len(prefix) :]
    if key == "node.role" and value.lower() not in {r.value for r in NodeRole}:
        raise InvalidSpec(field, f"node.role must be 'manager' or 'worker', got {value!r}")
    if key == "node.ip":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise InvalidSpec(
                field, f"node.ip needs an IP address or CIDR, got {value!r}"
            ) from None
    return Constraint(key, op, value)


def parse_placement_preference(expr: str, field: str = "preference") -> str:
    """``spread=node.labels.zone`` → ``node.labels.zone`` (the spread descriptor)."""
    strategy, sep, descriptor = expr.partition("=")
    if not sep or strategy.strip() != "spread":
        raise InvalidSpec(field, f"malformed placement preference {expr!r} (expected spread=KEY)")
    return _check_spread_descriptor(descriptor.strip(), field)


def _check_spread_descriptor(descriptor: str, field: str) -> str:
    prefix = next((p for p in CONSTRAINT_PREFIXES if descriptor.startswith(p)), None)
    if prefix is None or len(descriptor) == len(prefix):
        raise InvalidSpec(
            field,
            "spread descriptor must be node.labels.<name> or engine.labels.<name>, "
            f"got {descriptor!r}",
        )
    return descriptor


# --- helpers ---------------------------------------------------------------------------


def _enum(value: Any, cls: type[enum.Enum], field: str, what: str) -> None:
    if not isinstance(value, cls):
        choices = "|".join(str(m.value) for m in cls)
        raise InvalidSpec(field, f"unknown {what} {value!r} (expected {choices})")


def _non_negative(value: float, field: str) -> None:
    if value < 0:
        raise InvalidSpec(field, f"must be >= 0, got {value}")


def _task_count(value: int, field: str) -> None:
    _non_negative(value, field)
    if value > MAX_REPLICAS:
        raise InvalidSpec(field, f"must be at most {MAX_REPLICAS:,}, got {value:,}")


def validate_labels(labels: Mapping[str, str], field: str = "labels") -> None:
    """Label count, key and value sizes (node labels given to ``swarm-node --label``, ...)."""
    check_labels(labels, field)


def validate_hostname(hostname: str, field: str = "hostname") -> None:
    """At most ``MAX_HOSTNAME_BYTES`` bytes, no whitespace or control characters."""
    size = utf8_size(hostname)
    if size > MAX_HOSTNAME_BYTES:
        raise InvalidSpec(
            field,
            f"hostname of {format_bytes(size)}, over the limit of {MAX_HOSTNAME_BYTES} bytes "
            "(the kernel's HOST_NAME_MAX)",
        )
    if any(not ch.isprintable() or ch.isspace() for ch in hostname):
        raise InvalidSpec(field, f"hostname {hostname!r} contains whitespace or control characters")


def _check_service_name(name: str) -> None:
    """A service's name, in SwarmKit's words (its controlapi's validateAnnotations) and
    with the characters it allows."""
    shown = shown_name(name)
    if not _NAME_RE.match(name):
        raise InvalidSpec(
            "name", f"{shown}: name must be valid as a DNS name component ({_NAME_CHARS})"
        )
    if len(name) > MAX_NAME_CHARS:
        raise InvalidSpec("name", f"{shown}: name must be {MAX_NAME_CHARS} characters or fewer")


# --- specs -----------------------------------------------------------------------------


def validate_service_spec(spec: ServiceSpec) -> None:
    if not spec.name:
        raise InvalidSpec("name", "a service needs a name")
    _check_service_name(spec.name)
    check_labels(spec.labels, "labels")
    validate_task_spec(spec.task, "task", example_context(spec.name, spec.labels))
    mode = spec.mode
    if isinstance(mode, ReplicatedService):
        _task_count(mode.replicas, "mode.replicated.replicas")
    elif isinstance(mode, ReplicatedJob):
        _task_count(mode.max_concurrent, "mode.replicated-job.max_concurrent")
        _task_count(mode.total_completions, "mode.replicated-job.total_completions")
    elif not isinstance(mode, (GlobalService, GlobalJob)):
        raise InvalidSpec(
            "mode", f"unknown mode {mode!r} (expected replicated|global|replicated-job|global-job)"
        )
    _update_config(spec.update_config, "update_config")
    _update_config(spec.rollback_config, "rollback_config")
    if spec.rollback_config.failure_action == FailureAction.ROLLBACK:
        raise InvalidSpec(
            "rollback_config.failure_action",
            "a rollback's failure action is pause or continue (a rollback is never rolled back)",
        )
    _endpoint(spec.endpoint, "endpoint")
    _lifecycle_extensions(spec)
    check_spec_budget(spec, "spec", f"service {spec.name!r}")


def _lifecycle_extensions(spec: ServiceSpec) -> None:
    """``schedule`` (jobs only), ``depends_on`` and ``rebalance`` (replicated only)."""
    job = isinstance(spec.mode, ReplicatedJob | GlobalJob)
    if spec.schedule is not None:
        if not job:
            raise InvalidSpec(
                "schedule",
                f"--schedule needs a job mode (replicated-job|global-job), not {spec.mode.TAG}",
            )
        check_schedule(spec.schedule.cron, "schedule.cron")
        _enum(spec.schedule.policy, SchedulePolicy, "schedule.policy", "schedule policy")
    check_count(spec.depends_on, "depends_on", MAX_DEPENDENCIES)
    seen: set[str] = set()
    for i, dep in enumerate(spec.depends_on):
        field = f"depends_on[{i}]"
        if not _NAME_RE.match(dep.service) or len(dep.service) > MAX_NAME_CHARS:
            raise InvalidSpec(f"{field}.service", f"{dep.service[:64]!r} is not a service name")
        if dep.service == spec.name:
            raise InvalidSpec(f"{field}.service", f"service {spec.name} cannot depend on itself")
        if dep.service in seen:
            raise InvalidSpec(f"{field}.service", f"{dep.service} is named twice")
        seen.add(dep.service)
        _enum(dep.condition, DependencyCondition, f"{field}.condition", "dependency condition")
    _enum(spec.rebalance, RebalanceMode, "rebalance", "rebalance mode")
    if spec.rebalance == RebalanceMode.AUTO and not isinstance(spec.mode, ReplicatedService):
        raise InvalidSpec(
            "rebalance", f"--rebalance auto needs replicated mode, not {spec.mode.TAG}"
        )
    _non_negative(spec.rebalance_requests, "rebalance_requests")


def validate_task_spec(
    task: TaskSpec, field: str = "task", templates: TemplateContext | None = None
) -> None:
    """``templates``: the example values its templates are checked with (default: those
    of a service whose name and labels are not known)."""
    _container(task.container, f"{field}.container", templates or example_context("", None))
    _resources(task.resources, f"{field}.resources")
    _restart_policy(task.restart_policy, f"{field}.restart_policy")
    _placement(task.placement, f"{field}.placement")
    validate_network_attachments(task.networks, f"{field}.networks")
    validate_runtime_options(task, field)


def _container(c: ContainerSpec, field: str, templates: TemplateContext) -> None:
    if not c.image.strip():
        raise InvalidSpec(f"{field}.image", "an image is required")
    check_string(c.image, f"{field}.image", MAX_IMAGE_CHARS)
    if any(ch.isspace() for ch in c.image):
        raise InvalidSpec(f"{field}.image", f"image reference {c.image!r} contains whitespace")
    try:  # refused here, as SwarmKit does, not by every node at every attempt
        check_reference(c.image)
    except ValueError as exc:
        raise InvalidSpec(
            f"{field}.image", f"{c.image!r} is not a valid repository/tag: {exc}"
        ) from None
    check_strings(c.env, f"{field}.env", MAX_ENV)
    for i, entry in enumerate(c.env):
        if not entry or entry.startswith("="):
            raise InvalidSpec(f"{field}.env[{i}]", f"expected KEY=VALUE, got {entry[:64]!r}")
    check_strings(c.command, f"{field}.command")
    check_strings(c.args, f"{field}.args")
    for name in ("user", "dir", "stop_signal"):
        check_string(getattr(c, name), f"{field}.{name}")
    check_labels(c.labels, f"{field}.labels")
    _non_negative(c.stop_grace_period, f"{field}.stop_grace_period")
    _templated_fields(c, field, templates)
    if c.healthcheck is not None:
        h = c.healthcheck
        check_strings(h.test, f"{field}.healthcheck.test")
        for name in ("interval", "timeout", "start_period", "retries"):
            _non_negative(getattr(h, name), f"{field}.healthcheck.{name}")
    validate_references(c, field)
    validate_container_options(c, field)


def _templated_fields(c: ContainerSpec, field: str, templates: TemplateContext) -> None:
    """The hostname and mounts as a task would get them: a template that cannot be parsed
    is refused (TemplateError naming the field), and the values checked are the templates
    expanded with example values, as SwarmKit's control API checks them."""
    check_string(c.hostname, f"{field}.hostname")
    check_count(c.mounts, f"{field}.mounts", MAX_MOUNTS)
    expanded = expand_container(c, templates, field)
    try:
        if expanded.hostname:
            validate_hostname(expanded.hostname, f"{field}.hostname")
        validate_mounts(expanded.mounts, f"{field}.mounts")
    except InvalidSpec as exc:
        if expanded is c:
            raise
        raise example_refusal(exc) from None


def _resources(r: ResourceRequirements, field: str) -> None:
    for part in ("limits", "reservations"):
        res: Resources = getattr(r, part)
        _non_negative(res.nano_cpus, f"{field}.{part}.nano_cpus")
        _non_negative(res.memory_bytes, f"{field}.{part}.memory_bytes")
    for name in ("nano_cpus", "memory_bytes"):
        limit = getattr(r.limits, name)
        reserved = getattr(r.reservations, name)
        if limit and reserved > limit:
            raise InvalidSpec(
                f"{field}.reservations.{name}", f"reservation {reserved} exceeds the limit {limit}"
            )


def _restart_policy(p: RestartPolicy, field: str) -> None:
    _enum(p.condition, RestartCondition, f"{field}.condition", "restart condition")
    _non_negative(p.delay, f"{field}.delay")
    _non_negative(p.max_attempts, f"{field}.max_attempts")
    _non_negative(p.window, f"{field}.window")


def _placement(p: Placement, field: str) -> None:
    check_count(p.constraints, f"{field}.constraints", MAX_CONSTRAINTS)
    check_count(p.preferences, f"{field}.preferences", MAX_CONSTRAINTS)
    for i, expr in enumerate(p.constraints):
        parse_constraint(expr, f"{field}.constraints[{i}]")
    for i, pref in enumerate(p.preferences):
        _check_spread_descriptor(pref.spread, f"{field}.preferences[{i}].spread")
    _non_negative(p.max_replicas, f"{field}.max_replicas")
    _enum(p.strategy, SchedulingStrategy, f"{field}.strategy", "strategy")


def _update_config(u: UpdateConfig, field: str) -> None:
    _non_negative(u.parallelism, f"{field}.parallelism")
    _non_negative(u.delay, f"{field}.delay")
    _non_negative(u.monitor, f"{field}.monitor")
    _enum(u.failure_action, FailureAction, f"{field}.failure_action", "failure action")
    _enum(u.order, UpdateOrder, f"{field}.order", "update order")
    if not 0.0 <= u.max_failure_ratio <= 1.0:
        raise InvalidSpec(
            f"{field}.max_failure_ratio", f"must be in [0, 1], got {u.max_failure_ratio}"
        )


def _endpoint(e: EndpointSpec, field: str) -> None:
    validate_ports(e.ports, f"{field}.ports")
    validate_endpoint_mode(e, field)


def validate_node_spec(spec: NodeSpec) -> None:
    check_string(spec.name, "name", MAX_HOSTNAME_BYTES)
    check_labels(spec.labels, "labels")
    _enum(spec.desired_role, NodeRole, "desired_role", "role")
    _enum(spec.availability, NodeAvailability, "availability", "availability")


def validate_node_description(description: NodeDescription, field: str = "description") -> None:
    """What a node reports about itself (at join and with each session), before it is
    stored: its hostname, platform, engine version and engine labels, its executor and
    its certificate's TLS info (api/node_tls.py)."""
    validate_hostname(description.hostname, f"{field}.hostname")
    check_string(description.platform.os, f"{field}.platform.os", MAX_HOSTNAME_BYTES)
    check_string(
        description.platform.architecture, f"{field}.platform.architecture", MAX_HOSTNAME_BYTES
    )
    check_string(
        description.engine.engine_version, f"{field}.engine.engine_version", MAX_HOSTNAME_BYTES
    )
    check_labels(description.engine.labels, f"{field}.engine.labels")
    for name in ("nano_cpus", "memory_bytes"):
        _non_negative(getattr(description.resources, name), f"{field}.resources.{name}")
    if description.executor is not None:
        _executor(description.executor, f"{field}.executor")
    if description.tls_info is not None:
        validate_node_tls_info(description.tls_info, f"{field}.tls_info")
    check_spec_budget(description, field, f"the description of host {description.hostname!r}")


def _executor(executor: ExecutorDescription, field: str) -> None:
    """A node's executor report: a kind and its capabilities, each a short name (names
    this version does not know are kept: a newer node may have more)."""
    from api.executor_capabilities import MAX_CAPABILITIES, MAX_CAPABILITY_CHARS

    _executor_name(executor.kind, f"{field}.kind", MAX_CAPABILITY_CHARS, empty=True)
    check_count(executor.capabilities, f"{field}.capabilities", MAX_CAPABILITIES)
    for i, name in enumerate(executor.capabilities):
        _executor_name(name, f"{field}.capabilities[{i}]", MAX_CAPABILITY_CHARS, empty=False)


def _executor_name(name: str, field: str, limit: int, *, empty: bool) -> None:
    """A plain name: the kind is shown in pending tasks' messages and node inspect, so a
    node must not write escape sequences or lines there."""
    check_string(name, field, limit)
    if (name or not empty) and not _EXECUTOR_NAME_RE.match(name):
        raise InvalidSpec(
            field,
            f"invalid name {name!r} (letters, digits, '-', '_' and '.', "
            "starting with a letter or digit)",
        )


def validate_cluster_spec(spec: ClusterSpec) -> None:
    if not spec.name:
        raise InvalidSpec("name", "a cluster needs a name")
    check_string(spec.name, "name", MAX_NAME_CHARS)
    check_labels(spec.labels, "labels")
    _non_negative(
        spec.orchestration.task_history_retention_limit,
        "orchestration.task_history_retention_limit",
    )
    if spec.orchestration.service_history_limit < 1:
        raise InvalidSpec(
            "orchestration.service_history_limit",
            f"must be >= 1 (the current spec), got {spec.orchestration.service_history_limit}",
        )
    raft = spec.raft
    if raft.snapshot_interval < 1:
        raise InvalidSpec("raft.snapshot_interval", f"must be >= 1, got {raft.snapshot_interval}")
    _non_negative(raft.keep_old_snapshots, "raft.keep_old_snapshots")
    _non_negative(raft.log_entries_for_slow_followers, "raft.log_entries_for_slow_followers")
    if raft.heartbeat_tick < 1:
        raise InvalidSpec("raft.heartbeat_tick", f"must be >= 1, got {raft.heartbeat_tick}")
    if raft.election_tick <= raft.heartbeat_tick:
        raise InvalidSpec(
            "raft.election_tick",
            f"must be greater than heartbeat_tick ({raft.heartbeat_tick}), "
            f"got {raft.election_tick}",
        )
    if spec.dispatcher.heartbeat_period <= 0:
        raise InvalidSpec(
            "dispatcher.heartbeat_period", f"must be > 0, got {spec.dispatcher.heartbeat_period}"
        )
    if spec.ca_config.node_cert_expiry < MIN_CERT_EXPIRY:
        raise InvalidSpec(
            "ca_config.node_cert_expiry",
            f"must be at least 1 h ({MIN_CERT_EXPIRY:.0f} s), "
            f"got {spec.ca_config.node_cert_expiry}",
        )
