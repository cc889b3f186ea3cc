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
    KEY_VALUE,
    MEMORY,
    MOUNT,
    NETWORK,
    PREFERENCE,
    PUBLISH,
    PUBLISH_RM,
    RATIO,
    SCHEDULE,
    SECRET_REF,
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


# flag → (options key, argparse keyword arguments); shared by create and update
_SCALAR_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--replicas": ("replicas", {"type": COUNT, "metavar": "N"}),
    "--replicas-max-per-node": ("replicas_max_per_node", {"type": COUNT, "metavar": "N"}),
    "--reserve-cpu": ("reserve_cpu", {"type": CPUS, "metavar": "CPUS"}),
    "--reserve-memory": ("reserve_memory", {"type": MEMORY, "metavar": "BYTES"}),
    "--limit-cpu": ("limit_cpu", {"type": CPUS, "metavar": "CPUS"}),
    "--limit-memory": ("limit_memory", {"type": MEMORY, "metavar": "BYTES"}),
    "--restart-condition": ("restart_condition", {"choices": ("none", "on-failure", "any")}),
    "--restart-delay": ("restart_delay", {"type": DURATION, "metavar": "DURATION"}),
    "--restart-max-attempts": ("restart_max_attempts", {"type": COUNT, "metavar": "N"}),
    "--restart-window": ("restart_window", {"type": DURATION, "metavar": "DURATION"}),
    "--stop-signal": ("stop_signal", {"metavar": "SIGNAL"}),
    "--stop-grace-period": ("stop_grace_period", {"type": DURATION, "metavar": "DURATION"}),
    "--update-parallelism": ("update_parallelism", {"type": COUNT, "metavar": "N"}),
    "--update-delay": ("update_delay", {"type": DURATION, "metavar": "DURATION"}),
    "--update-order": ("update_order", {"choices": ("stop-first", "start-first")}),
    "--update-failure-action": (
        "update_failure_action",
        {"choices": ("pause", "continue", "rollback")},
    ),
    "--update-monitor": ("update_monitor", {"type": DURATION, "metavar": "DURATION"}),
    "--update-max-failure-ratio": ("update_max_failure_ratio", {"type": RATIO}),
    "--strategy": ("strategy", {"choices": ("spread", "binpack", "random")}),
    "--health-cmd": ("health_cmd", {"metavar": "COMMAND"}),
    "--health-interval": ("health_interval", {"type": DURATION, "metavar": "DURATION"}),
    "--health-timeout": ("health_timeout", {"type": DURATION, "metavar": "DURATION"}),
    "--health-retries": ("health_retries", {"type": COUNT, "metavar": "N"}),
    "--health-start-period": ("health_start_period", {"type": DURATION, "metavar": "DURATION"}),
    "--user": ("user", {"metavar": "USER"}),
    "--workdir": ("workdir", {"metavar": "DIR"}),
    "--hostname": ("hostname", {"metavar": "NAME"}),
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
            "sixth field counts seconds); '' removes it",
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
# create: flag → (options key, type); update has -add/-rm variants of the same
CREATE_LIST_FLAGS: dict[str, tuple[str, Any]] = {
    "--env": ("env", ENV),
    "--label": ("labels", KEY_VALUE),
    "--container-label": ("container_labels", KEY_VALUE),
    "--constraint": ("constraints", CONSTRAINT),
    "--placement-pref": ("placement_prefs", PREFERENCE),
    "--publish": ("publish", PUBLISH),
    "--mount": ("mounts", MOUNT),
    "--network": ("networks", NETWORK),
    "--secret": ("secrets", SECRET_REF),
    "--config": ("configs", CONFIG_REF),
    "--depends-on": ("depends_on", DEPENDENCY),
}
UPDATE_LIST_FLAGS: dict[str, tuple[str, Any]] = {
    "--env-add": ("env_add", ENV),
    "--env-rm": ("env_rm", str),
    "--label-add": ("label_add", KEY_VALUE),
    "--label-rm": ("label_rm", str),
    "--container-label-add": ("container_label_add", KEY_VALUE),
    "--container-label-rm": ("container_label_rm", str),
    "--constraint-add": ("constraint_add", CONSTRAINT),
    "--constraint-rm": ("constraint_rm", str),
    "--placement-pref-add": ("placement_pref_add", PREFERENCE),
    "--placement-pref-rm": ("placement_pref_rm", str),
    "--publish-add": ("publish_add", PUBLISH),
    "--publish-rm": ("publish_rm", PUBLISH_RM),
    "--mount-add": ("mount_add", MOUNT),
    "--mount-rm": ("mount_rm", str),
    "--network-add": ("network_add", NETWORK),
    "--network-rm": ("network_rm", str),
    "--secret-add": ("secret_add", SECRET_REF),
    "--secret-rm": ("secret_rm", str),
    "--config-add": ("config_add", CONFIG_REF),
    "--config-rm": ("config_rm", str),
    "--depends-on-add": ("depends_on_add", DEPENDENCY),
    "--depends-on-rm": ("depends_on_rm", str),
}
_DEPENDENCY_HELP = {
    "--depends-on": "schedule the tasks only once SERVICE is running (default), healthy "
    "or completed (a job), as SERVICE[:running|healthy|completed]; repeatable",
    "--depends-on-add": "add or change a dependency, SERVICE[:running|healthy|completed]",
    "--depends-on-rm": "remove the dependency on SERVICE",
}
# list flags' short names (the others have none)
_LIST_ALIASES = {"--publish": ("-p",)}
_MAP_KEYS = {"labels", "container_labels", "label_add", "container_label_add"}
_SECRET_FORM = "NAME or source=NAME,target=PATH,uid=N,gid=N,mode=0444"
LIST_FLAG_HELP: dict[str, str] = {
    "--secret": f"give the tasks a secret as /run/secrets/TARGET ({_SECRET_FORM}; repeatable)",
    "--config": f"give the tasks a config as the file TARGET, default /NAME ({_SECRET_FORM})",
    "--secret-add": f"add a secret ({_SECRET_FORM}); applied after --secret-rm",
    "--secret-rm": "remove a secret by name (rotation: --secret-rm old --secret-add new,...)",
    "--config-add": f"add a config ({_SECRET_FORM}); applied after --config-rm",
    "--config-rm": "remove a config by name",
    "--publish": "publish a port on the node that runs each task: PUBLISHED:TARGET[/udp], "
    "TARGET (the engine picks a free port) or published=P,target=T,protocol=tcp|udp,"
    "mode=host (ingress, the routing mesh, is not built)",
    "--publish-add": "publish a port (as --publish); replaces one on the same published port",
    "--publish-rm": "stop publishing TARGET[/PROTOCOL]",
    "--mount": "type=volume|bind|tmpfs,source=NAME|PATH,target=PATH[,readonly]; a named "
    "volume is created on first use on each node; bind mounts need "
    "`cluster update --allow-bind-mounts`",
    "--mount-add": "add a mount (as --mount); replaces one on the same target",
    "--mount-rm": "remove the mount on TARGET",
    "--network": "attach to a network (swarmctl network create): NAME or "
    "name=NAME,alias=ALIAS; tasks on one node reach each other by service name",
    "--network-add": "attach to a network (as --network)",
    "--network-rm": "detach from a network",
    **_DEPENDENCY_HELP,
}


def option_dest(key: str) -> str:
    return f"opt_{key}"


def add_spec_flags(parser: argparse.ArgumentParser, lists: dict[str, tuple[str, Any]]) -> None:
    for flag, (key, kwargs) in _SCALAR_FLAGS.items():
        parser.add_argument(flag, dest=option_dest(key), default=None, **kwargs)
    for flag, (key, kind) in lists.items():
        parser.add_argument(
            *_LIST_ALIASES.get(flag, ()),
            flag,
            dest=option_dest(key),
            action="append",
            type=kind,
            default=None,
            help=LIST_FLAG_HELP.get(flag),
        )
    parser.add_argument("--no-healthcheck", dest=option_dest("no_healthcheck"), action="store_true")
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
        if not name.startswith("opt_") or value is None or value is False:
            continue
        key = name[4:]
        if key in _MAP_KEYS:
            value = dict(value)
        options[key] = value
    if getattr(args, "entrypoint", None) is not None:
        options["entrypoint"] = shlex.split(args.entrypoint)
    return options
