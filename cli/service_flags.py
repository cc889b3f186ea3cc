"""``swarmctl service create|update|scale``'s flags, as ``docker service`` names them, and
the options map they become (api/service_options.py)."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from cli.argtypes import (
    CONFIG_REF,
    CONSTRAINT,
    COUNT,
    CPUS,
    DEPENDENCY,
    DURATION,
    ENV,
    EXTRA_HOST,
    INTEGER,
    KEY_VALUE,
    LOG_OPT,
    MEMORY,
    MOUNT,
    NETWORK,
    PREFERENCE,
    PUBLISH,
    PUBLISH_RM,
    RATIO,
    SCHEDULE,
    SECRET_REF,
    SYSCTL,
    ULIMIT,
)

__all__ = [
    "CREATE_LIST_FLAGS",
    "DEFAULT_CONVERGE_TIMEOUT",
    "UPDATE_LIST_FLAGS",
    "add_spec_flags",
    "add_wait_flags",
    "option_dest",
    "options_of",
]

DEFAULT_CONVERGE_TIMEOUT = 300.0
_A_KIND = {
    "update": "an update",
    "rollback": "a rollback",
}  # in the help of --update-* and --rollback-*


# flag → (options key, argparse keyword arguments); shared by create and update
_SCALAR_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--replicas": (
        "replicas",
        {"type": COUNT, "metavar": "N", "help": "number of tasks (replicated mode)"},
    ),
    "--replicas-max-per-node": (
        "replicas_max_per_node",
        {"type": COUNT, "metavar": "N", "help": "most tasks of the service on one node (0: any)"},
    ),
    "--reserve-cpu": (
        "reserve_cpu",
        {"type": CPUS, "metavar": "CPUS", "help": "CPUs a node must have free (0.5, 2)"},
    ),
    "--reserve-memory": (
        "reserve_memory",
        {"type": MEMORY, "metavar": "BYTES", "help": "memory a node must have free (64M, 1G)"},
    ),
    "--limit-cpu": (
        "limit_cpu",
        {"type": CPUS, "metavar": "CPUS", "help": "most CPUs a task may use"},
    ),
    "--limit-memory": (
        "limit_memory",
        {"type": MEMORY, "metavar": "BYTES", "help": "most memory a task may use"},
    ),
    "--limit-pids": (
        "limit_pids",
        {"type": COUNT, "metavar": "N", "help": "most processes a task may have (0: unlimited)"},
    ),
    "--oom-score-adj": (
        "oom_score_adj",
        {
            "type": INTEGER,
            "metavar": "N",
            "help": "how readily the kernel's OOM killer picks the task (-1000 to 1000)",
        },
    ),
    "--log-driver": (
        "log_driver",
        {
            "metavar": "NAME",
            "help": "logging driver of the tasks' containers, with the --log-opt given "
            "(json-file, local, journald, none, syslog, ...); '' on update: the engine's "
            "default; service logs cannot read none (Docker's rule)",
        },
    ),
    "--restart-condition": (
        "restart_condition",
        {
            "choices": ("none", "on-failure", "any"),
            "help": "when a task that ended is replaced (default: any)",
        },
    ),
    "--restart-delay": (
        "restart_delay",
        {"type": DURATION, "metavar": "DURATION", "help": "wait between restarts (default: 5s)"},
    ),
    "--restart-max-attempts": (
        "restart_max_attempts",
        {"type": COUNT, "metavar": "N", "help": "give up after N restarts (0: never)"},
    ),
    "--restart-window": (
        "restart_window",
        {
            "type": DURATION,
            "metavar": "DURATION",
            "help": "count restarts over this window (0: the task's whole history)",
        },
    ),
    "--stop-signal": (
        "stop_signal",
        {"metavar": "SIGNAL", "help": "signal that stops a task (default: the image's, or TERM)"},
    ),
    "--stop-grace-period": (
        "stop_grace_period",
        {
            "type": DURATION,
            "metavar": "DURATION",
            "help": "wait after the stop signal before killing (default: 10s)",
        },
    ),
    "--strategy": (
        "strategy",
        {
            "choices": ("spread", "binpack", "random"),
            "help": "how nodes are chosen for tasks (default: spread)",
        },
    ),
    "--health-cmd": (
        "health_cmd",
        {"metavar": "COMMAND", "help": "command that checks the task's health (run by sh -c)"},
    ),
    "--health-interval": (
        "health_interval",
        {"type": DURATION, "metavar": "DURATION", "help": "time between checks (default: 30s)"},
    ),
    "--health-timeout": (
        "health_timeout",
        {
            "type": DURATION,
            "metavar": "DURATION",
            "help": "a check running longer fails (default: 30s)",
        },
    ),
    "--health-retries": (
        "health_retries",
        {
            "type": COUNT,
            "metavar": "N",
            "help": "consecutive failed checks that make a task unhealthy (default: 3)",
        },
    ),
    "--health-start-period": (
        "health_start_period",
        {
            "type": DURATION,
            "metavar": "DURATION",
            "help": "failed checks in this first period do not count (default: 0s)",
        },
    ),
    "--endpoint-mode": (
        "endpoint_mode",
        {
            "metavar": "MODE",
            "help": "vip (the default) or dnsrr; there is no virtual IP here: in both modes "
            "the service's name resolves to its tasks' addresses; dnsrr allows no ingress "
            "port (publish with mode=host)",
        },
    ),
    "--user": ("user", {"metavar": "USER", "help": "user[:group] the task runs as"}),
    "--workdir": ("workdir", {"metavar": "DIR", "help": "working directory of the task"}),
    "--hostname": ("hostname", {"metavar": "NAME", "help": "the task's hostname"}),
    **{
        f"--{kind}-{flag}": (
            f"{kind}_{key}",
            dict(kwargs, help=text.format(kind=kind, a_kind=_A_KIND[kind])),
        )
        for kind in ("update", "rollback")
        for flag, key, kwargs, text in (
            (
                "parallelism",
                "parallelism",
                {"type": COUNT, "metavar": "N"},
                "tasks replaced at once in {a_kind} (0: all; default: 1)",
            ),
            (
                "delay",
                "delay",
                {"type": DURATION, "metavar": "DURATION"},
                "wait between batches of {a_kind}, once a new task runs (default: 0s)",
            ),
            (
                "order",
                "order",
                {"choices": ("stop-first", "start-first")},
                "stop the old task first, or start the new one first (default: stop-first)",
            ),
            (
                "monitor",
                "monitor",
                {"type": DURATION, "metavar": "DURATION"},
                "a new task failing this soon after it runs fails the {kind} (default: 5s)",
            ),
            (
                "max-failure-ratio",
                "max_failure_ratio",
                {"type": RATIO, "metavar": "RATIO"},
                "share of tasks that may fail in {a_kind} before its failure action "
                "(0 to 1; default: 0)",
            ),
        )
    },
    "--update-failure-action": (
        "update_failure_action",
        {
            "choices": ("pause", "continue", "rollback"),
            "help": "what a failed update does (default: pause)",
        },
    ),
    "--rollback-failure-action": (
        "rollback_failure_action",
        {"choices": ("pause", "continue"), "help": "what a failed rollback does (default: pause)"},
    ),
    # issue 10: jobs, schedules, rebalancing
    "--max-concurrent": (
        "max_concurrent",
        {
            "type": COUNT,
            "metavar": "N",
            "help": "replicated-job: tasks run at once (default: --replicas)",
        },
    ),
    "--schedule": (
        "schedule",
        {
            "type": SCHEDULE,
            "metavar": "CRON",
            "help": "jobs: run on this cron schedule, in UTC ('*/15 * * * *'; an optional "
            "sixth field, last, counts seconds: '* * * * * */30'); '' removes it",
        },
    ),
    "--schedule-policy": (
        "schedule_policy",
        {
            "choices": ("skip", "replace", "allow"),
            "help": "scheduled jobs: when a run is due while the previous one still runs, "
            "skip it, replace the previous one, or allow both (default: skip)",
        },
    ),
    "--rebalance": (
        "rebalance",
        {
            "choices": ("manual", "auto"),
            "help": "replicated: move tasks to nodes that could take a share of them "
            "automatically (auto) or only on 'service rebalance' (manual, the default)",
        },
    ),
}
_SECRET_FORM = "NAME or source=NAME,target=PATH,uid=N,gid=N,mode=0444"
# create: flag → (options key, type, help); update has -add/-rm variants of the same
CREATE_LIST_FLAGS: dict[str, tuple[str, Any, str]] = {
    "--env": ("env", ENV, "set an environment variable KEY=VALUE (repeatable)"),
    "--label": ("labels", KEY_VALUE, "service label KEY=VALUE (repeatable)"),
    "--container-label": ("container_labels", KEY_VALUE, "task label KEY=VALUE (repeatable)"),
    "--constraint": (
        "constraints",
        CONSTRAINT,
        "placement constraint, e.g. node.labels.zone==a (repeatable)",
    ),
    "--placement-pref": (
        "placement_prefs",
        PREFERENCE,
        "placement preference, e.g. spread=node.labels.rack (repeatable)",
    ),
    "--publish": (
        "publish",
        PUBLISH,
        "publish a port: PUBLISHED:TARGET, TARGET (the managers pick one of "
        "30000-32767) or published=P,target=T,protocol=tcp|udp,mode=ingress|host; "
        "ingress (the default; TCP and UDP): every node forwards the port to a running task; "
        "host: the port opens on the node that runs each task",
    ),
    "--mount": (
        "mounts",
        MOUNT,
        "type=volume|bind|tmpfs,source=NAME|PATH,target=PATH[,readonly]; for a volume "
        "also volume-driver=NAME, volume-opt=K=V, volume-label=K=V (repeatable), "
        "volume-nocopy; a named volume is created with them on first use on each node; "
        "bind mounts need `cluster update --allow-bind-mounts`",
    ),
    "--network": (
        "networks",
        NETWORK,
        "attach to a network (swarmctl network create): NAME or "
        "name=NAME,alias=ALIAS; tasks on one node reach each other by service name",
    ),
    "--secret": (
        "secrets",
        SECRET_REF,
        f"give the tasks a secret as /run/secrets/TARGET ({_SECRET_FORM}; repeatable)",
    ),
    "--config": (
        "configs",
        CONFIG_REF,
        f"give the tasks a config as the file TARGET, default /NAME ({_SECRET_FORM})",
    ),
    "--depends-on": (
        "depends_on",
        DEPENDENCY,
        "schedule the tasks only once SERVICE is running (default), healthy "
        "or completed (a job), as SERVICE[:running|healthy|completed]; repeatable",
    ),
    "--group": ("groups", str, "a supplementary group (name or gid) for the task's user"),
    "--cap-add": ("cap_add", str, "add a Linux capability (NET_ADMIN, or ALL)"),
    "--cap-drop": ("cap_drop", str, "drop a Linux capability (NET_RAW, or ALL)"),
    "--ulimit": ("ulimits", ULIMIT, "a resource limit NAME=SOFT[:HARD] (nofile=1024:2048)"),
    "--sysctl": ("sysctls", SYSCTL, "a namespaced kernel parameter KEY=VALUE"),
    "--dns": ("dns", str, "a DNS server (an IP address) for the task's resolv.conf"),
    "--dns-search": ("dns_search", str, "a DNS search domain"),
    "--dns-option": ("dns_options", str, "a resolv.conf option (ndots:2)"),
    "--host": ("hosts", EXTRA_HOST, "an /etc/hosts entry HOST:IP"),
    "--log-opt": ("log_opts", LOG_OPT, "a logging driver option KEY=VALUE (with --log-driver)"),
}
UPDATE_LIST_FLAGS: dict[str, tuple[str, Any, str]] = {
    "--env-add": ("env_add", ENV, "add or change an environment variable KEY=VALUE"),
    "--env-rm": ("env_rm", str, "remove an environment variable KEY"),
    "--label-add": ("label_add", KEY_VALUE, "add or change a service label KEY=VALUE"),
    "--label-rm": ("label_rm", str, "remove a service label KEY"),
    "--container-label-add": (
        "container_label_add",
        KEY_VALUE,
        "add or change a task label KEY=VALUE",
    ),
    "--container-label-rm": ("container_label_rm", str, "remove a task label KEY"),
    "--constraint-add": ("constraint_add", CONSTRAINT, "add a placement constraint"),
    "--constraint-rm": ("constraint_rm", str, "remove a placement constraint"),
    "--placement-pref-add": ("placement_pref_add", PREFERENCE, "add a placement preference"),
    "--placement-pref-rm": ("placement_pref_rm", str, "remove a placement preference"),
    "--publish-add": (
        "publish_add",
        PUBLISH,
        "publish a port (as --publish); replaces one on the same published port",
    ),
    "--publish-rm": (
        "publish_rm",
        PUBLISH_RM,
        "stop publishing a target port: TARGET[/PROTOCOL] (or as --publish: PUBLISHED:TARGET)",
    ),
    "--mount-add": (
        "mount_add",
        MOUNT,
        "add a mount (as --mount); replaces one on the same target",
    ),
    "--mount-rm": ("mount_rm", str, "remove the mount on TARGET"),
    "--network-add": ("network_add", NETWORK, "attach to a network (as --network)"),
    "--network-rm": ("network_rm", str, "detach from a network"),
    "--secret-add": (
        "secret_add",
        SECRET_REF,
        f"add a secret ({_SECRET_FORM}); applied after --secret-rm",
    ),
    "--secret-rm": (
        "secret_rm",
        str,
        "remove a secret by name (rotation: --secret-rm old --secret-add new,...)",
    ),
    "--config-add": (
        "config_add",
        CONFIG_REF,
        f"add a config ({_SECRET_FORM}); applied after --config-rm",
    ),
    "--config-rm": ("config_rm", str, "remove a config by name"),
    "--depends-on-add": (
        "depends_on_add",
        DEPENDENCY,
        "add or change a dependency, SERVICE[:running|healthy|completed]",
    ),
    "--depends-on-rm": ("depends_on_rm", str, "remove the dependency on SERVICE"),
    "--group-add": ("group_add", str, "add a supplementary group (name or gid)"),
    "--group-rm": ("group_rm", str, "remove a supplementary group"),
    "--cap-add": (
        "cap_add",
        str,
        "add a Linux capability (NET_ADMIN, or ALL); takes it off the dropped ones",
    ),
    "--cap-drop": (
        "cap_drop",
        str,
        "drop a Linux capability (NET_RAW, or ALL); takes it off the added ones",
    ),
    "--ulimit-add": (
        "ulimit_add",
        ULIMIT,
        "add or change a resource limit NAME=SOFT[:HARD]",
    ),
    "--ulimit-rm": ("ulimit_rm", str, "remove the resource limit NAME"),
    "--sysctl-add": ("sysctl_add", SYSCTL, "add or change a kernel parameter KEY=VALUE"),
    "--sysctl-rm": ("sysctl_rm", str, "remove a kernel parameter KEY"),
    "--dns-add": ("dns_add", str, "add a DNS server (an IP address)"),
    "--dns-rm": ("dns_rm", str, "remove a DNS server"),
    "--dns-search-add": ("dns_search_add", str, "add a DNS search domain"),
    "--dns-search-rm": ("dns_search_rm", str, "remove a DNS search domain"),
    "--dns-option-add": ("dns_option_add", str, "add a resolv.conf option"),
    "--dns-option-rm": ("dns_option_rm", str, "remove a resolv.conf option"),
    "--host-add": ("host_add", EXTRA_HOST, "add an /etc/hosts entry HOST:IP"),
    "--host-rm": ("host_rm", str, "remove the /etc/hosts entries of HOST (HOST or HOST:IP)"),
    "--log-opt": (
        "log_opts",
        LOG_OPT,
        "a logging driver option KEY=VALUE; with --log-driver, which it goes with",
    ),
}
# Docker's boolean flags: flag → (options key, short names, help); ``--read-only=false``
# (pflag's form) turns one off on update, as in Docker
_BOOL_FLAGS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "--read-only": ("read_only", (), "mount the task's root file system read-only"),
    "--init": ("init", (), "run an init process in each task, which reaps and forwards signals"),
    "--tty": ("tty", ("-t",), "allocate a pseudo-TTY"),
}
# the values pflag's ParseBool accepts
_BOOL_WORDS = {
    **dict.fromkeys(("1", "t", "T", "true", "TRUE", "True"), True),
    **dict.fromkeys(("0", "f", "F", "false", "FALSE", "False"), False),
}
_LIST_METAVARS: dict[Any, str] = {
    ENV: "KEY=VALUE",
    KEY_VALUE: "KEY=VALUE",
    CONSTRAINT: "EXPR",
    PREFERENCE: "PREF",
    PUBLISH: "PORT",
    PUBLISH_RM: "TARGET[/PROTOCOL]",
    MOUNT: "MOUNT",
    NETWORK: "NETWORK",
    SECRET_REF: "SECRET",
    CONFIG_REF: "CONFIG",
    DEPENDENCY: "SERVICE[:CONDITION]",
    ULIMIT: "NAME=SOFT[:HARD]",
    SYSCTL: "KEY=VALUE",
    EXTRA_HOST: "HOST:IP",
    LOG_OPT: "KEY=VALUE",
}
_FLAG_METAVARS = {
    "--secret-rm": "NAME",
    "--config-rm": "NAME",
    "--depends-on-rm": "SERVICE",
    "--mount-rm": "TARGET",
    "--network-rm": "NETWORK",
    "--group": "GROUP",
    "--group-add": "GROUP",
    "--group-rm": "GROUP",
    "--cap-add": "CAP",
    "--cap-drop": "CAP",
    "--ulimit-rm": "NAME",
    "--dns": "IP",
    "--dns-add": "IP",
    "--dns-rm": "IP",
    "--dns-search": "DOMAIN",
    "--dns-search-add": "DOMAIN",
    "--dns-search-rm": "DOMAIN",
    "--dns-option": "OPTION",
    "--dns-option-add": "OPTION",
    "--dns-option-rm": "OPTION",
    "--host-rm": "HOST",
}
# list flags' short names (the others have none)
_LIST_ALIASES = {"--publish": ("-p",)}
_MAP_KEYS = {
    "labels",
    "container_labels",
    "label_add",
    "container_label_add",
    "sysctls",
    "sysctl_add",
    "log_opts",
}


_BOOL_KEYS = {key for key, _, _ in _BOOL_FLAGS.values()}


def option_dest(key: str) -> str:
    return f"opt_{key}"


def _list_metavar(flag: str, kind: Any) -> str:
    return _FLAG_METAVARS.get(flag) or _LIST_METAVARS.get(kind, "KEY")


def add_spec_flags(parser: argparse.ArgumentParser, lists: dict[str, tuple[str, Any, str]]) -> None:
    for flag, (key, kwargs) in _SCALAR_FLAGS.items():
        parser.add_argument(flag, dest=option_dest(key), default=None, **kwargs)
    for flag, (key, kind, text) in lists.items():
        parser.add_argument(
            *_LIST_ALIASES.get(flag, ()),
            flag,
            dest=option_dest(key),
            action="append",
            type=kind,
            default=None,
            help=text,
            metavar=_list_metavar(flag, kind),
        )
    for flag, (key, aliases, text) in _BOOL_FLAGS.items():
        parser.add_argument(
            *aliases, flag, dest=option_dest(key), action="store_const", const=True, help=text
        )
        # argparse matches a whole option string before splitting at "=": each
        # "--read-only=false" is an option of its own (hidden), so "--read-only web"
        # still leaves "web" to the positional
        for word, value in _BOOL_WORDS.items():
            parser.add_argument(
                f"{flag}={word}",
                dest=option_dest(key),
                action="store_const",
                const=value,
                help=argparse.SUPPRESS,
            )
    parser.add_argument(
        "--no-healthcheck",
        dest=option_dest("no_healthcheck"),
        action="store_true",
        help="disable the image's healthcheck",
    )
    parser.add_argument(
        "--with-registry-auth",
        action="store_true",
        help="send your credentials for the image's registry (from your docker config) to "
        "the nodes that run the service, so they can pull it",
    )
    parser.add_argument(
        "--entrypoint", dest="entrypoint", default=None, help="overwrite the image's entrypoint"
    )
    add_wait_flags(parser)


def add_wait_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d", "--detach", action="store_true", help="return at once, without waiting"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="wait without printing the progress"
    )
    parser.add_argument(
        "--converge-timeout",
        "--wait-timeout",
        dest="converge_timeout",
        type=DURATION,
        default=DEFAULT_CONVERGE_TIMEOUT,
        metavar="DURATION",
        help=f"give up waiting after this long (default: {DEFAULT_CONVERGE_TIMEOUT:g}s)",
    )


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    """The options map of the parsed flags (only those given)."""
    options: dict[str, Any] = {}
    for name, value in vars(args).items():
        if not name.startswith("opt_") or value is None:
            continue
        key = name[4:]
        if value is False and key not in _BOOL_KEYS:  # a store_true flag not given
            continue
        if key in _MAP_KEYS:
            value = dict(value)
        options[key] = value
    if getattr(args, "entrypoint", None) is not None:
        options["entrypoint"] = shlex.split(args.entrypoint)
    return options
