"""swarmctl's flags: parsed into options, bad values refused by argparse in one line."""

from __future__ import annotations

import pytest

from cli.ctl import build_parser
from cli.errors import CliError
from cli.service_flags import options_of


def parse(*argv: str) -> object:
    return build_parser().parse_args(list(argv))


def test_create_flags_become_options() -> None:
    args = parse(
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "3",
        "--env",
        "A=1",
        "--env",
        "B",
        "--label",
        "tier=front",
        "--container-label",
        "c=1",
        "--constraint",
        "node.labels.zone==a",
        "--placement-pref",
        "spread=node.labels.rack",
        "--replicas-max-per-node",
        "2",
        "--reserve-cpu",
        "0.5",
        "--reserve-memory",
        "64M",
        "--limit-cpu",
        "1",
        "--limit-memory",
        "1G",
        "--restart-condition",
        "on-failure",
        "--restart-delay",
        "1m30s",
        "--restart-max-attempts",
        "4",
        "--restart-window",
        "500ms",
        "--stop-grace-period",
        "5s",
        "--update-delay",
        "10s",
        "--update-order",
        "start-first",
        "--strategy",
        "binpack",
        "--detach",
        "busybox",
        "sleep",
        "60",
    )
    options = options_of(args)  # type: ignore[arg-type]
    assert options == {
        "replicas": 3,
        "env": ["A=1", "B="],
        "labels": {"tier": "front"},
        "container_labels": {"c": "1"},
        "constraints": ["node.labels.zone==a"],
        "placement_prefs": ["spread=node.labels.rack"],
        "replicas_max_per_node": 2,
        "reserve_cpu": 500_000_000,
        "reserve_memory": 64 * 1024**2,
        "limit_cpu": 1_000_000_000,
        "limit_memory": 1024**3,
        "restart_condition": "on-failure",
        "restart_delay": 90.0,
        "restart_max_attempts": 4,
        "restart_window": 0.5,
        "stop_grace_period": 5.0,
        "update_delay": 10.0,
        "update_order": "start-first",
        "strategy": "binpack",
    }
    assert args.image == "busybox" and args.command == ["sleep", "60"]  # type: ignore[attr-defined]
    assert args.detach  # type: ignore[attr-defined]


def test_update_flags() -> None:
    args = parse(
        "service",
        "update",
        "--env-add",
        "A=2",
        "--env-rm",
        "B",
        "--label-rm",
        "x",
        "--image",
        "busybox:2",
        "--force",
        "--replicas",
        "0",
        "web",
    )
    assert options_of(args) == {  # type: ignore[arg-type]
        "env_add": ["A=2"],
        "env_rm": ["B"],
        "label_rm": ["x"],
        "image": "busybox:2",
        "force": True,
        "replicas": 0,
    }


