"""A compose file → the objects of a stack: services, secrets and configs, as ``docker
stack deploy`` makes them, so ``swarmctl stack`` and ``docker stack`` see the same stacks.

Rules (Docker's, docker/cli ``cli/command/stack`` and ``cli/compose/convert``):
- Every object the stack makes is named ``STACK_key`` and labelled
  ``com.docker.stack.namespace=STACK``; services also carry ``com.docker.stack.image``
  (api/compose_service.py converts each one).
- A top-level secret or config comes from a ``file:`` (relative to ``base_dir``, the
  first compose file's directory) and takes the name ``name:`` when given, else ``STACK_key``; one
  marked ``external: true`` (or ``external: {name: N}``) must exist already and keeps its
  own name.
- Several files merge first; values are interpolated from the client's environment
  (api/compose_fields.py). The top level may hold ``version`` (informational),
  ``services``, ``secrets``, ``configs``, ``networks``, ``volumes`` (api/compose_host.py)
  and ``x-`` extensions; anything else is refused, naming the key.

`load_stack` is pure: the caller reads the files and the secrets' data (cli/stack.py), and
gives the reader of env files.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from api.compose_fields import ComposeError, Section, interpolate, key_values
from api.compose_host import NetworkPlan, file_networks, file_volumes, service_network_keys
from api.compose_merge import merge_documents
from api.compose_service import LABEL_IMAGE, LABEL_NAMESPACE, StackNames, convert_service
from api.spec_limits import MAX_NAME_CHARS, InvalidSpec
from api.specs import ServiceSpec
from api.validation import validate_service_spec

__all__ = [
    "LABEL_IMAGE",
    "LABEL_NAMESPACE",
    "MAX_SERVICES",
    "ComposeError",
    "FileObjectPlan",
    "NetworkPlan",
    "StackPlan",
    "check_stack_name",
    "load_stack",
]

MAX_SERVICES: Final = 1000  # per stack
_TOP_KEYS: Final = frozenset({"version", "services", "secrets", "configs", "networks", "volumes"})
_FILE_OBJECT_KEYS: Final = frozenset({"file", "external", "name", "labels", "template_driver"})
# a stack's name prefixes its objects' names, which allow letters, digits, '-' and '_'
_STACK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*\Z")


@dataclass(frozen=True)
class FileObjectPlan:
    """A secret or config the stack uses: to create from ``file`` (a path the caller
    reads) unless ``external``, when it must already exist under ``name``."""

    key: str  # its key in the file's top-level section
    name: str
    external: bool = False
    file: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    template_driver: str = ""  # the data is a template (api/payload_templates.py)


@dataclass(frozen=True)
class StackPlan:
    namespace: str
    services: tuple[ServiceSpec, ...] = ()
    secrets: tuple[FileObjectPlan, ...] = ()
    configs: tuple[FileObjectPlan, ...] = ()
    networks: tuple[NetworkPlan, ...] = ()


def check_stack_name(name: str) -> None:
    """Refuses a name its objects could not be named after (ComposeError)."""
    if not _STACK_NAME_RE.match(name) or len(name) >= MAX_NAME_CHARS:
        raise ComposeError(
            "",
            f"invalid stack name {name[:80]!r} (letters, digits, '-' and '_', starting with a "
            f"letter or digit, under {MAX_NAME_CHARS} characters)",
        )


def _file_objects(
    top: Section, kind: str, namespace: str, base_dir: str
) -> tuple[FileObjectPlan, ...]:
    section = Section(top.raw(kind + "s"), kind + "s", None)
    out = []
    for key, raw in section.values.items():
        if key.startswith("x-"):
            continue
        s = Section(raw, section.at(key), _FILE_OBJECT_KEYS)
        external = s.raw("external")
        if isinstance(external, Mapping):
            ext = Section(external, s.at("external"), {"name"})
            out.append(FileObjectPlan(key, ext.text("name") or s.text("name") or key, True))
            continue
        if s.boolean("external"):
            for other in ("file", "labels", "template_driver"):
                if other in s:
                    raise ComposeError(s.at(other), f"an external {kind} takes no {other}")
            out.append(FileObjectPlan(key, s.text("name") or key, True))
            continue
        path = s.text("file")
        if not path:
            raise ComposeError(s.path, f"a {kind} needs a file: (or external: true)")
        labels = key_values(s.raw("labels") or {}, s.at("labels"))
        out.append(
            FileObjectPlan(
                key,
                s.text("name") or f"{namespace}_{key}",
                file=posixpath.normpath(posixpath.join(base_dir, path)),
                labels={**labels, LABEL_NAMESPACE: namespace},
                template_driver=s.text("template_driver"),
            )
        )
    return tuple(out)


# the spec's fields as the compose keys they come from, so a refusal names the file's key
_SPEC_FIELDS: Final = (
    ("task.placement.constraints", "deploy.placement.constraints"),
    ("task.placement.preferences", "deploy.placement.preferences"),
    ("task.placement", "deploy.placement"),
    ("task.resources", "deploy.resources"),
    ("task.restart_policy", "deploy.restart_policy"),
    ("task.container.env", "environment"),
    ("task.container.labels", "labels"),
    ("task.container.dir", "working_dir"),
    ("task.container.command", "entrypoint"),
    ("task.container.args", "command"),
    ("task.container.mounts", "volumes"),
    ("task.container.groups", "group_add"),
    ("task.container.hosts", "extra_hosts"),
    ("task.container.dns_config.nameservers", "dns"),
    ("task.container.dns_config.search", "dns_search"),
    ("task.container.dns_config.options", "dns_opt"),
    ("task.networks", "networks"),
    ("endpoint.ports", "ports"),
    ("endpoint.mode", "deploy.endpoint_mode"),
    ("task.container.", ""),
    ("update_config", "deploy.update_config"),
    ("rollback_config", "deploy.rollback_config"),
    ("labels", "deploy.labels"),
    ("mode", "deploy"),
)


def _compose_path(key: str, field: str) -> str:
    for spec_field, compose_key in _SPEC_FIELDS:
        if field.startswith(spec_field):
            rest = field[len(spec_field) :]
            return f"services.{key}.{compose_key}{rest}".replace("..", ".").rstrip(".")
    return f"services.{key}"


def _service_keys(top: Section) -> list[tuple[str, Any]]:
    raw = top.raw("services")
    if not isinstance(raw, Mapping) or not raw:
        raise ComposeError("services", "a stack needs at least one service")
    found = [(str(k), v) for k, v in raw.items() if not str(k).startswith("x-")]
    if len(found) > MAX_SERVICES:
        raise ComposeError("services", f"more than {MAX_SERVICES} services")
    return found


def load_stack(
    namespace: str,
    documents: list[Any],
    *,
    file_names: list[str] | None = None,
    base_dir: str = "/",
    environ: Mapping[str, str] | None = None,
    read_env_file: Callable[[str], Sequence[str]] | None = None,
) -> StackPlan:
    """The stack ``namespace`` that the parsed compose ``documents`` describe (module rules).
    ``read_env_file``: the ``KEY=value`` entries of the env file at a path (a service's
    ``env_file``), ValueError when it cannot be read. ComposeError names the first thing
    refused."""
    check_stack_name(namespace)
    environ = dict(environ or {})
    names = file_names or [f"file {i + 1}" for i in range(len(documents))]
    if not documents:
        raise ComposeError("", "no compose file given")
    merged = merge_documents([interpolate(d, environ) for d in documents], names)
    top = Section(merged, "", _TOP_KEYS)
    secrets = _file_objects(top, "secret", namespace, base_dir)
    configs = _file_objects(top, "config", namespace, base_dir)
    found = _service_keys(top)
    used = {
        name
        for key, raw in found
        for name in service_network_keys(Section(raw, f"services.{key}", None))
    }
    networks = file_networks(top, namespace, used)
    context = StackNames(
        namespace=namespace,
        secrets={p.key: p.name for p in secrets},
        configs={p.key: p.name for p in configs},
        networks={p.key: p.name for p in networks},
        volumes=file_volumes(top, namespace),
        base_dir=base_dir,
        environ=environ,
        read_env_file=read_env_file,
    )
    services = []
    for key, raw in found:
        spec = convert_service(key, raw, context)
        try:
            validate_service_spec(spec)
        except InvalidSpec as exc:
            raise ComposeError(_compose_path(key, exc.field), exc.reason) from None
        services.append(spec)
    return StackPlan(namespace, tuple(services), secrets, configs, networks)
