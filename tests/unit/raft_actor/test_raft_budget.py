"""Where Raft takes proposals, an entry over its budget is refused, whoever proposes it
(the store, a forward from a follower, a raw ``propose``): such an entry could never be
sent to a follower. Forwards to the leader are cut into requests that fit a frame. Before,
any size was appended and committed."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from actors.raft_node.forwarding import forward_parts
from actors.raft_node.peers import propose_reply_error
from actors.store import TooLarge
from api.limits import MAX_ENTRY_BYTES, RAFT_BATCH_BYTES
from api.objects import Node, ObjectKind
from api.specs import NodeSpec
from tests.unit.raft_actor.test_raft_node import IDS, Cluster, running


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from running(Cluster(tmp_path, max_entry_bytes=4_000))


def test_an_entry_over_its_budget_is_never_proposed(cluster: Cluster) -> None:
    leader = cluster.leader()
    last = leader.status().last_index
    with pytest.raises(TooLarge, match=r"a Raft entry encodes to 4001 bytes, over the 4000"):
        leader.propose(b"\xc4" + b"x" * 4_000)
    with pytest.raises(TooLarge):
        leader.propose_many([b"ok", b"x" * 5_000])
    assert leader.status().last_index == last
    assert leader.propose(b"\xc4\x01x").result(10) == last + 1


def test_a_store_write_refused_by_raft_names_the_budget(cluster: Cluster) -> None:
    """The store's own budgets are larger than this node's: Raft still refuses."""
    leader = cluster.leader()
    follower = next(i for i in IDS if i != leader.id)
    store = cluster.stores[follower]
    node = Node(id="n" * 25, spec=NodeSpec(labels={"k": "v" * 5_000}))
    with pytest.raises(TooLarge, match="budget of one entry"):
        store.update(lambda tx: tx.create(node), timeout=10)
    assert store.view(lambda tx: tx.get(ObjectKind.NODE, node.id)) is None


def test_forwards_are_cut_into_requests_that_fit_a_frame() -> None:
    entry = b"e" * MAX_ENTRY_BYTES
    groups = [((entry,), Future()) for _ in range(5)] + [((b"a", b"b"), Future())]
    parts = forward_parts(groups)  # type: ignore[arg-type]
    assert [g for part in parts for g in part] == groups  # every write, in order, once
    assert all(sum(len(d) for g, _ in part for d in g) <= RAFT_BATCH_BYTES for part in parts)
    assert len(parts) == 3
    assert forward_parts(groups[-1:]) == [groups[-1:]]  # type: ignore[arg-type]


def test_a_leader_refusing_a_forward_as_too_large_is_reported_so() -> None:
    error = propose_reply_error(
        {"index": 0, "error": "too_large", "message": "...", "size": 5_000, "limit": 4_000}
    )
    assert isinstance(error, TooLarge)
    assert str(error) == (
        "an entry forwarded to the leader encodes to 5000 bytes, over the 4000 bytes budget "
        "of one entry; nothing was written"
    )
