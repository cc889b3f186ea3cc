"""What a process-executor task gets of the node: decisions only, no I/O.

Rules (a task is not the node):
- Environment: the spec's ``env`` over a minimal base (``PATH``, ``HOME``), never the
  node's own environment (which may hold credentials, proxies, the node's settings).
- User: a node running as root runs tasks as an unprivileged user, ``--process-user``
  (default ``nobody``), never as root, so a task cannot read the node's keys or Raft log.
  A node that is not root cannot switch users: its tasks run as its own user and
  ``--process-user`` is refused, not ignored.
- Working directory: a per-task directory outside the state dir (the spec's ``dir`` when
  given, but never inside the state dir).
- What a process cannot be given is refused, never ignored (``refused_fields``): a
  ``user`` other than the one tasks run as, a ``hostname``, container labels, CPU and
  memory limits; and, since a process shares the node's network and file system,
  published ports (it binds its own), mounts and networks; and what only a container
  has: a read-only root, an init, a TTY, supplementary groups, capabilities, ulimits,
  sysctls, its own DNS settings and hosts entries; a PIDs limit and an OOM score
  adjustment (the engine's cgroup and oom_score_adj, which the process executor does not
  set up); a logging driver or its options (a process's output is kept in the node's
  own files, read by ``service logs``, and sent nowhere else); and an image's default
  command (a task with no command). All but the user are capabilities the process
  executor lacks (api/executor_capabilities.py), which its node reports so the scheduler
  places such tasks elsewhere; a task that reaches it anyway (placed by an older manager)
  is rejected with a message naming them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Final

from api.executor_capabilities import Capability, capabilities_of, show, task_needs, unmet
from api.specs import TaskSpec

__all__ = [
    "DEFAULT_PROCESS_USER",
    "MINIMAL_PATH",
    "ProcessUserRefused",
    "choose_process_user",
    "is_within",
    "refused_fields",
    "task_environment",
]

DEFAULT_PROCESS_USER = "nobody"
# Docker's default PATH for a container without one
MINIMAL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ProcessUserRefused(ValueError):
    """``--process-user`` cannot apply here; the message says why."""


def task_environment(spec_env: Sequence[str], home: str) -> dict[str, str]:
    """A task's environment: ``PATH`` and ``HOME`` (its own directory), then the spec's
    ``KEY=VALUE`` items over them (an item without ``=`` sets an empty value)."""
    env = {"PATH": MINIMAL_PATH, "HOME": home}
    for item in spec_env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def choose_process_user(requested: str | None, *, euid: int, executor: str) -> str | None:
    """The user tasks run as: a name to switch to, or None for the node's own user.
    Raises `ProcessUserRefused` when ``--process-user`` (``requested``) cannot apply."""
    if requested is not None:
        if executor != "process":
            raise ProcessUserRefused(
                f"--process-user applies to the process executor only, not {executor!r}"
            )
        if euid != 0:
            raise ProcessUserRefused(
                f"--process-user needs swarm-node to run as root: tasks run as this "
                f"node's own user (uid {euid})"
            )
        if not requested.strip():
            raise ProcessUserRefused("--process-user wants a user name")
        return requested
    if executor != "process" or euid != 0:
        return None
    return DEFAULT_PROCESS_USER


def is_within(path: PurePath, parent: PurePath) -> bool:
    """True if ``path`` is ``parent`` or below it (both absolute and resolved)."""
    return path == parent or parent in path.parents


# what a process cannot be given that only a container has, said once for all of them
_CONTAINER_ONLY: Final = frozenset(
    {
        Capability.READ_ONLY,
        Capability.INIT,
        Capability.TTY,
        Capability.GROUP,
        Capability.CAP_ADD,
        Capability.CAP_DROP,
        Capability.ULIMIT,
        Capability.SYSCTL,
        Capability.DNS,
        Capability.DNS_SEARCH,
        Capability.DNS_OPTION,
        Capability.HOST,
    }
)
_LOGS_STAY = "a process's output stays in the node's own files"
_PHRASES: Final[dict[Capability, Callable[[TaskSpec], str]]] = {
    Capability.HOSTNAME: lambda s: f"hostname {s.container.hostname!r} (a process has the node's)",
    Capability.CONTAINER_LABEL: lambda s: "container labels (a process has none)",
    Capability.LIMIT_CPU: lambda s: "a CPU limit",
    Capability.LIMIT_MEMORY: lambda s: "a memory limit",
    Capability.LIMIT_PIDS: lambda s: "a PIDs limit (--limit-pids)",
    Capability.OOM_SCORE_ADJ: lambda s: "an OOM score adjustment (--oom-score-adj)",
    Capability.LOG_DRIVER: lambda s: (
        f"logging driver {s.log_driver.name if s.log_driver else ''!r} ({_LOGS_STAY})"
    ),
    Capability.LOG_OPT: lambda s: f"logging options (--log-opt; {_LOGS_STAY})",
    Capability.PUBLISH: lambda s: "published ports (a process binds its own ports on the node)",
    Capability.MOUNT: lambda s: "mounts (a process sees the node's file system)",
    Capability.NETWORK: lambda s: "networks (a process uses the node's network)",
    Capability.IMAGE_COMMAND: lambda s: (
        "an image's default command (the task gives no command, and without Docker there "
        "is no image to read one from)"
    ),
}


def _phrases(spec: TaskSpec, missing: Sequence[Capability]) -> list[str]:
    """What the process executor says of each capability it lacks, in ``missing``'s order;
    the container-only ones together, by their flags, where the first of them falls."""
    out: list[str] = []
    flags = [show(cap) for cap in missing if cap in _CONTAINER_ONLY]
    for cap in missing:
        if cap in _CONTAINER_ONLY:
            if flags:
                out.append(f"{', '.join(flags)} (a process is no container: it has the node's)")
                flags = []
        elif cap is Capability.LOG_OPT and Capability.LOG_DRIVER in missing:
            continue  # the driver's phrase says it: its options go with it
        else:
            out.append(_PHRASES[cap](spec))
    return out


def refused_fields(spec: TaskSpec, task_users: Sequence[str]) -> str | None:
    """Why the process executor cannot run ``spec`` as asked (None: it can). ``task_users``:
    the names (and uid) of the user its tasks run as. What a process cannot be given is
    what `task_needs` finds beyond the process executor's capabilities (the scheduler's
    own test, actors/scheduler/filters.py ``ExecutorFilter``); the task user is this
    node's own matter."""
    c = spec.container
    wrong: list[str] = []
    if c.user and c.user not in task_users:
        who = task_users[0] if task_users else "the node's user"
        wrong.append(f"user {c.user!r} (its tasks run as {who})")
    wrong.extend(_phrases(spec, unmet(task_needs(spec), capabilities_of("process"))))
    if not wrong:
        return None
    return (
        f"the process executor cannot honour {'; '.join(wrong)}: run the service on nodes "
        "with the docker executor (a placement constraint), or remove them from its spec"
    )
