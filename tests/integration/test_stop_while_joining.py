"""A signal ends ``swarm-node`` at once while its start waits on a manager (issue:
lifecycle holes, 1): a manager's first Raft join (its rounds and the pauses between
them: actors/node/membership/join.py) and a join's wait for the manager's CA
(actors/ca/join.py) give way to the node's stop, and the process exits as a signalled
stop does, 0 with ``node.stopped``. Before, SIGTERM and SIGINT were noted and ignored
until the wait gave up (a Raft join after up to 50 s, the CA's hello after 10 s), and
the process then exited 1 as a failed start or join.

Real processes: m1 founds the cluster and m2 joins it as a manager; m2 stops and loses
its Raft log, Raft id and bootstrap voters, as a promotion cut short after its new key
store was made leaves them (actors/node/runner.py), so its next start asks ``raft.join``
again. m1, one live voter of two, can add nobody: m2's join waits, and each signal ends
it. Then m1 forces a new cluster and m2, started again from the state dir it left, joins.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.ca.tokens import DIGEST_LENGTH, SECRET_LENGTH
from actors.node.startup.state_dir import BOOTSTRAP_FILE, RAFT_DIR, RAFT_ID_FILE
from tests.support.ports import free_port_pair
from tests.support.swarm import Swarm, SwarmNode, poll

# far below the join's own limit (RAFT_JOIN_TIMEOUT, 50 s): only a stop that ends the
# wait exits within it
EXIT_DEADLINE = 20.0


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def _logged(node: SwarmNode, *names: str) -> bool:
    return bool({e.get("event") for e in node.log_events()} & set(names))


def _asked(node: SwarmNode) -> bool:
    """m2 has asked ``raft.join`` at least once and been turned away."""
    return _logged(node, "raft.join.retrying", "raft.join.declined")


def _signal_exits_cleanly(node: SwarmNode, signum: signal.Signals) -> None:
    assert node.process is not None
    node.process.send_signal(signum)
    process = node.process
    poll(
        lambda: process.poll() is not None, f"{node.name} exits after {signum.name}", EXIT_DEADLINE
    )
    events = [e.get("event") for e in node.log_events()]
    assert process.returncode == 0, events[-10:]
    assert "node.stopped" in events and "node.started" not in events


def _stop_while_joining(node: SwarmNode, signum: signal.Signals) -> None:
    node.start(wait=False)
    poll(lambda: _asked(node), f"{node.name}: its raft.join turned away")
    _signal_exits_cleanly(node, signum)
    assert not (node.state_dir / BOOTSTRAP_FILE).exists()  # the join never got an answer


def test_a_signal_ends_a_managers_first_raft_join(swarm: Swarm) -> None:
    m1 = swarm.start_node("m1")
    m1.wait_ready()
    m2 = swarm.join("m2", m1, m1.join_token("manager"))
    swarm.wait_cluster(2, 0)
    raft_id = (m2.state_dir / RAFT_ID_FILE).read_text()
    assert m2.terminate() == 0
    shutil.rmtree(m2.state_dir / RAFT_DIR)
    (m2.state_dir / RAFT_ID_FILE).unlink()
    (m2.state_dir / BOOTSTRAP_FILE).unlink()
    for signum in (signal.SIGTERM, signal.SIGINT):
        _stop_while_joining(m2, signum)
    # each start asked under one new Raft id, kept for the next
    assert (m2.state_dir / RAFT_ID_FILE).read_text() != raft_id
    # m1 alone again (its group forgets m2's old member): m2 joins from what it left
    assert m1.terminate() == 0
    m1.extra = (*m1.extra, "--force-new-cluster")
    m1.start()
    m1.wait_ready()
    m2.start()

    def m2_reachable() -> bool:
        rows = {r["hostname"]: r for r in m1.ctl_json("node", "ls")}
        status = rows["m2"]["manager_status"]
        return bool(status) and status["reachability"] == "reachable"

    poll(m2_reachable, "m2 a reachable manager again", 60.0)
    assert (m2.state_dir / BOOTSTRAP_FILE).exists()


def test_a_signal_ends_a_join_waiting_for_the_managers_ca(swarm: Swarm) -> None:
    """Joining through an address where no manager answers, the node waits for the CA's
    hello (10 s): a signal ends the wait, and the node keeps nothing."""
    token = f"SWMTKN-1-{'1' * DIGEST_LENGTH}-{'2' * SECRET_LENGTH}"
    nobody = f"127.0.0.1:{free_port_pair()}"
    extra = ("--join-addr", nobody, "--join-token", token)
    w1 = swarm.start_node("w1", extra=extra, wait=False)
    poll(lambda: _logged(w1, "ca.join.started"), "w1: its join started")
    _signal_exits_cleanly(w1, signal.SIGTERM)
    assert not (w1.state_dir / "node_id").exists()
