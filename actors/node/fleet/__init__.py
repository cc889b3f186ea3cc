"""A fleet of simulated worker nodes in one process, on one I/O thread (issue 14). It sits
with the node's life (it joins and keeps node identities as ``swarm-node`` does, over the
node package's state-dir files), above the worker parts it reuses.

- tasks.py: one node's tasks, the worker's step function over the sim executor (pure)
- session.py: one node's dispatcher session, the agent's rules as effects (pure)
- members.py: the nodes' identities, joined by token (or resumed from their state dirs)
- loop.py: the thread that carries every node's socket, session and tasks
- timers.py: the loop's timers, every node's session wake-up and task timers (pure)
- sockets.py: a node's connection to a manager and the monitor of its drops
- fleet.py: ``Fleet``, the facade: start, stop, stats, exit on demand
"""

from actors.node.fleet.fleet import Fleet, FleetStats, describe_member
from actors.node.fleet.loop import SimSettings
from actors.node.fleet.members import FleetMember, enlist
from actors.node.fleet.session import SessionConfig

__all__ = [
    "Fleet",
    "FleetMember",
    "FleetStats",
    "SessionConfig",
    "SimSettings",
    "describe_member",
    "enlist",
]
