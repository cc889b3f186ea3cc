"""A service's spec history: the last specs it had, and what changed between them.

Rules (beyond swarm mode, which keeps one previous spec):
- ``Service.spec_history`` holds revisions oldest first, the current spec last: each the
  ``spec_version`` it had, the spec, when it became the spec and how (create, update,
  scale, rollback...). Every spec change appends one: the control API's writes and the
  orchestrator's automatic rollback.
- It keeps the last ``limit`` revisions (the cluster's ``service_history_limit``, default
  10), and fewer when they would not fit ``HISTORY_BYTES`` encoded (the service object,
  with its spec and previous spec, must fit one stored object; ``api.limits``): the oldest
  go first, the current one always stays.
- A service stored before histories existed has none: its current spec stands in as the
  first revision (``history_of``).
- What changed is computed, not stored: the leaf fields that differ between a revision and
  the one before it, as ``path: old → new`` (command lines quoted as a shell would; other
  lists of strings, env say, as ``+added -removed``; lists of mappings, secrets or ports
  say, a line per entry added or removed, its fields as ``key=value``). A field the
  control API copies from another (``task.ports`` from ``endpoint.ports``) is not listed
  twice.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import msgpack

from api.codec_objects import encode
from api.limits import MAX_OBJECT_BYTES, MAX_SPEC_BYTES
from api.objects import Service, SpecRevision
from api.specs import ServiceSpec

__all__ = [
    "HISTORY_BYTES",
    "find_revision",
    "history_of",
    "history_rows",
    "record",
    "revision",
    "spec_changes",
    "trim",
]

# room for the history next to the spec and the previous spec in one stored object
HISTORY_BYTES: Final = MAX_OBJECT_BYTES - 2 * MAX_SPEC_BYTES - MAX_SPEC_BYTES // 2
_SHOWN_CHARS: Final = 60  # of one value in a change line
_ENTRY_CHARS: Final = 100  # of one entry of a list of mappings (all its fields)
# copies the control API keeps in step (task.ports mirrors endpoint.ports): said once
_DERIVED: Final = frozenset({"task.ports"})
_ARGV: Final = frozenset({"command", "args", "test"})  # lists whose order is their meaning


def revision(service: Service, at: float, origin: str) -> SpecRevision:
    """The service's current spec as a revision."""
    return SpecRevision(version=service.spec_version, spec=service.spec, at=at, origin=origin)


def history_of(service: Service) -> tuple[SpecRevision, ...]:
    """The service's kept revisions; its current spec alone for a service without any."""
    if service.spec_history:
        return service.spec_history
    return (revision(service, service.meta.updated_at or service.meta.created_at, ""),)


def _size(rev: SpecRevision) -> int:
    return len(msgpack.packb(encode(rev), use_bin_type=True))


def trim(history: Sequence[SpecRevision], limit: int) -> tuple[SpecRevision, ...]:
    """The newest ``limit`` revisions (at least one) that fit ``HISTORY_BYTES``."""
    kept = list(history[-max(1, limit) :])
    sizes = [_size(r) for r in kept]
    while len(kept) > 1 and sum(sizes) > HISTORY_BYTES:
        kept.pop(0)
        sizes.pop(0)
    return tuple(kept)


def record(service: Service, new: Service, at: float, origin: str, limit: int) -> Service:
    """``new`` (``service`` with a new spec and spec version) with its spec appended to
    ``service``'s history, trimmed to ``limit``."""
    history = (*history_of(service), revision(new, at, origin))
    return replace(new, spec_history=trim(history, limit))


def find_revision(service: Service, version: int) -> SpecRevision | None:
    for rev in history_of(service):
        if rev.version == version:
            return rev
    return None


# --- what changed --------------------------------------------------------------------------


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value and not _is_label_map(path):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    else:
        out[path] = value


def _is_label_map(path: str) -> bool:
    """A map diffed as one field (``+key=value -key``), its keys never paths."""
    return path.endswith(("labels", "sysctls", "log_driver.options"))


