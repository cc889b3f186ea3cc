"""How a session frame's items are cut into frames of a byte budget each, sans I/O (the
packing: frame_packing.py; the worker's assembly: actors/worker/set_assembly.py).

A frame over the budget (a node's full set of tens of thousands of tasks; the changes
after a big create) goes as several, as SwarmKit's dispatcher sends a node's assignments
in batches of a bounded size. Its items, in the frame's order, are what can be cut apart:
the removed ids, then the tasks (each with the spec it brings to the node's table, if it
is the first to need it: spec_tables.py). The rest, its head, goes in the first part.

Rules (``plan_parts``):
- Items keep their order; each part holds a run of them. A part is closed when the next
  item would take it past ``budget`` and it holds something already (items, or the head):
  so every part stays within the budget but for a lone item (or a head) bigger than it.
- An item may need shared pieces (the networks and registry credentials its task needs:
  networks_and_auth.py): each part carries those its own items need, once, as a frame
  carries those its tasks need; their bytes count in the part that carries them. Pieces
  no item needs go with the head.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Item", "PartPlan", "plan_parts"]


@dataclass(frozen=True, slots=True)
class Item:
    """One thing a frame carries that may go in any of its parts: ``size`` bytes packed,
    and the keys of the shared pieces it needs in its part."""

    size: int
    needs: tuple[Hashable, ...] = ()


@dataclass(frozen=True, slots=True)
class PartPlan:
    """One part: the items ``start`` to ``stop`` (not included), the shared pieces it
    carries in the order first needed, and its size in bytes as planned."""

    start: int
    stop: int
    shared: tuple[Hashable, ...]
    size: int


def plan_parts(
    head: int, items: Sequence[Item], shared: Mapping[Hashable, int], budget: int
) -> list[PartPlan]:
    """The parts of a frame whose head is ``head`` bytes, its items ``items``, and whose
    shared pieces are ``shared`` (bytes by key), each part within ``budget`` bytes (the
    module's rules). One part, all of it, when it fits."""
    needed = {key for item in items for key in item.needs}
    unneeded = tuple(key for key in shared if key not in needed)
    first_used = head + sum(shared[key] for key in unneeded)
    parts: list[PartPlan] = []
    start = 0
    carried: dict[Hashable, None] = dict.fromkeys(unneeded)
    used = first_used
    holds = head > 0 or bool(unneeded)  # the first part holds the head
    for index, item in enumerate(items):
        size = item.size + sum(shared[k] for k in item.needs if k not in carried and k in shared)
        if holds and used + size > budget:
            parts.append(PartPlan(start, index, tuple(carried), used))
            start, carried, used = index, {}, 0
            size = item.size + sum(shared[k] for k in item.needs if k in shared)
        for key in item.needs:
            if key in shared:
                carried.setdefault(key)
        used += size
        holds = True
    parts.append(PartPlan(start, len(items), tuple(carried), used))
    return parts
