"""``swarmctl stack deploy -c FILE [-c FILE...] STACK``: client-side, as ``docker stack
deploy`` is.

Steps, in order, every file read and checked before anything is sent:
1. Read the compose files (YAML, at most ``MAX_FILE_BYTES`` each; ``-`` is stdin), and
   turn them into the stack's objects (api/compose.py, with this process's environment
   for interpolation, and the services' ``env_file`` files read as ``--env-file``'s).
   Read every secret's and config's ``file:``.
2. Secrets, configs and networks: an external one must exist; one the stack makes is
   created when missing. One that exists stays: a config whose file changed is refused (objects are
   immutable: give the new one another ``name:``); a secret's data cannot be read back,
   so an existing secret is kept and the output says so; a network whose settings
   changed is kept as it is, and the output says so.
3. Services: created when missing; otherwise the whole spec is sent (keeping the
   service's ``--force`` and rebalance counters, as Docker keeps ForceUpdate) and the
   manager answers whether it changed: only the changed services are updated, and the
   output says which. ``--prune`` removes the stack's services the files no longer have.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cli.connection import ControlConnection
from cli.errors import CliError
from cli.file_objects import read_data
from cli.output import write_json, write_text

if TYPE_CHECKING:
    from api.compose import FileObjectPlan, NetworkPlan, StackPlan
    from api.specs import ServiceSpec

__all__ = ["MAX_FILE_BYTES", "compose_loader", "load_files", "run_deploy", "stack_services"]

MAX_FILE_BYTES: Final = 4 * 1024 * 1024
LABEL_NAMESPACE: Final = "com.docker.stack.namespace"  # api.compose's, not imported at start


def compose_loader() -> Any:
    """PyYAML's safe loader without YAML 1.1's base-60 numbers and timestamps, which
    Docker's loader does not have either: ``22:22`` or ``TIME: 12:30`` stay strings
    (PyYAML would read 1342 and 750), as does ``2024-01-02``."""
    import yaml

    class ComposeLoader(yaml.SafeLoader):
        pass

    dropped = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}
    ComposeLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in dropped]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    ComposeLoader.add_implicit_resolver(
        "tag:yaml.org,2002:int",
        re.compile(
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
        ),
        list("-+0123456789"),
    )
    ComposeLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )
    return ComposeLoader


def _read_yaml(source: str) -> Any:
    import yaml  # only stack deploy needs it

    try:
        if source == "-":
            text = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with open(source, "rb") as f:
                text = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CliError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(text) > MAX_FILE_BYTES:
        raise CliError(f"{source}: over the limit of {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        return yaml.load(text, Loader=compose_loader())  # a SafeLoader, narrowed
    except yaml.YAMLError as exc:  # one line: what, and where
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CliError(f"{source}: not valid YAML: {problem}{where}") from None


def load_files(stack: str, sources: list[str]) -> StackPlan:
    """The stack the compose files describe; relative paths in them are taken from the
    first file's directory (the current one for stdin)."""
    from api.compose import ComposeError, load_stack
    from cli.env_file import read_env_file

    first = sources[0]
    base = str(Path.cwd() if first == "-" else Path(first).absolute().parent)
    documents = [_read_yaml(s) for s in sources]
    environ = dict(os.environ)
    try:
        return load_stack(
            stack,
            documents,
            file_names=sources,
            base_dir=base,
            environ=environ,
            read_env_file=lambda path: read_env_file(path, environ),
        )
    except ComposeError as exc:
        where = ", ".join(sources)
        raise CliError(f"{where}: {exc}") from None


def stack_services(connection: ControlConnection, stack: str, *, every: bool = False) -> list[Any]:
    """The summaries of the stack's services (found by their namespace label)."""
    body = {"all": True} if every else {}
    rows = connection.rows("control.service.ls", body, "services")["services"]
    return [s for s in rows if s.get("labels", {}).get(LABEL_NAMESPACE) == stack]


def _objects_data(plans: tuple[FileObjectPlan, ...], kind: str) -> dict[str, bytes]:
    return {p.name: read_data(p.file, f"{kind} {p.key}") for p in plans if not p.external}


# a write to make: (request type, body, the line that says so)
Creation = tuple[str, dict[str, Any], str]


