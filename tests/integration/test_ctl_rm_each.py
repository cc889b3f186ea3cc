"""The real swarmctl against a real control endpoint: ``rm`` of several objects removes each
it can, as each of ``docker service|network|secret|config|node rm`` does, names the ones it
could not on stderr and exits 1 (before, network, secret and config rm removed none when one
was in use, and node rm stopped at the first it could not remove)."""

from __future__ import annotations

from pathlib import Path

from actors.store import configs, networks, nodes, secrets
from api.enums import NodeState
from api.objects import Node, NodeDescription, NodeStatus
from tests.integration import test_ctl_service
from tests.integration.control_server import WORKER_ID
from tests.integration.test_ctl_service import Ctl

ctl = test_ctl_service.ctl  # the fixture: swarmctl against a real control endpoint

DOWN_ID = "d" * 25


def _created(ctl: Ctl, *args: str) -> None:
    result = ctl.run(*args)
    assert result.returncode == 0, result.stderr


def test_network_secret_and_config_rm_remove_all_but_the_one_in_use(
    ctl: Ctl, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x")
    for name in ("front", "back", "spare"):
        _created(ctl, "network", "create", name)
    for kind in ("secret", "config"):
        _created(ctl, kind, "create", "used", str(data))
        _created(ctl, kind, "create", "unused", str(data))
    _created(
        ctl, "service", "create", "--name", "web", "--detach", "--network", "back",
        "--secret", "used", "--config", "used", "busybox",
    )  # fmt: skip

    result = ctl.run("network", "rm", "front", "back", "spare")
    assert (result.returncode, result.stdout) == (1, "front\nspare\n")
    assert "back" in result.stderr and "in use" in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    left = ctl.store.view(lambda tx: [n.spec.name for n in networks.list_all(tx)])
    assert "back" in left and "front" not in left and "spare" not in left

    for kind, table in (("secret", secrets), ("config", configs)):
        result = ctl.run(kind, "rm", "used", "unused", "missing")
        assert (result.returncode, result.stdout) == (1, "unused\n"), result.stderr
        used, missing = result.stderr.splitlines()  # one line each, as docker's rm
        assert used.startswith("swarmctl: ") and missing.startswith("swarmctl: ")
        assert f"{kind} 'used' is in use by service web" in used
        assert "nothing removed" not in result.stderr  # "unused" was
        assert "missing" in missing
        names = ctl.store.view(lambda tx, t=table: [o.spec.name for o in t.list_all(tx)])
        assert names == ["used"]


def test_service_rm_and_node_rm_go_on_past_a_refusal(ctl: Ctl) -> None:
    _created(ctl, "service", "create", "--name", "web", "--detach", "busybox")
    result = ctl.run("service", "rm", "nope", "web", "gone")
    assert (result.returncode, result.stdout) == (1, "web\n")
    assert result.stderr.splitlines() == [
        "swarmctl: no such service: nope",
        "swarmctl: no such service: gone",
    ]
    assert ctl.json("service", "ls") == []

    down = Node(
        id=DOWN_ID,
        description=NodeDescription(hostname="node-3"),
        status=NodeStatus(state=NodeState.DOWN, addr="127.0.0.3"),
    )
    ctl.store.update(lambda tx: tx.create(down))
    result = ctl.run("node", "rm", "node-2", "node-3")  # node-2 is up: refused, node-3 goes
    assert (result.returncode, result.stdout) == (1, f"{DOWN_ID}\n"), result.stderr
    assert "is not down" in result.stderr
    remaining = ctl.store.view(lambda tx: {n.id for n in nodes.list_all(tx)})
    assert WORKER_ID in remaining and DOWN_ID not in remaining


def test_ps_inspect_and_node_ps_name_each_refusal_on_its_own_line(ctl: Ctl) -> None:
    # as docker service ps|inspect and node ps: the errors joined by newlines
    _created(ctl, "service", "create", "--name", "web", "--detach", "busybox")
    for args in (
        ("service", "ps", "web", "nope", "gone"),
        ("service", "inspect", "web", "nope", "gone"),
        ("node", "ps", "nope", "gone"),
    ):
        result = ctl.run(*args)
        assert result.returncode == 1, result
        nope, gone = result.stderr.splitlines()
        assert nope.startswith("swarmctl: ") and "nope" in nope and "gone" not in nope, args
        assert gone.startswith("swarmctl: ") and "gone" in gone, args
