"""The reference side of ``bench/converge.py``: Docker's own swarm mode and the engine alone.

Everything here talks to the local engine: services through the ``docker`` CLI (as a user
would, ``--no-resolve-image`` since no registry is reachable), polling through the docker
SDK (in-process HTTP, so polling costs the measured system as little as possible).

Swarm mode is the engine's one global state: two benches that toggled it at once (CI runs
tests in parallel) would leave each other's swarm or reuse one about to be left. So
``swarm_mode`` holds an exclusive ``flock`` on ``SWARM_LOCK`` for its whole block, and a
second bench waits for the first (up to ``lock_timeout``, then fails saying who holds it).

Toggling it also breaks the engine's embedded DNS for containers on bridge networks that
live across the change (moby/moby#45144: after ``swarm leave`` a running container no
longer resolves its neighbours; #51491: the same after ``swarm init`` on 29.0). Tests that
resolve names through the engine hold the same lock shared (``swarm_lock(shared=True)``)
while their containers live, so a bench toggles swarm mode only between them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_LABEL",
    "SWARM_LOCK",
    "DockerSwarm",
    "engine_alone",
    "remove_labelled",
    "swarm_lock",
    "swarm_mode",
    "wait_for",
]

BENCH_LABEL = "swarmnode.bench"  # on the containers the engine-alone part starts
SWARM_LOCK = Path("/tmp/swarmnode-docker-swarm.lock")
LOCK_TIMEOUT_S = 1800.0  # a full converge bench holds the lock about half an hour at most


class BenchTimeout(RuntimeError):
    pass


def wait_for(
    condition: Callable[[], Any], what: str, timeout: float, interval: float = 0.05
) -> Any:
    """``condition()``'s first truthy value; BenchTimeout after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # a transient API error counts as "not yet"
            last = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last})" if last is not None else ""
            raise BenchTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)


def docker_cli(*args: str, timeout: float = 120.0) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def remove_labelled(client: Any, label: str) -> int:
    """Force-remove every container carrying ``label`` (``key`` or ``key=value``)."""
    removed = 0
    for c in client.api.containers(all=True, filters={"label": label}):
        with contextlib.suppress(Exception):
            client.api.remove_container(c["Id"], force=True)
            removed += 1
    return removed


@contextlib.contextmanager
def swarm_lock(
    path: Path = SWARM_LOCK,
    timeout: float = LOCK_TIMEOUT_S,
    interval: float = 0.5,
    shared: bool = False,
) -> Iterator[None]:
    """Hold the lock on ``path`` for the block: exclusive (a bench toggling swarm mode), or
    ``shared`` (a test whose containers need the engine's DNS steady; several at once).
    Waits for a conflicting holder up to ``timeout`` seconds; TimeoutError naming the
    exclusive holder's pid after that. The lock is the kernel's (``flock``): a holder that
    dies releases it."""
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    with open(path, "a+") as file:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(file, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                file.seek(0)
                pid = file.read().strip()
                holder = (
                    f"pid {pid}: another bench is using Docker's swarm mode"
                    if pid
                    else "tests that need the engine's DNS steady"
                )
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{path} still held after {timeout:g}s (by {holder})"
                    ) from None
                if not announced:
                    print(
                        f"[swarm-lock] waiting for {path}, held by {holder}",
                        file=sys.stderr,
                        flush=True,
                    )
                    announced = True
                time.sleep(interval)
        if shared:  # the file names only an exclusive holder
            try:
                yield
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)
            return
        try:
            file.seek(0)
            file.truncate()
            file.write(str(os.getpid()))
            file.flush()
            yield
        finally:
            file.seek(0)
            file.truncate()
            file.flush()
            fcntl.flock(file, fcntl.LOCK_UN)


@contextlib.contextmanager
def swarm_mode(client: Any, lock_timeout: float = LOCK_TIMEOUT_S) -> Iterator[bool]:
    """The engine in swarm mode for the block, under ``swarm_lock``: ``docker swarm init``
    unless it already is (then it is reused and left alone). Yields whether this block
    initialized it; leaves (``--force``) on the way out, whatever happened, if it did."""
    with swarm_lock(timeout=lock_timeout):
        yield from _swarm_mode(client)


