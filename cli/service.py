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

from api.explain import task_reason, update_reason, update_status_rows
from api.units import format_bytes, format_cpus, format_duration
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.job_progress import JobJudge
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
    create.add_argument(
        "--mode",
        choices=("replicated", "global", "replicated-job", "global-job"),
        default=None,
        help="replicated (default), global, or a job run to completion: replicated-job "
        "(--replicas completions, --max-concurrent at once) or global-job",
    )
    add_spec_flags(create, CREATE_LIST_FLAGS)
    _add_dry_run(create)
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
    _add_dry_run(update)
    update.add_argument("service", metavar="SERVICE")
    update.set_defaults(run=run_update)

    rebalance = verbs.add_parser(
        "rebalance",
        parents=[common],
        help="move a replicated service's tasks so that every node that can run them gets "
        "its share, paced by its update config",
    )
    rebalance.add_argument("service", metavar="SERVICE")
    add_wait_flags(rebalance)
    rebalance.set_defaults(run=run_rebalance)

    rm = verbs.add_parser("rm", parents=[common], help="remove services")
    rm.add_argument("services", nargs="+", metavar="SERVICE")
    rm.set_defaults(run=run_rm)


def _add_dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the change would do (tasks to start, stop, replace, on which "
        "nodes and why; what would stay pending and why) without writing anything",
    )


def _print_plan(args: argparse.Namespace, plan: dict[str, Any]) -> None:
    if args.format == "json":
        write_json(plan)
        return
    rows = [
        (s["action"], s["slot"][:12], s["node"] or "-", s["task_id"][:12] or "-", s["why"])
        for s in plan["steps"]
    ]
    lines = [render_table(("ACTION", "SLOT", "NODE", "TASK", "WHY"), rows)] if rows else []
    lines += [f"note: {n}" for n in plan["notes"]]
    lines.append(f"dry run: nothing was changed (service {plan['service']})")
    write_text("\n".join(lines))


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


def _job_run(connection: ControlConnection, service: str) -> int | None:
    """The current run of a job (None: not a job), read before a change."""
    job = connection.request("control.service.inspect", {"service": service})["summary"]["job"]
    return None if job is None else int(job["iteration"])


