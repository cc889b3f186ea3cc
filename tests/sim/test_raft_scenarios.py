"""Readable scenarios in the simulated world: no faults but the ones a scenario makes,
time passing only in ticks (no sleep), every Ready carried out as the RaftNode does, and
safety checked after every step as in the seeded runs."""

from __future__ import annotations

from actors.raft_node.types import RaftState
from tests.sim.world import NO_FAULTS, World

ELECTION_TICK = 10  # the world's cores: election timeouts of 10-20 ticks


def test_a_joiner_alone_never_elects_itself() -> None:
    """A new member starts with the group's bootstrap voters and no log. Alone (the founder
    is down) it never campaigns, however long it waits: it is not a voter. Once the founder
    is back, the founder leads and the joiner still waits to be added."""
    world = World(1, faults=NO_FAULTS, size=1)
    world.crash(1)
    world.join(5, voters=[1])
    world.advance(30 * ELECTION_TICK)
    joiner = world.nodes[5].core
    assert joiner is not None
    assert joiner.state is RaftState.FOLLOWER and joiner.voters == (1,)
    assert joiner.term == 0 and joiner.leader_id == 0
    assert world.sent.get(5, 0) == 0  # not one vote request
    world.restart(1)
    world.advance(3 * ELECTION_TICK)
    leader = world.leader()
    assert leader is not None and leader.id == 1 and leader.voters == (1,)
    assert joiner.state is RaftState.FOLLOWER and world.sent.get(5, 0) == 0
