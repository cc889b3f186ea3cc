"""What a task needs of its executor (api/executor_capabilities.py), and that the process
executor refuses exactly what the scheduler keeps away from it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.node.tree.host_info import describe_executor
from actors.worker.executors.process_policy import refused_fields
from api.executor_capabilities import (
    ALL_CAPABILITIES,
    MAX_CAPABILITIES,
    Capability,
    capabilities_of,
    show,
    task_needs,
    unmet,
)
from api.objects import ExecutorDescription, NodeDescription
from api.spec_limits import InvalidSpec
from api.specs import (
    ContainerSpec,
    DNSConfig,
    LogDriver,
    Mount,
    NetworkAttachmentConfig,
    PortConfig,
    ResourceRequirements,
    Resources,
    TaskSpec,
    Ulimit,
)
from api.validation import validate_node_description

PLAIN = TaskSpec(container=ContainerSpec(image="busybox", command=("sleep",), args=("9",)))


def _with(**container: object) -> TaskSpec:
    return replace(PLAIN, container=replace(PLAIN.container, **container))  # type: ignore[arg-type]


# one spec per capability, using it and nothing else
USING: dict[Capability, TaskSpec] = {
    Capability.HOSTNAME: _with(hostname="web"),
    Capability.CONTAINER_LABEL: _with(labels={"team": "a"}),
    Capability.LIMIT_CPU: replace(
        PLAIN, resources=ResourceRequirements(limits=Resources(nano_cpus=1))
    ),
    Capability.LIMIT_MEMORY: replace(
        PLAIN, resources=ResourceRequirements(limits=Resources(memory_bytes=1 << 20))
    ),
    Capability.LIMIT_PIDS: _with(pids_limit=64),
    Capability.OOM_SCORE_ADJ: _with(oom_score_adj=-5),
    Capability.LOG_DRIVER: replace(PLAIN, log_driver=LogDriver("json-file")),
    Capability.LOG_OPT: replace(PLAIN, log_driver=LogDriver("", {"max-size": "1m"})),
    Capability.PUBLISH: replace(PLAIN, ports=(PortConfig(target_port=80),)),
    Capability.MOUNT: _with(mounts=(Mount(target="/data"),)),
    Capability.NETWORK: replace(PLAIN, networks=(NetworkAttachmentConfig("backend"),)),
    Capability.READ_ONLY: _with(read_only=True),
    Capability.INIT: _with(init=True),
    Capability.TTY: _with(tty=True),
    Capability.GROUP: _with(groups=("audio",)),
    Capability.CAP_ADD: _with(cap_add=("CAP_NET_ADMIN",)),
    Capability.CAP_DROP: _with(cap_drop=("ALL",)),
    Capability.ULIMIT: _with(ulimits=(Ulimit("nofile", 64, 64),)),
    Capability.SYSCTL: _with(sysctls={"net.core.somaxconn": "1024"}),
    Capability.DNS: _with(dns_config=DNSConfig(nameservers=("10.0.0.2",))),
    Capability.DNS_SEARCH: _with(dns_config=DNSConfig(search=("corp",))),
    Capability.DNS_OPTION: _with(dns_config=DNSConfig(options=("ndots:2",))),
    Capability.HOST: _with(hosts=("10.0.0.3 db",)),
    Capability.IMAGE_COMMAND: _with(command=(), args=()),
}


def test_a_plain_command_needs_nothing() -> None:
    assert task_needs(PLAIN) == ()
    reserved = ResourceRequirements(reservations=Resources(nano_cpus=1, memory_bytes=1))
    assert task_needs(replace(PLAIN, resources=reserved)) == ()  # the scheduler's business
    assert task_needs(_with(command=(), args=("sleep", "9"))) == ()  # args alone run


@pytest.mark.parametrize("cap", list(Capability))
def test_each_capability_is_found_alone(cap: Capability) -> None:
    assert task_needs(USING[cap]) == (cap,)


def test_every_capability_has_a_spec_above() -> None:
    assert set(USING) == ALL_CAPABILITIES


def test_needs_come_in_declaration_order_and_a_named_driver_with_options_needs_both() -> None:
    spec = replace(
        _with(pids_limit=5, hostname="h", read_only=True),
        log_driver=LogDriver("syslog", {"tag": "x"}),
    )
    assert task_needs(spec) == (
        Capability.HOSTNAME,
        Capability.LIMIT_PIDS,
        Capability.LOG_DRIVER,
        Capability.LOG_OPT,
        Capability.READ_ONLY,
    )


@pytest.mark.parametrize("cap", list(Capability))
def test_the_process_executor_refuses_what_the_scheduler_keeps_from_it(cap: Capability) -> None:
    """One function decides for both: whatever a process node lacks, its executor
    refuses with a message (and what it has, it runs)."""
    lacked = cap not in capabilities_of("process")
    refusal = refused_fields(USING[cap], ("nobody",))
    assert (refusal is not None) == lacked
    assert refused_fields(PLAIN, ("nobody",)) is None


def test_the_refusal_names_them() -> None:
    refusal = refused_fields(USING[Capability.LOG_OPT], ("nobody",)) or ""
    assert "logging options (--log-opt;" in refusal
    refusal = refused_fields(USING[Capability.IMAGE_COMMAND], ("nobody",)) or ""
    assert "cannot honour an image's default command" in refusal


def test_what_each_kind_honours() -> None:
    assert capabilities_of("docker") == ALL_CAPABILITIES == capabilities_of("sim")
    assert capabilities_of("process") == frozenset()
    assert capabilities_of("unknown") == frozenset()
    described = describe_executor("docker")
    assert described.kind == "docker" and list(described.capabilities) == sorted(
        described.capabilities
    )
    assert all(type(name) is str for name in described.capabilities)  # plain on the wire


def test_unmet_and_show() -> None:
    needs = (Capability.LIMIT_PIDS, Capability.MOUNT, Capability.IMAGE_COMMAND)
    assert unmet(needs, ("mount", "other")) == (Capability.LIMIT_PIDS, Capability.IMAGE_COMMAND)
    assert unmet(needs, capabilities_of("docker")) == ()
    assert show(Capability.LIMIT_PIDS) == "--limit-pids"
    assert show(Capability.IMAGE_COMMAND) == "an image's default command"


def test_a_nodes_report_is_bounded() -> None:
    ok = NodeDescription(hostname="h", executor=describe_executor("docker"))
    validate_node_description(ok)
    many = ExecutorDescription("docker", tuple(f"c{i}" for i in range(MAX_CAPABILITIES + 1)))
    with pytest.raises(InvalidSpec) as err:
        validate_node_description(replace(ok, executor=many))
    assert err.value.field == "description.executor.capabilities"
    long_name = ExecutorDescription("docker", ("c" * 65,))
    with pytest.raises(InvalidSpec) as err:
        validate_node_description(replace(ok, executor=long_name))
    assert err.value.field == "description.executor.capabilities[0]"
    with pytest.raises(InvalidSpec) as err:
        validate_node_description(replace(ok, executor=ExecutorDescription("k" * 65)))
    assert err.value.field == "description.executor.kind"


@pytest.mark.parametrize("name", ["docker\x1b[2J", "two words", "a\nb", "-x", "é"])
def test_a_nodes_report_names_its_executor_and_capabilities_plainly(name: str) -> None:
    # the kind goes into pending tasks' messages (service ps prints them as they are) and
    # node inspect: a node must not write escape sequences or lines into them
    ok = NodeDescription(hostname="h", executor=describe_executor("docker"))
    with pytest.raises(InvalidSpec) as err:
        validate_node_description(replace(ok, executor=ExecutorDescription(name)))
    assert err.value.field == "description.executor.kind"
    assert "letters, digits" in str(err.value)
    with pytest.raises(InvalidSpec) as err:
        validate_node_description(replace(ok, executor=ExecutorDescription("docker", (name,))))
    assert err.value.field == "description.executor.capabilities[0]"
    newer = ExecutorDescription("wasm-2.0", ("limit-pids", "gpu_v2"))
    validate_node_description(replace(ok, executor=newer))  # unknown names, plainly written
