"""``swarmctl service create|ls|inspect|ps|scale|update|rm``, with ``docker service``'s flags.

Flags become an options map (api/service_options.py); ``create`` applies it to
a default spec, validates it here and sends the spec; ``update`` validates the options here
and sends them, and the manager applies them to the current spec. Bad values are refused
by argparse (one line, exit 2) and invalid specs by validation (one line, exit 1), before
anything is sent. Without ``--detach``, create/update/scale wait for convergence
(cli/progress.py).
"""

from __future__ import annotations

import argparse
import secrets
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any

from api.units import format_bytes, format_cpus, format_duration
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.logs import add_log_flags, run_service_logs
from cli.output import render_table, write_json, write_text
from cli.progress import ProgressJudge, finished_task_ids, wait_converged
from cli.service_flags import (
    CREATE_LIST_FLAGS,
    UPDATE_LIST_FLAGS,
    add_spec_flags,
    add_wait_flags,
    option_dest,
    options_of,
)

if TYPE_CHECKING:
    from api.specs import ServiceSpec

__all__ = ["register"]


# -- registration -----------------------------------------------------------------------


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "service", parents=[common], help="create, list, inspect, update, scale and remove services"
    )
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=[common], help="create a service")
    create.add_argument("--name", default=None, help="service name (default: generated)")
    create.add_argument("--mode", choices=("replicated", "global"), default=None)
    add_spec_flags(create, CREATE_LIST_FLAGS)
    create.add_argument("image", metavar="IMAGE")
    create.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    create.set_defaults(run=run_create)

    logs = verbs.add_parser(
        "logs", parents=[common], help="fetch the logs of a service's tasks (stdout and stderr)"
    )
    add_log_flags(logs)
    logs.add_argument("service", metavar="SERVICE")
    logs.set_defaults(run=run_service_logs)

    ls = verbs.add_parser("ls", parents=[common], help="list services")
    ls.add_argument("-q", "--quiet", action="store_true", help="only ids")
    ls.set_defaults(run=run_ls)

    inspect = verbs.add_parser("inspect", parents=[common], help="show a service in detail")
    inspect.add_argument("service", metavar="SERVICE")
    inspect.set_defaults(run=run_inspect)

    ps = verbs.add_parser("ps", parents=[common], help="list a service's tasks")
    ps.add_argument("service", metavar="SERVICE")
    ps.add_argument("--desired-state", default=None, metavar="STATE")
    ps.set_defaults(run=run_ps)

    scale = verbs.add_parser("scale", parents=[common], help="scale replicated services")
    scale.add_argument("pairs", nargs="+", metavar="SERVICE=REPLICAS")
    add_wait_flags(scale)
    scale.set_defaults(run=run_scale)

    update = verbs.add_parser("update", parents=[common], help="update a service")
    update.add_argument("--image", dest=option_dest("image"), default=None)
    update.add_argument("--args", default=None, help="the command's arguments, one string")
    update.add_argument("--force", dest=option_dest("force"), action="store_true")
    add_spec_flags(update, UPDATE_LIST_FLAGS)
    update.add_argument("service", metavar="SERVICE")
    update.set_defaults(run=run_update)

    rm = verbs.add_parser("rm", parents=[common], help="remove services")
    rm.add_argument("services", nargs="+", metavar="SERVICE")
    rm.set_defaults(run=run_rm)


# -- commands ---------------------------------------------------------------------------


def _generated_name(image: str) -> str:
    base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    base = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in base).strip("-_")
    return f"{base or 'service'}-{secrets.token_hex(3)}"


def _progress_stream(args: argparse.Namespace) -> Any:
    return sys.stderr if args.format == "json" else sys.stdout


def _finished_before(
    args: argparse.Namespace, connection: ControlConnection, service: str
) -> set[str]:
    """Tasks already finished before a change is written: their failures are old news."""
    if args.detach:
        return set()
    return finished_task_ids(connection.request("control.service.ps", {"service": service}))


