# ruff: noqa: E501  (tables of cases read best one per line)
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from api.cluster_specs import NetworkSpec
from api.compose import check_stack_name
from api.compose_fields import ComposeError
from api.host_resources import validate_network_spec
from api.secret_validation import validate_file_name
from api.specs import (
    CAConfig,
    ClusterSpec,
    ContainerSpec,
    Dependency,
    EndpointSpec,
    GlobalService,
    LogDriver,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    PlacementPreference,
    PortConfig,
    RaftConfig,
    ReplicatedJob,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
    VolumeDriver,
    VolumeOptions,
)
from api.validation import (
    InvalidSpec,
    parse_constraint,
    parse_placement_preference,
    validate_cluster_spec,
    validate_service_spec,
)

BOGUS: Any = "bogus"
BOGUS_CONDITION: Any = "sometimes"


def _spec(**task: Any) -> ServiceSpec:
    base = TaskSpec(container=ContainerSpec(image="busybox"))
    return ServiceSpec(name="web", task=replace(base, **task))


def test_valid_spec_passes() -> None:
    validate_service_spec(_spec())
    validate_service_spec(replace(_spec(), mode=GlobalService()))
    validate_cluster_spec(ClusterSpec())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (replace(_spec(), mode=ReplicatedService(replicas=-1)), "invalid spec: mode.replicated.replicas: must be >= 0, got -1"),
        (replace(_spec(), mode=ReplicatedService(replicas=100_001)), "invalid spec: mode.replicated.replicas: must be at most 100,000, got 100,001"),
        (replace(_spec(), mode=ReplicatedJob(total_completions=10**18)), "mode.replicated-job.total_completions: must be at most 100,000"),
        (_spec(container=ContainerSpec(image="")), "invalid spec: task.container.image: an image is required"),
        (replace(_spec(), mode=BOGUS), "invalid spec: mode: unknown mode 'bogus'"),
        (_spec(restart_policy=RestartPolicy(condition=BOGUS_CONDITION)), "invalid spec: task.restart_policy.condition: unknown restart condition 'sometimes' (expected none|on-failure|any)"),
        (_spec(placement=Placement(constraints=("node.labels.zone=a",))), "task.placement.constraints[0]: malformed constraint 'node.labels.zone=a'"),
        (_spec(placement=Placement(constraints=("node.colour==red",))), "unknown constraint key 'node.colour'"),
        (_spec(placement=Placement(preferences=(PlacementPreference("zone"),))), "task.placement.preferences[0].spread"),
        (replace(_spec(), name=""), "invalid spec: name: a service needs a name"),
        (replace(_spec(), name="bad name"), "invalid spec: name: 'bad name': name must be valid as a DNS name component (only [a-zA-Z0-9-_] are allowed, and the start and end character must be [a-zA-Z0-9])"),
        (replace(_spec(), name="web.1"), "name must be valid as a DNS name component (only [a-zA-Z0-9-_] are allowed"),
        (replace(_spec(), name="w" * 64), "invalid spec: name: '" + "w" * 64 + "': name must be 63 characters or fewer"),
        (replace(_spec(), update_config=UpdateConfig(max_failure_ratio=2.0)), "update_config.max_failure_ratio: must be in [0, 1]"),
        (replace(_spec(), endpoint=EndpointSpec(ports=(PortConfig(target_port=0),))), "endpoint.ports[0].target_port"),
        (_spec(resources=ResourceRequirements(limits=Resources(memory_bytes=10), reservations=Resources(memory_bytes=20))), "reservation 20 exceeds the limit 10"),
    ],
)  # fmt: skip
def test_invalid_service_specs(spec: ServiceSpec, message: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        validate_service_spec(spec)
    assert str(info.value).startswith(message) or message in str(info.value)
    assert "\n" not in str(info.value)


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "image",
    [
        "busybox", "busybox:1.36", "library/busybox", "swarmnode-test:busybox",
        "localhost:5000/team/app:v1", "127.0.0.1:5000/app", "[::1]:5000/app:1",
        "registry.example.com/team/web:1.4", f"busybox@{DIGEST}", f"busybox:1@{DIGEST}",
        "a__b/c-d---e.f:T_a.g-1", "Registry.Example.com/app", "x" * 200 + ":" + "t" * 128,
    ],
)  # fmt: skip
def test_image_references_docker_can_pull_pass(image: str) -> None:
    validate_service_spec(_spec(container=ContainerSpec(image=image)))


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("BAD:IMAGE:@@", "the repository name 'BAD' must be lowercase"),
        ("Busybox:1", "the repository name 'Busybox' must be lowercase"),
        ("a:b:c", "invalid reference format"),
        ("-busybox", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        ("busybox/", "invalid reference format"),
        ("team//app", "invalid reference format"),
        ("busybox:" + "t" * 129, "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        (f"busybox@sha256:{'A' * 64}", "a sha256 digest is 64 lowercase hexadecimal digits"),
        (f"busybox@md5:{'a' * 32}", "unsupported digest algorithm 'md5'"),
        ("a" * 64, "an image id of 64 hexadecimal characters is not a repository name"),
        ("x/" * 127 + "yy", "the repository name is over 255 characters"),
    ],
)  # fmt: skip
def test_image_references_docker_cannot_pull_are_refused(image: str, why: str) -> None:
    """SwarmKit refuses them at create ("... is not a valid repository/tag"): accepted,
    every task of the service would be rejected by its node, again and again."""
    with pytest.raises(InvalidSpec) as info:
        validate_service_spec(_spec(container=ContainerSpec(image=image)))
    assert str(info.value) == (
        f"invalid spec: task.container.image: {image!r} is not a valid repository/tag: {why}"
    )


