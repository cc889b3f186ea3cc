"""A dead manager does not stay "reachable" in ``node ls`` because the leader never heard
from it: five managers (process executor), the leader and a follower killed at once; the
new leader never heard from that follower (followers do not talk to each other), yet once
its grace is over it records it unreachable (actors/node/membership/keeper.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.swarm import Swarm, poll

LONG = 90.0


@pytest.mark.timeout(300)
def test_a_follower_dead_with_the_leader_is_unreachable_under_the_new_one(
    tmp_path: Path,
) -> None:
    with Swarm(tmp_path) as swarm:
        swarm.start_cluster(managers=5, workers=0, timeout=120.0)
        leader = poll(swarm.leader, "a leader", LONG)
        # a follower that joined after the last election: no survivor has heard from it
        follower = next(n for n in swarm.nodes if n.name == "m5")
        assert follower is not leader
        for dead in (leader, follower):
            assert dead.process is not None
            dead.process.kill()
        for dead in (leader, follower):
            dead.kill()  # reap
        survivors = [n for n in swarm.nodes if n not in (leader, follower)]

        def reachability() -> dict[str, str] | None:
            new = swarm.leader()
            if new is None or new in (leader, follower):
                return None
            rows = new.ctl_json("node", "ls")
            return {r["hostname"]: r["manager_status"]["reachability"] for r in rows}

        def both_unreachable() -> bool:
            seen = reachability()
            return bool(
                seen
                and seen[leader.name] == "unreachable"
                and seen[follower.name] == "unreachable"
                and all(seen[n.name] == "reachable" for n in survivors)
            )

        poll(
            both_unreachable,
            "the dead leader and follower unreachable",
            LONG,
            describe=reachability,
        )
