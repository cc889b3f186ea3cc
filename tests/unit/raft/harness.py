"""A synchronous, in-process cluster of RaftCores for the paper-claim tests.

`Cluster.settle()` delivers messages in FIFO order until nothing moves; `cut`/`isolate`
drop messages between nodes. No threads, no clocks: time passes only through `tick`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

from actors.raft_node.carry_out import HardStateSync, ReadyIO, carry_out
from actors.raft_node.core import MemoryStorage, RaftCore
from actors.raft_node.types import Entry, HardState, Message, MessageType, RaftState


def persist_and_take(
    core: RaftCore, storage: MemoryStorage, sync: HardStateSync
) -> tuple[list[Message], list[Entry]]:
    """Carry out the Readies as the RaftNode does (`carry_out`, until the core has none
    left); returns (messages sent, entries committed)."""
    sent: list[Message] = []
    committed: list[Entry] = []
    io = ReadyIO(storage.save, sent.extend, lambda _snapshot: None, committed.extend)
    while (rd := core.ready()) is not None:
        carry_out(core, rd, io, sync)
    return sent, committed


class Cluster:
    def __init__(
        self,
        ids: list[int],
        *,
        seed: int = 1,
        pre_vote: bool = True,
        check_quorum: bool = True,
        election_tick: int = 10,
        **kw: int,
    ) -> None:
        self.ids = list(ids)
        self.kw = dict(
            pre_vote=pre_vote, check_quorum=check_quorum, election_tick=election_tick, **kw
        )
        self.rng = random.Random(seed)
        self.storages = {i: MemoryStorage() for i in ids}
        self.syncs = {i: HardStateSync(HardState()) for i in ids}
        self.cores = {i: self._new_core(i, ids) for i in ids}
        self.applied: dict[int, list[Entry]] = {i: [] for i in ids}
        self.queue: deque[Message] = deque()
        self.cut_links: set[tuple[int, int]] = set()
        self.down: set[int] = set()
        self.dropped_types: set[MessageType] = set()
        self.transform: Callable[[Message], Message | None] | None = None
        self.delivered: list[Message] = []

    def _new_core(self, i: int, peers: list[int]) -> RaftCore:
        return RaftCore(i, peers, self.storages[i], rng=random.Random(self.rng.random()), **self.kw)  # type: ignore[arg-type]

    def add_node(self, i: int, peers: list[int]) -> RaftCore:
        self.ids.append(i)
        self.storages[i] = MemoryStorage()
        self.syncs[i] = HardStateSync(HardState())
        self.cores[i] = self._new_core(i, peers)
        self.applied[i] = []
        return self.cores[i]

    def restart(self, i: int, *, crash: bool = False) -> RaftCore:
        """Stop node i (volatile state lost) and start it again from its storage. A clean
        stop saves a commit index not synced yet (as the RaftNode does); a crash does not."""
        if not crash:
            self.syncs[i].flush(self.storages[i].save)
        self.syncs[i] = HardStateSync(self.storages[i].hard_state)
        self.cores[i] = self._new_core(i, self.ids)
        self.applied[i] = []
        return self.cores[i]

    def cut(self, a: int, b: int) -> None:
        self.cut_links |= {(a, b), (b, a)}

    def isolate(self, i: int) -> None:
        for j in self.ids:
            if j != i:
                self.cut(i, j)

    def heal(self) -> None:
        self.cut_links.clear()
        self.dropped_types.clear()

    def pump(self) -> None:
        for i in self.ids:
            if i in self.down:
                continue
            msgs, committed = persist_and_take(self.cores[i], self.storages[i], self.syncs[i])
            self.applied[i].extend(committed)
            self.queue.extend(msgs)

    def settle(self, limit: int = 100_000) -> None:
        self.pump()
        n = 0
        while self.queue and n < limit:
            n += 1
            m = self.queue.popleft()
            if (m.src, m.dst) in self.cut_links or m.dst in self.down or m.src in self.down:
                continue
            if m.type in self.dropped_types or m.dst not in self.cores:
                continue
            if self.transform is not None:
                m2 = self.transform(m)
                if m2 is None:
                    continue
                m = m2
            self.delivered.append(m)
            self.cores[m.dst].step(m)
            self.pump()

    def tick(self, n: int = 1, only: list[int] | None = None) -> None:
        for _ in range(n):
            for i in only or self.ids:
                if i not in self.down:
                    self.cores[i].tick()
            self.settle()

    def elect(self, i: int) -> None:
        """Make node i leader by ticking it alone past its election timeout."""
        core = self.cores[i]
        for _ in range(100):
            if core.state is RaftState.LEADER:
                break
            core.tick()
            self.settle()
        assert core.state is RaftState.LEADER, core.status()

    def state(self, i: int) -> RaftState:
        """Node i's state, read afresh (an assert on ``core.state`` narrows it for mypy)."""
        return self.cores[i].state

    def leader(self) -> RaftCore | None:
        leaders = [
            c for i, c in self.cores.items() if c.state is RaftState.LEADER and i not in self.down
        ]
        return max(leaders, key=lambda c: c.term) if leaders else None

    def preload(self, i: int, terms: list[int], term: int) -> None:
        """Give node i a log whose entry k+1 has term terms[k], and current term `term`."""
        s = self.storages[i]
        s.append(
            [Entry(index=k + 1, term=t, data=b"%d.%d" % (k + 1, t)) for k, t in enumerate(terms)]
        )
        s.set_hard_state(HardState(term=term))
        self.cores[i] = self._new_core(i, self.ids)

    def snapshot(self, i: int, data: bytes, keep: int = 0) -> None:
        """Snapshot node i's applied state as ``data`` and compact its log, keeping ``keep``
        entries before the snapshot point."""
        core, st = self.cores[i], self.storages[i]
        st.create_snapshot(core.applied_index, core.conf_state, data)
        st.compact(core.applied_index - keep)

    def log_terms(self, i: int) -> list[int]:
        s = self.storages[i]
        return [s.term(k) for k in range(s.first_index(), s.last_index() + 1)]

    def data(self, i: int) -> list[bytes]:
        return [e.data for e in self.applied[i] if e.data and e.type == 0]
