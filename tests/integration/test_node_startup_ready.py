"""Ready when it answers (issue 8, item 6): a script that starts a node and calls swarmctl
as soon as the control socket exists never fails; calls made during start-up wait until
the manager can serve them (actors/control/readiness.py).

swarmctl runs twice over: in this process (``cli.ctl.main``, already imported, so its first
request leaves within milliseconds of the socket appearing) and as real processes started
at the same moment, all at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli import ctl
from tests.support.swarm import DEADLINE, ROOT, Swarm, poll

CALLS = (
    ("cluster", "join-token", "-q", "worker"),
    ("cluster", "join-token", "-q", "manager"),
    ("node", "ls", "-q"),
    ("cluster", "inspect", "--format", "json"),
    ("service", "ls", "-q"),
)


def _swarmctl(socket: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.ctl", "--socket", str(socket), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _check(outputs: dict[tuple[str, ...], str], node_id: str) -> None:
    worker, manager, node_ids, cluster, services = (outputs[call].strip() for call in CALLS)
    assert worker.startswith("SWMTKN-1-") and manager.startswith("SWMTKN-1-")
    assert worker != manager
    assert node_ids.split() == [node_id]  # its own Node is there, not an empty list
    assert '"name": "default"' in cluster and services == ""


@pytest.mark.parametrize("attempt", range(3))
def test_calls_made_as_soon_as_the_socket_exists_succeed(
    tmp_path: Path, attempt: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", wait=False)
        poll(
            lambda: node._check_alive() or node.socket.exists(),
            "the control socket",
            interval=0.005,
        )
        running = {call: _swarmctl(node.socket, *call) for call in CALLS}  # all at once
        failed: list[str] = []
        here: dict[tuple[str, ...], str] = {}
        for call in CALLS:
            code = ctl.main(["--socket", str(node.socket), *call])
            out, err = capsys.readouterr()
            here[call] = out
            if code != 0:
                failed.append(f"swarmctl {' '.join(call)} (here) exited {code}: {err.strip()}")
        there: dict[tuple[str, ...], str] = {}
        for call, proc in running.items():
            out, err = proc.communicate(timeout=DEADLINE)
            there[call] = out
            if proc.returncode != 0:
                failed.append(f"swarmctl {' '.join(call)} exited {proc.returncode}: {err.strip()}")
        assert not failed, failed
        _check(here, node.node_id)
        _check(there, node.node_id)
