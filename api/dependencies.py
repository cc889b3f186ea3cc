"""``--depends-on SERVICE[:CONDITION]`` (swarmnode extension): parsing and cycles.

A service's tasks are scheduled only once every service it depends on meets the condition
(actors/scheduler/dependencies.py decides that). Conditions: ``running`` (the default),
``healthy``, ``completed`` (jobs). Here, without the store: the grammar, and the cycle
check the control API runs over every service's dependencies before it writes a spec
(a cycle would hold every service in it forever).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from api.enums import DependencyCondition
from api.spec_limits import InvalidSpec
from api.specs import Dependency

__all__ = ["MAX_DEPENDENCIES", "find_cycle", "format_dependency", "parse_dependency"]

MAX_DEPENDENCIES: Final = 32
_CONDITIONS = "|".join(c.value for c in DependencyCondition)


def parse_dependency(expr: str, field: str = "depends_on") -> Dependency:
    """``db`` / ``db:healthy`` → ``Dependency``; InvalidSpec says what is wrong."""
    name, sep, condition = expr.strip().partition(":")
    name = name.strip()
    if not name:
        raise InvalidSpec(field, f"--depends-on {expr!r}: expected SERVICE[:{_CONDITIONS}]")
    if not sep:
        return Dependency(name)
    try:
        return Dependency(name, DependencyCondition(condition.strip().lower()))
    except ValueError:
        raise InvalidSpec(
            field,
            f"--depends-on {expr!r}: unknown condition {condition!r} (expected {_CONDITIONS})",
        ) from None


def format_dependency(dependency: Dependency) -> str:
    return f"{dependency.service}:{dependency.condition.value}"


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle of ``graph`` (service name → names it depends on) as the list
    of names around it (``[a, b, a]``), or None. Names missing from ``graph`` have no
    dependencies."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        # depth-first without recursion: a long chain of services must not hit the limit
        path: list[str] = [start]
        on_path = {start}
        todo: list[list[str]] = [list(graph.get(start, ()))]
        while todo:
            if not todo[-1]:
                todo.pop()
                name = path.pop()
                on_path.discard(name)
                done.add(name)
                continue
            nxt = todo[-1].pop(0)
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt in done:
                continue
            path.append(nxt)
            on_path.add(nxt)
            todo.append(list(graph.get(nxt, ())))
    return None
