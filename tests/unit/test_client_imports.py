"""The client loads the client: swarmctl's imports stay within api/, transport/ and cli/.

Two checks. At run time, a fresh interpreter imports swarmctl and every module of cli/
but the node's entry point, runs commands up to the point where they would connect (a
missing socket ends each one), and reports what it loaded: no ``actors.*``, and of the
third-party packages only ZeroMQ and msgpack (no Docker SDK, no cryptography, no pykka,
no structlog). Statically, no module of cli/ (but the node's entry point) imports
``actors`` anywhere, lazily inside a function included, and api/ and transport/ import
nothing above them, so a command path the run does not take cannot pull them in either.
"""

from __future__ import annotations

import ast
import importlib
import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest

import transport

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIENT_PACKAGES = frozenset({"api", "transport", "cli"})
# swarm-node's entry point lives in cli/ too; it is the node, not the client
NODE_ENTRY_POINTS = frozenset({"cli.node_main"})
THIRD_PARTY_ALLOWED = frozenset({"zmq", "msgpack"})
MISSING_SOCKET = "/nonexistent/swarmctl-import-test.sock"

# Runs in a fresh interpreter: imports the client, runs `commands` through swarmctl's
# main (each ends at the missing socket) and prints what was loaded, as JSON.
PROBE = """
import sys
started_with = set(sys.modules)  # the interpreter's own start-up (site, .pth hooks)
import importlib, json, pkgutil, sysconfig
import cli
from cli.ctl import main

commands, every_module, skip = json.loads(sys.argv[1])
if every_module:
    for info in pkgutil.iter_modules(cli.__path__, "cli."):
        if info.name not in skip:
            importlib.import_module(info.name)
codes = [main(["--socket", sys.argv[2], *command]) for command in commands]
site = tuple({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
third_party = sorted({
    name.split(".")[0]
    for name, module in list(sys.modules.items())
    if name not in started_with
    and (getattr(module, "__file__", None) or "").startswith(site)
    and name.split(".")[0] not in ("api", "transport", "cli", "actors")
})
ours = sorted(n for n in sys.modules if n.split(".")[0] in ("api", "transport", "cli", "actors"))
loaded = sorted(set(sys.modules) - started_with)
print(json.dumps({"codes": codes, "ours": ours, "third_party": third_party, "loaded": loaded}))
"""


def load(commands: list[list[str]], *, every_module: bool = False) -> dict[str, Any]:
    argument = json.dumps([commands, every_module, sorted(NODE_ENTRY_POINTS)])
    result = subprocess.run(
        [sys.executable, "-c", PROBE, argument, MISSING_SOCKET],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


def outside_the_client(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] not in CLIENT_PACKAGES]


def test_version_loads_only_the_client_zmq_and_msgpack() -> None:
    report = load([["version"]])
    assert report["codes"] == [1]  # no socket: swarmctl said so and exited 1
    assert outside_the_client(report["ours"]) == []
    assert set(report["third_party"]) <= THIRD_PARTY_ALLOWED, report["third_party"]


def test_service_ls_loads_only_the_client_zmq_and_msgpack() -> None:
    report = load([["service", "ls"], ["node", "ls", "--format", "json"]])
    assert report["codes"] == [1, 1]
    assert outside_the_client(report["ours"]) == []
    assert set(report["third_party"]) <= THIRD_PARTY_ALLOWED, report["third_party"]


def test_every_cli_module_and_the_spec_commands_stay_in_the_client() -> None:
    # create and update load the object model and the spec options lazily: still api/
    commands = [
        ["service", "create", "--constraint", "node.role==manager", "--detach", "busybox"],
        ["service", "update", "--placement-pref-add", "spread=node.labels.zone", "web"],
        ["cluster", "inspect"],
        ["task", "ls"],
    ]
    report = load(commands, every_module=True)
    assert report["codes"] == [1] * len(commands)
    assert "api.specs" in report["ours"]  # the lazy imports did run
    assert outside_the_client(report["ours"]) == []
    assert set(report["third_party"]) <= THIRD_PARTY_ALLOWED, report["third_party"]


def test_service_create_and_scale_load_only_what_they_use() -> None:
    # a spec is encoded without the object model of stored objects (api/objects.py), and
    # only the chosen verb's module is imported (cli/lazy_verbs.py): start-up CPU
    report = load(
        [
            ["service", "create", "--detach", "--replicas", "2", "busybox", "sleep", "1"],
            ["service", "scale", "--detach", "web=3"],
        ]
    )
    assert report["codes"] == [1, 1]
    assert "api.specs" in report["ours"]  # the spec was built before the connection failed
    unused = {"api.objects", "cli.logs", "cli.service_ps", "cli.service_inspect"}
    unused |= {"cli.service_history", "cli.progress", "cli.job_progress"}
    assert unused.isdisjoint(report["ours"]), sorted(unused & set(report["ours"]))


def test_service_create_leaves_out_what_only_other_clients_need() -> None:
    # costly to import, unused by swarmctl on the control socket (ipc://, no CURVE):
    # concurrent.futures (and logging) serve request_async, transport.keys and hashlib
    # (OpenSSL) CURVE keys, secrets (hashlib again) a generated service name, socket.py
    # (its enums) the probe of the control socket, which takes _socket
    report = load(
        [
            ["service", "create", "--detach", "--name", "web", "busybox", "sleep", "1"],
            ["service", "ls"],
        ]
    )
    assert report["codes"] == [1, 1]
    unused = {"concurrent.futures", "logging", "hashlib", "secrets", "transport.keys", "socket"}
    unused |= {"api.cluster_specs"}  # the node, network, secret, config and cluster specs
    assert unused.isdisjoint(report["loaded"]), sorted(unused & set(report["loaded"]))


# -- static: every import, wherever in the module -------------------------------------------


def imported(path: pathlib.Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def modules_of(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


# what each client package may import of the project's packages: only those below it
MAY_IMPORT = {
    "api": frozenset({"api"}),
    "transport": frozenset({"api", "transport"}),
    "cli": CLIENT_PACKAGES,
}
PROJECT_PACKAGES = CLIENT_PACKAGES | {"actors", "tests", "bench"}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_client_packages_import_nothing_above_them(package: str) -> None:
    for path in modules_of(package):
        if module_name(path) in NODE_ENTRY_POINTS:
            continue
        for name in imported(path):
            top = name.split(".")[0]
            if top in PROJECT_PACKAGES:
                assert top in MAY_IMPORT[package], f"{module_name(path)} imports {name}"


def test_the_static_check_sees_lazy_imports(tmp_path: pathlib.Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def run() -> None:\n    from actors.store import MemoryStore\n")
    assert imported(module) == ["actors.store"]


def test_the_transport_packages_names_all_resolve() -> None:
    # transport/__init__.py loads its names on first use: each must still be there

    assert sorted(transport._HOME_OF) == sorted(transport.__all__)
    for name in transport.__all__:
        home = importlib.import_module(transport._HOME_OF[name])
        assert getattr(transport, name) is getattr(home, name)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        transport.Nope  # noqa: B018
