"""What a task needs of the executor that runs it, and what each executor kind can give:
one vocabulary for the scheduler (which places a task only on a node whose executor can
run it, actors/scheduler/filters.py ``ExecutorFilter``) and for the process executor
(which refuses what it cannot honour, actors/worker/executors/process_policy.py), so the
two cannot drift.

Rules:
- A capability is something beyond "run this command": a container's own hostname, a
  limit the engine enforces, a published port, a mount, ... Each is named by the flag that
  asks for it (``limit-pids`` for ``--limit-pids``), except ``image-command``: a task
  without a command runs its image's default one.
- `task_needs` reads a TaskSpec and returns the capabilities it uses, in declaration
  order. It is the only place that decides this.
- The docker executor has every capability, the process executor none (a process shares
  the node's network, file system, hostname and limits), the sim executor every one (it
  runs nothing, so it honours anything). A node reports its executor's kind and
  capabilities in its description (api/objects.py ``ExecutorDescription``).
- What depends on the node rather than on its executor kind (the process executor's task
  user) is not a capability: the node itself refuses it.

Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from typing import Final

from api.specs import TaskSpec

__all__ = [
    "ALL_CAPABILITIES",
    "MAX_CAPABILITIES",
    "MAX_CAPABILITY_CHARS",
    "Capability",
    "capabilities_of",
    "show",
    "task_needs",
    "unmet",
]


class Capability(enum.StrEnum):
    """In the order a refusal names them."""

    HOSTNAME = "hostname"
    CONTAINER_LABEL = "container-label"
    LIMIT_CPU = "limit-cpu"
    LIMIT_MEMORY = "limit-memory"
    LIMIT_PIDS = "limit-pids"
    OOM_SCORE_ADJ = "oom-score-adj"
    LOG_DRIVER = "log-driver"
    LOG_OPT = "log-opt"
    PUBLISH = "publish"
    MOUNT = "mount"
    NETWORK = "network"
    READ_ONLY = "read-only"
    INIT = "init"
    TTY = "tty"
    GROUP = "group"
    CAP_ADD = "cap-add"
    CAP_DROP = "cap-drop"
    ULIMIT = "ulimit"
    SYSCTL = "sysctl"
    DNS = "dns"
    DNS_SEARCH = "dns-search"
    DNS_OPTION = "dns-option"
    HOST = "host"
    IMAGE_COMMAND = "image-command"


ALL_CAPABILITIES: Final = frozenset(Capability)
# a node's report is bounded: a newer node may name capabilities this version does not know
MAX_CAPABILITIES: Final = 64
MAX_CAPABILITY_CHARS: Final = 64

_BY_KIND: Final[dict[str, frozenset[str]]] = {
    "docker": ALL_CAPABILITIES,
    "process": frozenset(),
    "sim": ALL_CAPABILITIES,
}


def capabilities_of(kind: str) -> frozenset[str]:
    """What the executor ``kind`` can honour (an unknown kind: nothing)."""
    return _BY_KIND.get(kind, frozenset())


def task_needs(spec: TaskSpec) -> tuple[Capability, ...]:
    """The capabilities a task of ``spec`` uses, in declaration order (empty for a plain
    command). Reservations are not here: they are the scheduler's resource business."""
    c = spec.container
    limits = spec.resources.limits
    driver = spec.log_driver
    dns = c.dns_config
    used = {
        Capability.HOSTNAME: c.hostname,
        Capability.CONTAINER_LABEL: c.labels,
        Capability.LIMIT_CPU: limits.nano_cpus,
        Capability.LIMIT_MEMORY: limits.memory_bytes,
        Capability.LIMIT_PIDS: c.pids_limit,
        Capability.OOM_SCORE_ADJ: c.oom_score_adj,
        Capability.LOG_DRIVER: driver is not None and driver.name,
        Capability.LOG_OPT: driver is not None and driver.options,
        Capability.PUBLISH: spec.ports,
        Capability.MOUNT: c.mounts,
        Capability.NETWORK: spec.networks,
        Capability.READ_ONLY: c.read_only,
        Capability.INIT: c.init,
        Capability.TTY: c.tty,
        Capability.GROUP: c.groups,
        Capability.CAP_ADD: c.cap_add,
        Capability.CAP_DROP: c.cap_drop,
        Capability.ULIMIT: c.ulimits,
        Capability.SYSCTL: c.sysctls,
        Capability.DNS: dns.nameservers,
        Capability.DNS_SEARCH: dns.search,
        Capability.DNS_OPTION: dns.options,
        Capability.HOST: c.hosts,
        Capability.IMAGE_COMMAND: not c.command and not c.args,
    }
    return tuple(cap for cap, value in used.items() if value)


def unmet(needs: Iterable[Capability], has: Collection[str]) -> tuple[Capability, ...]:
    """The needs ``has`` lacks, in the order given."""
    return tuple(cap for cap in needs if cap not in has)


def show(cap: Capability) -> str:
    """How a message names ``cap``: its flag (``--limit-pids``)."""
    if cap is Capability.IMAGE_COMMAND:
        return "an image's default command"
    return f"--{cap.value}"
