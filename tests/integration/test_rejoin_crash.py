"""A manager killed in the middle of a Raft rejoin starts again and rejoins (issue: node
start holes, 2). The rejoin (actors/node/runner.py `_rebuild`) takes the keys out of the
key store, removes the manager state, then makes a new key store; killed between the last
two, the node was left with a manager certificate and no key store, and every start after
failed: "the manager ... has no key store". Now such a start goes on as a promotion: a
new key store, ``raft.join`` under a new Raft id.

Real processes: m1 founds the cluster and m2 joins it as a manager; both stop, and m1
comes back with ``--force-new-cluster`` (m2's member is gone from its group, so m2 must
rejoin). m2's state dir is then made what the rejoin leaves when killed after
`remove_manager_state`, with the runner's own functions, and m2 is started again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.node.startup.at_rest import hand_over_to_worker
from actors.node.startup.keys import KEYSTORE_DIR, NodeKeys, open_node_keys
from actors.node.startup.state_dir import RAFT_DIR, RAFT_ID_FILE, remove_manager_state
from tests.support.swarm import Swarm, SwarmNode, poll

LONG = 60.0


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def _killed_after_the_removal(state_dir: Path) -> None:
    """The state dir a rejoin leaves when killed after `remove_manager_state`: the keys
    out of the key store (`AtRest.release`), then the manager state removed."""
    keys = open_node_keys(state_dir)
    assert isinstance(keys, NodeKeys)
    hand_over_to_worker(state_dir, keys)
    assert remove_manager_state(state_dir)
    assert not (state_dir / KEYSTORE_DIR).exists() and not (state_dir / RAFT_DIR).exists()


def _manager_row(leader: SwarmNode, name: str) -> dict[str, object] | None:
    rows = {r["hostname"]: r for r in leader.ctl_json("node", "ls")}
    row = rows.get(name)
    status = row["manager_status"] if row else None
    if row and row["role"] == "manager" and status and status["reachability"] == "reachable":
        return dict(row)
    return None


def test_a_manager_killed_while_rejoining_rejoins_when_started_again(swarm: Swarm) -> None:
    m1 = swarm.start_node("m1")
    m1.wait_ready()
    m2 = swarm.join("m2", m1, m1.join_token("manager"))
    swarm.wait_cluster(2, 0)
    old_raft_id = (m2.state_dir / RAFT_ID_FILE).read_text().strip()
    assert m2.terminate() == 0
    assert m1.terminate() == 0
    m1.extra = (*m1.extra, "--force-new-cluster")
    m1.start()
    m1.wait_ready(timeout=LONG)

    _killed_after_the_removal(m2.state_dir)
    m2.start()  # exited 1 before: "the manager in ... has no key store"
    events = {e.get("event") for e in m2.log_events()}
    assert "node.manager.keys_missing" in events
    poll(lambda: _manager_row(m1, "m2"), "m2 a reachable manager again", LONG)
    new_raft_id = (m2.state_dir / RAFT_ID_FILE).read_text().strip()
    assert new_raft_id != old_raft_id
    # it serves the cluster's state as a manager does, from its own store
    m2.wait_ready(timeout=LONG)
    assert {r["hostname"] for r in m2.ctl_json("node", "ls")} == {"m1", "m2"}