def _missing_objects(
    connection: ControlConnection,
    kind: str,
    plans: tuple[FileObjectPlan, ...],
    data: dict[str, bytes],
    say: Any,
) -> list[Creation]:
    """The secrets or configs to create; refuses (before any write) an external one that
    does not exist and a config whose data changed."""
    from api.codec_objects import encode_sparse
    from api.specs import ConfigSpec, SecretSpec

    existing = {r["name"]: r for r in connection.request(f"control.{kind}.ls")[f"{kind}s"]}
    out: list[Creation] = []
    for plan in plans:
        if plan.external:
            if plan.name not in existing:
                raise CliError(f"{kind} {plan.name} (external: true) not found")
            continue
        if plan.name in existing:
            if kind == "secret":
                # its data never comes back, its template driver does: a secret kept
                # with another driver would reach the tasks as the wrong data (a raw
                # template, or a value expanded as one)
                if existing[plan.name].get("templating", "") != plan.template_driver:
                    raise CliError(
                        f"secret {plan.name} exists with another template driver "
                        f"({existing[plan.name].get('templating') or 'none'}) and secrets "
                        "cannot change: give the changed secret another name (name: in the "
                        "file)"
                    )
                say(
                    f"Keeping secret {plan.name} (it exists; a secret cannot change: give a "
                    "new one another name to rotate it)"
                )
                continue
            found = connection.request("control.config.inspect", {"config": plan.name})
            spec_found = found["config"]["spec"]
            if spec_found["data"] != data[plan.name] or spec_found.get("templating", "") != (
                plan.template_driver
            ):
                raise CliError(
                    f"config {plan.name} exists with other data and configs cannot change: "
                    f"give the changed config another name (name: in the file)"
                )
            continue
        cls = SecretSpec if kind == "secret" else ConfigSpec
        spec = cls(
            name=plan.name,
            labels=plan.labels,
            data=data[plan.name],
            templating=plan.template_driver,
        )
        out.append(
            (
                f"control.{kind}.create",
                {"spec": encode_sparse(spec)},
                f"Creating {kind} {plan.name}",
            )
        )
    return out


def _missing_networks(
    connection: ControlConnection, plans: tuple[NetworkPlan, ...], say: Any
) -> list[Creation]:
    from api.codec_objects import encode_sparse

    existing = {r["name"]: r for r in connection.request("control.network.ls")["networks"]}
    out: list[Creation] = []
    for plan in plans:
        found = existing.get(plan.name)
        if plan.spec is None:  # external
            if found is None:
                raise CliError(f"network {plan.name} (external: true) not found")
            continue
        if found is None:
            body = {"spec": encode_sparse(plan.spec)}
            out.append(("control.network.create", body, f"Creating network {plan.name}"))
        elif bool(found["internal"]) != plan.spec.internal:
            say(
                f"Keeping network {plan.name} as it is (internal: {found['internal']}; a "
                "network cannot change: remove the stack, or give it another name)"
            )
    return out


def _deploy_service(
    connection: ControlConnection, spec: ServiceSpec, current: dict[str, Any] | None
) -> tuple[str, str]:
    """(``created`` | ``updated`` | ``unchanged``, the service's id)."""
    from api.codec_objects import encode_sparse

    if current is None:
        reply = connection.request("control.service.create", {"spec": encode_sparse(spec)})
        return "created", str(reply["id"])
    found = connection.request("control.service.inspect", {"service": current["id"]})
    kept = found["service"]["spec"]
    spec = replace(
        spec,
        task=replace(spec.task, force_update=int(kept["task"].get("force_update", 0))),
        rebalance_requests=int(kept.get("rebalance_requests", 0)),
    )
    body = {"service": current["id"], "spec": encode_sparse(spec), "version": current["version"]}
    reply = connection.request("control.service.update", body)
    return ("updated" if reply["changed"] else "unchanged"), str(reply["id"])


def run_deploy(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    plan = load_files(args.stack, list(args.compose_files))
    secrets = _objects_data(plan.secrets, "secret")
    configs = _objects_data(plan.configs, "config")
    quiet = args.format == "json"
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if not quiet:
            write_text(line)

    results: list[dict[str, str]] = []
    with connection:
        creations = [
            *_missing_objects(connection, "secret", plan.secrets, secrets, say),
            *_missing_objects(connection, "config", plan.configs, configs, say),
            *_missing_networks(connection, plan.networks, say),
        ]  # all checked before the first write
        for request, body, line in creations:
            say(line)
            connection.request(request, body)
        existing = {s["name"]: s for s in stack_services(connection, args.stack)}
        for spec in plan.services:
            outcome, service_id = _deploy_service(connection, spec, existing.get(spec.name))
            verb = {"created": "Creating", "updated": "Updating", "unchanged": "Unchanged:"}
            say(f"{verb[outcome]} service {spec.name}")
            results.append({"name": spec.name, "id": service_id, "result": outcome})
        wanted = {s.name for s in plan.services}
        gone = [s for name, s in sorted(existing.items()) if name not in wanted]
        if args.prune and gone:
            for s in gone:
                say(f"Removing service {s['name']}")
            connection.request("control.service.rm", {"services": [s["id"] for s in gone]})
            results += [{"name": s["name"], "id": s["id"], "result": "removed"} for s in gone]
        elif gone:
            say(
                "Not in the files (kept; --prune removes them): "
                + ", ".join(s["name"] for s in gone)
            )
    if quiet:
        write_json({"stack": args.stack, "services": results})
    return 0
