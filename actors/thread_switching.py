"""How often this process's threads take turns with the GIL (`sys.setswitchinterval`).

A manager's hot path crosses threads on every Raft write: the endpoint's I/O thread hands
frames to the Raft loop, the loop hands replies back, and the ZeroMQ threads wake both.
A thread that wants the GIL while another holds it waits up to the switch interval before
it asks for it; CPython's default of 5 ms puts up to that much on each hand-off made while
another thread computes (an apply, a scheduler pass, a dispatcher tick).

Every process that runs a Raft member sets the same interval (`tune_switch_interval`):
``swarm-node`` (cli/node_main.py) and the bench's member (tests/support/raft_server.py),
so bench/raft.py measures what a manager does. Measured for swarm-node with bench/scale.py
at 100 x 2,000 (two pairs, load 5-8): every task running after 0.83 and 1.08 s with
0.5 ms, 1.84 and 1.65 s with 5 ms, the managers' CPU seconds the same (leader 0.46-0.55,
followers 0.18-0.23); at 100 x 10,000 (one pair, unequal load) 4.49 s against 5.35 s, the
managers' CPU 5% more with 0.5 ms. bench/raft.py's members showed no difference above the
noise of the shared machine either way.
"""

from __future__ import annotations

import sys
from typing import Final

__all__ = ["SWITCH_INTERVAL", "tune_switch_interval"]

SWITCH_INTERVAL: Final = 0.0005  # seconds


def tune_switch_interval() -> float:
    """Set `SWITCH_INTERVAL`; returns the interval that was set before."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    return before
