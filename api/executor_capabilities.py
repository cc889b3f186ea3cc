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
    "cannot_honour",
    "capabilities_of",
    "lacks_any",
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
    command). Reservations are not here: they are the scheduler's resource business.
    Written out test by test: the scheduler asks once per task group, and once per task
    of a global service (a few microseconds each)."""
    c = spec.container
    limits = spec.resources.limits
    driver = spec.log_driver
    dns = c.dns_config
    needs: list[Capability] = []
    add = needs.append
    if c.hostname:
        add(Capability.HOSTNAME)
    if c.labels:
        add(Capability.CONTAINER_LABEL)
    if limits.nano_cpus:
        add(Capability.LIMIT_CPU)
    if limits.memory_bytes:
        add(Capability.LIMIT_MEMORY)
    if c.pids_limit:
        add(Capability.LIMIT_PIDS)
    if c.oom_score_adj:
        add(Capability.OOM_SCORE_ADJ)
    if driver is not None:
        if driver.name:
            add(Capability.LOG_DRIVER)
        if driver.options:
            add(Capability.LOG_OPT)
    if spec.ports:
        add(Capability.PUBLISH)
    if c.mounts:
        add(Capability.MOUNT)
    if spec.networks:
        add(Capability.NETWORK)
    if c.read_only:
        add(Capability.READ_ONLY)
    if c.init:
        add(Capability.INIT)
    if c.tty:
        add(Capability.TTY)
    if c.groups:
        add(Capability.GROUP)
    if c.cap_add:
        add(Capability.CAP_ADD)
    if c.cap_drop:
        add(Capability.CAP_DROP)
    if c.ulimits:
        add(Capability.ULIMIT)
    if c.sysctls:
        add(Capability.SYSCTL)
    if dns.nameservers:
        add(Capability.DNS)
    if dns.search:
        add(Capability.DNS_SEARCH)
    if dns.options:
        add(Capability.DNS_OPTION)
    if c.hosts:
        add(Capability.HOST)
    if not c.command and not c.args:
        add(Capability.IMAGE_COMMAND)
    return tuple(needs)


def unmet(needs: Iterable[Capability], has: Collection[str]) -> tuple[Capability, ...]:
    """The needs ``has`` lacks, in the order given."""
    return tuple(cap for cap in needs if cap not in has)


def lacks_any(has: Collection[str]) -> bool:
    """Whether an executor with ``has`` lacks any capability (the process executor)."""
    return not ALL_CAPABILITIES.issubset(has)


def cannot_honour(kind: str, missing: Iterable[Capability]) -> str:
    """``process executor cannot honour --limit-pids, --mount``."""
    return f"{kind or 'its'} executor cannot honour {', '.join(show(cap) for cap in missing)}"


def show(cap: Capability) -> str:
    """How a message names ``cap``: its flag (``--limit-pids``)."""
    if cap is Capability.IMAGE_COMMAND:
        return "an image's default command"
    return f"--{cap.value}"