def _wait(
    args: argparse.Namespace,
    connection: ControlConnection,
    service_id: str,
    baseline: set[str],
) -> None:
    if args.detach:
        return
    wait_converged(
        lambda: connection.request("control.service.ps", {"service": service_id}),
        out=_progress_stream(args),
        timeout=args.converge_timeout,
        judge=ProgressJudge(baseline=baseline),
    )


def _checked(spec: ServiceSpec, options: dict[str, Any]) -> ServiceSpec:
    """``options`` applied to ``spec``, validated; an invalid spec is one line, exit 1.

    The object model is imported here, not at start-up: it costs tens of milliseconds and
    only create and update need it."""
    from api.service_options import apply_options
    from api.validation import InvalidSpec, validate_service_spec

    try:
        changed = apply_options(spec, options)
        validate_service_spec(changed)
    except InvalidSpec as exc:
        raise CliError(str(exc)) from None
    return changed


def run_create(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    options = options_of(args)
    options["image"] = args.image
    if args.command:
        options["args"] = list(args.command)
    if args.mode is not None:
        options["mode"] = args.mode
    options["name"] = args.name if args.name is not None else _generated_name(args.image)
    from api.codec_objects import encode
    from api.specs import ServiceSpec

    spec = _checked(ServiceSpec(), options)
    with connection:
        reply = connection.request("control.service.create", {"spec": encode(spec)})
        _wait(args, connection, reply["id"], baseline=set())
        final = connection.request("control.service.inspect", {"service": reply["id"]})
    if args.format == "json":
        write_json(final["summary"])
    else:
        write_text(reply["id"])
    return 0


def run_update(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    changes = options_of(args)
    if args.args is not None:
        changes["args"] = shlex.split(args.args)
    from api.specs import ContainerSpec, ServiceSpec, TaskSpec

    # check the flags against a stand-in spec; the manager checks the real one
    _checked(ServiceSpec(name="x", task=TaskSpec(container=ContainerSpec(image="x"))), changes)
    with connection:
        baseline = _finished_before(args, connection, args.service)
        reply = connection.request(
            "control.service.update", {"service": args.service, "changes": changes}
        )
        if reply["changed"]:
            _wait(args, connection, reply["id"], baseline)
        final = connection.request("control.service.inspect", {"service": reply["id"]})
    if args.format == "json":
        write_json(final["summary"])
    else:
        write_text(reply["id"])
    return 0


def run_scale(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    wanted: list[tuple[str, int]] = []
    for pair in args.pairs:
        name, sep, count = pair.partition("=")
        if not sep or not name or not count.strip().isdigit():
            raise CliError(f"invalid scale specifier {pair!r}: expected SERVICE=REPLICAS (N >= 0)")
        wanted.append((name, int(count)))
    results = []
    with connection:
        baselines = [_finished_before(args, connection, name) for name, _ in wanted]
        for name, replicas in wanted:
            reply = connection.request(
                "control.service.scale", {"service": name, "replicas": replicas}
            )
            if args.format != "json":
                write_text(f"{name} scaled to {replicas}")
            results.append(reply)
        for reply, baseline in zip(results, baselines, strict=True):
            _wait(args, connection, reply["id"], baseline)
        summaries = [
            connection.request("control.service.inspect", {"service": r["id"]})["summary"]
            for r in results
        ]
    if args.format == "json":
        write_json(summaries)
    return 0


def run_rm(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        reply = connection.request("control.service.rm", {"services": list(args.services)})
    if args.format == "json":
        write_json(reply["removed"])
    else:
        write_text("\n".join(args.services))
    return 0


def run_ls(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        services = connection.request("control.service.ls")["services"]
    if args.format == "json":
        keys = ("id", "name", "mode", "replicas_desired", "replicas_running", "image")
        write_json([{k: s[k] for k in keys} | s for s in services])
    elif args.quiet:
        write_text("\n".join(s["id"] for s in services) or "")
    else:
        rows = [
            (
                s["id"][:12],
                s["name"],
                s["mode"],
                f"{s['replicas_running']}/{s['replicas_desired']}",
                s["image"],
            )
            for s in services
        ]
        write_text(render_table(("ID", "NAME", "MODE", "REPLICAS", "IMAGE"), rows))
    return 0


def ago(timestamp: float, now: float | None = None) -> str:
    if not timestamp:
        return ""
    delta = max(0.0, (now if now is not None else time.time()) - timestamp)
    for unit, size in (("hours", 3600), ("minutes", 60)):
        if delta >= size * 2 or (unit == "minutes" and delta >= 60):
            return f"{int(delta // size)} {unit} ago"
    return f"{int(delta)} seconds ago"


def task_table(rows: list[dict[str, Any]]) -> str:
    """``docker service ps``'s table; older tasks of a slot as ``\\_ name``."""
    seen: set[tuple[str, int, str]] = set()
    out = []
    for r in rows:
        key = (r["service_id"], r["slot"], "" if r["slot"] else r["node_id"])
        name = r["name"] if key not in seen else f" \\_ {r['name']}"
        seen.add(key)
        current = f"{r['state'].capitalize()} {ago(r['timestamp'])}".strip()
        out.append(
            (
                r["id"][:12],
                name,
                r["image"],
                r["node"] or r["node_id"][:12],
                r["desired_state"].capitalize(),
                current,
                r["error"] or (r["message"] if r["state"] == "pending" else ""),
            )
        )
    headers = ("ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR")
    return render_table(headers, out)


def run_ps(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body: dict[str, Any] = {"service": args.service}
    if args.desired_state:
        body["desired_state"] = args.desired_state
    with connection:
        rows = connection.request("control.service.ps", body)["tasks"]
    if args.format == "json":
        write_json(rows)
    else:
        write_text(task_table(rows))
    return 0


def run_inspect(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        reply = connection.request("control.service.inspect", {"service": args.service})
    service, summary = reply["service"], reply["summary"]
    if args.format == "json":
        write_json([service])
        return 0
    write_text(describe(service, summary))
    return 0


def describe(service: dict[str, Any], summary: dict[str, Any]) -> str:
    spec = service["spec"]
    task = spec["task"]
    c = task["container"]
    res = task["resources"]
    rp = task["restart_policy"]
    pl = task["placement"]
    uc = spec["update_config"]
    rows: list[tuple[str, str]] = [
        ("ID", service["id"]),
        ("Name", spec["name"]),
        ("Mode", summary["mode"]),
        ("Replicas", f"{summary['replicas_running']}/{summary['replicas_desired']}"),
    ]
    if summary.get("update_status"):
        status = summary["update_status"]
        rows.append(("Update Status", f"{status['state']} {status['message']}".strip()))
    if spec["labels"]:
        rows.append(("Labels", ", ".join(f"{k}={v}" for k, v in spec["labels"].items())))
    rows += [("Image", c["image"])]
    if c["command"]:
        rows.append(("Command", " ".join(c["command"])))
    if c["args"]:
        rows.append(("Args", " ".join(c["args"])))
    if c["env"]:
        rows.append(("Env", " ".join(c["env"])))
    for part in ("reservations", "limits"):
        r = res[part]
        if r["nano_cpus"] or r["memory_bytes"]:
            rows.append(
                (
                    part.capitalize(),
                    f"cpus={format_cpus(r['nano_cpus'])} memory={format_bytes(r['memory_bytes'])}",
                )
            )
    rows.append(
        (
            "Restart Policy",
            f"condition={rp['condition']} delay={format_duration(rp['delay'])} "
            f"max_attempts={rp['max_attempts']} window={format_duration(rp['window'])}",
        )
    )
    if pl["constraints"]:
        rows.append(("Constraints", ", ".join(pl["constraints"])))
    if pl["preferences"]:
        rows.append(("Preferences", ", ".join(f"spread={p['spread']}" for p in pl["preferences"])))
    if pl["max_replicas"]:
        rows.append(("Max Replicas/Node", str(pl["max_replicas"])))
    rows.append(("Strategy", pl["strategy"]))
    rows.append(
        (
            "Update Config",
            f"parallelism={uc['parallelism']} delay={format_duration(uc['delay'])} "
            f"order={uc['order']} failure_action={uc['failure_action']}",
        )
    )
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}} : {v}" for k, v in rows)
