"""A tree slow to stop: the node waits for it as long as its children's stop timeouts
allow, so its endpoints (stopped last) have let their ports go before a new tree binds
them; a tree that has not ended even then is never rebuilt beside (actors/node/runner.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.node import runner as runner_module
from actors.node.config import NodeConfig
from actors.node.runner import NodeRunner
from actors.node.tree import node as node_module
from actors.node.tree.endpoints import HandlerFactory, endpoint_child
from actors.node.tree.node import Node
from actors.supervisor import ChildContext, ChildSpec, SupervisedActor, start_actor
from api.enums import NodeRole
from tests.support.ports import free_port_pair
from transport.keys import generate_keypair

SLOW_STOP = 2.0  # how long the slow child's on_stop takes: past the tree's old 4 x 0.25 s


class SlowToStop(SupervisedActor):
    """Stands for a child that takes long to stop (a worker stopping its runners)."""

    def on_stop(self) -> None:
        threading.Event().wait(SLOW_STOP)


class SlowToStart(SupervisedActor):
    """Its start holds the root supervisor: a stop queued behind it waits."""

    def __init__(self, ctx: ChildContext, release: threading.Event) -> None:
        super().__init__(ctx)
        self.release = release

    def on_start(self) -> None:
        self.release.wait(30.0)


class Parts:
    """A manager's remote endpoint and whatever children a test adds after it."""

    role = NodeRole.MANAGER
    raft_id = 0

    def __init__(self, config: NodeConfig, extra: list[ChildSpec]) -> None:
        self.config, self.extra = config, extra

    def children(self) -> list[ChildSpec]:
        config = self.config
        return [
            endpoint_child(
                "remote",
                config.remote_bind,
                lambda _peers: {},
                keypair=generate_keypair(),
                stop_timeout=config.stop_timeout,
            ),
            *self.extra,
        ]

    def endpoint_tables(self) -> dict[str, HandlerFactory]:
        return {}

    def opening(self) -> None:
        pass

    def attach(self, supervisor: pykka.ActorRef[Any]) -> None:
        pass

    def closing(self) -> None:
        pass


def _config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(
        state_dir=tmp_path / "state",
        hostname="h1",
        listen_remote_api=f"127.0.0.1:{free_port_pair()}",
        listen_control_api=tmp_path / "s.sock",
        advertise_addr="127.0.0.1:4242",
        stop_timeout=0.25,
    )


def _slow_child() -> ChildSpec:
    # its own stop timeout is long (as the leader group's is: one per child of its own)
    return ChildSpec("slow", start_actor(SlowToStop), stop_timeout=SLOW_STOP * 3)


def test_a_tree_slow_to_stop_lets_its_ports_go_before_the_next_binds(tmp_path: Path) -> None:
    config = _config(tmp_path)
    old = Node(config, Parts(config, [_slow_child()]))
    old.start()
    ended = old.stop()
    new = Node(config, Parts(config, []))
    new.start()  # PortTaken "cannot listen on 127.0.0.1:PORT" if the old still held it
    assert ended is True
    try:
        assert new.address("remote").endswith(config.listen_remote_api.rpartition(":")[2])
    finally:
        new.stop()


def _wedged(config: NodeConfig, release: threading.Event) -> Node:
    """A running tree whose root is held by a start when it is told to stop."""
    late = ChildSpec(
        "late",
        start_actor(SlowToStart, release),
        autostart=False,
        start_timeout=30.0,
        stop_timeout=0.25,
    )
    node = Node(config, Parts(config, [late]))
    node.start()
    assert node.supervisor is not None
    node.supervisor.proxy().start_child("late")  # not waited for: the root is busy
    return node


def test_a_tree_that_does_not_end_is_not_rebuilt_beside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_module, "STOP_MARGIN", 0.0, raising=False)
    config = _config(tmp_path)
    release = threading.Event()
    runner = NodeRunner(config)
    started: list[object] = []
    monkeypatch.setattr(runner, "_start_tree", lambda *args: started.append(args))
    monkeypatch.setattr(runner_module, "remove_manager_state", started.append)
    runner.identity = object()  # type: ignore[assignment]
    runner.node = old = _wedged(config, release)
    supervisor = old.supervisor
    assert supervisor is not None

    def certs() -> Any:
        pytest.fail("no certificates read for a new tree")

    try:
        assert runner._rebuild(certs, NodeRole.MANAGER, rejoin=True) is False
        assert started == []  # no new tree, and the manager state left alone
        assert runner._exit_code == 1
        assert "the old tree did not stop in time" in runner.stop_reason
    finally:
        release.set()  # the stop queued behind the start goes on
        supervisor.actor_stopped.wait(30.0)
