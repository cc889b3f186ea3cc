"""A fleet: many simulated worker nodes in this process, for benchmarks and scale tests.

    members = enlist(root, 1000, join_addr="127.0.0.1:4242", token=worker_token)
    with Fleet(members, sim=SimSettings(start_delay=0.5)) as fleet:
        ...
        fleet.stats().running
        fleet.exit_tasks("web", count=10, code=1)

Every node is real to the managers: its own identity joined by token (members.py), its
own CURVE connection and dispatcher session, heartbeats and status batches (session.py);
its tasks run on its own simulated executor (tasks.py). One thread carries all of them
(loop.py). What a fleet node does not do: keep its tasks on disk, renew its certificate,
or take a role other than worker.
"""

from __future__ import annotations

import platform
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

from actors.descriptors import raise_descriptor_limit
from actors.node.fleet.loop import DEFAULT_SIM, FleetLoop, SimSettings
from actors.node.fleet.members import FleetMember
from actors.node.fleet.session import DEFAULT_CONFIG, Phase, SessionConfig
from api.objects import NodeDescription, Platform
from api.specs import Resources

__all__ = ["Fleet", "FleetStats", "describe_member"]

NANO: Final = 1_000_000_000
CALL_TIMEOUT: Final = 30.0


def describe_member(
    cpus: int = 4, memory_bytes: int = 8 << 30
) -> Callable[[FleetMember], NodeDescription]:
    """Each node's description: its hostname, this machine's platform, and the resources
    given (a fleet node claims what a typical worker has, not this machine's share)."""
    where = Platform(os=platform.system().lower(), architecture=platform.machine())
    resources = Resources(nano_cpus=cpus * NANO, memory_bytes=memory_bytes)

    def describe(member: FleetMember) -> NodeDescription:
        return NodeDescription(hostname=member.hostname, platform=where, resources=resources)

    return describe


@dataclass(frozen=True, slots=True)
class FleetStats:
    nodes: int
    sessions_open: int  # nodes whose session is open now
    removed: int  # nodes a manager removed from the cluster
    sessions_opened: int  # in all, reconnections included
    tasks: int  # tasks the nodes hold
    running: int  # of which RUNNING
    states: dict[str, int] = field(default_factory=dict)
    refused_statuses: int = 0
    late_status_batches: int = 0  # put back for no reply within the request timeout
    # why sessions and attempts ended, by their whole reason: every one, and each node's last
    ends: dict[str, int] = field(default_factory=dict)
    last_ends: dict[str, int] = field(default_factory=dict)
    turns: int = 0  # loop turns so far
    frames: int = 0  # session frames received, in all
    status_batches: int = 0  # status batches sent, in all
    status_updates: int = 0  # the updates those carried

    def as_dict(self) -> dict[str, object]:
        return {
            "nodes": self.nodes,
            "sessions_open": self.sessions_open,
            "removed": self.removed,
            "sessions_opened": self.sessions_opened,
            "tasks": self.tasks,
            "running": self.running,
            "states": dict(self.states),
            "refused_statuses": self.refused_statuses,
            "late_status_batches": self.late_status_batches,
            "ends": dict(self.ends),
            "last_ends": dict(self.last_ends),
            "turns": self.turns,
            "frames": self.frames,
            "status_batches": self.status_batches,
            "status_updates": self.status_updates,
        }


class Fleet:
    def __init__(
        self,
        members: Sequence[FleetMember],
        *,
        sim: SimSettings = DEFAULT_SIM,
        config: SessionConfig = DEFAULT_CONFIG,
        describe: Callable[[FleetMember], NodeDescription] | None = None,
        seed: int | None = None,
        ramp: float = 0.0,
    ) -> None:
        # up to 4 sockets a node (loop.py), two descriptors each (its TCP connection and
        # its mailbox)
        raise_descriptor_limit(8 * len(members) + 256)
        self._loop = FleetLoop(
            members, describe or describe_member(), sim=sim, config=config, seed=seed, ramp=ramp
        )

    def start(self) -> Fleet:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._loop.alive

    @property
    def node_ids(self) -> list[str]:
        return [n.member.node_id for n in self._loop.nodes]

    def stats(self, node_ids: Collection[str] | None = None) -> FleetStats:
        """Counts over every node, or over ``node_ids`` only."""
        wanted = None if node_ids is None else frozenset(node_ids)
        return self._loop.call(lambda: self._stats(wanted)).result(CALL_TIMEOUT)

    def exit_tasks(self, service: str, count: int, code: int = 0) -> int:
        """Make up to ``count`` running tasks of ``service`` (id or name) exit with
        ``code`` (exit on demand); returns how many were told."""
        return self._loop.call(lambda: self._exit(service, count, code)).result(CALL_TIMEOUT)

    # -- on the loop's thread --------------------------------------------------------------
    def _stats(self, wanted: frozenset[str] | None) -> FleetStats:
        states: Counter[str] = Counter()
        ends: Counter[str] = Counter()
        last_ends: Counter[str] = Counter()
        sessions_open = removed = opened = refused = late = frames = batches = updates = 0
        nodes = [n for n in self._loop.nodes if wanted is None or n.member.node_id in wanted]
        for node in nodes:
            session = node.session
            sessions_open += session.phase is Phase.OPEN
            removed += session.phase is Phase.REMOVED
            opened += session.sessions_opened
            refused += session.refused_statuses
            late += session.late_status_batches
            frames += session.frames_received
            batches += session.status_batches
            updates += session.status_updates
            ends.update(session.ends)
            if session.last_end:
                last_ends[session.last_end] += 1
            for state, n in node.tasks.counts().items():
                states[state.label] += n
        return FleetStats(
            nodes=len(nodes),
            sessions_open=sessions_open,
            removed=removed,
            sessions_opened=opened,
            tasks=sum(states.values()),
            running=states.get("running", 0),
            states=dict(states),
            refused_statuses=refused,
            late_status_batches=late,
            ends=dict(ends),
            last_ends=dict(last_ends),
            turns=self._loop.turns,
            frames=frames,
            status_batches=batches,
            status_updates=updates,
        )

    def _exit(self, service: str, count: int, code: int) -> int:
        told = 0
        wall = time.time()
        for index, node in enumerate(self._loop.nodes):
            if told >= count:
                break
            for task in node.tasks.running():
                if told >= count:
                    break
                if service in (task.service_id, task.service_name):
                    node.executor.exit(task.id, code)
                    told += 1
            node.tasks.drain(wall)
            self._loop.touched(index)
        return told
