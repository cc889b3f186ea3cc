"""A stranger's flood against a real manager (issue 8, item 2).

Before, fresh CURVE keys with no certificate and no token sending 15 MiB frames of empty
msgpack maps to the remote API and the join port took a manager from about 70 MiB to
over 1 GiB, and its control socket took seconds to answer ``version``. The flood here
runs in a process of its own (tests/support/flood.py) against a real ``swarm-node``,
over real CURVE; the test checks correctness and bounds, never a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.flood import FloodProcess, peak_rss_bytes, probe_version
from tests.support.swarm import Swarm, SwarmNode, poll

MIB = 1024 * 1024
PEAK_RSS_BOUND = 300 * MIB
CRASH_EVENTS = frozenset(
    {"supervisor.child.crashed", "supervisor.child.restarted", "supervisor.escalating"}
)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[SwarmNode]:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        yield node


def refused(node: SwarmNode, endpoint: str, event: str, **fields: Any) -> int:
    """How many refusals the node's log lines of ``event`` on ``endpoint`` stand for."""
    return sum(
        int(e.get("count", 1))
        for e in node.log_events()
        if e.get("event") == event
        and e.get("endpoint") == endpoint
        and all(e.get(k) == v for k, v in fields.items())
    )


def test_a_flood_on_both_ports_leaves_the_control_socket_answering(manager: SwarmNode) -> None:
    assert manager.process is not None
    pid = manager.process.pid
    with FloodProcess(manager.remote_api, manager.state_dir) as flood:
        flood.wait_sending()
        # the remote API refuses the strangers' frames: the big ones by their size, the
        # small ones (60 KiB of tiny maps) by the length limits; the hello port, whose
        # frames are capped at 4 KiB by ZeroMQ, drops the peers that send more
        poll(
            lambda: (
                refused(manager, "remote", "transport.frame.rejected", trust="stranger")
                and refused(manager, "hello", "transport.peer.disconnected")
            ),
            "the flood refused on both ports",
        )
        answered = probe_version(manager.socket, 50)
        rows = manager.ctl_json("node", "ls")
        sent = flood.stop()
    assert len(answered) == 50
    assert [r["status"] for r in rows] == ["ready"]
    assert sent["remote"] > 0 and sent["hello"] > 0
    codes = {
        e.get("code")
        for e in manager.log_events()
        if e.get("event") == "transport.frame.rejected" and e.get("endpoint") == "remote"
    }
    assert {"too_large", "over_limits"} <= codes, codes
    assert peak_rss_bytes(pid) < PEAK_RSS_BOUND
    assert not [e for e in manager.log_events() if e.get("event") in CRASH_EVENTS]
    manager.wait_ready()  # still the leader, its own worker's session up
