"""``bench/fleet.py --serve`` (the fleet other benches drive) as a process: it stops on
SIGTERM as its docstring says, while it waits for a command."""

from __future__ import annotations

import signal
from pathlib import Path

from _fleet import FleetProcess  # bench/, on the path (tests/integration/conftest.py)

from tests.support.swarm import Swarm, poll


def test_a_serving_fleet_stops_on_sigterm_while_it_waits_for_a_command(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        manager = swarm.start_node("m1")
        manager.wait_ready()
        fleet = FleetProcess(
            join_addr=manager.remote_api,
            token=manager.join_token("worker"),
            nodes=1,
            state_dir=tmp_path / "fleet",
            log_path=tmp_path / "fleet.log",
        )
        try:
            fleet.process.send_signal(signal.SIGTERM)  # its stdin open and quiet
            poll(lambda: fleet.process.poll() is not None, "the fleet stopped")
            assert fleet.process.returncode == 0
        finally:
            fleet.close()
