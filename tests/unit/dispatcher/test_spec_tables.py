"""A session's spec tables (actors/dispatcher/spec_tables.py): what the manager sends and
what the node holds stay in step, within their bounds, across restarts of the table."""

from __future__ import annotations

import random

import pytest

from actors.dispatcher.spec_tables import HeldSpecs, SentSpecs
from api.codec_objects import ObjectDecodeError
from api.specs import ContainerSpec, TaskSpec


def spec(n: int) -> TaskSpec:
    return TaskSpec(container=ContainerSpec(image=f"img{n}"))


@pytest.mark.parametrize("seed", range(30))
def test_the_node_resolves_every_index_to_the_spec_the_manager_meant(seed: int) -> None:
    """Random frames of specs from a pool that grows (a service updated) and whose old
    objects are dropped (and may be collected): every index the manager gives resolves on
    the node to the very spec object it was given; the manager's table never passes its
    limit, and it starts again (base 0) only when it would."""
    rng = random.Random(seed)
    limit = rng.choice([1, 3, 8, 64])
    sent, held = SentSpecs(limit), HeldSpecs(limit)
    pool = [spec(i) for i in range(4)]
    made = len(pool)
    for _ in range(200):
        if rng.random() < 0.2:  # a new spec replaces an old one
            pool[rng.randrange(len(pool))] = spec(made)
            made += 1
        frame = [rng.choice(pool) for _ in range(rng.randint(1, min(limit, 5)))]
        before = len(sent)
        base, new, refs = sent.refer(frame)
        distinct = len({id(s) for s in frame})
        assert len(sent) <= limit and len({id(s) for s in new}) == len(new)
        if base == before:  # appended: the specs the node lacked
            assert len(sent) == before + len(new)
        else:  # started again: only past the limit, with every spec of the frame
            assert base == 0 and before + len(new) > limit and len(new) == distinct
        held.take(base, new)
        assert [held.specs[i] for i in refs] == frame
        assert all(held.specs[i] is s for i, s in zip(refs, frame, strict=True))


def test_a_frame_adds_only_what_the_node_lacks() -> None:
    a, b, c = spec(1), spec(2), spec(3)
    sent = SentSpecs(limit=2)
    assert sent.refer([a, a, b]) == (0, [a, b], [0, 0, 1])
    assert sent.refer([b, a]) == (2, [], [1, 0])
    assert sent.refer([c, a]) == (0, [c, a], [0, 1])  # past the limit: from 0 again


def test_a_node_holds_no_more_than_its_bound_and_follows_a_restart() -> None:
    held = HeldSpecs(limit=2)
    held.take(0, [spec(1), spec(2)])
    with pytest.raises(ObjectDecodeError, match="more than 2 specs"):
        held.take(2, [spec(3)])
    with pytest.raises(ObjectDecodeError, match="at 1; this node holds 2"):
        held.take(1, [spec(3)])
    held.take(0, [spec(4)])
    assert held.specs == [spec(4)]