def _wait(
    args: argparse.Namespace,
    connection: ControlConnection,
    service_id: str,
    baseline: set[str],
    job_run: int | None = None,
) -> None:
    if args.detach:
        return
    judge = ProgressJudge(baseline=baseline) if job_run is None else JobJudge(job_run)
    wait_converged(
        lambda: connection.request("control.service.ps", {"service": service_id}),
        out=_progress_stream(args),
        timeout=args.converge_timeout,
        judge=judge,
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
    if args.dry_run:
        with connection:
            _print_plan(args, connection.request("control.service.plan", {"spec": encode(spec)}))
        return 0
    body: dict[str, Any] = {"spec": encode(spec)}
    if args.with_registry_auth:
        body["registry_auth"] = _registry_auth(args.image)
    with connection:
        reply = connection.request("control.service.create", body)
        job_run = 0 if reply["service"].get("job") is not None else None
        _wait(args, connection, reply["id"], baseline=set(), job_run=job_run)
        final = connection.request("control.service.inspect", {"service": reply["id"]})
    if args.format == "json":
        write_json(final["summary"])
    else:
        write_text(reply["id"])
    return 0


def _registry_auth(image: str) -> dict[str, str]:
    from cli.registry_auth import credentials_for

    return credentials_for(image)


def run_update(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    changes = options_of(args)
    if args.args is not None:
        changes["args"] = shlex.split(args.args)
    from api.specs import ContainerSpec, ServiceSpec, TaskSpec

    # check the flags against a stand-in spec; the manager checks the real one
    _checked(ServiceSpec(name="x", task=TaskSpec(container=ContainerSpec(image="x"))), changes)
    body: dict[str, Any] = {"service": args.service, "changes": changes}
    if args.dry_run:
        with connection:
            _print_plan(args, connection.request("control.service.plan", body))
        return 0
    with connection:
        if args.with_registry_auth:  # for the image the service will run
            image = (
                changes.get("image")
                or connection.request("control.service.inspect", {"service": args.service})[
                    "summary"
                ]["image"]
            )
            body["registry_auth"] = _registry_auth(str(image))
        baseline = _finished_before(args, connection, args.service)
        job_run = None if args.detach else _job_run(connection, args.service)
        reply = connection.request("control.service.update", body)
        if reply["changed"]:
            _wait(args, connection, reply["id"], baseline, job_run)
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


def run_rebalance(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body = {"service": args.service, "changes": {"rebalance_now": True}}
    with connection:
        reply = connection.request("control.service.update", body)
        service_id = reply["id"]
        wanted = connection.request("control.service.inspect", {"service": service_id})["service"][
            "spec"
        ]["rebalance_requests"]
        status: dict[str, Any] = {}
        deadline = time.monotonic() + args.converge_timeout
        while not args.detach:
            found = connection.request("control.service.inspect", {"service": service_id})
            status = found["service"].get("rebalance_status") or {}
            if status.get("round", 0) >= wanted and status.get("state") == "completed":
                break
            if time.monotonic() >= deadline:
                raise CliError(
                    f"the rebalance of {args.service} did not complete within "
                    f"{args.converge_timeout:g}s (it goes on; see 'swarmctl service ps')"
                )
            time.sleep(0.2)
    if args.format == "json":
        write_json({"id": service_id, "rebalance_status": status})
    else:
        write_text(status.get("message") or service_id)
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
            (s["id"][:12], s["name"], s["mode"], replicas_column(s), s["image"]) for s in services
        ]
        write_text(render_table(("ID", "NAME", "MODE", "REPLICAS", "IMAGE"), rows))
    return 0


def replicas_column(summary: dict[str, Any]) -> str:
    """``running/desired``; a job's as Docker shows it: ``running/concurrency
    (completed/total completed)``."""
    job = summary.get("job")
    if not job:
        return f"{summary['replicas_running']}/{summary['replicas_desired']}"
    return f"{job['running']}/{job['concurrency']} ({job['completed']}/{job['total']} completed)"


def ago(timestamp: float, now: float | None = None) -> str:
    if not timestamp:
        return ""
    delta = max(0.0, (now if now is not None else time.time()) - timestamp)
    for unit, size in (("hours", 3600), ("minutes", 60)):
        if delta >= size * 2 or (unit == "minutes" and delta >= 60):
            return f"{int(delta // size)} {unit} ago"
    return f"{int(delta)} seconds ago"


def _task_port(port: dict[str, Any]) -> str:
    """``*:8080->80/tcp``, as ``docker service ps`` shows a host-mode port."""
    return f"*:{port['published_port']}->{port['target_port']}/{port['protocol']}"


def _spec_port(port: dict[str, Any]) -> str:
    published = port["published_port"] or "(picked per task)"
    return f"{published} -> {port['target_port']}/{port['protocol']} ({port['publish_mode']})"


def _mount(mount: dict[str, Any]) -> str:
    source = f"{mount['source']} -> " if mount["source"] else ""
    return f"{mount['type']} {source}{mount['target']}{' (readonly)' if mount['readonly'] else ''}"


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
                task_reason(r),  # why it failed or waits (api/explain.py)
                ",".join(_task_port(p) for p in r.get("ports", ())),
            )
        )
    headers = ("ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS")
    return render_table(headers, out)


def run_ps(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body: dict[str, Any] = {"service": args.service}
    if args.desired_state:
        body["desired_state"] = args.desired_state
    with connection:
        reply = connection.request("control.service.ps", body)
    rows = reply["tasks"]
    if args.format == "json":
        write_json(rows)
    else:
        write_text(task_table(rows))
        stopped = update_reason(reply["service"].get("update_status"))
        if stopped:  # why no more tasks are being replaced
            write_text(stopped)
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
    rows += update_status_rows(summary.get("update_status"))
    if spec["labels"]:
        rows.append(("Labels", ", ".join(f"{k}={v}" for k, v in spec["labels"].items())))
    rows += [("Image", c["image"])]
    if c["command"]:
        rows.append(("Command", " ".join(c["command"])))
    if c["args"]:
        rows.append(("Args", " ".join(c["args"])))
    if c["env"]:
        rows.append(("Env", " ".join(c["env"])))
    for key, name in (("secrets", "secret_name"), ("configs", "config_name")):
        if c.get(key):
            refs = [f"{r[name]} -> {r['target']} (mode {r['mode']:04o})" for r in c[key]]
            rows.append((key.capitalize(), ", ".join(refs)))
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
    for i, port in enumerate(spec["endpoint"]["ports"]):
        rows.append(("Ports" if i == 0 else "", _spec_port(port)))
    for i, mount in enumerate(c.get("mounts", ())):
        rows.append(("Mounts" if i == 0 else "", _mount(mount)))
    if summary.get("networks"):
        rows.append(("Networks", ", ".join(summary["networks"])))
    rows.append(
        (
            "Update Config",
            f"parallelism={uc['parallelism']} delay={format_duration(uc['delay'])} "
            f"order={uc['order']} failure_action={uc['failure_action']}",
        )
    )
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}} : {v}" for k, v in rows)