@pytest.mark.parametrize(
    ("expr", "key", "op", "value"),
    [
        ("node.role==manager", "node.role", "==", "manager"),
        ("node.labels.zone != a", "node.labels.zone", "!=", "a"),
        ("engine.labels.os==linux", "engine.labels.os", "==", "linux"),
        ("node.ip==10.0.0.0/8", "node.ip", "==", "10.0.0.0/8"),
        ("node.hostname==box-1", "node.hostname", "==", "box-1"),
        ("node.platform.arch!=arm64", "node.platform.arch", "!=", "arm64"),
    ],
)
def test_parse_constraint(expr: str, key: str, op: str, value: str) -> None:
    c = parse_constraint(expr)
    assert (c.key, c.operator, c.value) == (key, op, value)
    assert c.equals == (op == "==")


@pytest.mark.parametrize(
    "expr",
    ["node.role", "node.role==", "node.role==boss", "node.ip==nope", "node.labels.==x", "a==b==c"],
)
def test_bad_constraints(expr: str) -> None:
    with pytest.raises(InvalidSpec):
        parse_constraint(expr)


def test_placement_preference() -> None:
    assert parse_placement_preference("spread=node.labels.zone") == "node.labels.zone"
    with pytest.raises(InvalidSpec, match="malformed placement preference"):
        parse_placement_preference("pack=node.labels.zone")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (ClusterSpec(raft=RaftConfig(snapshot_interval=0)), "raft.snapshot_interval"),
        (ClusterSpec(raft=RaftConfig(election_tick=1)), "raft.election_tick"),
        (ClusterSpec(ca_config=CAConfig(node_cert_expiry=60)), "ca_config.node_cert_expiry"),
    ],
)
def test_invalid_cluster_specs(spec: ClusterSpec, field: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        validate_cluster_spec(spec)
    assert info.value.field == field


def test_the_most_replicas_a_service_may_have_is_taken() -> None:
    validate_service_spec(replace(_spec(), mode=ReplicatedService(replicas=100_000)))


def _service(spec: ServiceSpec) -> Callable[[], None]:
    return lambda: validate_service_spec(spec)


def _container(**fields: Any) -> ServiceSpec:
    return _spec(container=ContainerSpec(image="busybox", **fields))


def _volume(source: str = "data", driver: str = "") -> ServiceSpec:
    options = VolumeOptions(driver=VolumeDriver(driver)) if driver else None
    return _container(mounts=(Mount(source=source, target="/data", volume_options=options),))


# a name valid but for a trailing newline, in each validator that checks a name by a
# pattern: Python's ``$`` matches before a final newline (Go's, Docker's, does not)
NEWLINE_CASES: list[tuple[str, Callable[[], None]]] = [
    ("service name", _service(replace(_spec(), name="web\n"))),
    ("dependency", _service(replace(_spec(), depends_on=(Dependency("db\n"),)))),
    ("network alias", _service(_spec(networks=(NetworkAttachmentConfig("n1", ("db\n",)),)))),
    ("volume name", _service(_volume(source="data\n"))),
    ("volume driver", _service(_volume(driver="local\n"))),
    ("log driver", _service(_spec(log_driver=LogDriver("json-file\n")))),
    ("capability", _service(_container(cap_add=("CAP_NET_ADMIN\n",)))),
    ("sysctl", _service(_container(sysctls={"net.core.somaxconn\n": "1024"}))),
    ("network name", lambda: validate_network_spec(NetworkSpec(name="backend\n"))),
    ("secret name", lambda: validate_file_name("token\n", "secret")),
    ("stack name", lambda: check_stack_name("shop\n")),
]


@pytest.mark.parametrize(("what", "check"), NEWLINE_CASES, ids=[c[0] for c in NEWLINE_CASES])
def test_a_name_with_a_trailing_newline_is_refused(what: str, check: Callable[[], None]) -> None:
    # before, "web\n" passed as a service's name, and the engine rejected each of its
    # tasks ("Invalid container name (web\n.1.<task id>)") forever; so for the others
    with pytest.raises((InvalidSpec, ComposeError), match=r"\\n"):
        check()


# a name of allowed characters up to a bad last one, as long as a name may be: the name
# patterns once nested their repetitions, and matching such a name backtracked for ages
# (seconds at 26 characters, doubling with each more), holding a control handler
BACKTRACK_NAME = "a" * 62 + "!"
BACKTRACK_CASES: list[tuple[str, Callable[[], None]]] = [
    ("service name", _service(replace(_spec(), name=BACKTRACK_NAME))),
    (
        "network alias",
        _service(_spec(networks=(NetworkAttachmentConfig("n1", (BACKTRACK_NAME,)),))),
    ),
    ("network name", lambda: validate_network_spec(NetworkSpec(name=BACKTRACK_NAME))),
    ("secret name", lambda: validate_file_name(BACKTRACK_NAME, "secret")),
]


@pytest.mark.parametrize(("what", "check"), BACKTRACK_CASES, ids=[c[0] for c in BACKTRACK_CASES])
def test_a_long_bad_name_is_refused_without_backtracking(
    what: str, check: Callable[[], None]
) -> None:
    with pytest.raises(InvalidSpec):
        check()


# a name of 12,000 characters: its refusal shows the start of it, marked cut, never all
# of it, nor a cut piece that looks whole (a network's showed its first 80 characters, an
# alias's all 12,000)
HUGE_NAME = "a-" * 6000 + "-"
HUGE_CASES: list[tuple[str, Callable[[], None]]] = [
    ("service name", _service(replace(_spec(), name=HUGE_NAME))),
    ("network alias", _service(_spec(networks=(NetworkAttachmentConfig("n1", (HUGE_NAME,)),)))),
    ("network name", lambda: validate_network_spec(NetworkSpec(name=HUGE_NAME))),
    ("secret name", lambda: validate_file_name(HUGE_NAME, "secret")),
]


@pytest.mark.parametrize(("what", "check"), HUGE_CASES, ids=[c[0] for c in HUGE_CASES])
def test_a_huge_name_is_shown_cut_in_its_refusal(what: str, check: Callable[[], None]) -> None:
    with pytest.raises(InvalidSpec) as refused:
        check()
    message = str(refused.value)
    assert f"'{HUGE_NAME[:64]}...'" in message and len(message) < 400, message
