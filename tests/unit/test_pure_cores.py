"""Pure cores import no I/O (STYLE.md rule 1): one list of every pure module and its rules.

Each `Core` names a set of modules, the top-level packages they must not import (zmq,
pykka, threads, clocks…), and optionally which `actors.*` modules they may import: only
under some prefixes, and never a shell module. A package whose every module but its shells
is pure is listed by globbing it, so a new module there is checked without being listed.
"""

from __future__ import annotations

import ast
import pathlib
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

NO_IO = frozenset({"zmq", "pykka", "threading", "time", "socket", "asyncio", "subprocess"})


@dataclass(frozen=True)
class Core:
    name: str
    modules: tuple[str, ...]  # paths relative to the repository root
    forbidden: frozenset[str]  # top-level packages the modules must not import
    # when set, any `actors.*` import must start with one of these prefixes
    actors_prefixes: tuple[str, ...] | None = None
    shells: frozenset[str] = frozenset()  # modules that must never be imported


def package(directory: str, shells: set[str], at_least: set[str]) -> tuple[str, ...]:
    """Every module of `directory` but its `shells`, and `at_least` (which must exist)."""
    found = {p.name for p in (ROOT / directory).glob("*.py") if p.name not in shells}
    return tuple(f"{directory}/{name}" for name in sorted(found | at_least))


