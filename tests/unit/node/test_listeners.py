"""The ports a node binds as it starts and what each is for (actors/node/startup/listeners.py):
which ones by role and flags, and the first taken one named (the bind is injected)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.node.config import NodeConfig, NodeError
from actors.node.startup.listeners import Listener, first_taken, node_listeners
from api.enums import NodeRole


def config(**flags: object) -> NodeConfig:
    base: dict[str, object] = {
        "state_dir": Path("/tmp/state"),
        "hostname": "m1",
        "listen_remote_api": "0.0.0.0:4242",
        "listen_control_api": Path("/tmp/state/swarm.sock"),
        "advertise_addr": "127.0.0.1:4242",
    }
    return NodeConfig(**{**base, **flags})  # type: ignore[arg-type]


def test_a_manager_binds_its_remote_and_hello_ports_and_what_its_flags_ask() -> None:
    found = node_listeners(
        config(
            metrics_addr="127.0.0.1:9100",
            engine_api="tcp://127.0.0.1:2375",
            web_addr=":8080",
        ),
        NodeRole.MANAGER,
    )
    assert [(x.what, x.flag, x.address) for x in found] == [
        ("the remote API", "--listen-remote-api", "0.0.0.0:4242"),
        ("the join-hello endpoint", "--listen-remote-api's port + 1", "0.0.0.0:4243"),
        ("the metrics endpoint", "--metrics-addr", "127.0.0.1:9100"),
        ("the Engine API", "--engine-api", "127.0.0.1:2375"),
        ("the web view", "--web-addr", "127.0.0.1:8080"),
    ]


def test_a_worker_binds_only_what_its_flags_ask() -> None:
    flags = config(engine_api="tcp://[::1]:2375", web_addr="127.0.0.1:8080")
    found = node_listeners(flags, NodeRole.WORKER)
    assert [x.address for x in found] == ["[::1]:2375"]  # no remote API, no web view
    assert node_listeners(config(), NodeRole.WORKER) == ()


def test_nothing_can_take_a_unix_socket_or_a_port_the_system_picks() -> None:
    flags = config(
        listen_remote_api="127.0.0.1:0", engine_api="unix:///tmp/engine.sock", metrics_addr="0"
    )
    assert node_listeners(flags, NodeRole.MANAGER) == ()


def test_a_wildcard_host_is_bound_as_every_address() -> None:
    (remote, _hello) = node_listeners(config(listen_remote_api="*:4242"), NodeRole.MANAGER)
    assert remote.host == "0.0.0.0"


def test_a_remote_address_without_a_port_is_named() -> None:
    with pytest.raises(NodeError, match="--listen-remote-api"):
        node_listeners(config(listen_remote_api="localhost"), NodeRole.MANAGER)


def test_the_first_port_taken_is_named_with_what_it_is_for() -> None:
    listeners = node_listeners(
        config(engine_api="tcp://127.0.0.1:2375", metrics_addr="127.0.0.1:9100"),
        NodeRole.WORKER,
    )
    tried: list[Listener] = []

    def bind(listener: Listener) -> str | None:
        tried.append(listener)
        return "the address is in use" if listener.port == 2375 else None

    taken = first_taken(listeners, bind)
    assert taken is not None and taken.listener.port == 2375
    assert str(taken) == (
        "the Engine API (--engine-api) cannot listen on 127.0.0.1:2375: the address is in use"
    )
    assert [x.port for x in tried] == [9100, 2375]
    assert first_taken(listeners, lambda _l: None) is None
