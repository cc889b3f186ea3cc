"""Service and task logs on real ``swarm-node`` processes (process executor), read with the
real ``swarmctl``: through the leader's log broker, from the node that runs the task."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.timestamps import format_rfc3339_ns, parse_rfc3339_ns
from tests.support.swarm import ROOT, Swarm, SwarmNode, poll

# five pairs of lines, a pause between pairs so each pair is stamped after the one before
SCRIPT = (
    'i=0; while [ $i -lt 5 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; sleep 0.1; '
    "done; sleep 300"
)


class Follower:
    """``swarmctl ... logs -f`` as a process; its stdout and stderr read as they come."""

    def __init__(self, node: SwarmNode, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.ctl", "--socket", str(node.socket), *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        for pipe, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._read, args=(pipe, lines), daemon=True).start()

    @staticmethod
    def _read(pipe: object, lines: list[str]) -> None:
        for raw in pipe:  # type: ignore[attr-defined]
            lines.append(raw.decode().rstrip("\n"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def logs(node: SwarmNode, *args: str) -> subprocess.CompletedProcess[str]:
    result = node.ctl(*args)
    assert result.returncode == 0, result.stderr
    return result


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SwarmNode]:
    with Swarm(tmp_path) as swarm:
        started = swarm.start_node("m1", executor="process")
        started.wait_ready()
        yield started


def test_service_logs_keep_streams_apart_with_prefixes_tail_and_timestamps(
    node: SwarmNode,
) -> None:
    node.ctl_json("service", "create", "--name", "talk", "--detach", "busybox", "sh", "-c", SCRIPT)
    poll(lambda: len(logs(node, "service", "logs", "talk").stdout.splitlines()) == 5, "5 lines")
    result = logs(node, "service", "logs", "talk")
    task = node.running("talk")[0]
    prefix = f"talk.1.{task['id'][:12]}@m1    | "
    assert lines_of(result.stdout) == [f"{prefix}out {i}" for i in range(1, 6)]
    assert lines_of(result.stderr) == [f"{prefix}err {i}" for i in range(1, 6)]

    # the last lines of the task's output, both streams together (as docker logs)
    tail = logs(node, "service", "logs", "--tail", "4", "--raw", "talk")
    assert lines_of(tail.stdout) == ["out 4", "out 5"]
    assert lines_of(tail.stderr) == ["err 4", "err 5"]

    full = logs(node, "task", "logs", "--no-trunc", "-t", task["id"])
    stamped = re.compile(
        rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{9}}Z talk\.1\.{task['id']}@m1    \| out \d$"
    )
    assert all(stamped.match(line) for line in lines_of(full.stdout)), full.stdout
    no_ids = logs(node, "service", "logs", "--no-task-ids", "talk")
    assert lines_of(no_ids.stdout)[0] == "talk.1@m1    | out 1"

    # --since just after "out 4": "out 5" only; since an hour ago: everything
    fourth = parse_rfc3339_ns(lines_of(full.stdout)[3].split(" ")[0])
    after = format_rfc3339_ns(fourth + 1)
    since = logs(node, "service", "logs", "--raw", "--since", after, "talk")
    assert lines_of(since.stdout) == ["out 5"]
    assert len(lines_of(logs(node, "service", "logs", "--since", "1h", "talk").stdout)) == 5


def test_a_follow_started_before_the_task_shows_its_first_line(node: SwarmNode) -> None:
    node.ctl_json(
        "service",
        "create",
        "--name",
        "later",
        "--detach",
        "--constraint",
        "node.labels.go==yes",
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 300",
    )
    follower = Follower(node, "service", "logs", "-f", "--raw", "later")
    try:
        node.ctl_json("node", "update", "--label-add", "go=yes", "m1")
        poll(lambda: follower.out == ["first"], "the first line followed", 30.0)
    finally:
        follower.stop()


def test_a_missing_service_is_named(node: SwarmNode) -> None:
    result = node.ctl("service", "logs", "nothing")
    assert result.returncode != 0
    assert "nothing" in result.stderr


TICKS = 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'
LONG = 90.0


def ticks(lines: list[str]) -> list[int]:
    return [int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("tick ")]


def test_a_workers_task_read_through_a_follower_and_a_follow_survives_the_leaders_kill(
    tmp_path: Path,
) -> None:
    with Swarm(tmp_path) as swarm:
        swarm.start_cluster(managers=3, workers=1, timeout=120.0)
        leader = swarm.leader()
        assert leader is not None
        follower = next(n for n in swarm.managers if n is not leader)
        follower.ctl_json(
            "service", "create", "--name", "tick", "--detach", "--constraint",
            "node.hostname==w1", "busybox", "sh", "-c", TICKS,
        )  # fmt: skip
        worker = next(n for n in swarm.nodes if n.name == "w1")

        def read_some() -> bool:
            result = follower.ctl("service", "logs", "--raw", "tick")
            return result.returncode == 0 and len(ticks(result.stdout.splitlines())) >= 3

        poll(read_some, "the worker's lines read through a follower", LONG)
        row = follower.running("tick")[0]
        assert row["node_id"] == worker.node_id

        followed = Follower(follower, "service", "logs", "-f", "--raw", "tick")
        try:
            poll(lambda: len(ticks(followed.out)) >= 3, "the follow under way", LONG)
            leader.kill()
            seen = max(ticks(followed.out))
            poll(
                lambda: ticks(followed.out) and max(ticks(followed.out)) > seen + 10,
                "lines after the leader's kill",
                LONG,
            )
            assert any("lines may have been missed" in line for line in followed.err)
            got = ticks(followed.out)
            assert got == sorted(got) and len(set(got)) == len(got), "no line twice"
            assert followed.process.poll() is None, "the follow goes on"
            # Ctrl-C: the follower relays the close to the new leader
            followed.process.send_signal(signal.SIGINT)
            assert followed.process.wait(timeout=30) == 130
            poll(
                lambda: any(closed_subscriptions(m) for m in swarm.managers),
                "the new leader's broker closed the subscription",
                LONG,
            )
        finally:
            followed.stop()


def closed_subscriptions(node: SwarmNode) -> list[str]:
    """The subscriptions ``node``'s broker dropped because their reader closed them."""
    return [
        str(e["subscription_id"])
        for e in node.log_events()
        if e.get("event") == "logs.subscription.closed"
    ]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_an_interrupted_follow_closes_its_subscription(
    node: SwarmNode, stop: signal.Signals
) -> None:
    """Without the close, the broker kept the subscription, and the node went on reading
    the task's output for it, until its idle timeout. Ctrl-C, a plain ``kill`` (what
    ``timeout``, a shell's job control or a supervisor send) and a closed terminal's
    SIGHUP all close it."""
    node.ctl_json(
        "service", "create", "--name", "tick", "--detach", "busybox", "sh", "-c", TICKS
    )  # fmt: skip
    followed = Follower(node, "service", "logs", "-f", "--raw", "tick")
    try:
        poll(lambda: ticks(followed.out), "the follow under way", LONG)
        [opened] = [
            e["subscription_id"]
            for e in node.log_events()
            if e.get("event") == "logs.subscription.opened" and e.get("follow")
        ]
        followed.process.send_signal(stop)
        assert followed.process.wait(timeout=30) == 128 + stop
        poll(lambda: closed_subscriptions(node) == [opened], "the subscription closed", LONG)
    finally:
        followed.stop()


