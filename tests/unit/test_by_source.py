"""Items by source with the heaviest at hand (transport/by_source.py)."""

from __future__ import annotations

import random

import pytest

from transport.by_source import BySource


def test_the_heaviest_sources_are_those_holding_the_most() -> None:
    counts: BySource[str] = BySource()
    assert (counts.count(), counts.most(), list(counts.heaviest())) == (0, 0, [])
    counts.add("a", 1, "a1")
    counts.add("b", 2, "b2")
    counts.add("b", 3, "b3")
    assert (counts.count(), counts.count("b"), counts.most()) == (3, 2, 2)
    assert list(counts.heaviest()) == ["b"] and sorted(counts.items("b")) == ["b2", "b3"]
    counts.add("a", 4, "a4")
    assert list(counts.heaviest()) == ["b", "a"]  # the first to hold two first
    counts.remove("b", 2)
    assert list(counts.heaviest()) == ["a"]
    counts.remove("a", 1)
    counts.remove("a", 4)
    assert (counts.most(), list(counts.heaviest()), list(counts.sources())) == (1, ["b"], ["b"])
    counts.remove("b", 3)
    assert (counts.count(), counts.most(), list(counts.sources())) == (0, 0, [])
    assert list(counts.items("b")) == []
    with pytest.raises(KeyError):
        counts.remove("b", 3)


def test_a_key_is_held_once() -> None:
    counts: BySource[str] = BySource()
    counts.add("a", 1, "first")
    with pytest.raises(KeyError, match="1 is held by a already"):
        counts.add("a", 1, "again")
    assert counts.count() == 1


@pytest.mark.parametrize("seed", range(10))
def test_the_counts_are_those_of_the_items_held(seed: int) -> None:
    rng = random.Random(seed)
    counts: BySource[int] = BySource()
    held: dict[str, set[int]] = {}
    for key in range(3000):
        source = f"s{rng.randrange(12)}"
        if rng.random() < 0.55 or not held:
            counts.add(source, key, key)
            held.setdefault(source, set()).add(key)
        else:
            source = rng.choice(sorted(held))
            gone = rng.choice(sorted(held[source]))
            counts.remove(source, gone)
            held[source].discard(gone)
            if not held[source]:
                del held[source]
        most = max(map(len, held.values()), default=0)
        assert counts.most() == most and counts.count() == sum(map(len, held.values()))
        assert {s for s in counts.heaviest()} == {s for s, k in held.items() if len(k) == most}
        assert {s: set(counts.items(s)) for s in counts.sources()} == held