def _swarm_mode(client: Any) -> Iterator[bool]:
    state = client.info().get("Swarm", {}).get("LocalNodeState", "")
    if state == "active":
        yield False
        return
    if state not in ("inactive", ""):
        raise RuntimeError(f"engine's swarm state is {state!r}; not touching it")
    had_gwbridge = bool(client.api.networks(names=["docker_gwbridge"]))
    try:
        docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1")
        yield True
    finally:
        subprocess.run(
            ["docker", "swarm", "leave", "--force"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if not had_gwbridge:  # swarm init creates it and leave keeps it
            subprocess.run(
                ["docker", "network", "rm", "docker_gwbridge"],
                capture_output=True,
                timeout=60,
                check=False,
            )


class DockerSwarm:
    """Services of Docker's swarm mode, named with this run's prefix."""

    def __init__(self, client: Any, prefix: str, image: str) -> None:
        self.client = client
        self.prefix = prefix
        self.image = image
        self.tag = "dk"
        self.results: dict[str, Any] = {}
        self.created: set[str] = set()
        self.windows: list[Any] = []  # bench/converge.py's runs (no log to read them in)

    # -- actions (CLI) ------------------------------------------------------------------
    def create(self, name: str, replicas: int, *extra: str) -> None:
        self.created.add(name)
        docker_cli(
            "service", "create", "--no-resolve-image", "--detach", "--quiet",
            "--name", name, "--replicas", str(replicas), *extra, self.image, "sleep", "3600",
        )  # fmt: skip

    def scale(self, name: str, replicas: int) -> None:
        docker_cli("service", "scale", "--detach", f"{name}={replicas}")

    def rm(self, name: str, timeout: float) -> None:
        """``docker service rm`` and wait until none of its containers is left."""
        with contextlib.suppress(RuntimeError):
            docker_cli("service", "rm", name)
        wait_for(
            lambda: not self.containers(name),
            f"containers of {name} removed",
            timeout,
            interval=0.2,
        )
        self.created.discard(name)

    # -- observation (SDK) --------------------------------------------------------------
    def tasks(self, name: str) -> list[dict[str, Any]]:
        return list(self.client.api.tasks(filters={"service": name}))

    def running(self, name: str) -> int:
        return sum(
            1
            for t in self.tasks(name)
            if t.get("DesiredState") == "running" and t["Status"].get("State") == "running"
        )

    def containers(self, name: str) -> list[dict[str, Any]]:
        return list(
            self.client.api.containers(
                all=True, filters={"label": f"com.docker.swarm.service.name={name}"}
            )
        )

    def running_task(self, name: str, slot: int) -> dict[str, Any] | None:
        for t in self.tasks(name):
            if (
                t.get("Slot") == slot
                and t.get("DesiredState") == "running"
                and t["Status"].get("State") == "running"
            ):
                return t
        return None

    def cleanup(self, timeout: float) -> None:
        for name in list(self.created):
            with contextlib.suppress(Exception):
                self.rm(name, timeout)
        # whatever is still there (a rm that timed out): the containers of this run's
        # services only (swarmnode's containers carry the same label keys)
        for c in self.client.api.containers(
            all=True, filters={"label": "com.docker.swarm.service.name"}
        ):
            service = (c.get("Labels") or {}).get("com.docker.swarm.service.name", "")
            if service.startswith(self.prefix):
                _force_remove(self.client, c["Id"])


def engine_alone(
    client: Any, image: str, count: int, threads: int, label_value: str
) -> dict[str, Any]:
    """Start ``count`` containers, ``threads`` at a time, each one like ``docker run -d``
    (create then start through the API); containers/s; then remove them (not timed)."""
    name_prefix = f"swarmnode-bench-{label_value}-"

    def run_one(i: int) -> str:
        created = client.api.create_container(
            image,
            ["sleep", "3600"],
            name=f"{name_prefix}{i}",
            labels={BENCH_LABEL: label_value},
        )
        client.api.start(created["Id"])
        return str(created["Id"])

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            ids = list(pool.map(run_one, range(count)))
        elapsed = time.monotonic() - started
    finally:
        mine = client.api.containers(all=True, filters={"label": f"{BENCH_LABEL}={label_value}"})
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda c: _force_remove(client, c["Id"]), mine))
    return {"containers": len(ids), "seconds": round(elapsed, 3), "rate": count / elapsed}


def _force_remove(client: Any, container_id: str) -> None:
    with contextlib.suppress(Exception):
        client.api.remove_container(container_id, force=True)
