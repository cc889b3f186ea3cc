"""The ``--filter`` words of ``swarmctl node ls`` and ``node ps``, by Docker's rules, shared
by the client (which refuses a bad filter before it asks) and the managers (which apply
them where the facts are: engine labels, a task's service labels).

- ``KEY=VALUE``, repeatable; several values of one key match any of them, different keys
  must all match; ``label`` and ``node.label`` are ``key`` or ``key=value`` and all of
  them must hold (an empty value: any value), as SwarmKit's ``filterMatchLabels``.
- Nodes (`NODE_FILTER_KEYS`): ``id`` (id prefix), ``name`` (hostname prefix), ``role``
  (manager|worker, the role the node has now), ``membership`` (accepted|pending: every
  node in the store has been accepted), ``label`` (the engine's labels), ``node.label``
  (the node's own labels, ``node update --label-add``).
- Tasks (`TASK_FILTER_KEYS`): ``id`` (id prefix), ``name`` (prefix of the task's name as
  SwarmKit makes it, ``service.slot.id``, or ``service.node-id.id`` for a global task),
  ``label`` (the service's labels), ``desired-state`` (any task state).
- At most `MAX_FILTER_VALUES` words of at most `MAX_FILTER_LENGTH` characters: the
  managers parse what any caller sends.

Pure: parsing and matching; each refusal names what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from api.enums import NodeRole
from api.task_state import TaskState, parse_task_state

if TYPE_CHECKING:  # swarmctl parses filters without loading the object model
    from api.objects import Node, Task

__all__ = [
    "MAX_FILTER_LENGTH",
    "MAX_FILTER_VALUES",
    "NODE_FILTER_KEYS",
    "TASK_FILTER_KEYS",
    "NodeFilter",
    "TaskFilter",
    "parse_node_filter",
    "parse_task_filter",
]

NODE_FILTER_KEYS: Final = ("id", "label", "membership", "name", "node.label", "role")
TASK_FILTER_KEYS: Final = ("desired-state", "id", "label", "name")
MEMBERSHIPS: Final = ("accepted", "pending")
MAX_FILTER_VALUES: Final = 64
MAX_FILTER_LENGTH: Final = 256  # one KEY=VALUE word

# a label wanted: its key, and its value (None: any value)
LabelWant = tuple[str, str | None]


def _words(items: Iterable[str], keys: Sequence[str]) -> dict[str, list[str]]:
    """``["role=manager", ...]`` → ``{"role": ["manager"], ...}``, every key known."""
    values: dict[str, list[str]] = {}
    for count, item in enumerate(items, start=1):
        if count > MAX_FILTER_VALUES:
            raise ValueError(f"too many filters (at most {MAX_FILTER_VALUES})")
        text = str(item)
        if len(text) > MAX_FILTER_LENGTH:
            raise ValueError(f"filter longer than {MAX_FILTER_LENGTH} characters")
        key, sep, value = text.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise ValueError(f"invalid filter {text!r} (expected KEY=VALUE)")
        if key not in keys:
            raise ValueError(
                f"invalid filter {text!r}: unknown key {key!r} (expected one of: {', '.join(keys)})"
            )
        values.setdefault(key, []).append(value)
    return values


def _labels(values: Iterable[str]) -> tuple[LabelWant, ...]:
    wants: list[LabelWant] = []
    for value in values:
        key, sep, wanted = value.partition("=")
        wants.append((key, wanted if sep and wanted else None))
    return tuple(wants)


def _labels_hold(labels: Mapping[str, str], wants: Iterable[LabelWant]) -> bool:
    return all(key in labels and (value is None or labels[key] == value) for key, value in wants)


def _prefixed(text: str, prefixes: Sequence[str]) -> bool:
    return not prefixes or any(text.startswith(p) for p in prefixes)


@dataclass(frozen=True, slots=True)
class NodeFilter:
    """Which nodes ``node ls`` shows; the empty filter shows all."""

    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    roles: frozenset[NodeRole] = frozenset()
    memberships: frozenset[str] = frozenset()
    engine_labels: tuple[LabelWant, ...] = ()
    node_labels: tuple[LabelWant, ...] = ()

    def matches(self, node: Node) -> bool:
        engine = node.description.engine.labels if node.description is not None else {}
        return (
            _prefixed(node.id, self.ids)
            and _prefixed(node.hostname, self.names)
            and (not self.roles or node.role in self.roles)
            and (not self.memberships or "accepted" in self.memberships)
            and _labels_hold(engine, self.engine_labels)
            and _labels_hold(node.spec.labels, self.node_labels)
        )


def parse_node_filter(items: Iterable[str]) -> NodeFilter:
    """``node ls --filter`` words → `NodeFilter`; ValueError names the bad one."""
    values = _words(items, NODE_FILTER_KEYS)
    roles: set[NodeRole] = set()
    for role in values.get("role", ()):
        try:
            roles.add(NodeRole(role.lower()))
        except ValueError:
            raise ValueError(f"invalid filter 'role={role}' (expected manager or worker)") from None
    for membership in values.get("membership", ()):
        if membership.lower() not in MEMBERSHIPS:
            raise ValueError(
                f"invalid filter 'membership={membership}' (expected accepted or pending)"
            )
    return NodeFilter(
        ids=tuple(values.get("id", ())),
        names=tuple(values.get("name", ())),
        roles=frozenset(roles),
        memberships=frozenset(m.lower() for m in values.get("membership", ())),
        engine_labels=_labels(values.get("label", ())),
        node_labels=_labels(values.get("node.label", ())),
    )


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks ``node ps`` shows; the empty filter shows all."""

    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    desired: frozenset[TaskState] = frozenset()
    service_labels: tuple[LabelWant, ...] = ()

    def matches(self, task: Task, name: str, service_labels: Mapping[str, str]) -> bool:
        """``name``: the task's row name (``web.1``); SwarmKit's name adds the task id."""
        return (
            _prefixed(task.id, self.ids)
            and _prefixed(f"{name}.{task.id}", self.names)
            and (not self.desired or task.desired_state in self.desired)
            and _labels_hold(service_labels, self.service_labels)
        )


def parse_task_filter(items: Iterable[str]) -> TaskFilter:
    """``node ps --filter`` words → `TaskFilter`; ValueError names the bad one."""
    values = _words(items, TASK_FILTER_KEYS)
    desired: set[TaskState] = set()
    for state in values.get("desired-state", ()):
        try:
            desired.add(parse_task_state(state))
        except ValueError as exc:
            raise ValueError(f"invalid filter 'desired-state={state}': {exc}") from None
    return TaskFilter(
        ids=tuple(values.get("id", ())),
        names=tuple(values.get("name", ())),
        desired=frozenset(desired),
        service_labels=_labels(values.get("label", ())),
    )
