"""The dispatcher's and the agent's decision modules do no I/O (STYLE.md rule 1)."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
PURE = [
    "actors/dispatcher/heartbeats.py",
    "actors/dispatcher/assignments.py",
    "actors/dispatcher/statuses.py",
    "actors/dispatcher/sessions.py",
    "actors/dispatcher/core.py",
    "actors/dispatcher/wire.py",
    "actors/worker/session.py",
]
FORBIDDEN = {"zmq", "pykka", "threading", "time", "socket", "asyncio", "subprocess", "transport"}
# modules that may be imported (they must be pure too): this package's own and api/
ALLOWED_PREFIXES = ("actors.dispatcher.", "actors.worker.session", "api.")
SHELL = {"actors.dispatcher.actor", "actors.dispatcher.writer", "actors.dispatcher.handlers"}


@pytest.mark.parametrize("path", PURE)
def test_imports_no_io(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path} imports {name}"
            if name.startswith("actors."):
                assert name.startswith(ALLOWED_PREFIXES), f"{path} imports {name}"
                assert name not in SHELL, f"{path} imports the shell module {name}"