def test_a_follow_ends_when_its_service_is_removed(node: SwarmNode) -> None:
    node.ctl_json(
        "service", "create", "--name", "brief", "--detach", "busybox", "sh", "-c", TICKS
    )  # fmt: skip
    followed = Follower(node, "service", "logs", "-f", "--raw", "brief")
    try:
        poll(lambda: ticks(followed.out), "the follow under way", LONG)
        node.ctl_json("service", "rm", "brief")
        poll(lambda: followed.process.poll() == 0, "the follow ended", LONG)
        assert any("service brief was removed" in line for line in followed.err)
    finally:
        followed.stop()


def test_a_follow_ends_at_once_when_its_node_is_killed(node: SwarmNode) -> None:
    node.ctl_json(
        "service", "create", "--name", "tick", "--detach", "busybox", "sh", "-c", TICKS
    )  # fmt: skip
    followed = Follower(node, "service", "logs", "-f", "--raw", "tick")
    try:
        poll(lambda: ticks(followed.out), "the follow under way", LONG)
        node.kill()  # no other node answers on its socket: the follow cannot go on
        # without watching its connection the follow retried for over a minute
        poll(lambda: followed.process.poll() is not None, "the follow ended", 10)
        assert followed.process.returncode == 1
        poll(lambda: any("the node went away" in line for line in followed.err), "why", 5)
    finally:
        followed.stop()
