"""The task specs a session's node holds, so that a frame names a spec the node has by its
index instead of carrying it again (a node whose session request names ``specs``;
actors/dispatcher/wire.py).

A service's tasks share one spec object in the store (actors/store/sharing.py), and a
spec was about two thirds of a task's bytes on the wire and three quarters of a worker's
cost to read it. The scheduler spreads a service over the nodes, so a node's frames carry
tasks of several services, each rarely more than once: a table per frame saved little.
So the table lives as long as the session:
- the manager (``SentSpecs``) lists the specs it has sent the node, by identity, each
  holding its spec (no other object takes its id while listed); a frame adds the specs
  its tasks need that the node lacks, at ``base``: the node's table size before them;
- past ``limit`` specs the manager starts the table again: ``base`` 0 (a service updated
  a thousand times leaves a thousand specs behind, and nothing says which are dead);
- the node (``HeldSpecs``) appends them, or starts again at ``base`` 0; any other base
  that is not its table's size is a frame out of step, and the session ends.
Both tables are new with each session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from api.codec_objects import ObjectDecodeError
from api.specs import TaskSpec

__all__ = ["HELD_SPECS_LIMIT", "SENT_SPECS_LIMIT", "HeldSpecs", "SentSpecs"]

SENT_SPECS_LIMIT: Final = 1024
# what a node holds at most: a peer's frames cannot make it hold more
HELD_SPECS_LIMIT: Final = 4 * SENT_SPECS_LIMIT


class SentSpecs:
    """The specs a node holds, as its manager sent them."""

    __slots__ = ("_index", "_limit")

    def __init__(self, limit: int = SENT_SPECS_LIMIT) -> None:
        self._index: dict[int, tuple[TaskSpec, int]] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._index)

    def refer(self, specs: Sequence[TaskSpec]) -> tuple[int, list[TaskSpec], list[int]]:
        """For a frame's tasks' ``specs``: (base, the specs to send, which the node adds
        to its table from index ``base`` on, and each given spec's index there)."""
        index = self._index
        unseen = {id(s): s for s in specs if id(s) not in index}
        if len(index) + len(unseen) > self._limit:
            index.clear()
            unseen = {id(s): s for s in specs}
        base = len(index)
        for key, spec in unseen.items():
            index[key] = (spec, len(index))
        return base, list(unseen.values()), [index[id(s)][1] for s in specs]


class HeldSpecs:
    """The specs a node holds, as its session's frames gave them."""

    __slots__ = ("_limit", "specs")

    def __init__(self, limit: int = HELD_SPECS_LIMIT) -> None:
        self.specs: list[TaskSpec] = []
        self._limit = limit

    def take(self, base: int, new: Sequence[TaskSpec]) -> None:
        """Add a frame's ``new`` specs at ``base``; ObjectDecodeError names a frame out
        of step or one past the bound."""
        if base == 0:
            self.specs = []
        elif base != len(self.specs):
            raise ObjectDecodeError(
                "specs_base", f"the frame adds specs at {base}; this node holds {len(self.specs)}"
            )
        if len(self.specs) + len(new) > self._limit:
            raise ObjectDecodeError(
                "specs", f"the frame makes this node hold more than {self._limit} specs"
            )
        self.specs.extend(new)
