"""The scheduler's core is pure (STYLE.md rule 1): only the actor shell does I/O."""

from __future__ import annotations

import ast
import pathlib

FORBIDDEN = {"zmq", "pykka", "threading", "time", "socket", "asyncio", "subprocess", "os"}
SCHEDULER_DIR = pathlib.Path(__file__).resolve().parents[3] / "actors" / "scheduler"
SHELL = {"actor.py", "__init__.py"}


def imported(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_modules_import_no_io() -> None:
    cores = [p for p in SCHEDULER_DIR.glob("*.py") if p.name not in SHELL]
    assert {p.name for p in cores} >= {"filters.py", "nodeinfo.py", "strategy.py", "scheduler.py"}
    for path in cores:
        for name in imported(path):
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
            assert name != "actors.scheduler.actor", f"{path.name} imports the shell"
            if name.startswith("actors.") and not name.startswith("actors.scheduler"):
                raise AssertionError(f"{path.name} imports {name}: the core needs no store")