def test_container_option_flags_as_docker_names_them() -> None:
    args = parse(
        "service", "create", "--read-only", "--init", "-t",
        "--group", "audio", "--group", "1001", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL",
        "--ulimit", "nofile=1024:2048", "--sysctl", "net.core.somaxconn=1024",
        "--dns", "10.0.0.2", "--dns-search", "example.com", "--dns-option", "ndots:2",
        "--host", "db:10.0.0.9", "busybox",
    )  # fmt: skip
    assert options_of(args) == {  # type: ignore[arg-type]
        "read_only": True,
        "init": True,
        "tty": True,
        "groups": ["audio", "1001"],
        "cap_add": ["NET_ADMIN"],
        "cap_drop": ["ALL"],
        "ulimits": ["nofile=1024:2048"],
        "sysctls": {"net.core.somaxconn": "1024"},
        "dns": ["10.0.0.2"],
        "dns_search": ["example.com"],
        "dns_options": ["ndots:2"],
        "hosts": ["db:10.0.0.9"],
    }
    args = parse(
        "service", "update", "--read-only=false", "--init=true", "--tty=0",
        "--group-add", "video", "--group-rm", "audio", "--cap-add", "NET_RAW",
        "--cap-drop", "NET_ADMIN", "--ulimit-add", "nproc=5", "--ulimit-rm", "core",
        "--sysctl-add", "a.b=1", "--sysctl-rm", "c.d", "--dns-add", "1.1.1.1",
        "--dns-rm", "10.0.0.2", "--dns-search-add", "a.org", "--dns-search-rm", "b.org",
        "--dns-option-add", "timeout:1", "--dns-option-rm", "ndots:2",
        "--host-add", "cache:10.0.0.7", "--host-rm", "db", "web",
    )  # fmt: skip
    assert options_of(args) == {  # type: ignore[arg-type]
        "read_only": False,
        "init": True,
        "tty": False,
        "group_add": ["video"],
        "group_rm": ["audio"],
        "cap_add": ["NET_RAW"],
        "cap_drop": ["NET_ADMIN"],
        "ulimit_add": ["nproc=5"],
        "ulimit_rm": ["core"],
        "sysctl_add": {"a.b": "1"},
        "sysctl_rm": ["c.d"],
        "dns_add": ["1.1.1.1"],
        "dns_rm": ["10.0.0.2"],
        "dns_search_add": ["a.org"],
        "dns_search_rm": ["b.org"],
        "dns_option_add": ["timeout:1"],
        "dns_option_rm": ["ndots:2"],
        "host_add": ["cache:10.0.0.7"],
        "host_rm": ["db"],
    }
    assert args.service == "web"  # type: ignore[attr-defined]
    # not given: not sent (an update leaves them as they are)
    assert options_of(parse("service", "update", "--replicas", "2", "web")) == {"replicas": 2}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("service", "create", "--replicas", "-1", "x"), "--replicas: must be >= 0"),
        (("service", "create", "--mode", "sideways", "x"), "invalid choice"),
        (("service", "create", "--reserve-memory", "12Q", "x"), "invalid memory size"),
        (("service", "create", "--limit-cpu", "lots", "x"), "invalid CPU count"),
        (("service", "create", "--restart-delay", "5", "x"), "missing unit"),
        (("service", "create", "--constraint", "zone=a", "x"), "malformed constraint"),
        (("service", "create", "--placement-pref", "pack=x", "x"), "placement preference"),
        (("service", "create", "--env", "=x", "x"), "environment variable"),
        (("node", "update", "--availability", "asleep", "n"), "invalid choice"),
        (("service", "create", "--secret", "target=x", "img"), "source is required"),
        (("service", "create", "--secret", "source=a,color=red", "img"), "unknown field"),
        (("service", "update", "--config-add", "source=a,mode=9", "web"), "octal mode"),
        (("service", "update", "--secret", "a", "web"), "ambiguous option: --secret"),
        # a count past what the wire carries crashed swarmctl with a traceback
        (("service", "create", "--replicas", "9" * 20, "img"), "must be at most"),
        (("service", "update", "--update-parallelism", "9" * 20, "web"), "must be at most"),
        (("cluster", "update", "--task-history-limit", "9" * 20), "must be at most"),
        (("service", "create", "--ulimit", "nofile", "x"), "expected NAME=SOFT[:HARD]"),
        (("service", "update", "--ulimit-add", "nofile=a", "x"), "must be a number, got 'a'"),
        (("service", "create", "--host", "db", "x"), "--host: expected HOST:IP, got 'db'"),
        (("service", "update", "--host-add", "db", "x"), "expected HOST:IP"),
        (("service", "update", "--read-only=maybe", "x"), "--read-only: ignored explicit argument"),
        (("service", "create", "--sysctl", "novalue", "x"), "KEY=VALUE"),
    ],
)
def test_bad_values_are_one_line_exit_2(
    argv: tuple[str, ...], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and fragment in err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ("service", "create", "--publish", "99999:80", "img"),
            "argument -p/--publish: invalid spec: --publish: the published port must be in "
            "0..65535, got 99999",
        ),
        (
            ("service", "create", "--mount", "type=foo,target=/x", "img"),
            "argument --mount: invalid spec: --mount: unknown mount type 'foo' "
            "(expected volume|bind|tmpfs)",
        ),
    ],
)
def test_a_refused_flag_is_named_once_in_its_message(
    argv: tuple[str, ...], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flag's parser names it, and the refusal named it again: ``invalid spec:
    --publish: --publish: ...``."""
    with pytest.raises(SystemExit):
        parse(*argv)
    assert capsys.readouterr().err == f"swarmctl service create: error: {line} (see --help)\n"


def test_a_scale_past_what_the_wire_carries_is_refused_before_anything_is_sent() -> None:
    args = parse("service", "scale", "web=" + "9" * 20)
    with pytest.raises(CliError, match=r"invalid scale specifier .*: must be at most"):
        args.run(args, None, "test")  # type: ignore[attr-defined]
