"""swarmctl tells the truth (issue 10 item 3): every flag has help, a group's --format is
honoured, inspect shows every field of the spec, and a wait holds the service to the
spec version the change wrote (an update that rolled back or paused is a failure)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from actors.control import call
from api.codec_objects import encode
from api.enums import FailureAction, UpdateState
from api.objects import UpdateStatus
from api.specs import (
    ConfigReference,
    ContainerSpec,
    DNSConfig,
    EndpointSpec,
    HealthConfig,
    Mount,
    Placement,
    PlacementPreference,
    PortConfig,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    SecretReference,
    ServiceSpec,
    TaskSpec,
    Ulimit,
    UpdateConfig,
)
from api.task_state import TaskState
from cli.ctl import NOUNS, build_parser, parse
from cli.progress import ProgressJudge
from cli.service import ports_column
from cli.service_inspect import describe, spec_lines
from tests.unit.control.helpers import Cluster


def _parsers(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, Any]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_flag_and_argument_has_help() -> None:
    missing = []
    for path, parser in _parsers(build_parser(), "swarmctl"):
        if path.split()[-1] in ("events", "logs") and path.count(" ") == 1:
            continue  # planned groups, refused as such
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            if action.help == argparse.SUPPRESS:
                continue
            if not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
    assert set(NOUNS) <= {p.split()[1] for p, _ in _parsers(build_parser(), "swarmctl") if " " in p}


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["service", "ls"], "table"),
        (["service", "ls", "--format", "json"], "json"),
        (["service", "--format", "json", "ls"], "json"),
        (["node", "--format", "json", "ls"], "json"),
        (["service", "--format", "json", "ps", "web"], "json"),
        (["service", "--format", "json", "ls", "--format", "table"], "table"),
        (["cluster", "--format", "json", "inspect"], "json"),
    ],
)
def test_a_groups_format_is_honoured(words: list[str], expected: str) -> None:
    _, args = parse(words)
    assert args.format == expected


def test_service_ls_shows_the_ports_of_the_routing_mesh() -> None:
    ports = [
        {"protocol": "tcp", "target_port": 80, "published_port": 8080, "publish_mode": "ingress"},
        {"protocol": "udp", "target_port": 53, "published_port": 30000, "publish_mode": "ingress"},
        {"protocol": "tcp", "target_port": 81, "published_port": 9000, "publish_mode": "host"},
    ]
    assert ports_column({"ports": ports}) == "*:8080->80/tcp,*:30000->53/udp"
    assert ports_column({"ports": []}) == ""


def test_update_rollback_and_rollback_verbs_parse() -> None:
    _, args = parse(["service", "update", "--rollback", "-d", "web"])
    assert args.rollback and args.detach and args.service == "web"
    _, args = parse(["service", "rollback", "--to-version", "3", "web"])
    assert (args.service, args.to_version, args.dry_run) == ("web", 3, False)
    _, args = parse(["service", "rollback", "--dry-run", "web"])
    assert args.dry_run
    _, args = parse(["service", "ps", "a", "b", "-q", "--no-trunc", "--filter", "node=n1"])
    assert (args.services, args.quiet, args.no_trunc, args.filter) == (
        ["a", "b"],
        True,
        True,
        ["node=n1"],
    )


# --- inspect ---------------------------------------------------------------------------------


def _full_spec() -> ServiceSpec:
    """A spec with every part given, so every field has a value to show."""
    return ServiceSpec(
        name="web",
        labels={"tier": "front"},
        task=TaskSpec(
            container=ContainerSpec(
                image="busybox:2",
                command=("sh", "-c"),
                args=("sleep 60",),
                env=("A=1",),
                labels={"c": "1"},
                user="app",
                dir="/srv",
                hostname="web-host",
                healthcheck=HealthConfig(
                    test=("CMD-SHELL", "true"),
                    interval=2.0,
                    timeout=1.0,
                    retries=4,
                    start_period=3.0,
                ),
                stop_signal="SIGINT",
                stop_grace_period=7.0,
                mounts=(Mount(source="data", target="/data", readonly=True),),
                secrets=(SecretReference("s1", "pw", "db/pw", uid=70, mode=0o400),),
                configs=(ConfigReference("c1", "app.conf", "/etc/app.conf"),),
                read_only=True,
                init=True,
                tty=True,
                groups=("audio",),
                cap_add=("CAP_NET_ADMIN",),
                cap_drop=("CAP_NET_RAW", "CAP_MKNOD"),
                ulimits=(Ulimit("nofile", 1024, 2048),),
                sysctls={"net.core.somaxconn": "1024", "net.ipv4.ip_forward": "1"},
                dns_config=DNSConfig(("10.0.0.2",), ("example.com",), ("ndots:2",)),
                hosts=("10.0.0.9 db", "10.0.0.8 cache"),
            ),
            resources=ResourceRequirements(
                limits=Resources(nano_cpus=2_000_000_000, memory_bytes=1 << 30),
                reservations=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20),
            ),
            restart_policy=RestartPolicy(delay=2.0, max_attempts=3, window=60.0),
            placement=Placement(
                constraints=("node.labels.zone==a",),
                preferences=(PlacementPreference("node.labels.rack"),),
                max_replicas=2,
            ),
            force_update=1,
        ),
        mode=ReplicatedService(replicas=3),
        update_config=UpdateConfig(parallelism=2, monitor=9.0),
        rollback_config=UpdateConfig(parallelism=4, failure_action=FailureAction.CONTINUE),
        endpoint=EndpointSpec(ports=(PortConfig(target_port=80, published_port=8080),)),
    )


def _leaves(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, Mapping) and value and not path.endswith(("labels", "sysctls")):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    else:
        yield path


def test_inspect_shows_every_field_of_the_spec() -> None:
    doc = encode(_full_spec())
    lines = spec_lines(doc)
    fields = [(label, value) for label, value in lines if value]
    leaves = [p for p in _leaves(doc) if p != "mode.replicated"]
    # one line per leaf field, plus the mode's own line
    assert len(fields) == len(leaves) + 1
    text = "\n".join(f"{label}: {value}" for label, value in lines)
    for shown in (
        "Image: busybox:2",
        "Env: A=1",
        "User: app",
        "Workdir: /srv",
        "Hostname: web-host",
        "Test: CMD-SHELL true",
        "Interval: 2s",
        "Start Period: 3s",
        "Retries: 4",
        "Stop Signal: SIGINT",
        "Stop Grace Period: 7s",
        "Memory: 1GiB",
        "Max Attempts: 3",
        "Constraints: node.labels.zone==a",
        "Preferences: spread=node.labels.rack",
        "Max Replicas Per Node: 2",
        "Strategy: spread",
        "Mode: replicated",
        "Replicas: 3",
        "Monitor: 9s",
        "Force Update Counter: 1",
        "On Failure: continue",
        "Secrets: pw -> db/pw (mode 0400) uid 70 gid 0",
        "Configs: app.conf -> /etc/app.conf (mode 0444) uid 0 gid 0",
        "Ports: 8080 -> 80/tcp (ingress)",
        "Mounts: volume data -> /data (readonly)",
        "Read-Only Root: yes",
        "Init: yes",
        "TTY: yes",
        "Groups: audio",
        "Capabilities Added: CAP_NET_ADMIN",
        "Capabilities Dropped: CAP_NET_RAW CAP_MKNOD",
        "Ulimits: nofile=1024:2048",
        "Sysctls: net.core.somaxconn=1024, net.ipv4.ip_forward=1",
        "Nameservers: 10.0.0.2",
        "Search: example.com",
        "Options: ndots:2",
        "Hosts: db:10.0.0.9, cache:10.0.0.8",
    ):
        assert any(line.strip() == shown for line in text.splitlines()), shown
    assert [v for label, v in lines if label.strip() == "Parallelism"] == ["2", "4"]


def test_describe_adds_state_and_shows_empty_fields() -> None:
    c = Cluster()
    sid = c.create(name="web", replicas=2)
    reply = call(c.services.inspect, {"service": sid})
    text = describe(reply["service"], reply["summary"])
    assert "ID:" in text and sid in text
    assert "Replicas:" in text and "0 running of 2" in text
    assert "Healthcheck:" in text and "User:" in text  # empty ones too, as "-"


# --- waiting for the requested spec ------------------------------------------------------------


def _ps(c: Cluster) -> dict[str, Any]:
    return dict(call(c.services.ps, {"service": "web"}))


def _set_status(c: Cluster, state: UpdateState, message: str = "") -> None:
    from dataclasses import replace

    from actors.store import services

    def write(tx: Any) -> None:
        s = services.lookup(tx, "web")
        tx.update(replace(s, update_status=UpdateStatus(state=state, message=message)))

    c.store.update(write)


def _updated(c: Cluster) -> tuple[ProgressJudge, str]:
    n = c.add_node("n1")
    c.create(name="web", replicas=1)
    old = c.add_task("web", 1, n)
    c.set_task(old, TaskState.RUNNING)
    reply = call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})
    judge = ProgressJudge(baseline=set(), spec_version=reply["service"]["spec_version"])
    c.set_desired(old, TaskState.SHUTDOWN)
    new = c.add_task("web", 1, n)
    c.set_task(new, TaskState.RUNNING)
    return judge, new


def test_a_running_update_is_not_converged_until_it_completes() -> None:
    c = Cluster()
    judge, _ = _updated(c)
    _set_status(c, UpdateState.UPDATING, "update in progress")
    verdict = judge.judge(_ps(c))
    assert not verdict.done and not verdict.failed  # tasks run: the monitor still watches
    assert "updating: update in progress" in verdict.lines
    _set_status(c, UpdateState.COMPLETED, "update completed")
    assert judge.judge(_ps(c)).done


def test_an_update_that_rolled_back_fails_with_the_reason() -> None:
    c = Cluster()
    judge, _ = _updated(c)
    reason = "update rolled back due to failure or early termination of task t1: exit (1)"
    call(c.services.rollback, {"service": "web"})
    _set_status(c, UpdateState.ROLLBACK_STARTED, reason)
    verdict = judge.judge(_ps(c))
    assert not verdict.done
    assert verdict.failed == reason  # said once, not "update of web rolled back: update ..."
    _set_status(c, UpdateState.ROLLBACK_COMPLETED, f"rollback completed: {reason}")
    assert judge.judge(_ps(c)).failed == reason  # a wait that saw only the end says why too


def test_a_paused_update_fails_with_the_reason() -> None:
    c = Cluster()
    judge, _ = _updated(c)
    _set_status(c, UpdateState.PAUSED, "update paused due to ... task t1: unhealthy")
    assert judge.judge(_ps(c)).failed == "update paused due to ... task t1: unhealthy"
    _set_status(c, UpdateState.PAUSED, "")
    assert judge.judge(_ps(c)).failed == "update of web paused"


def test_another_change_while_waiting_fails() -> None:
    c = Cluster()
    judge, _ = _updated(c)
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:3"}})
    assert "changed while waiting: at spec version 3, not 2" in judge.judge(_ps(c)).failed


def test_a_rollback_waits_for_its_own_completion() -> None:
    c = Cluster()
    n = c.add_node("n1")
    c.create(name="web", replicas=1)
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})
    reply = call(c.services.rollback, {"service": "web"})
    judge = ProgressJudge(
        baseline=set(), spec_version=reply["service"]["spec_version"], rollback=True
    )
    t = c.add_task("web", 1, n)
    c.set_task(t, TaskState.RUNNING)
    assert not judge.judge(_ps(c)).done  # ROLLBACK_STARTED
    _set_status(c, UpdateState.ROLLBACK_COMPLETED, "rollback completed")
    assert judge.judge(_ps(c)).done
    _set_status(c, UpdateState.ROLLBACK_PAUSED, "rollback paused due to ...")
    assert judge.judge(_ps(c)).failed == "rollback paused due to ..."
