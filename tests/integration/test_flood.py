"""A stranger's flood against a real manager (issue 8, item 2).

Before, fresh CURVE keys with no certificate and no token sending 15 MiB frames of empty
msgpack maps to the remote API and the join port took a manager from about 70 MiB to
over 1 GiB, and its control socket took seconds to answer ``version``. The flood here
runs in a process of its own (tests/support/flood.py) against a real ``swarm-node``,
over real CURVE; the test checks correctness and bounds, never a time. Its big frames are
now just within the remote API's frame cap (8 MiB, ``api.limits.REMOTE_MAX_REQUEST_BYTES``):
a bigger one never reaches the manager's memory (the last test here).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from actors.ca.node_identity import read_curve_keys
from api.limits import REMOTE_MAX_REQUEST_BYTES
from tests.support.flood import FloodProcess, peak_rss_bytes, probe_version
from tests.support.swarm import Swarm, SwarmNode, poll
from transport.codec import decode, encode
from transport.keys import fingerprint

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


def test_the_remote_api_takes_frames_up_to_its_cap_and_drops_a_peer_over_it(
    manager: SwarmNode,
) -> None:
    """The manager's own key (a member) on its remote API: a frame just within the cap is
    served; one over it is dropped by ZeroMQ with the connection, and the log names the
    peer and the cap; the member's ZeroMQ connects again and is served."""
    keys = read_curve_keys(manager.state_dir)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_serverkey = keys.public
    sock.curve_publickey = keys.public
    sock.curve_secretkey = keys.secret
    sock.connect(f"tcp://{manager.remote_api}")

    def version(request_id: int, pad: int) -> bytes:
        body = {"pad": b"x" * pad}  # a field the manager does not know: kept, unread
        return encode(
            "version",
            body,
            request_id=request_id,
            check=False,
            max_size=2 * REMOTE_MAX_REQUEST_BYTES,
        )

    def answered(request_id: int) -> bool:
        while sock.poll(30_000, zmq.POLLIN):
            if decode(sock.recv()).id == request_id:
                return True
        return False

    def disconnects() -> list[dict[str, Any]]:
        return [
            e
            for e in manager.log_events()
            if e.get("event") == "transport.peer.disconnected"
            and e.get("endpoint") == "remote"
            and e.get("key_fingerprint") == fingerprint(keys.public)
        ]

    try:
        within = version(1, REMOTE_MAX_REQUEST_BYTES - 4096)
        assert len(within) <= REMOTE_MAX_REQUEST_BYTES
        sock.send(within)
        assert answered(1)
        over = version(2, REMOTE_MAX_REQUEST_BYTES)
        assert len(over) > REMOTE_MAX_REQUEST_BYTES
        sock.send(over)
        line = poll(disconnects, "the dropped peer named in the manager's log")[-1]
        assert line["max_message_size"] == REMOTE_MAX_REQUEST_BYTES
        assert line["trust"] == "member" and str(line["peer"]).startswith("127.0.0.1:")
        sock.send(version(3, 16))
        assert answered(3)
    finally:
        ctx.destroy(linger=0)
    assert not [e for e in manager.log_events() if e.get("event") in CRASH_EVENTS]
