"""Connections grouped by the source they came from, with the sources holding the most at
hand (pure): the stranger gate's counts (transport/strangers.py). The sources may number
as many as the process's descriptors, so the heaviest is found without looking at each:
the sources are kept in buckets by how many they hold, and a count only ever moves by one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Generic, TypeVar

__all__ = ["BySource"]

T = TypeVar("T")


class BySource(Generic[T]):
    """Items by source, each under a key (a descriptor) unique within its source."""

    def __init__(self) -> None:
        self._items: dict[str, dict[int, T]] = {}
        # the sources holding each count (at least 1), in the order they came to hold it
        self._holding: dict[int, dict[str, None]] = {}
        self._most = 0
        self._total = 0

    def add(self, source: str, key: int, item: T) -> None:
        items = self._items.setdefault(source, {})
        if key in items:
            raise KeyError(f"{key} is held by {source} already")
        items[key] = item
        self._move(source, len(items) - 1)

    def remove(self, source: str, key: int) -> None:
        items = self._items[source]
        del items[key]
        if not items:
            del self._items[source]
        self._move(source, len(items) + 1)

    def _move(self, source: str, before: int) -> None:
        after = len(self._items.get(source, ()))
        self._total += after - before
        if before:
            holding = self._holding[before]
            del holding[source]
            if not holding:
                del self._holding[before]
        if after:
            self._holding.setdefault(after, {})[source] = None
        if after > self._most:
            self._most = after
        elif before == self._most and before not in self._holding:
            self._most = after  # the next count down holds this source, or none is held

    def count(self, source: str | None = None) -> int:
        """The items of ``source`` (None: of all sources)."""
        return self._total if source is None else len(self._items.get(source, ()))

    def items(self, source: str) -> Collection[T]:
        return self._items.get(source, {}).values()

    def most(self) -> int:
        """What the sources holding the most hold (0: none holds any)."""
        return self._most

    def heaviest(self) -> Iterable[str]:
        """The sources holding the most, the first to come to hold it first."""
        return self._holding.get(self._most, {}).keys()

    def sources(self) -> Iterable[str]:
        return self._items.keys()