CORES = [
    # the shared backoff schedule, which pure cores use
    Core("backoff", ("actors/backoff.py",), NO_IO | {"os"}, actors_prefixes=()),
    # the batching rule of the store reactors and the dispatcher: when to tick next
    Core("tick-window", ("actors/tick_window.py",), NO_IO | {"os"}, actors_prefixes=()),
    # where an HTTP endpoint listens: parsed without I/O
    Core("http-address", ("actors/http/address.py",), NO_IO | {"aiohttp"}, actors_prefixes=()),
    # the Engine API's JSON shapes, filters and conversions: no HTTP, no control socket
    Core(
        "engine-api",
        package(
            "actors/engine_api",
            shells={
                "__init__.py",
                "app.py",
                "child.py",
                "control.py",
                "files.py",
                "logs.py",
                "networks.py",
                "nodes.py",
                "services.py",
                "system.py",
                "tls.py",
            },
            at_least={"service_spec.py", "objects.py", "listing.py", "events.py", "wire.py"},
        ),
        NO_IO | {"aiohttp", "transport"},
        actors_prefixes=("actors.engine_api.",),
        shells=frozenset(
            {"actors.engine_api.app", "actors.engine_api.control", "actors.engine_api.child"}
        ),
    ),
    Core(
        "ca",
        (
            "actors/ca/root.py",
            "actors/ca/certs.py",
            "actors/ca/tokens.py",
            "actors/ca/renewal.py",
            "actors/ca/rotation.py",
            "actors/ca/encryption.py",
            "actors/ca/z85.py",
            "actors/ca/engine_certs.py",
            "actors/ca/bootstrap.py",
            "actors/ca/issuance.py",
            "actors/ca/rotation_start.py",
            "actors/ca/revocation.py",
            "actors/ca/renewal_reply.py",
            "actors/ca/tls_info.py",
        ),
        NO_IO | {"transport"},
        actors_prefixes=("actors.ca.",),
        shells=frozenset({"actors.ca.keystore", "actors.ca.admission"}),
    ),
    # the decoding boundary, the trust rules and the strangers' limits: what a frame or a
    # connection may cost is decided without I/O
    Core(
        "transport",
        (
            "transport/codec.py",
            "transport/body_walk.py",
            "transport/decode_guard.py",
            "transport/trust.py",
            "transport/strangers.py",
            "transport/stranger_connection.py",
            "transport/stranger_limits.py",
            "transport/stranger_rates.py",
            "transport/by_source.py",
        ),
        NO_IO,
    ),
    # the errors every package raises for a failed write: below all of them
    Core("proposal-errors", ("actors/proposal_errors.py",), NO_IO, actors_prefixes=()),
    # the ZAP policy must be importable without zmq; it satisfies transport's protocol by shape
    Core("ca-admission", ("actors/ca/admission.py",), frozenset({"zmq", "transport", "pykka"})),
    Core(
        "dispatcher",
        (
            "actors/dispatcher/heartbeats.py",
            "actors/dispatcher/assignments.py",
            "actors/dispatcher/dependencies.py",
            "actors/dispatcher/statuses.py",
            "actors/dispatcher/sessions.py",
            "actors/dispatcher/callers.py",
            "actors/dispatcher/core.py",
            "actors/dispatcher/held_writes.py",
            "actors/dispatcher/wire.py",
            "actors/dispatcher/session_request.py",
            "actors/dispatcher/status_updates.py",
            "actors/dispatcher/spec_tables.py",
            "actors/dispatcher/networks_and_auth.py",
            "actors/dispatcher/ingress.py",
            "actors/dispatcher/ingress_changes.py",
            "actors/dispatcher/store_changes.py",
            "actors/dispatcher/frame_parts.py",
            "actors/dispatcher/frame_packing.py",
            "actors/worker/session.py",
            "actors/worker/session_calls.py",
            "actors/worker/session_schedule.py",
            "actors/worker/set_assembly.py",
            "actors/worker/mesh_table.py",
        ),
        NO_IO | {"transport"},
        actors_prefixes=(
            "actors.dispatcher.",
            "actors.worker.session",  # and session_calls, session_schedule
            "actors.worker.set_assembly",
            "actors.worker.mesh_table",
            "actors.backoff",
            # the watch's events and the default cluster's name (store_changes.py)
            "actors.store.clusters",
            "actors.store.entry",
            "actors.store.watch",
        ),
        shells=frozenset(
            {
                "actors.dispatcher.actor",
                "actors.dispatcher.writer",
                "actors.dispatcher.handlers",
                "actors.dispatcher.notices",
                "actors.dispatcher.stop_steps",
                "actors.dispatcher.watch_intake",
            }
        ),
    ),
    Core(
        "orchestrator",
        package(
            "actors/orchestrator",
            shells={"actor.py", "__init__.py"},
            at_least={
                "replicated.py",
                "global_.py",
                "restart.py",
                "reaper.py",
                "update.py",
                "state.py",
                "reconcile.py",
            },
        ),
        NO_IO | {"os"},
        shells=frozenset({"actors.orchestrator.actor"}),
    ),
    Core(
        "scheduler",
        package(
            "actors/scheduler",
            shells={"actor.py", "__init__.py"},
            at_least={"filters.py", "nodeinfo.py", "strategy.py", "scheduler.py"},
        ),
        NO_IO | {"os"},
        actors_prefixes=("actors.scheduler",),  # the core needs no store
        shells=frozenset({"actors.scheduler.actor"}),
    ),
    # the store guards its tables with a lock, so it may import threading
    Core(
        "store",
        package("actors/store", shells=set(), at_least=set()),
        (NO_IO - {"threading"}) | {"os"},
    ),
    # the node's membership policy and role rules; the CA's and control API's role rules
    Core(
        "node-membership",
        (
            "actors/node/membership/join_policy.py",
            "actors/node/membership/leave.py",
            "actors/node/membership/plan.py",
            "actors/node/membership/roles.py",
            "api/roles.py",
        ),
        NO_IO | {"os", "transport"},
        actors_prefixes=("actors.ca.certs", "actors.node.membership.roles"),
    ),
    # the control API's view of Raft's membership: manager status, demotion, removal
    Core(
        "control-raft-members",
        ("actors/control/raft_members.py",),
        NO_IO | {"os", "transport"},
        actors_prefixes=("actors.raft_node.status",),
    ),
    # service templates ({{.Node.Hostname}}): parsed and expanded, never evaluated
    Core("templates", ("api/templates.py",), NO_IO | {"os", "transport"}, actors_prefixes=()),
    # compose files → stack specs: the caller reads the files (cli/stack_deploy.py)
    Core(
        "compose",
        (
            "api/compose.py",
            "api/compose_fields.py",
            "api/compose_host.py",
            "api/compose_service.py",
        ),
        NO_IO | {"os", "pathlib", "yaml", "transport"},
        actors_prefixes=(),
    ),
    Core(
        "worker",
        (
            "actors/worker/controller.py",
            "actors/worker/assignments.py",
            "actors/worker/executors/base.py",
            "actors/worker/executors/docker_config.py",
            "actors/worker/executors/docker_exits.py",
            "actors/worker/executors/docker_pull.py",
            "actors/worker/executors/process_policy.py",
            "actors/worker/executors/health.py",
            "actors/worker/file_layout.py",
            "actors/worker/runner_rules.py",
            "actors/worker/start_queue.py",
        ),
        frozenset({"docker", "zmq", "pykka", "threading", "time", "socket", "requests", "os"}),
    ),
    # the fleet's node: the agent's session and the worker's tasks without threads or
    # sockets, and the timers of them all (one loop drives a thousand: loop.py)
    Core(
        "fleet",
        (
            "actors/node/fleet/tasks.py",
            "actors/node/fleet/session.py",
            "actors/node/fleet/timers.py",
        ),
        NO_IO | {"os", "transport"},
        actors_prefixes=(
            "actors.node.fleet.tasks",
            "actors.backoff",
            "actors.worker.assignments",
            "actors.worker.controller",
            "actors.worker.executors.base",
            "actors.worker.session",  # and session_calls, session_schedule
            "actors.worker.set_assembly",
            "actors.dispatcher.wire",
            "actors.dispatcher.spec_tables",
            "actors.dispatcher.core",
        ),
        shells=frozenset({"actors.node.fleet.loop", "actors.worker.executors.sim"}),
    ),
    # the log broker's core, the log wire bodies and a node's read plan (actors/logs/)
    Core(
        "logs",
        (
            "actors/logs/broker_core.py",
            "actors/logs/broker_types.py",
            "actors/logs/wire.py",
            "actors/logs/reads.py",
            "actors/logs/node_events.py",
        ),
        NO_IO | {"os", "transport"},
        actors_prefixes=("actors.logs.", "actors.worker.executors.output"),
        shells=frozenset(
            {
                "actors.logs.broker",
                "actors.logs.publisher",
                "actors.logs.publishing",
                "actors.logs.handlers",
                "actors.logs.node_ring",
            }
        ),
    ),
    Core(
        "raft",
        tuple(
            f"actors/raft_node/{name}"
            for name in (
                "core.py",
                "carry_out.py",
                "compaction.py",
                "status.py",
                "replication.py",
                "election.py",
                "raft_log.py",
                "progress.py",
                "memory_storage.py",
                "ready.py",
                "types.py",
                "frames.py",
                "senders.py",
                "commit_notices.py",
            )
        ),
        frozenset({"zmq", "pykka", "threading", "socket", "time", "asyncio", "os", "select"}),
    ),
    # the web view's board (store changes -> the page's rows), write rules and log tail reading
    Core(
        "web",
        ("actors/web/board.py", "actors/web/auth.py", "actors/web/logs.py"),
        NO_IO | {"os", "aiohttp"},
        actors_prefixes=(
            "actors.control.raft_members",  # a pure core itself (above)
            "actors.control.views",
            "actors.events.model",
            "actors.store.entry",
            "actors.store.watch",
            "actors.http.address",
        ),
    ),
]


def imported(path: pathlib.Path) -> list[str]:
    """The absolute module names `path` imports, wherever in the module it imports them."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def check_imports(core: Core, module: str) -> None:
    for name in imported(ROOT / module):
        assert name.split(".")[0] not in core.forbidden, f"{module} imports {name}"
        assert name not in core.shells, f"{module} imports the shell module {name}"
        if core.actors_prefixes is not None and name.startswith("actors."):
            assert name.startswith(core.actors_prefixes), f"{module} imports {name}"


@pytest.mark.parametrize(
    ("core", "module"),
    [(core, module) for core in CORES for module in core.modules],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_pure_module_imports_no_io(core: Core, module: str) -> None:
    check_imports(core, module)
