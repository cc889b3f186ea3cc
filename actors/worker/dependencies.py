"""The secrets and configs this node's tasks need, in memory only (DESIGN.md §7).

Rules:
- The agent puts in what each session frame brings (`apply`), before it hands the frame's
  tasks to the worker, so a task's objects are here when its executor prepares it. A full
  frame replaces everything; a change adds objects and drops those the manager says no
  task of this node needs any more.
- Nothing here is ever written to disk or logged (ids only). A restarted node starts
  empty; its first session's full frame fills it again.
- Executors read from their task runners' threads: `wait_for` blocks up to a deadline for
  objects a task needs that have not arrived (a worker restarted before its session was
  back) and names those still missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from api.objects import Config, Secret

__all__ = ["DependencyStore", "Needed"]


@dataclass(frozen=True, slots=True)
class Needed:
    """What a task needs: ids of secrets and configs."""

    secrets: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()


class DependencyStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._secrets: dict[str, Secret] = {}
        self._configs: dict[str, Config] = {}

    def apply(
        self,
        full: bool,
        secrets: Iterable[Secret] = (),
        secrets_removed: Iterable[str] = (),
        configs: Iterable[Config] = (),
        configs_removed: Iterable[str] = (),
    ) -> None:
        with self._changed:
            if full:
                self._secrets.clear()
                self._configs.clear()
            for secret_id in secrets_removed:
                self._secrets.pop(secret_id, None)
            for config_id in configs_removed:
                self._configs.pop(config_id, None)
            self._secrets.update((s.id, s) for s in secrets)
            self._configs.update((c.id, c) for c in configs)
            self._changed.notify_all()

    def ids(self) -> tuple[list[str], list[str]]:
        """The ids held: (secrets, configs), sorted."""
        with self._changed:
            return sorted(self._secrets), sorted(self._configs)

    def _missing(self, needed: Needed) -> Needed:
        return Needed(
            tuple(i for i in needed.secrets if i not in self._secrets),
            tuple(i for i in needed.configs if i not in self._configs),
        )

    def wait_for(
        self, needed: Needed, timeout: float
    ) -> tuple[dict[str, Secret], dict[str, Config], Needed]:
        """The objects ``needed`` names, waiting up to ``timeout`` seconds for those not
        here yet; and what is still missing then."""
        deadline = self._clock() + timeout
        with self._changed:
            missing = self._missing(needed)
            while missing.secrets or missing.configs:
                left = deadline - self._clock()
                if left <= 0:
                    break
                self._changed.wait(left)
                missing = self._missing(needed)
            secrets = {i: self._secrets[i] for i in needed.secrets if i in self._secrets}
            configs = {i: self._configs[i] for i in needed.configs if i in self._configs}
            return secrets, configs, missing
