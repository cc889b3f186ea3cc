"""``swarmctl service create|ls|inspect|ps|scale|update|rollback|history|rm``, with
``docker service``'s flags.

Flags become an options map (api/service_options.py); ``create`` applies it to
a default spec, validates it here and sends the spec; ``update`` validates the options here
and sends them, and the manager applies them to the current spec. Bad values are refused
by argparse (one line, exit 2) and invalid specs by validation (one line, exit 1), before
anything is sent. Without ``--detach``, create/update/scale/rollback wait until the
service converged at the spec version they wrote (cli/service_wait.py, cli/progress.py),
and exit 1 saying why when an update paused or rolled back. ``ps`` is cli/service_ps.py,
``inspect`` cli/service_inspect.py, ``history`` and ``rollback`` cli/service_history.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from cli.argtypes import count
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.lazy_verbs import lazy_verbs
from cli.output import render_table, write_json, write_text
from cli.remove_each import remove_each
from cli.service_flags import (
    CREATE_LIST_FLAGS,
    UPDATE_LIST_FLAGS,
    add_spec_flags,
    add_wait_flags,
    option_dest,
    options_of,
)
from cli.service_wait import finished_before, job_run_before, wait_for_change

if TYPE_CHECKING:
    from api.specs import ServiceSpec

__all__ = ["register"]


# -- registration -----------------------------------------------------------------------


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "service",
        parents=[common],
        help="create, list, inspect, update, scale, roll back and remove services",
    )
    verbs = lazy_verbs(parser, title="commands", dest="verb", metavar="COMMAND", required=True)
    for name, build, summary in _VERBS:
        verbs.add_verb(name, build, parents=[common], help=summary)


def _build_create(create: argparse.ArgumentParser) -> None:
    create.add_argument("--name", default=None, help="service name (default: generated)")
    create.add_argument(
        "--mode",
        choices=("replicated", "global", "replicated-job", "global-job"),
        default=None,
        help="replicated (default), global, or a job run to completion: replicated-job "
        "(--replicas completions, --max-concurrent at once) or global-job",
    )
    add_spec_flags(create, CREATE_LIST_FLAGS)
    create.add_argument(
        "--env-file",
        action="append",
        default=None,
        metavar="FILE",
        help="read environment variables from FILE, KEY=VALUE a line (# comments; a "
        "bare KEY takes swarmctl's own value); --env given too wins (repeatable)",
    )
    _add_dry_run(create)
    create.add_argument("image", metavar="IMAGE", help="the image the tasks run")
    create.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND [ARG...]",
        help="the command and its arguments (default: the image's)",
    )
    create.set_defaults(run=run_create)


def _build_logs(logs: argparse.ArgumentParser) -> None:
    from cli.logs import add_log_flags, run_service_logs

    add_log_flags(logs)
    logs.add_argument("service", metavar="SERVICE", help="the service (name, id or prefix)")
    logs.set_defaults(run=run_service_logs)


def _build_ls(ls: argparse.ArgumentParser) -> None:
    ls.add_argument("-q", "--quiet", action="store_true", help="only ids")
    ls.set_defaults(run=run_ls)


def _build_inspect(inspect: argparse.ArgumentParser) -> None:
    from cli.service_inspect import add_inspect_arguments

    add_inspect_arguments(inspect)


def _build_ps(ps: argparse.ArgumentParser) -> None:
    from cli.service_ps import add_ps_arguments

    add_ps_arguments(ps)


def _build_scale(scale: argparse.ArgumentParser) -> None:
    scale.add_argument(
        "pairs", nargs="+", metavar="SERVICE=REPLICAS", help="services and their task counts"
    )
    add_wait_flags(scale)
    scale.set_defaults(run=run_scale)


def _build_update(update: argparse.ArgumentParser) -> None:
    update.add_argument(
        "--image", dest=option_dest("image"), default=None, metavar="IMAGE", help="the new image"
    )
    update.add_argument("--args", default=None, help="the command's arguments, one string")
    update.add_argument(
        "--force",
        dest=option_dest("force"),
        action="store_true",
        help="replace the tasks even if nothing changed",
    )
    update.add_argument(
        "--rollback",
        action="store_true",
        help="roll back to the previous spec (as 'service rollback'; no other change)",
    )
    add_spec_flags(update, UPDATE_LIST_FLAGS)
    _add_dry_run(update)
    update.add_argument("service", metavar="SERVICE", help="the service (name, id or prefix)")
    update.set_defaults(run=run_update)


def _build_rollback(rollback_: argparse.ArgumentParser) -> None:
    from cli.service_history import add_rollback_arguments

    add_rollback_arguments(rollback_)
    _add_dry_run(rollback_)
    rollback_.set_defaults(run=run_rollback)


def _build_history(history: argparse.ArgumentParser) -> None:
    from cli.service_history import add_history_arguments

    add_history_arguments(history)


def _build_rebalance(rebalance: argparse.ArgumentParser) -> None:
    rebalance.add_argument("service", metavar="SERVICE", help="the service (name, id or prefix)")
    add_wait_flags(rebalance)
    rebalance.set_defaults(run=run_rebalance)


def _build_rm(rm: argparse.ArgumentParser) -> None:
    rm.add_argument("services", nargs="+", metavar="SERVICE", help="the services to remove")
    rm.set_defaults(run=run_rm)


# verb, the function adding its arguments when it is chosen (cli/lazy_verbs.py), summary;
# a verb's module (logs, inspect, ps, history) is imported by its function, when chosen
_VERBS = (
    ("create", _build_create, "create a service"),
    ("logs", _build_logs, "fetch the logs of a service's tasks (stdout and stderr)"),
    ("ls", _build_ls, "list services"),
    ("inspect", _build_inspect, "show a service in detail"),
    ("ps", _build_ps, "list the tasks of services"),
    ("scale", _build_scale, "scale replicated services (a replicated job: its completions)"),
    ("update", _build_update, "update a service"),
    ("rollback", _build_rollback, "roll a service back to an earlier spec"),
    ("history", _build_history, "show the specs a service had and what changed"),
    (
        "rebalance",
        _build_rebalance,
        "move a replicated service's tasks so that every node that can run them gets "
        "its share, paced by its update config",
    ),
    ("rm", _build_rm, "remove services"),
)


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
    import secrets  # here, not at start-up: it imports hashlib (OpenSSL), ~4% of a create

    return f"{base or 'service'}-{secrets.token_hex(3)}"


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
    if args.env_file:
        options["env"] = [*_env_files(args.env_file), *options.get("env", ())]
    options["image"] = args.image
    if args.command:
        options["args"] = list(args.command)
    if args.mode is not None:
        options["mode"] = args.mode
    options["name"] = args.name if args.name is not None else _generated_name(args.image)
    from api.codec_objects import encode_sparse
    from api.specs import ServiceSpec

    spec = _checked(ServiceSpec(), options)
    if args.dry_run:
        with connection:
            _print_plan(
                args, connection.request("control.service.plan", {"spec": encode_sparse(spec)})
            )
        return 0
    body: dict[str, Any] = {"spec": encode_sparse(spec)}
    if args.with_registry_auth:
        body["registry_auth"] = _registry_auth(args.image)
    with connection:
        reply = connection.request("control.service.create", body)
        job_run = 0 if reply["service"].get("job") is not None else None
        if args.format != "json":  # the id first, then the wait (docker service create)
            write_text(reply["id"])
            sys.stdout.flush()
        wait_for_change(args, connection, reply, baseline=set(), job_run=job_run)
        if args.format == "json":  # one document: the summary after the wait
            write_json(
                connection.request("control.service.inspect", {"service": reply["id"]})["summary"]
            )
    return 0


def _env_files(paths: list[str]) -> list[str]:
    """The entries of the ``--env-file`` files, in order (Docker puts them before --env)."""
    import os

    from cli.env_file import EnvFileError, read_env_file

    try:
        return [entry for path in paths for entry in read_env_file(path, os.environ)]
    except EnvFileError as exc:
        raise CliError(str(exc)) from None


def _registry_auth(image: str) -> dict[str, str]:
    from cli.registry_auth import credentials_for

    return credentials_for(image)


def run_update(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    changes = options_of(args)
    if args.args is not None:
        import shlex

        changes["args"] = shlex.split(args.args)
    if args.rollback:
        if changes:
            flags = ", ".join("--" + k.replace("_", "-") for k in sorted(changes))
            raise CliError(
                f"--rollback goes back to the previous spec: it takes no changes ({flags})"
            )
        args.to_version = None
        return run_rollback(args, connection, _v)
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
        baseline = finished_before(args, connection, args.service)
        job_run = None if args.detach else job_run_before(connection, args.service)
        reply = connection.request("control.service.update", body)
        if args.format != "json":  # the id first, then the wait (docker service update)
            write_text(reply["id"])
            sys.stdout.flush()
        if reply["changed"]:
            wait_for_change(args, connection, reply, baseline, job_run=job_run)
        if args.format == "json":  # one document: the summary after the wait
            write_json(
                connection.request("control.service.inspect", {"service": reply["id"]})["summary"]
            )
    return 0


def run_rollback(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    if args.dry_run:
        body: dict[str, Any] = {"service": args.service, "rollback": True}
        if args.to_version is not None:
            body["to_version"] = args.to_version
        with connection:
            _print_plan(args, connection.request("control.service.plan", body))
        return 0
    from cli.service_history import rollback

    return rollback(args, connection, args.service, args.to_version)


def run_scale(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    wanted: list[tuple[str, int]] = []
    for pair in args.pairs:
        name, sep, replicas = pair.partition("=")
        try:
            if not sep or not name or not replicas.strip().isdigit():
                raise ValueError("expected SERVICE=REPLICAS (N >= 0)")
            wanted.append((name, count(replicas)))
        except ValueError as exc:
            raise CliError(f"invalid scale specifier {pair!r}: {exc}") from None
    results = []
    with connection:
        baselines = [finished_before(args, connection, name) for name, _ in wanted]
        # a replicated job scaled runs again to its new completions: wait for that run
        job_runs = [None if args.detach else job_run_before(connection, name) for name, _ in wanted]
        for name, replicas in wanted:
            reply = connection.request(
                "control.service.scale", {"service": name, "replicas": replicas}
            )
            if args.format != "json":
                write_text(f"{name} scaled to {replicas}")
            results.append(reply)
        for reply, baseline, job_run in zip(results, baselines, job_runs, strict=True):
            if job_run is None or reply["changed"]:  # an unchanged job does not run again
                wait_for_change(args, connection, reply, baseline, job_run=job_run)
        if args.format == "json":  # the summaries after the wait (text: one line each)
            write_json(
                [
                    connection.request("control.service.inspect", {"service": r["id"]})["summary"]
                    for r in results
                ]
            )
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
    """Each service on its own (remove_each.py): one already gone keeps none of the others."""
    with connection:
        removal = remove_each(
            args.services,
            lambda ref: connection.request("control.service.rm", {"services": [ref]}),
            echo=None if args.format == "json" else lambda ref, _reply: ref,
        )
    if args.format == "json":
        write_json([sid for reply in removal.removed for sid in reply["removed"]])
    return removal.finish()


def run_ls(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        services = connection.rows("control.service.ls", {}, "services")["services"]
    if args.format == "json":
        keys = ("id", "name", "mode", "replicas_desired", "replicas_running", "image")
        write_json([{k: s[k] for k in keys} | s for s in services])
    elif args.quiet:
        write_text("\n".join(s["id"] for s in services) or "")
    else:
        rows = [
            (s["id"][:12], s["name"], s["mode"], replicas_column(s), s["image"], ports_column(s))
            for s in services
        ]
        write_text(render_table(("ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"), rows))
    return 0


def ports_column(summary: dict[str, Any]) -> str:
    """The ports the routing mesh publishes on every node, as ``docker service ls`` shows
    them: ``*:8080->80/tcp`` (host-mode ports are per task: ``service ps``)."""
    return ",".join(
        f"*:{p['published_port']}->{p['target_port']}/{p['protocol']}"
        for p in summary.get("ports", ())
        if p.get("publish_mode") == "ingress" and p.get("published_port")
    )


def replicas_column(summary: dict[str, Any]) -> str:
    """``running/desired``; a job's as Docker shows it: ``running/concurrency
    (completed/total completed)``."""
    job = summary.get("job")
    if not job:
        return f"{summary['replicas_running']}/{summary['replicas_desired']}"
    return f"{job['running']}/{job['concurrency']} ({job['completed']}/{job['total']} completed)"