def _leaves(spec: ServiceSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(encode(spec), "", out)
    return out


def _name(path: str) -> str:
    for prefix in ("task.", "mode.replicated."):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return path


def _shown(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "(none)"
    if isinstance(value, list):
        text = " ".join(str(v) for v in value)
    elif isinstance(value, Mapping):
        text = ",".join(f"{k}={v}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _argv(value: Any) -> str:
    return shlex.join(str(v) for v in value) if isinstance(value, list) else ""


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _is_list_of_maps(value: Any) -> bool:
    """A list of mappings, or an empty list or none (then the other side says)."""
    return value is None or (isinstance(value, list) and all(isinstance(v, Mapping) for v in value))


def _entry(value: Mapping[str, Any]) -> str:
    """One entry of a list of mappings: its set fields as ``key=value``, without ids (the
    names beside them say which object)."""
    text = ",".join(
        f"{k}={v}"
        for k, v in value.items()
        if v not in (None, "", [], {}) and not str(k).endswith("_id")
    )
    return text if len(text) <= _ENTRY_CHARS else text[: _ENTRY_CHARS - 3] + "..."


def _change(path: str, old: Any, new: Any) -> str:
    if path.rsplit(".", 1)[-1] in _ARGV:  # ordered: shown as command lines
        return f"{_name(path)}: {_shown(_argv(old))} → {_shown(_argv(new))}"
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and all(isinstance(v, str) for v in (*old, *new))
    ):
        added = [f"+{v}" for v in new if v not in old]
        removed = [f"-{v}" for v in old if v not in new]
        if added or removed:
            return f"{_name(path)}: {_shown([*added, *removed])}"
        return f"{_name(path)}: reordered"
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        parts = [f"+{k}={v}" for k, v in new.items() if old.get(k) != v]
        parts += [f"-{k}" for k in old if k not in new]
        return f"{_name(path)}: {_shown(parts)}"
    return f"{_name(path)}: {_shown(old)} → {_shown(new)}"


def spec_changes(old: ServiceSpec | None, new: ServiceSpec) -> list[str]:
    """What differs from ``old`` to ``new``, one line per leaf field, in field order."""
    if old is None:
        return []
    before, after = _leaves(old), _leaves(new)
    paths = [p for p in [*after, *(p for p in before if p not in after)] if p not in _DERIVED]
    lines: list[str] = []
    for path in paths:
        old_value, new_value = before.get(path), after.get(path)
        if old_value == new_value or (_is_empty(old_value) and _is_empty(new_value)):
            continue  # an empty list where there was none (a healthcheck without a test)
        if _is_list_of_maps(old_value) and _is_list_of_maps(new_value):
            lines += _entry_changes(path, old_value or [], new_value or [])
        else:
            lines.append(_change(path, old_value, new_value))
    return lines


def _entry_changes(path: str, old: list[Any], new: list[Any]) -> list[str]:
    """A list of mappings (secrets, configs, mounts, ports, networks): a line per entry
    added or removed, each entry's fields shown as ``key=value``."""
    added = [f"{_name(path)}: +{_entry(v)}" for v in new if v not in old]
    removed = [f"{_name(path)}: -{_entry(v)}" for v in old if v not in new]
    return [*added, *removed] or [f"{_name(path)}: reordered"]


def history_rows(service: Service) -> list[dict[str, Any]]:
    """``{version, at, origin, current, changes}`` per kept revision, oldest first;
    ``changes`` against the revision before it (none for the first kept)."""
    rows: list[dict[str, Any]] = []
    previous: ServiceSpec | None = None
    for rev in history_of(service):
        rows.append(
            {
                "version": rev.version,
                "at": rev.at,
                "origin": rev.origin,
                "current": rev.version == service.spec_version,
                "changes": spec_changes(previous, rev.spec),
            }
        )
        previous = rev.spec
    return rows
