"""``swarmctl events`` on real processes (issue 11 item 3): a follower manager streams, in
commit order, what a user does and what the cluster does in answer (create, scale, drain,
promote, a leader killed with SIGKILL); another manager gives the same events for the same
positions from its own store; a position no longer held is refused, never skipped; a
manager stopped with SIGTERM ends its follows at once, with the position to resume from."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import ROOT, Swarm, SwarmNode, poll


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


class EventsWatch:
    """``swarmctl events --format json`` running as a process; its lines collected."""

    def __init__(self, node: SwarmNode, *args: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "cli.ctl", "--socket", str(node.socket)),
                *("events", "--format", "json", *args),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.append(json.loads(line))

    def first(self, what: str, match: Callable[[dict[str, Any]], bool]) -> int:
        """The index of the first event ``match`` accepts (waiting for it)."""

        def found() -> int | None:
            for i, e in enumerate(list(self.events)):
                if match(e):
                    return i
            if self.process.poll() is not None:
                raise AssertionError(f"swarmctl events exited: {self.process.stderr.read()}")  # type: ignore[union-attr]
            return None

        def boxed() -> tuple[int] | None:
            index = found()
            return None if index is None else (index,)

        return int(poll(boxed, what, 90)[0])

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def changed(event: dict[str, Any], word: str) -> bool:
    return word in event["changes"]


def test_events_in_order_through_create_scale_drain_promote_and_leader_kill(
    swarm: Swarm,
) -> None:
    nodes = swarm.start_cluster(managers=3, workers=1, heartbeat_period="1s")
    w1 = nodes[-1]
    leader = swarm.leader()
    assert leader is not None
    watcher_node = next(n for n in nodes[:3] if n is not leader)
    started = time.time()
    watch = EventsWatch(watcher_node, "--since", f"{started:.6f}")
    try:
        m = watcher_node
        m.ctl_json(
            "service",
            "create",
            "--name",
            "web",
            "--replicas",
            "1",
            "--detach",
            "busybox",
            "sleep",
            "300",
        )
        m.ctl_json("service", "scale", "web=3", "--detach")
        m.ctl_json("node", "update", "--availability", "drain", w1.node_id)
        m.ctl_json("node", "promote", w1.node_id)
        i_create = watch.first(
            "service web created",
            lambda e: (e["type"], e["action"], e["name"]) == ("service", "create", "web"),
        )
        i_scale = watch.first(
            "web scaled 1 -> 3",
            lambda e: (
                e["type"] == "service"
                and e["attributes"].get("replicas.new") == "3"
                and e["attributes"].get("replicas.old") == "1"
            ),
        )
        i_drain = watch.first("w1 drained", lambda e: e["id"] == w1.node_id and changed(e, "drain"))
        i_promote = watch.first(
            "w1 promoted", lambda e: e["id"] == w1.node_id and changed(e, "promote")
        )
        assert i_create < i_scale < i_drain < i_promote
        # task events of the scaled service arrive too, on the follower's store
        watch.first("a web task created", lambda e: e["type"] == "task" and e["action"] == "create")

        # wait until the promoted node is a voter, then kill the leader
        poll(
            lambda: len([r for r in swarm.node_rows() if r["manager_status"]]) == 4,
            "four managers",
            90,
        )
        mark = len(watch.events)
        leader.kill()
        i_follower = watch.first(
            "the killed leader loses leadership",
            lambda e: e["id"] == leader.node_id and changed(e, "follower"),
        )
        i_leader = watch.first(
            "a new leader",
            lambda e: e["type"] == "node" and e["id"] != leader.node_id and changed(e, "leader"),
        )
        assert min(i_follower, i_leader) >= mark
        positions = [e["position"] for e in watch.events]
        assert positions == sorted(positions), "events out of commit order"
        assert watch.process.poll() is None, "the follow ended"

        # another manager serves the same events for the same positions, from its own store
        other = next(n for n in nodes[:3] if n not in (leader, watcher_node))
        first, last = watch.events[i_create]["position"], watch.events[i_promote]["position"]
        replay = other.ctl(
            "events", "--format", "json", "--since", f"@{first - 1}", "--until", f"@{last}"
        )
        assert replay.returncode == 0, replay.stderr
        again = [json.loads(line) for line in replay.stdout.splitlines()]
        seen = [e for e in watch.events if first <= e["position"] <= last]
        assert again == seen
    finally:
        watch.stop()


def test_a_bounded_replay_ends_by_itself_and_bad_bounds_are_one_line(swarm: Swarm) -> None:
    node = swarm.start_node("m1")
    node.wait_ready()
    # nothing was dropped yet: the whole history is held, from position 0
    result = node.ctl("events", "--since", "@0", "--until", "@3", "--format", "json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events and all(0 < e["position"] <= 3 for e in events)
    assert any(e["type"] == "node" and "join" in e["changes"] for e in events)
    for args, words in (
        (("--since", "@x"), "invalid position"),
        (("--filter", "type=volume"), "unknown type"),
    ):
        bad = node.ctl("events", *args)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
        assert len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("stop", "says"),
    [
        # the manager ends its watches as it stops; without that, the follow noticed only
        # when its lease's frame did not come (20 s): the deadline below is well under it
        ("terminate", "the manager stopped serving events"),
        # SIGKILL sends no last frame: swarmctl watches its connection close
        ("kill", "went away during the stream"),
    ],
)
def test_a_follow_ends_at_once_with_its_position_when_the_manager_stops(
    swarm: Swarm, stop: str, says: str
) -> None:
    node = swarm.start_node("m1")
    node.wait_ready()
    # since a time before the change below: the follow sees it even if it opens after it
    watch = EventsWatch(node, "--since", f"{time.time():.6f}")
    try:
        # an event seen: the follow is streaming
        node.ctl_json("node", "drain", node.node_id)
        i_drain = watch.first(
            "m1 drained", lambda e: e["id"] == node.node_id and changed(e, "drain")
        )
        seen = watch.events[i_drain]["position"]
        if stop == "terminate":
            assert node.terminate() == 0
        else:
            node.kill()
        poll(lambda: watch.process.poll() is not None, "swarmctl events ended", 10)
        assert watch.process.returncode == 1
        assert watch.process.stderr is not None
        said = watch.process.stderr.read()
        assert says in said, said
        resume = re.search(r"resume with --since @(\d+)", said)
        assert resume is not None and int(resume.group(1)) >= seen, said
    finally:
        watch.stop()


def test_a_time_before_a_restarted_managers_history_gives_what_it_holds(swarm: Swarm) -> None:
    """Right after a restart from a snapshot the manager's event history (in memory) is
    new: ``--since 10m`` shows what it holds, as ``docker events --since`` does, and says on
    stderr where that history starts (before, it was refused as gone)."""
    node = swarm.start_node("m1")
    node.wait_ready()
    node.ctl_json("cluster", "update", "--snapshot-interval", "5")
    for _ in range(4):
        node.ctl_json("node", "drain", node.node_id)
        node.ctl_json("node", "activate", node.node_id)
    assert node.terminate() == 0
    node.start()
    node.wait_ready()
    until = f"{time.time():.6f}"
    result = node.ctl("events", "--since", "10m", "--until", until, "--format", "json")
    assert result.returncode == 0, result.stderr
    [note] = result.stderr.splitlines()
    assert note.startswith("swarmctl: note: this manager holds "), note
    assert "(its event history is kept in memory and bounded" in note
    floor = re.search(r"after @(\d+)", note)
    assert floor is not None, note
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(e["position"] > int(floor.group(1)) for e in events)
    # a position below that history is still refused: a resume must not skip silently
    gone = node.ctl("events", "--since", "@1", "--until", until)
    assert gone.returncode == 1 and "are gone" in gone.stderr, gone.stderr
