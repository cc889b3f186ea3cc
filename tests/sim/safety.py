"""Raft's safety properties, checked by the simulated world after every step.

Each check remembers what it has seen anywhere (every node, every time) and raises
`SafetyViolation` naming what broke: election safety (one leader per term), log matching
(an (index, term) has the same data and the same term before it everywhere), leader
completeness (a new leader holds every committed entry), and state machine safety (every
node applies the same entry at an index, in order).
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.raft_node.core import MemoryStorage, RaftCore
from actors.raft_node.types import RaftState

__all__ = ["Safety", "SafetyViolation"]


class SafetyViolation(AssertionError):
    pass


class Safety:
    def __init__(self) -> None:
        self.steps = 0
        self.leaders: dict[int, int] = {}  # term -> leader id
        self.committed: dict[int, tuple[int, bytes]] = {}  # index -> (term, data), all nodes
        self.links: dict[tuple[int, int], tuple[int, bytes]] = {}  # (i, t) -> (prev t, data)
        self.known_commit = (0, 0)  # (index, term) of the highest commit anyone announced

    def applied(self, node_id: int, last_applied: int, index: int, term: int, data: bytes) -> None:
        """State machine safety: node ``node_id`` applies (index, term, data) next."""
        if index != last_applied + 1:
            raise SafetyViolation(f"node {node_id} applied {index} after {last_applied}")
        seen = self.committed.setdefault(index, (term, data))
        if seen != (term, data):
            raise SafetyViolation(
                f"state machine safety: node {node_id} applied {(term, data)!r} at {index}, "
                f"another node applied {seen!r}"
            )

    def log_matching(self, node_id: int, st: MemoryStorage, lo: int, hi: int) -> None:
        """Log matching, by induction, over entries lo..hi that node ``node_id`` just saved."""
        prev = st.term(lo - 1) if lo - 1 >= st.first_index() - 1 else None
        for e in st.entries(max(lo, st.first_index()), hi + 1):
            if prev is not None:
                seen = self.links.setdefault((e.index, e.term), (prev, e.data))
                if seen != (prev, e.data):
                    raise SafetyViolation(
                        f"log matching: node {node_id} has ({e.index}, {e.term}) after term "
                        f"{prev} with {e.data!r}; elsewhere {seen!r}"
                    )
            prev = e.term

    def step(self, cores: Iterable[RaftCore]) -> None:
        """Election safety and leader completeness over the running cores."""
        self.steps += 1
        for core in cores:
            if core.commit_index > self.known_commit[0]:
                self.known_commit = (core.commit_index, core.term_at(core.commit_index))
            if core.state is not RaftState.LEADER:
                continue
            first = self.leaders.setdefault(core.term, core.id)
            if first != core.id:
                raise SafetyViolation(f"two leaders in term {core.term}: {first} and {core.id}")
            key = -core.term
            if key not in self.leaders:
                self.leaders[key] = core.id
                index, term = self.known_commit
                have = core.term_at(index)
                if index > core.last_index:
                    raise SafetyViolation(f"leader {core.id} lacks committed index {index}")
                if have and term and have != term:
                    raise SafetyViolation(
                        f"leader completeness: leader {core.id} of term {core.term} has term "
                        f"{have} at committed index {index}, which was committed with {term}"
                    )
