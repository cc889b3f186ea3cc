"""A child whose start takes longer than the node used to wait, but not longer than its
own start timeout allows (a manager's first Raft join, up to its 50 s, behind a leader
that answers late): the tree starts. Before, `Node.start` gave up after 30 s whatever its
children's timeouts said, and the node exited "node did not start within 30s" while its
Raft join was still under way (actors/node/tree/node.py `start_wait`). Real actors: the
node's remote endpoint, then the slow child, under the node's root supervisor."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from actors.node.tree.node import Node
from actors.supervisor import ChildSpec, ChildState, SupervisedActor, start_actor
from tests.unit.node.test_tree_stop import Parts, _config

OLD_NODE_WAIT = 30.0  # what Node.start waited before, whatever its children's timeouts


class SlowToStart(SupervisedActor):
    """Stands for the Raft child of a manager whose first join is accepted late."""

    def on_start(self) -> None:
        threading.Event().wait(OLD_NODE_WAIT + 2.0)


@pytest.mark.slow
def test_a_child_slower_than_30s_but_within_its_own_timeout_starts(tmp_path: Path) -> None:
    config = _config(tmp_path)
    slow = ChildSpec(
        "raft", start_actor(SlowToStart), start_timeout=OLD_NODE_WAIT * 2, stop_timeout=1.0
    )
    node = Node(config, Parts(config, [slow]))
    node.start()  # NodeError "node did not start within 30s" before
    try:
        assert node.supervisor is not None
        states = {s.name: s.state for s in node.supervisor.proxy().status().get(timeout=10.0)}
        assert states == {"remote": ChildState.RUNNING, "raft": ChildState.RUNNING}
    finally:
        node.stop()
