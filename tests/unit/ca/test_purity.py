"""The CA's decision modules do no I/O (STYLE.md rule 1): no zmq, pykka, threads or clock."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
PURE = [
    "actors/ca/root.py",
    "actors/ca/certs.py",
    "actors/ca/tokens.py",
    "actors/ca/renewal.py",
    "actors/ca/encryption.py",
    "actors/ca/z85.py",
]
FORBIDDEN = {"zmq", "pykka", "threading", "time", "socket", "asyncio", "subprocess", "transport"}


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
                assert name.startswith("actors.ca."), f"{path} imports {name}"
                assert name not in {"actors.ca.keystore", "actors.ca.admission"}


def test_admission_imports_no_transport() -> None:
    # the ZAP policy must be importable without zmq; it satisfies transport's protocol by shape
    tree = ast.parse((ROOT / "actors/ca/admission.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.split(".")[0] in {"zmq", "transport", "pykka"} for m in modules)
