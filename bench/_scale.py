"""bench/scale.py's cluster: real managers, a fleet, and the measures taken on them.

``ScaleCluster`` starts ``managers`` real ``swarm-node`` managers (tests/support/swarm.py;
``--executor process``, all drained, so every task goes to the fleet, as big swarms keep
managers for managing) and a fleet process of ``nodes`` simulated workers
(bench/_fleet.py), and keeps transport clients on every manager's control socket (ipc), so
polls and writes cost no process start. Reads go to a follower where there is one (every
manager serves reads from its own store), writes to the leader.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _fleet import FleetProcess, proc_cpu_seconds, proc_rss_bytes

from api.codec_objects import encode
from api.errors import RemoteError, RequestTimeout
from api.specs import ContainerSpec, ReplicatedService, RestartPolicy, ServiceSpec, TaskSpec
from tests.support.swarm import Swarm, SwarmNode, poll
from transport.client import Client

POLL_S = 0.25
LEADER_CHANGE_S = 60.0  # how long a write is tried again while the leader changes
RETRIED = frozenset({"unavailable", "busy", "timeout"})
PROBE = "scale-probe"


def service_spec(name: str, replicas: int) -> dict[str, Any]:
    spec = ServiceSpec(
        name=name,
        task=TaskSpec(
            container=ContainerSpec(image="sim", command=("sleep", "infinity")),
            restart_policy=RestartPolicy(delay=0.0),
        ),
        mode=ReplicatedService(replicas=replicas),
    )
    doc: dict[str, Any] = encode(spec)
    return doc


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` nearly equal shares (the first ones one larger)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class ScaleCluster:
    def __init__(
        self,
        workdir: Path,
        *,
        managers: int,
        nodes: int,
        fleet_args: Sequence[str] = (),
        log: Callable[[str], None] = print,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.swarm = Swarm(workdir)
        self.n_managers = managers
        self.n_nodes = nodes
        self._fleet_args = tuple(fleet_args)
        self.fleet: FleetProcess | None = None
        self.clients: dict[str, Client] = {}
        self._leader: SwarmNode | None = None

    # -- set-up ----------------------------------------------------------------------------
    def start(self) -> dict[str, float]:
        started = time.monotonic()
        self.swarm.start_cluster(self.n_managers, 0, executor="process", timeout=120)
        for node in self.swarm.managers:
            self.clients[node.name] = Client(
                f"ipc://{node.socket.absolute()}", timeout=30.0, name=f"scale-{node.name}"
            )
            self.write("control.node.update", {"node": node.node_id, "availability": "drain"})
        formed = time.monotonic() - started
        first = self.swarm.managers[0]
        token = first.join_token("worker")
        self.fleet = FleetProcess(
            join_addr=first.remote_api,
            token=token,
            nodes=self.n_nodes,
            state_dir=self.workdir / "fleet",
            log_path=self.workdir / "fleet.log",
            extra=self._fleet_args,
            timeout=max(600.0, self.n_nodes * 1.0),
        )
        fleet = self.fleet
        poll(
            lambda: fleet.stats()["sessions_open"] == self.n_nodes,
            "every fleet session open",
            300,
            0.5,
        )
        poll(self._all_ready, "every node ready in node ls", 300, 0.5)
        self.create(PROBE, 0)
        return {
            "managers_formed_s": round(formed, 2),
            "fleet_enlist_s": round(fleet.enlist_s, 2),
            "fleet_ready_s": round(time.monotonic() - started - formed, 2),
        }

    def _all_ready(self) -> bool:
        rows = self.read("control.node.ls", {})["nodes"]
        ready = sum(1 for r in rows if r["status"] == "ready")
        return ready == self.n_nodes + self.n_managers

    # -- control ---------------------------------------------------------------------------
    def leader(self, *, refresh: bool = False) -> SwarmNode:
        """The leader as last found; found again (``node ls`` through ``swarmctl``: a
        process start and a listing of every node, too dear for each poll and write at
        1,000 nodes) when ``refresh`` or when that process has exited."""
        cached = self._leader
        if refresh or cached is None or not cached._alive() or cached.name not in self.clients:
            found = poll(self.swarm.leader, "a leader", 60)
            assert isinstance(found, SwarmNode)
            self._leader = cached = found
        return cached

    def reader(self) -> Client:
        """A follower's client (the leader's when alone)."""
        leader = self.leader()
        for node in self.swarm.managers:
            if node is not leader and node.name in self.clients and node._alive():
                return self.clients[node.name]
        return self.clients[leader.name]

    def read(self, message_type: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.reader().request(message_type, body)

    def write(self, message_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """Through the leader; again through the next leader when this one lost its
        leadership meanwhile (it happens on a machine this loaded: check-quorum). The
        bench's writes (cluster settings, availability, replicas) may be made twice."""
        deadline = time.monotonic() + LEADER_CHANGE_S
        while True:
            try:
                return self.clients[self.leader().name].request(message_type, body)
            except (RemoteError, RequestTimeout) as exc:
                code = getattr(exc, "code", "timeout")
                if code not in RETRIED or time.monotonic() > deadline:
                    raise
                self.log(f"{message_type}: {exc}; again through the leader")
                time.sleep(POLL_S)
                self.leader(refresh=True)

    def create(self, name: str, replicas: int) -> str:
        reply = self.write("control.service.create", {"spec": service_spec(name, replicas)})
        return str(reply["id"])

    def running(self, names: Sequence[str]) -> dict[str, int]:
        """Each service's running replicas, as a manager's store has them."""
        wanted = set(names)
        rows = self.read("control.service.ls", {})["services"]
        return {r["name"]: int(r["replicas_running"]) for r in rows if r["name"] in wanted}

    def running_of(self, name: str) -> int:
        """One service's running replicas (reads only its own tasks, unlike ``running``)."""
        summary = self.read("control.service.inspect", {"service": name})["summary"]
        return int(summary["replicas_running"])

    # -- figures ---------------------------------------------------------------------------
    def manager_rss(self, field: str = "VmRSS") -> dict[str, int]:
        """Each manager's resident memory now (``VmHWM``: its peak so far)."""
        return {
            n.name: proc_rss_bytes(n.process.pid, field)
            for n in self.swarm.managers
            if n.process is not None
        }

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far of each manager and of the fleet (``fleet``)."""
        out = {
            n.name: proc_cpu_seconds(n.process.pid)
            for n in self.swarm.managers
            if n.process is not None
        }
        if self.fleet is not None:
            out["fleet"] = self.fleet.cpu_seconds()
        return out

    def snapshots(self, after: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
        """Each manager's last ``raft.snapshot.created`` event (size, index, times, the
        encoding's CPU seconds, and ``made``: how many that manager logged so far); with
        ``after`` (an earlier call's ``made`` counts), only managers that logged one since."""
        out: dict[str, dict[str, Any]] = {}
        for node in self.swarm.nodes:
            made = 0
            for event in node.log_events():
                if event.get("event") == "raft.snapshot.created":
                    made += 1
                    keys = ("index", "bytes", "encode_s", "encode_cpu_s", "seconds")
                    out[node.name] = {k: event.get(k) for k in keys} | {"made": made}
            if after is not None and made <= after.get(node.name, 0):
                out.pop(node.name, None)
        return out

    def restart_follower(self) -> dict[str, Any]:
        """SIGTERM a follower, start it again on its state dir, and return its
        ``raft.node.started`` event (snapshot bytes and restore seconds)."""
        leader = self.leader()
        node = next(n for n in self.swarm.managers if n is not leader)
        node.terminate()
        node.start()
        started: dict[str, Any] = poll(
            lambda: next(
                (e for e in node.log_events() if e.get("event") == "raft.node.started"), None
            ),
            f"{node.name}: raft.node.started",
            120,
        )
        keys = ("snapshot_index", "snapshot_bytes", "snapshot_restore_s")
        return {"manager": node.name, **{k: started.get(k) for k in keys}}

    def close(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                client.close()
        if self.fleet is not None:
            self.fleet.close()
        self.swarm.cleanup()
