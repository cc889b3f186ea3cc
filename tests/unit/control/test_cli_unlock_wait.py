"""``swarmctl unlock`` waits for the unlocked node's control socket to serve again
(cli/unlock.py): a node that never does is said to fail, after the wait, on the given
clock (nothing here sleeps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.errors import CliError
from cli.unlock import PROBE_PAUSE, wait_until_serving
from tests.support.clocks import ManualTime


def test_a_node_whose_socket_never_comes_back_is_said_to_fail(tmp_path: Path) -> None:
    fake = ManualTime()
    gone = tmp_path / "swarm.sock"  # no node binds it
    with pytest.raises(CliError, match=rf"{gone} did not answer again within 2s"):
        wait_until_serving(gone, within=2.0, clock=fake.clock, sleep=fake.sleep)
    assert fake.now >= 2.0
    assert set(fake.slept) == {PROBE_PAUSE}  # probed again and again until the deadline
