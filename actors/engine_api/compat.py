"""What changes with a request's Engine API version (pure), as dockerd changes it.

- A ServiceSpec field newer than the request's version (dockerd's ``adjustForAPIVersion``:
  ``OomScoreAdj`` since 1.46, capabilities, ulimits, ``Limits.Pids`` and job modes since
  1.41, ``Sysctls`` and ``MaxReplicas`` since 1.40) is not the client's to set: dockerd
  drops it, which resets the service's value when an older client sends back the spec it
  read. Here an update keeps the service's value (sent back unchanged or left out), and a
  value the client could not have meant (on create, or changed on update) is refused
  naming the version it needs, never dropped.
- ``GET /services?status=`` is read from 1.41 on, ignored before (dockerd's).
- Service and task logs: a TTY's output is one raw stream; otherwise multiplexed, and
  from 1.42 on labelled so (``application/vnd.docker.multiplexed-stream``; before, every
  logs stream was ``application/vnd.docker.raw-stream``).
- Networks show ``EnableIPv4`` from 1.48 on.
- A secret's or config's ``Templating`` is refused before 1.37, in dockerd's words.

What 1.42-1.50 added that swarmnode cannot serve is refused at every version, naming it
(service_spec.py, mount_doc.py, networks.py): ``HealthCheck.StartInterval`` (1.44), the
``Privileges`` (1.44's ``Seccomp``, ``AppArmor``, ``NoNewPrivileges`` with the older ones),
``TmpfsOptions`` (1.46's ``Options``), ``cluster`` (1.42) and ``image`` (1.48) mounts,
``EnableIPv4: false`` (1.48).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from actors.engine_api.doc_fields import Doc, get, is_set
from actors.engine_api.errors import bad_request
from actors.engine_api.versions import at_least

__all__ = [
    "ENABLE_IPV4_SINCE",
    "LIST_STATUS_SINCE",
    "MULTIPLEXED_TYPE_SINCE",
    "SPEC_FIELDS_SINCE",
    "TEMPLATING_SINCE",
    "adjust_service_spec",
    "check_templating",
    "list_status",
    "logs_content_type",
]

# (path in a ServiceSpec, the API version that brought it), as dockerd's router reads them
SPEC_FIELDS_SINCE: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("TaskTemplate", "ContainerSpec", "Sysctls"), "1.40"),
    (("TaskTemplate", "Placement", "MaxReplicas"), "1.40"),
    (("TaskTemplate", "ContainerSpec", "CapabilityAdd"), "1.41"),
    (("TaskTemplate", "ContainerSpec", "CapabilityDrop"), "1.41"),
    (("TaskTemplate", "ContainerSpec", "Ulimits"), "1.41"),
    (("TaskTemplate", "Resources", "Limits", "Pids"), "1.41"),
    (("Mode", "ReplicatedJob"), "1.41"),
    (("Mode", "GlobalJob"), "1.41"),
    (("TaskTemplate", "ContainerSpec", "OomScoreAdj"), "1.46"),
)
LIST_STATUS_SINCE: Final = "1.41"
MULTIPLEXED_TYPE_SINCE: Final = "1.42"
ENABLE_IPV4_SINCE: Final = "1.48"
TEMPLATING_SINCE: Final = "1.37"
RAW_STREAM: Final = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM: Final = "application/vnd.docker.multiplexed-stream"


def _at(doc: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` (keys matched as Docker's decoder does), None when absent."""
    for key in path:
        if not isinstance(doc, Mapping):
            return None
        doc = get(doc, key)
    return doc


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """``value`` at ``path`` (None: taken out), replacing a key of another case."""
    *parents, last = path
    for key in parents:
        found = next((k for k in doc if isinstance(k, str) and k.lower() == key.lower()), key)
        child = doc.get(found)
        if not isinstance(child, dict):
            if value is None:
                return
            child = {}
        doc[found] = child
        doc = child
    for k in [k for k in doc if isinstance(k, str) and k.lower() == last.lower()]:
        del doc[k]
    if value is not None:
        doc[last] = value


def _given(path: tuple[str, ...], value: Any) -> bool:
    """A mode is given by its key (``{"GlobalJob": {}}``); other fields by a value other
    than their zero, as the CLI sends a flag it was not given."""
    if path[0] == "Mode":
        return value is not None
    return is_set(value)


def adjust_service_spec(doc: Any, version: str, current: Doc | None = None) -> Any:
    """Docker's ServiceSpec ``doc`` of a request at ``version`` with the fields newer than
    that version settled: ``current`` (the service's spec in Docker's JSON, on an update)
    keeps its value; a value set otherwise is refused (400) naming the version it needs."""
    if not isinstance(doc, Mapping):
        return doc  # from_docker_spec names what is wrong
    out: dict[str, Any] = copy.deepcopy(dict(doc))
    for path, since in SPEC_FIELDS_SINCE:
        if at_least(version, since):
            continue
        sent = _at(out, path)
        had = _at(current, path) if current is not None else None
        if _given(path, sent) and sent != had:
            raise bad_request(
                f"{'.'.join(path)} needs API version {since} or later (this request is at "
                f"{version}): set it with a client that speaks {since}"
            )
        _put(out, path, copy.deepcopy(had) if _given(path, had) else None)
    return out


def list_status(version: str) -> bool:
    """Whether ``GET /services`` reads ``?status=`` (from 1.41 on; before, not at all)."""
    return at_least(version, LIST_STATUS_SINCE)


def logs_content_type(version: str, tty: bool) -> str:
    if not tty and at_least(version, MULTIPLEXED_TYPE_SINCE):
        return MULTIPLEXED_STREAM
    return RAW_STREAM


def check_templating(kind: str, version: str, spec: Any) -> None:
    """400 for a ``Templating`` in a secret or config spec before 1.37 (dockerd's)."""
    if (
        isinstance(spec, Mapping)
        and get(spec, "Templating")
        and not at_least(version, TEMPLATING_SINCE)
    ):
        raise bad_request(
            f"{kind} templating is not supported on the specified API version: {version}"
        )
