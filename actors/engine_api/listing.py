"""Which objects a list request's ``filters`` keep, by Docker's rules (pure). Nodes are
filtered by the manager (control.node.ls ``filters``: api/list_filters.py).

- ``id`` and ``name`` match prefixes (SwarmKit's IDPrefixes and NamePrefixes); ``names``
  (secrets, configs) matches whole names; ``label`` is ``key`` or ``key=value``, all of
  them must hold, ``key=`` any value (SwarmKit's rule: `api.list_filters.labels_match`,
  as swarmctl's); a task's ``service`` and ``node`` are names or ids.
- Different keys must all match; several values of one key match any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from actors.engine_api.errors import bad_request
from actors.engine_api.wire import Filters
from api.list_filters import labels_match
from api.task_state import parse_task_state

__all__ = [
    "FILE_FILTERS",
    "SERVICE_FILTERS",
    "TASK_FILTERS",
    "keep_file",
    "keep_service",
    "keep_task",
]

SERVICE_FILTERS: Final = ("id", "label", "mode", "name")
TASK_FILTERS: Final = (
    "id",
    "name",
    "label",
    "service",
    "node",
    "desired-state",
    "runtime",
    "_up-to-date",
)
FILE_FILTERS: Final = ("id", "label", "name", "names")


def _prefix(value: str, wanted: Iterable[str]) -> bool:
    return any(value.startswith(w) for w in wanted)


def _any_of(filters: Filters, key: str, test: Any) -> bool:
    values = filters.get(key)
    return not values or any(test(v) for v in values)


def keep_service(filters: Filters, summary: Mapping[str, Any]) -> bool:
    """``summary``: a service summary with its ``object`` (control.service.ls full)."""
    spec = summary["object"]["spec"]
    mode = str(summary.get("mode", ""))
    for wanted in filters.get("mode", ()):
        if wanted not in ("replicated", "global", "replicated-job", "global-job"):
            raise bad_request(f"invalid filter 'mode={wanted}'")
    return (
        _any_of(filters, "id", lambda v: str(summary["id"]).startswith(v))
        and _any_of(filters, "name", lambda v: str(spec["name"]).startswith(v))
        and _any_of(filters, "mode", lambda v: v == mode)
        and labels_match(spec.get("labels") or {}, filters.get("label", ()))
    )


def _task_states(values: Iterable[str]) -> set[str]:
    """``desired-state`` values → our state labels: any task state, in any case, as
    Docker's (SwarmKit's ``allocated``, a state we skip, matches no task)."""
    labels = set()
    for value in values:
        if value.strip().lower() == "allocated":
            continue
        try:
            labels.add(parse_task_state(value).label)
        except ValueError:
            raise bad_request(f"invalid filter 'desired-state={value}'") from None
    return labels


def keep_task(filters: Filters, row: Mapping[str, Any], service_labels: Mapping[str, str]) -> bool:
    """``row``: a task row (control.task.ls); ``service_labels``: its service's labels
    (a task's ``label`` filter matches them, as SwarmKit's)."""
    desired = _task_states(filters.get("desired-state", ()))
    service_keys = (str(row.get("service_id", "")), str(row.get("service_name", "")))
    node_keys = (str(row.get("node_id", "")), str(row.get("node", "")))
    up_to_date = filters.get("_up-to-date")
    return (
        _any_of(filters, "id", lambda v: str(row["id"]).startswith(v))
        and _any_of(filters, "name", lambda v: str(row.get("name", "")).startswith(v))
        and _any_of(filters, "service", lambda v: v in service_keys)
        and _any_of(filters, "node", lambda v: v in node_keys)
        and (not filters.get("desired-state") or row.get("desired_state") in desired)
        and _any_of(filters, "runtime", lambda v: v == "container")  # our tasks' only runtime
        and (not up_to_date or bool(row.get("up_to_date")) == (up_to_date[0] == "true"))
        and labels_match(service_labels, filters.get("label", ()))
    )


def keep_file(filters: Filters, row: Mapping[str, Any]) -> bool:
    """``row``: a secret or config row (id, name, labels)."""
    name = str(row.get("name", ""))
    return (
        _any_of(filters, "id", lambda v: str(row["id"]).startswith(v))
        and _any_of(filters, "name", lambda v: name.startswith(v))
        and _any_of(filters, "names", lambda v: v == name)
        and labels_match(row.get("labels") or {}, filters.get("label", ()))
    )
