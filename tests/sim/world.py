"""A deterministic world for RaftCores: one seeded RNG drives the network (drop, duplicate,
reorder, delay, symmetric and one-way partitions, leader isolation), crashes and restarts
(a restarted node is a new RaftCore over the MemoryStorage holding only what was
persisted), membership changes, snapshots and a key-value client workload. Safety is
checked after every step (safety.py); `SafetyViolation` carries what broke.

Every Ready is carried out by the code the RaftNode runs (`actors.raft_node.carry_out`):
a leader's appends go out before its fsync, a commit-only hard state is not synced, and a
node may crash inside a Ready, after sending and before its fsync (it comes back with
only what it had persisted) or just after the fsync.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from actors.proposal_errors import ProposalError
from actors.raft_node.carry_out import HardStateSync, ReadyIO, carry_out
from actors.raft_node.core import MemoryStorage, RaftCore
from actors.raft_node.types import (
    ConfChange,
    ConfChangeType,
    Entry,
    EntryType,
    HardState,
    Message,
    RaftState,
    Snapshot,
)
from tests.sim.linearizability import Op
from tests.sim.safety import Safety
from tests.sim.workload import Workload


class CrashedInReady(Exception):
    """The simulated process died inside a Ready (raised by the simulated storage)."""


@dataclass
class Node:
    id: int
    storage: MemoryStorage
    core: RaftCore | None = None  # None while crashed
    kv: dict[str, object] = field(default_factory=dict)
    last_applied: int = 0
    sync: HardStateSync = field(default_factory=lambda: HardStateSync(HardState()))
    io: ReadyIO | None = None


@dataclass
class Faults:
    drop: float
    dup: float
    max_delay: int
    crash: float
    crash_in_ready: float  # per save: before it, then again after it
    partition: float
    conf_change: float
    client: float
    snapshot_every: int


# a world that only does what a scenario tells it
NO_FAULTS = Faults(0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 1000)


class World:
    """``faults`` and ``size`` fix what the seed would otherwise choose (scenarios)."""

    def __init__(
        self,
        seed: int,
        *,
        ticks: int = 700,
        quiet: int = 60,
        settle: int = 240,
        faults: Faults | None = None,
        size: int | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        r = self.rng
        self.ticks, self.quiet, self.settle = ticks, quiet, settle
        self.quiet_ticks = 0  # ticks the quiet period actually took
        self.f = (
            Faults(**vars(faults))
            if faults is not None
            else Faults(
                drop=r.choice([0.0, 0.02, 0.1, 0.25]),
                dup=r.choice([0.0, 0.02, 0.1]),
                max_delay=r.choice([0, 1, 3]),
                crash=r.choice([0.0, 0.01, 0.03, 0.08]),
                crash_in_ready=r.choice([0.0, 0.0005, 0.002, 0.01]),
                partition=r.choice([0.0, 0.02, 0.05, 0.1]),
                conf_change=r.choice([0.0, 0.02, 0.05]),
                client=r.choice([0.5, 1.0, 2.0]),
                snapshot_every=r.choice([8, 20, 1000]),
            )
        )
        self.max_size = r.choice([1, 64, 4096])  # 1: one entry per append
        self.max_inflight = r.choice([1, 4, 64])
        n = size if size is not None else r.choice([3, 3, 5])
        self.initial = list(range(1, n + 1))
        self.nodes: dict[int, Node] = {}
        self.restart_at: dict[int, int] = {}  # nodes that crashed inside a Ready
        for i in self.initial:
            self.nodes[i] = Node(i, MemoryStorage())
            self._start(i, self.initial)
        self.faults_at_start = Faults(**vars(self.f))
        self.next_id = n + 1
        self.now = 0
        self.net: list[tuple[int, int, Message]] = []  # (deliver_at, seq, message)
        self.seq = 0
        self.blocked: set[tuple[int, int]] = set()
        self.workload = Workload()
        self.safety = Safety()
        self.trace: list[str] = []
        self.sent: dict[int, int] = {}  # messages each node sent

    # ------------------------------------------------------------------ lifecycle
    def _start(self, i: int, peers: list[int]) -> None:
        node = self.nodes[i]
        node.core = RaftCore(
            i,
            peers,
            node.storage,
            election_tick=10,
            heartbeat_tick=1,
            rng=random.Random(self.rng.random()),
            max_inflight=self.max_inflight,
            max_size_per_msg=self.max_size,
        )
        snap = node.storage.snapshot()
        node.kv = json.loads(snap.data) if snap.data else {}
        node.last_applied = snap.metadata.index
        node.sync = HardStateSync(node.storage.hard_state)
        node.io = self._io(node)

    def crash(self, i: int) -> None:
        self.trace.append(f"t={self.now} crash {i}")
        self.nodes[i].core = None

    def join(self, i: int, voters: list[int]) -> None:
        """Start node i as a new member: no log, the group's voters as its bootstrap
        configuration (it is not a member until a leader adds it)."""
        self.trace.append(f"t={self.now} join {i}")
        self.nodes[i] = Node(i, MemoryStorage())
        self._start(i, voters)

    def advance(self, ticks: int) -> None:
        """Run ``ticks`` ticks with this world's faults and workload."""
        for _ in range(ticks):
            self._faults()
            self._tick()

    def restart(self, i: int) -> None:
        self.trace.append(f"t={self.now} restart {i}")
        self.restart_at.pop(i, None)
        self._start(i, self.initial)

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        self.advance(self.ticks)
        self.blocked.clear()
        for i, node in self.nodes.items():
            if node.core is None:
                self.restart(i)
        self.f.drop = self.f.dup = 0.0
        self.f.max_delay = 0
        self.f.crash = self.f.crash_in_ready = self.f.partition = self.f.conf_change = 0.0
        # Liveness: a leader committing in its own term. Elections are randomized, so no
        # fixed bound holds for every seed: two voters whose timers restart together split
        # the vote one time in ten, and each split costs another randomized timeout. The
        # quiet period therefore runs at least `quiet` ticks, then up to `settle` more until
        # a leader commits; a cluster that is really stuck still fails the check.
        while self.quiet_ticks < self.quiet or (
            self.quiet_ticks < self.quiet + self.settle and self.committing_leader() is None
        ):
            self._tick()
            self.quiet_ticks += 1

    def _tick(self) -> None:
        self.now += 1
        for node in self.nodes.values():
            if node.core is not None:
                node.core.tick()
                self._process(node)
        for _ in range(int(self.f.client + self.rng.random())):
            self._client_op()
        self._deliver()
        self._check_step()

    def _deliver(self) -> None:
        # Round trips are much shorter than a tick, so replies are delivered in the same
        # tick; a cap keeps a heavily reordering network from spinning forever (the rest
        # waits for the next tick).
        for _ in range(1_000):
            due = [x for x in self.net if x[0] <= self.now]
            if not due:
                return
            # Links interleave at random; one link is FIFO among messages that are due
            # (reordering on a link comes from the random delays).
            pick = self.rng.choice(due)
            item = min(
                (x for x in due if x[2].src == pick[2].src and x[2].dst == pick[2].dst),
                key=lambda x: x[1],
            )
            self.net.remove(item)
            m = item[2]
            dst = self.nodes.get(m.dst)
            if dst is None or dst.core is None or (m.src, m.dst) in self.blocked:
                continue
            dst.core.step(m)
            self._process(dst)
            self._check_step()

    def _send(self, m: Message) -> None:
        self.sent[m.src] = self.sent.get(m.src, 0) + 1
        if self.rng.random() < self.f.drop:
            return
        copies = 2 if self.rng.random() < self.f.dup else 1
        for _ in range(copies):
            self.seq += 1
            delay = self.rng.randint(0, self.f.max_delay) if self.f.max_delay else 0
            self.net.append((self.now + delay, self.seq, m))

    # ------------------------------------------------------------------ the shell
    def _process(self, node: Node) -> None:
        """Carry out every Ready with the production code (`carry_out`), through this
        world's storage, network and key-value state; a node may crash inside one."""
        core, io = node.core, node.io
        assert core is not None and io is not None
        try:
            while (rd := core.ready()) is not None:
                carry_out(core, rd, io, node.sync)
                self._maybe_snapshot(node)
                self._maybe_promote(node)
        except CrashedInReady as crash:
            self.trace.append(f"t={self.now} crash {node.id} ({core.state.value}) {crash}")
            node.core = None
            self.restart_at[node.id] = self.now + self.rng.randint(1, 30)

    def _io(self, node: Node) -> ReadyIO:
        def save(hs: HardState | None, entries: Sequence[Entry], snap: Snapshot | None) -> None:
            r = self.rng
            if r.random() < self.f.crash_in_ready:
                raise CrashedInReady("after sending, before its fsync")
            node.storage.save(hs, entries, snap)
            if entries:
                self.safety.log_matching(node.id, node.storage, entries[0].index, entries[-1].index)
            if r.random() < self.f.crash_in_ready:
                raise CrashedInReady("after its fsync, before sending the rest")

        def send(messages: Sequence[Message]) -> None:
            for m in messages:
                self._send(m)

        def restore(snap: Snapshot) -> None:
            node.kv = json.loads(snap.data)
            node.last_applied = snap.metadata.index

        def apply(entries: Sequence[Entry]) -> None:
            for e in entries:
                self._apply(node, e.index, e.term, e.data, e.type)

        return ReadyIO(save, send, restore, apply)

    def _apply(self, node: Node, index: int, term: int, data: bytes, kind: EntryType) -> None:
        self.safety.applied(node.id, node.last_applied, index, term, data)
        node.last_applied = index
        self.workload.apply(node.kv, index, data, kind)

    def _maybe_snapshot(self, node: Node) -> None:
        core, st = node.core, node.storage
        assert core is not None
        applied = core.applied_index
        if (
            applied - st.first_index() + 1 >= self.f.snapshot_every
            and applied > st.snapshot().metadata.index
        ):
            st.create_snapshot(applied, core.conf_state, json.dumps(node.kv).encode())
            st.compact(max(applied - 3, st.first_index() - 1))

    def _maybe_promote(self, node: Node) -> None:
        core = node.core
        assert core is not None
        if core.state is not RaftState.LEADER or not core.learners:
            return
        for learner in core.learners:
            if core.is_caught_up(learner, max_lag=2):
                self._conf(core, ConfChange(ConfChangeType.PROMOTE, learner))
                return

    def _conf(self, core: RaftCore, change: ConfChange) -> None:
        try:
            core.propose_conf_change(change)
        except (ProposalError, ValueError):
            return
        self.trace.append(f"t={self.now} {core.id} proposes {change.type.name} {change.node_id}")

    # ------------------------------------------------------------------ workload and faults
    def leader(self) -> RaftCore | None:
        best = None
        for node in self.nodes.values():
            c = node.core
            if (
                c is not None
                and c.state is RaftState.LEADER
                and (best is None or c.term > best.term)
            ):
                best = c
        return best

    def committing_leader(self) -> RaftCore | None:
        """The leader of the highest term, if it has committed an entry of its own term."""
        lead = self.leader()
        if lead is not None and lead.term_at(lead.commit_index) == lead.term:
            return lead
        return None

    def _client_op(self) -> None:
        r = self.rng
        target = self.leader() if r.random() < 0.8 else None
        if target is None:
            live = [n.core for n in self.nodes.values() if n.core is not None]
            if not live:
                return
            target = r.choice(live)
        self.workload.invoke(target, r)

    def _faults(self) -> None:
        r, f, ids = self.rng, self.f, sorted(self.nodes)
        for i, at in sorted(self.restart_at.items()):
            if at <= self.now and self.nodes[i].core is None:
                self.restart(i)
        if r.random() < f.partition:
            kind = r.choice(["split", "one-way", "isolate-leader", "heal", "heal"])
            self.trace.append(f"t={self.now} partition {kind}")
            if kind == "heal":
                self.blocked.clear()
            elif kind == "one-way":
                a, b = r.sample(ids, 2)
                self.blocked.add((a, b))
            elif kind == "isolate-leader":
                lead = self.leader()
                if lead is not None:
                    self.blocked |= {(lead.id, j) for j in ids} | {(j, lead.id) for j in ids}
            else:
                side = set(r.sample(ids, r.randint(1, len(ids) - 1)))
                self.blocked |= {(a, b) for a in ids for b in ids if (a in side) != (b in side)}
        if r.random() < f.crash:
            i = r.choice(ids)
            if self.nodes[i].core is not None:
                self.crash(i)
            else:
                self.restart(i)
        if r.random() < f.conf_change:
            self._membership_change()

    def _membership_change(self) -> None:
        lead = self.leader()
        if lead is None:
            return
        r = self.rng
        members = lead.voters + lead.learners
        if len(lead.voters) < 5 and not lead.learners and self.next_id <= 9 and r.random() < 0.6:
            i = self.next_id
            self.next_id += 1
            self.join(i, list(lead.voters))
            self._conf(lead, ConfChange(ConfChangeType.ADD_LEARNER, i))
        elif len(lead.voters) > 2:
            victim = r.choice(members)
            kind = r.choice([ConfChangeType.REMOVE, ConfChangeType.DEMOTE])
            if victim in lead.learners:
                kind = ConfChangeType.REMOVE
            self._conf(lead, ConfChange(kind, victim))

    # ------------------------------------------------------------------ safety
    @property
    def steps(self) -> int:
        return self.safety.steps

    @property
    def committed(self) -> dict[int, tuple[int, bytes]]:
        return self.safety.committed

    def _check_step(self) -> None:
        self.safety.step(n.core for n in self.nodes.values() if n.core is not None)

    def history(self) -> list[Op]:
        return self.workload.history(self.leader(), self.committed)
