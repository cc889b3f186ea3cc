"""The simulated clients: a key-value workload proposed as JSON entries, and the history
the linearizability checker reads.

An operation is invoked when a core accepts its proposal and completes at the first
application of its entry anywhere: its linearization point (the commit) lies between. A
write whose outcome is unknown stays in the history as pending unless it can never commit.
"""

from __future__ import annotations

import json
import random

from actors.proposal_errors import ProposalError
from actors.raft_node.core import RaftCore
from actors.raft_node.types import EntryType
from tests.sim.linearizability import Op

__all__ = ["KEYS", "Workload"]

KEYS = ("a", "b", "c")


class Workload:
    def __init__(self) -> None:
        self.clock = 0  # event counter for the history
        self.ops: list[Op] = []
        self.op_pos: list[tuple[int, int]] = []  # (index, term) each op was proposed at
        self.first_applied: set[int] = set()

    def invoke(self, target: RaftCore, rng: random.Random) -> None:
        """Propose one read or write of a random key through ``target``."""
        op_id = len(self.ops)
        key = rng.choice(KEYS)
        kind = "w" if rng.random() < 0.5 else "r"
        value = op_id if kind == "w" else None
        data = json.dumps([op_id, kind, key, value]).encode()
        try:
            index = target.propose(data)
        except ProposalError:  # NotLeader, or a transfer in progress
            return
        self.clock += 1
        self.ops.append(Op(self.clock, None, kind, key, value))
        self.op_pos.append((index, target.term))

    def apply(self, kv: dict[str, object], index: int, data: bytes, kind: EntryType) -> None:
        """Apply the committed entry at ``index`` to one node's key-value state."""
        result: object = None
        op_id = -1
        if kind is EntryType.NORMAL and data:
            op_id, what, key, value = json.loads(data)
            if what == "w":
                kv[key] = value
            else:
                result = kv.get(key)
        if index in self.first_applied:
            return
        self.first_applied.add(index)
        if op_id >= 0:
            self.clock += 1
            op = self.ops[op_id]
            op.response = self.clock
            if op.kind == "r":
                op.value = result

    def history(self, lead: RaftCore | None, committed: dict[int, tuple[int, bytes]]) -> list[Op]:
        """Completed operations, and writes whose outcome is unknown. A write whose entry can
        never commit is left out: one replaced by another entry at its index, or one of an
        older term beyond the commit index of a leader that has committed in its own term
        (every later log holds that leader's entry, and terms only grow along a log)."""
        final_term, final_commit = 0, 0
        if lead is not None and lead.term_at(lead.commit_index) == lead.term:
            final_term, final_commit = lead.term, lead.commit_index
        out = []
        for op, (index, term) in zip(self.ops, self.op_pos, strict=True):
            if op.response is None:
                if op.kind == "r":
                    continue
                seen = committed.get(index)
                if seen is not None and seen[0] != term:
                    continue
                if index > final_commit and term < final_term:
                    continue
                if (
                    index <= final_commit
                    and lead is not None
                    and lead.term_at(index) not in (0, term)
                ):
                    continue
            out.append(op)
        return out
