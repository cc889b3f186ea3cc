"""No lower package imports actors/node: a node's life sits on top of the subsystems it
assembles (api/, transport/, the other actors/ packages), never under them. Only the node
package itself, cli/, tests/ and bench/ may import it.

Walks the syntax tree of every module outside actors/node, so imports inside functions and
``TYPE_CHECKING`` blocks count too."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
LOWER = ("api", "transport", "actors")
NODE = "actors.node"


def lower_modules() -> list[pathlib.Path]:
    found = [
        path
        for top in LOWER
        for path in sorted((ROOT / top).rglob("*.py"))
        if not path.relative_to(ROOT).as_posix().startswith("actors/node/")
    ]
    assert len(found) > 100, "the walk found too few modules: has the layout moved?"
    return found


def package_of(path: pathlib.Path) -> list[str]:
    """The package a module's relative imports start from."""
    return list(path.relative_to(ROOT).parent.parts)


def imported(source: str, package: list[str]) -> set[str]:
    """Every module ``source`` imports, relative imports resolved against ``package``;
    ``from a import b`` counts as ``a`` and ``a.b`` (``b`` may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*anchor, node.module] if node.module else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def node_imports(names: set[str]) -> list[str]:
    return sorted(n for n in names if n == NODE or n.startswith(NODE + "."))


@pytest.mark.parametrize("path", lower_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_lower_module_does_not_import_the_node_package(path: pathlib.Path) -> None:
    offending = node_imports(imported(path.read_text(), package_of(path)))
    assert not offending, f"{path.relative_to(ROOT)} imports {', '.join(offending)}"


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("import actors.node.tree.node", True),
        ("from actors.node.startup import keys", True),
        ("from actors import node", True),
        ("def f():\n    from actors.node.membership.plan import plan_membership", True),
        ("from ..node import tree", True),  # relative, from actors/ca/
        ("from actors.node_x import y", False),
        ("from actors.nodes import y", False),
        ("from actors import nodes", False),
        ("from . import node_certs", False),
    ],
)
def test_every_form_of_import_is_seen(source: str, caught: bool) -> None:
    assert bool(node_imports(imported(source, ["actors", "ca"]))) is caught
