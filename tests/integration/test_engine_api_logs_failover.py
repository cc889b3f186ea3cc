"""``docker service logs --follow`` through a follower's Engine API while the leader stops:
the real docker CLI, real ``swarm-node`` processes (process executor), real sockets."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from tests.support.engine_cli import DockerCli, engine_flags
from tests.support.swarm import Swarm
from tests.support.waiting import wait_for

TICKS = 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'
LONG = 120.0


def ticks(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("tick ")]


def test_a_docker_follow_through_a_follower_outlives_the_leaders_stop(tmp_path: Path) -> None:
    """A graceful stop of the leader hands leadership over: the follow's subscription is
    lost and the next subscribe is refused until a new leader's broker runs. The stream
    goes on after it (it used to end there, silently, with exit 0)."""
    with Swarm(tmp_path) as swarm:
        m1 = swarm.start_node("m1")
        m1.wait_ready()
        token = m1.join_token("manager")
        sockets = {name: tmp_path / f"{name}-engine.sock" for name in ("m2", "m3")}
        for name, sock in sockets.items():  # on both: whichever is a follower serves it
            swarm.start_node(name, extra=(*m1.join_args(token), *engine_flags(sock)))
        swarm.join("w1", m1, m1.join_token("worker"))
        swarm.wait_cluster(3, 1, timeout=LONG)
        leader = swarm.leader()
        assert leader is not None
        via = next(n for n in swarm.managers if n is not leader and n.name in sockets)
        wait_for(sockets[via.name].exists, "the follower's Engine API socket", LONG)
        docker = DockerCli(sockets[via.name], cwd=tmp_path)
        docker.ok("service", "create", "-d", "--name", "tick", "--constraint",
                  "node.hostname==w1", "busybox", "sh", "-c", TICKS)  # fmt: skip

        argv = [docker.binary, "service", "logs", "--follow", "--raw", "tick"]
        with subprocess.Popen(
            argv, env=docker.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as follower:
            out: list[str] = []
            err: list[str] = []
            for pipe, lines in ((follower.stdout, out), (follower.stderr, err)):
                threading.Thread(target=lambda p=pipe, ls=lines: ls.extend(p), daemon=True).start()
            try:
                wait_for(lambda: len(ticks(out)) >= 3, "the follow under way", LONG)
                assert leader.terminate() == 0
                seen = max(ticks(out))
                wait_for(
                    lambda: follower.poll() is not None or max(ticks(out)) > seen + 10,
                    "lines after the leader stopped",
                    LONG,
                )
                assert follower.poll() is None, (follower.returncode, err)
                got = ticks(out)
                assert got == sorted(got) and len(set(got)) == len(got), "no line twice"
            finally:
                follower.kill()
