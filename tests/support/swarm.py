"""Real ``swarm-node`` processes for integration tests and benchmarks.

    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        node.ctl_json("service", "create", "--name", "web", "--replicas", "3",
                      "--detach", "busybox", "sleep", "300")
        poll(lambda: running(node.ctl_json("service", "ps", "web")) == 3, "3 running")

Several nodes form one cluster by token (``Swarm.start_cluster``): the first manager
initializes it, the others join with the tokens ``swarmctl cluster join-token -q`` prints;
workers have no control socket, so they are watched through a manager's ``node ls``.

Each node gets its own state dir under the test's tmp dir, a free port (and the next one,
for a manager's join-hello endpoint; see tests/support/ports.py) and its control socket in
the state dir; it logs JSON lines to ``<name>.log`` next to it. Nodes listen on 127.0.0.1,
or with ``Swarm(..., own_addresses=True)`` each on its own loopback address
(`LoopbackBlock`), where it also advertises and from which it connects, so a test can cut
one node off by address (tests/support/netcut.py). ``swarmctl`` runs as a real process
with ``--format json``. Waiting is always ``poll`` with a deadline.
``Swarm.cleanup`` (also on ``__exit__``) kills every node it started and then whatever they
ran: the processes recorded by the process executor (and their task directories), the
tasks' secret and config files, and Docker containers and networks labelled with the nodes'
ids. A node started on its own (a state dir elsewhere) is cleaned up by its test:
``kill``, `kill_recorded_processes` and ``remove_task_dirs``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.ports import free_port, free_port_pair
from tests.support.waiting import wait_for

__all__ = [
    "DEADLINE",
    "ROOT",
    "CtlError",
    "LoopbackBlock",
    "NodeExited",
    "Swarm",
    "SwarmNode",
    "free_port",
    "free_port_pair",
    "kill_recorded_processes",
    "node_containers",
    "poll",
    "remove_node_containers",
    "run_node_once",
    "swarmctl",
]

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0
LABEL_NODE_ID = "com.docker.swarm.node.id"


class NodeExited(AssertionError):
    """A node process ended while a test waited on it (ends any ``poll`` at once)."""


class CtlError(AssertionError):
    """swarmctl exited non-zero."""

    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"swarmctl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
        )
        self.result = result


def poll(
    condition: Callable[[], Any],
    what: str,
    timeout: float = DEADLINE,
    interval: float = 0.1,
    describe: Callable[[], object] | None = None,
) -> Any:
    """`wait_for` for a whole swarm: ``condition()``'s first truthy value within ``timeout``
    seconds, where an exception from ``condition`` (a node restarting, a swarmctl call
    refused) counts as not yet (the last one is reported), except ``NodeExited``."""
    return wait_for(
        condition,
        what,
        timeout,
        interval=interval,
        describe=describe,
        tolerate=lambda error: not isinstance(error, NodeExited),
    )


class LoopbackBlock:
    """Loopback addresses for one test's nodes: 127.A.B.2, .3, ... with A.B drawn at
    random, so that rules cutting one of them off never touch another test's nodes (other
    runs on the same machine use 127.0.0.1 or blocks of their own). Linux answers on all of
    127.0.0.0/8 without configuration."""

    def __init__(self, rng: random.Random | None = None) -> None:
        r = rng or random.Random()
        self.prefix = f"127.{r.randrange(100, 255)}.{r.randrange(1, 255)}"
        self._next = 2

    def take(self) -> str:
        if self._next > 254:
            raise RuntimeError(f"no address left in {self.prefix}.0/24")
        host = f"{self.prefix}.{self._next}"
        self._next += 1
        return host


def swarmctl(
    socket_path: Path, *args: str, timeout: float = DEADLINE * 2
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.ctl", "--socket", str(socket_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def run_node_once(
    state_dir: Path, *args: str, timeout: float = DEADLINE
) -> subprocess.CompletedProcess[str]:
    """Run ``swarm-node`` with ``args`` until it exits by itself (a refused join)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.node_main",
            "--state-dir",
            str(state_dir),
            "--listen-remote-api",
            f"127.0.0.1:{free_port_pair()}",
            "--executor",
            "process",
            "--log-format",
            "json",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def kill_recorded_processes(state_dir: Path) -> int:
    """Kill the process groups the process executor recorded in ``state_dir/process``
    (only those whose leader still has the recorded start time). Returns how many."""
    from actors.worker.executors.process import process_start_ticks

    killed = 0
    for path in (state_dir / "process").glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = int(record.get("pid") or 0)
        if pid and process_start_ticks(pid) == record.get("start_ticks"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
                killed += 1
    return killed


def node_containers(client: Any, node_id: str, *, all: bool = True) -> list[Any]:
    """The node's containers, inspected; one removed between the listing and its inspection
    is left out (the SDK's non-sparse list raises NotFound for it)."""
    import docker.errors

    listed = client.containers.list(
        all=all, sparse=True, filters={"label": f"{LABEL_NODE_ID}={node_id}"}
    )
    found = []
    for container in listed:
        with contextlib.suppress(docker.errors.NotFound):
            found.append(client.containers.get(container.id))
    return found


def remove_node_containers(client: Any, node_ids: Iterable[str]) -> None:
    """The nodes' containers (with their anonymous volumes), then the networks the nodes
    made on the engine."""
    node_ids = list(node_ids)
    for node_id in node_ids:
        for container in node_containers(client, node_id):
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
    for node_id in node_ids:
        for network in client.networks.list(filters={"label": f"{LABEL_NODE_ID}={node_id}"}):
            with contextlib.suppress(Exception):
                network.remove()


class SwarmNode:
    """One ``swarm-node`` process (restartable on the same state dir)."""

    def __init__(
        self,
        name: str,
        state_dir: Path,
        log_dir: Path,
        *,
        executor: str,
        port: int,
        extra: Sequence[str] = (),
        listen_host: str = "127.0.0.1",
        cwd: Path = ROOT,
        soft_nofile: int | None = None,
    ) -> None:
        self.name = name
        self.cwd = cwd  # the node process's working directory
        self.soft_nofile = soft_nofile  # the soft descriptor limit it starts with
        self.listen_host = listen_host
        self.state_dir = state_dir
        self.socket = state_dir / "swarm.sock"
        self.log_dir = log_dir
        self.executor = executor
        self.port = port
        self.extra = tuple(extra)
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.log_path = log_dir / f"{name}.log"

    @property
    def remote_api(self) -> str:
        """Where other nodes reach this one (what it advertises: a wildcard → 127.0.0.1)."""
        host = "127.0.0.1" if self.listen_host in ("0.0.0.0", "*") else self.listen_host
        return f"{host}:{self.port}"

    @property
    def node_id(self) -> str:
        return (self.state_dir / "node_id").read_text().strip()

    def mesh_args(self) -> tuple[str, ...]:
        """The routing mesh on the node's own address (so that nodes on 127.X.Y.N each
        listen on every ingress port), unless the test names one."""
        if "--mesh-addr" in self.extra or self.listen_host in ("0.0.0.0", "*"):
            return ()
        return ("--mesh-addr", self.listen_host)

    def join_args(self, token: str) -> tuple[str, ...]:
        """The flags another node uses to join through this manager."""
        return ("--join-addr", self.remote_api, "--join-token", token)

    def join_token(self, role: str) -> str:
        result = self.ctl("cluster", "join-token", "-q", role)
        if result.returncode != 0:
            raise CtlError(("cluster", "join-token", "-q", role), result)
        return result.stdout.strip()

    # -- process ------------------------------------------------------------------------
    def start(self, *, wait: bool = True) -> SwarmNode:
        """Start the process (appending to the log) and wait for ``node.started``."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"{self.name} is already running")
        self.runs += 1
        self.log_path = self.log_dir / f"{self.name}.{self.runs}.log"
        argv = [
            sys.executable,
            "-m",
            "cli.node_main",
            "--state-dir",
            str(self.state_dir),
            "--hostname",
            self.name,
            "--listen-remote-api",
            f"{self.listen_host}:{self.port}",
            "--executor",
            self.executor,
            "--log-format",
            "json",
            *self.mesh_args(),
            *self.extra,
        ]
        if self.soft_nofile is not None:  # set by the shell it replaces
            argv = ["sh", "-c", 'ulimit -S -n "$0" && exec "$@"', str(self.soft_nofile), *argv]
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                argv,
                cwd=self.cwd,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        if wait:
            self.wait_started()
        return self

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        with contextlib.suppress(FileNotFoundError):
            for line in self.log_path.read_text().splitlines():
                if line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        events.append(json.loads(line))
        return events

    def _alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _check_alive(self) -> None:
        if not self._alive():
            code = self.process.returncode if self.process is not None else None
            tail = "\n".join(self.log_path.read_text().splitlines()[-20:])
            raise NodeExited(f"{self.name} exited ({code}):\n{tail}")

    def wait_started(self, timeout: float = DEADLINE) -> None:
        def started() -> bool:
            self._check_alive()
            return any(e.get("event") == "node.started" for e in self.log_events())

        poll(started, f"{self.name}: node.started", timeout)

    def wait_ready(self, timeout: float = DEADLINE) -> dict[str, Any]:
        """Until this node is the leader and its own worker's session is up (READY)."""

        def ready() -> dict[str, Any] | None:
            self._check_alive()
            result = self.ctl("node", "ls", "--format", "json")
            if result.returncode != 0:
                return None
            mine = [n for n in json.loads(result.stdout) if n["id"] == self.node_id]
            if mine and mine[0]["status"] == "ready":
                return dict(mine[0])
            return None

        found: dict[str, Any] = poll(ready, f"{self.name}: node ready", timeout)
        return found

    def terminate(self, timeout: float = DEADLINE) -> int:
        """SIGTERM and wait for the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL (kill -9) and reap."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=DEADLINE)

    def remove_task_dirs(self) -> None:
        """What the node made for its tasks outside its state dir, named by its id: the
        process executor's work root under ``$TMPDIR/swarmnode-<uid>`` (not in the test's
        tmp dir: a root node's tasks run as ``nobody``, who cannot enter it) and the tasks'
        secret and config files. For a node that is no longer running."""
        from actors.worker.executors.process_sandbox import default_work_root
        from actors.worker.task_files import default_files_root

        try:
            node_id = self.node_id
        except OSError:
            return  # it never had an id: it made neither
        shutil.rmtree(default_work_root(node_id), ignore_errors=True)
        shutil.rmtree(default_files_root(node_id), ignore_errors=True)

    # -- swarmctl -----------------------------------------------------------------------
    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return swarmctl(self.socket, *args)

    def ctl_json(self, *args: str) -> Any:
        """``swarmctl GROUP COMMAND --format json REST...``, parsed; CtlError on a non-zero
        exit. (The flag goes before the rest: ``service create`` takes everything after
        the image as the command.)"""
        full = (*args[:2], "--format", "json", *args[2:])
        result = self.ctl(*full)
        if result.returncode != 0:
            raise CtlError(full, result)
        return json.loads(result.stdout) if result.stdout.strip() else None

    def tasks(self, service: str) -> list[dict[str, Any]]:
        """``service ps SERVICE`` rows."""
        rows: list[dict[str, Any]] = self.ctl_json("service", "ps", service)
        return rows

    def running(self, service: str) -> list[dict[str, Any]]:
        """Tasks of ``service`` that run and are meant to."""
        return [
            t
            for t in self.tasks(service)
            if t["state"] == "running" and t["desired_state"] == "running"
        ]


class Swarm:
    """The nodes of one test, and their cleanup."""

    def __init__(
        self, tmp_path: Path, *, docker_client: Any = None, own_addresses: bool = False
    ) -> None:
        self.tmp_path = tmp_path
        self.docker = docker_client
        self.nodes: list[SwarmNode] = []
        # each node on its own loopback address (see LoopbackBlock), or all on 127.0.0.1
        self.addresses = LoopbackBlock() if own_addresses else None

    def _host(self) -> str:
        return self.addresses.take() if self.addresses is not None else "127.0.0.1"

    def start_node(
        self,
        name: str = "m1",
        *,
        executor: str = "process",
        extra: Sequence[str] = (),
        wait: bool = True,
        listen_host: str | None = None,
        cwd: Path = ROOT,
        soft_nofile: int | None = None,
    ) -> SwarmNode:
        """Start node ``name`` on ``listen_host``, else on the swarm's next address;
        ``soft_nofile``: the soft descriptor limit the process starts with."""
        host = listen_host or self._host()
        node = SwarmNode(
            name,
            self.tmp_path / name,
            self.tmp_path,
            executor=executor,
            port=free_port_pair(host),
            extra=extra,
            listen_host=host,
            cwd=cwd,
            soft_nofile=soft_nofile,
        )
        self.nodes.append(node)
        return node.start(wait=wait)

    # -- clusters -----------------------------------------------------------------------
    def start_cluster(
        self,
        managers: int = 3,
        workers: int = 2,
        *,
        executor: str = "process",
        heartbeat_period: str | None = None,
        timeout: float = 60.0,
    ) -> list[SwarmNode]:
        """``managers`` managers (``m1`` initializes) and ``workers`` workers (``w1``...)
        joined by token; returns once ``node ls`` shows them all READY, every manager
        reachable and one leader."""
        first = self.start_node("m1", executor=executor)
        first.wait_ready()
        if heartbeat_period is not None:
            first.ctl_json("cluster", "update", "--heartbeat-period", heartbeat_period)
        manager_token = first.join_token("manager")
        worker_token = first.join_token("worker")
        for i in range(2, managers + 1):
            self.join(f"m{i}", first, manager_token, executor=executor)
        for i in range(1, workers + 1):
            self.join(f"w{i}", first, worker_token, executor=executor)
        self.wait_cluster(managers, workers, timeout=timeout)
        return list(self.nodes)

    def join(
        self,
        name: str,
        via: SwarmNode,
        token: str,
        *,
        executor: str = "process",
        wait: bool = True,
    ) -> SwarmNode:
        return self.start_node(name, executor=executor, extra=via.join_args(token), wait=wait)

    @property
    def managers(self) -> list[SwarmNode]:
        """Live nodes that keep a Raft id (a worker has a control socket too, which
        answers not_manager; a demoted manager drops its Raft id when it restarts)."""
        return [
            n
            for n in self.nodes
            if n.socket.exists() and (n.state_dir / "raft_id").exists() and n._alive()
        ]

    def ctl_json(self, *args: str) -> Any:
        """``ctl_json`` on the first live manager that answers."""
        last: Exception | None = None
        for node in self.managers:
            try:
                return node.ctl_json(*args)
            except CtlError as exc:
                last = exc
        raise last or AssertionError("no live manager")

    def node_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.ctl_json("node", "ls")
        return rows

    def leader(self) -> SwarmNode | None:
        """The node ``node ls`` marks the leader (on a live manager's view)."""
        by_id = {n.node_id: n for n in self.nodes if (n.state_dir / "node_id").exists()}
        for row in self.node_rows():
            ms = row.get("manager_status")
            if ms and ms.get("leader") and row["id"] in by_id:
                node = by_id[row["id"]]
                if node._alive():
                    return node
        return None

    def wait_cluster(self, managers: int, workers: int, *, timeout: float = 60.0) -> None:
        seen: list[Any] = []

        def formed() -> bool:
            rows = self.node_rows()
            seen[:] = [
                (
                    r["hostname"],
                    r["status"],
                    r["manager_status"] and r["manager_status"]["leader"],
                    r["manager_status"] and r["manager_status"]["reachability"],
                )
                for r in rows
            ]
            ready = [r for r in rows if r["status"] == "ready"]
            mgrs = [r for r in rows if r["manager_status"]]
            reachable = [r for r in mgrs if r["manager_status"]["reachability"] == "reachable"]
            leaders = [r for r in mgrs if r["manager_status"]["leader"]]
            return (
                len(rows) == managers + workers
                and len(ready) == managers + workers
                and len(mgrs) == managers
                and len(reachable) == managers
                and len(leaders) == 1
                and all_managers_agree()
            )

        def all_managers_agree() -> bool:
            # tests go on to ask any manager: a follower reads the others' reachability
            # from what the leader recorded, which it applies a moment after the leader
            for node in self.managers:
                try:
                    rows = node.ctl_json("node", "ls")
                except CtlError:
                    return False
                statuses = [r["manager_status"] for r in rows if r["manager_status"]]
                if len(statuses) != managers or any(
                    s["reachability"] != "reachable" for s in statuses
                ):
                    return False
            return True

        try:
            poll(formed, f"{managers} managers and {workers} workers ready", timeout, interval=0.3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last node ls: {seen}") from None

    def cleanup(self) -> None:
        ids = []
        for node in self.nodes:
            node.kill()
            with contextlib.suppress(OSError):
                ids.append(node.node_id)
        for node in self.nodes:
            kill_recorded_processes(node.state_dir)
            node.remove_task_dirs()
        if self.docker is not None and ids:
            remove_node_containers(self.docker, ids)

    def __enter__(self) -> Swarm:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
