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
  set up); and a logging driver (a process's output is kept in the node's own files, read
  by ``service logs``, and sent nowhere else). The task is rejected with a message naming
  them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from api.specs import ContainerSpec, TaskSpec

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


def _container_only(c: ContainerSpec) -> list[str]:
    """The options only a container can have, named as their flags."""
    given = {
        "--read-only": c.read_only,
        "--init": c.init,
        "--tty": c.tty,
        "--group": c.groups,
        "--cap-add": c.cap_add,
        "--cap-drop": c.cap_drop,
        "--ulimit": c.ulimits,
        "--sysctl": c.sysctls,
        "--dns": c.dns_config.nameservers,
        "--dns-search": c.dns_config.search,
        "--dns-option": c.dns_config.options,
        "--host": c.hosts,
    }
    flags = [flag for flag, value in given.items() if value]
    if not flags:
        return []
    return [f"{', '.join(flags)} (a process is no container: it has the node's)"]


def refused_fields(spec: TaskSpec, task_users: Sequence[str]) -> str | None:
    """Why the process executor cannot run ``spec`` as asked (None: it can). ``task_users``:
    the names (and uid) of the user its tasks run as."""
    c = spec.container
    limits = spec.resources.limits
    wrong: list[str] = []
    if c.user and c.user not in task_users:
        who = task_users[0] if task_users else "the node's user"
        wrong.append(f"user {c.user!r} (its tasks run as {who})")
    if c.hostname:
        wrong.append(f"hostname {c.hostname!r} (a process has the node's)")
    if c.labels:
        wrong.append("container labels (a process has none)")
    if limits.nano_cpus:
        wrong.append("a CPU limit")
    if limits.memory_bytes:
        wrong.append("a memory limit")
    if c.pids_limit:
        wrong.append("a PIDs limit (--limit-pids)")
    if c.oom_score_adj:
        wrong.append("an OOM score adjustment (--oom-score-adj)")
    if spec.log_driver is not None:
        wrong.append(
            f"logging driver {spec.log_driver.name!r} (a process's output stays in the "
            "node's own files)"
        )
    if spec.ports:
        wrong.append("published ports (a process binds its own ports on the node)")
    if c.mounts:
        wrong.append("mounts (a process sees the node's file system)")
    if spec.networks:
        wrong.append("networks (a process uses the node's network)")
    wrong.extend(_container_only(c))
    if not wrong:
        return None
    return (
        f"the process executor cannot honour {'; '.join(wrong)}: run the service on nodes "
        "with the docker executor (a placement constraint), or remove them from its spec"
    )
