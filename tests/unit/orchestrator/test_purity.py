"""The orchestrator's cores are pure: no I/O, clocks, threads or actors (STYLE.md rule 1)."""

from __future__ import annotations

import ast
import pathlib

FORBIDDEN = {"zmq", "pykka", "socket", "time", "threading", "asyncio", "subprocess", "os"}
PACKAGE = pathlib.Path(__file__).resolve().parents[3] / "actors" / "orchestrator"
SHELLS = {"actor.py", "__init__.py"}


def test_cores_import_no_io() -> None:
    cores = [p for p in PACKAGE.glob("*.py") if p.name not in SHELLS]
    assert {p.name for p in cores} >= {
        "replicated.py",
        "global_.py",
        "restart.py",
        "reaper.py",
        "update.py",
        "state.py",
        "reconcile.py",
    }
    for path in cores:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
                assert name != "actors.orchestrator.actor", f"{path.name} imports the shell"
