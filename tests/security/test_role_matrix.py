"""The role matrix (issue 8, item 7) and the certificate-bound identity of every call
(item 1), against real ``swarm-node`` processes over real CURVE.

Every handler of every endpoint a node serves is called as each identity
(tests/support/security_cluster.py: a stranger with a fresh CURVE key, a worker, a manager,
a removed node) and its answer checked against the rule written here:

    SERVED         a reply (for a stream: its first frame)
    error(code)    an error reply with that code (``unauthorized``: refused for who the
                   caller is; another code: the handler ran, for the caller's own node,
                   and refused what was asked)
    SILENT         no reply, on a connection that still answers (a one-way message taken)
    ZAP            no reply at all: the CURVE handshake was refused

The handler names come from the tables the nodes serve (``endpoint_tables`` of
actors/node/tree/manager_parts.py, built in manager_tables.py, and worker_parts.py), so a
handler added without a rule here fails the matrix. The control socket (``ipc://``, no
CURVE) is no identity's to reach: its protection is its file mode; there every handler
answers (a manager's) or refuses ``not_manager`` (a worker's).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors.ca.certs import create_csr, generate_node_key
from actors.dispatcher.wire import encode_session_request, encode_status_updates
from actors.raft_node.types import Message, MessageType
from actors.raft_node.wire import encode_batch
from api.errors import RemoteError, RequestTimeout
from api.objects import NodeDescription, TaskStatus
from api.task_state import TaskState
from tests.support.security_cluster import CALLERS, Caller, SecurityCluster, served_tables
from tests.support.swarm import poll
from transport import Client, generate_keypair

TIMEOUT = 8.0  # seconds a call may take before it counts as unanswered
STREAMED = frozenset({"dispatcher.session", "logs.listen", "control.events"})
NOOP_ENTRY = b"\xc4\x03nop"  # a msgpack bin: committed, then skipped by the store
DESCRIPTION = NodeDescription(hostname="matrix")


@dataclass(frozen=True)
class Expect:
    kind: str  # served | error | silent | zap
    code: str = ""

    def __str__(self) -> str:
        return f"error {self.code}" if self.kind == "error" else self.kind


SERVED = Expect("served")
SILENT = Expect("silent")
ZAP = Expect("zap")


def error(code: str) -> Expect:
    return Expect("error", code)


UNAUTHORIZED = error("unauthorized")
NO_SESSION = error("no_session")  # its own node, but no session open (identity passed)


def rule(stranger: Expect, worker: Expect, manager: Expect, removed: Expect) -> dict[str, Expect]:
    return dict(zip(CALLERS, (stranger, worker, manager, removed), strict=True))


ANY_NODE = rule(UNAUTHORIZED, SERVED, SERVED, ZAP)
MANAGERS = rule(UNAUTHORIZED, UNAUTHORIZED, SERVED, ZAP)

# the leader's endpoints, reached over TCP with CURVE
RULES: dict[str, dict[str, dict[str, Expect]]] = {
    "remote": {
        "version": ANY_NODE,
        "ca.root": rule(SERVED, SERVED, SERVED, ZAP),
        # anyone reaches the join; the token decides (a bogus one here)
        "ca.join": rule(*(error("invalid_token"),) * 3, ZAP),
        "ca.renew": ANY_NODE,
        "raft.messages": rule(UNAUTHORIZED, UNAUTHORIZED, SILENT, ZAP),  # one way
        "raft.chunk": rule(UNAUTHORIZED, UNAUTHORIZED, SILENT, ZAP),  # one way
        "raft.propose": MANAGERS,
        "raft.status": MANAGERS,
        "raft.join": MANAGERS,
        "dispatcher.session": ANY_NODE,
        "dispatcher.heartbeat": rule(UNAUTHORIZED, NO_SESSION, NO_SESSION, ZAP),
        "dispatcher.status": rule(UNAUTHORIZED, NO_SESSION, NO_SESSION, ZAP),
        # a node's log subscriptions and what it publishes for them (its own node)
        "logs.listen": ANY_NODE,
        "logs.publish": ANY_NODE,  # a subscription it was not sent: "stop"
        # a follower relaying a subscriber: managers only
        "logs.subscribe": rule(UNAUTHORIZED, UNAUTHORIZED, error("not_found"), ZAP),
        "logs.read": rule(UNAUTHORIZED, UNAUTHORIZED, error("unknown_subscription"), ZAP),
        "logs.close": MANAGERS,  # no such subscription: closed false
    },
    # published key, public answers: even a removed node may ask
    "hello": {"ca.hello": rule(SERVED, SERVED, SERVED, SERVED)},
}
PROBES = {"remote": "ca.root", "hello": "ca.hello"}  # answered to anyone ZAP admits

# the control sockets: the local owner's only (mode 0600); every call is answered, with a
# reply or the handler's own error. Each with a harmless body: reads, or writes naming
# objects that do not exist
ANSWERED = Expect("answered")
NONE = "does-not-exist"
CONTROL_BODIES: dict[str, Mapping[str, Any]] = {
    "version": {},
    "control.cluster.inspect": {},
    "control.cluster.join_token": {"role": "worker"},
    "control.cluster.unlock_key": {},
    "control.cluster.update": {},
    "control.cluster.engine_cert": {"csr": b"not a csr"},
    # a manager without --force is refused in Docker's words (code unavailable); a worker
    # is not asked: it would leave (tests/integration/test_swarm_leave.py)
    "control.cluster.leave": {"force": False},
    "control.cluster.ca": {},
    "control.network.create": {"spec": {}},
    "control.network.inspect": {"network": NONE},
    "control.network.ls": {},
    "control.network.rm": {"networks": [NONE]},
    "control.events": {"wait": 0.0},  # a stream of one lease: its first frame at once
    "control.node.inspect": {"node": NONE},
    "control.node.ls": {},
    "control.node.rm": {"node": NONE},
    "control.node.update": {"node": NONE},
    "control.service.create": {"spec": {}},
    "control.service.inspect": {"service": NONE},
    "control.service.ls": {},
    "control.service.history": {"service": NONE},
    "control.service.plan": {"service": NONE, "changes": {}},
    "control.service.ps": {"service": NONE},
    "control.service.rm": {"services": [NONE]},
    "control.service.rollback": {"service": NONE},
    "control.service.scale": {"service": NONE, "replicas": 1},
    "control.service.update": {"service": NONE, "changes": {}},
    "control.task.inspect": {"task": NONE},
    "control.task.ls": {},
    "control.unlock": {"unlock_key": "SWMKEY-1-bogus"},
    "control.logs.subscribe": {
        "selector": {"services": [NONE]},
        "options": {"follow": False, "tail": -1, "since": 0},
    },
    "control.logs.read": {"subscription_id": NONE, "after": 0, "wait": 0.0},
    "control.logs.close": {"subscription_id": NONE},
    "control.secret.create": {"spec": {}},
    "control.secret.ls": {},
    "control.secret.inspect": {"secret": NONE},
    "control.secret.rm": {"secrets": [NONE]},
    "control.secret.update": {"secret": NONE, "version": 1, "labels": {}},
    "control.config.create": {"spec": {}},
    "control.config.ls": {},
    "control.config.inspect": {"config": NONE},
    "control.config.rm": {"configs": [NONE]},
    "control.config.update": {"config": NONE, "version": 1, "labels": {}},
}
MANAGER_CONTROL = dict.fromkeys(CONTROL_BODIES, ANSWERED)


WORKER_LEAVES = "control.cluster.leave"  # served by a worker too: it leaves, never called here


def worker_control(name: str) -> Expect:
    """A worker answers ``version`` and refuses every control call but ``leave``."""
    return SERVED if name == "version" else error("not_manager")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityCluster]:
    c = SecurityCluster.start(tmp_path_factory.mktemp("security"))
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, frozenset[str]]]:
    return served_tables(tmp_path_factory.mktemp("tables"))


# --- calling --------------------------------------------------------------------------------


def bodies(caller: Caller) -> dict[str, Mapping[str, Any]]:
    """A well-formed body of every remote call, for ``caller``'s own node (a stranger names
    a node id it has no certificate for)."""
    own = caller.node_id or "0" * 25
    csr = create_csr(generate_node_key(), caller.keys.public)
    return {
        "version": {},
        "ca.root": {},
        "ca.hello": {},
        "ca.join": {"token": "SWMTKN-1-bogus", "csr": csr, "hostname": "matrix"},
        "ca.renew": {"csr": csr},
        "raft.messages": {"from": caller.raft_id or 1, "seq": 0, "batch": encode_batch([])},
        # the first byte of a batch of four: held until the rest comes, which never does
        "raft.chunk": {
            "from": caller.raft_id or 1,
            "seq": 0,
            "stream": 1,
            "total": 4,
            "offset": 0,
            "data": b"\x00",
        },
        "raft.propose": {"data": [NOOP_ENTRY]},
        "raft.status": {},
        "raft.join": {
            "node_id": own,
            "raft_id": caller.raft_id or 1,
            "addr": caller.addr or "127.0.0.1:1",
        },
        "dispatcher.session": encode_session_request(own, DESCRIPTION),
        "dispatcher.heartbeat": {"node_id": own, "session_id": "none"},
        "dispatcher.status": {"node_id": own, "session_id": "none", "updates": []},
        "logs.listen": {"node_id": own},
        "logs.publish": {"node_id": own, "subscription_id": NONE, "records": [], "close": True},
        "logs.subscribe": {
            "selector": {"services": [NONE]},
            "options": {"follow": False, "tail": -1, "since": 0},
        },
        "logs.read": {"subscription_id": NONE, "after": 0, "wait": 0.0},
        "logs.close": {"subscription_id": NONE},
    }


def outcome(call: Any) -> Expect:
    """What one call got: ``call()`` returns the reply or raises."""
    try:
        call()
    except RemoteError as exc:
        return error(exc.code)
    except (RequestTimeout, TimeoutError, StopIteration):
        return SILENT
    return SERVED


def call_all(
    address: str,
    server_key: bytes | None,
    caller: Caller | None,
    calls: Mapping[str, Mapping[str, Any]],
    probe: str | None,
) -> dict[str, Expect]:
    """Every call at once on one connection; then, if ``probe`` is given and nothing was
    answered, whether the connection answers at all (else each is a ZAP refusal)."""
    keys = caller.keys if caller is not None else None
    with Client(address, server_key=server_key, keypair=keys, timeout=TIMEOUT) as client:
        streams = {
            name: client.stream(name, body, timeout=TIMEOUT)
            for name, body in calls.items()
            if name in STREAMED
        }
        futures: dict[str, Future[dict[str, Any]]] = {
            name: client.request_async(name, body, timeout=TIMEOUT)
            for name, body in calls.items()
            if name not in STREAMED
        }
        got = {name: outcome(lambda f=f: f.result(TIMEOUT * 3)) for name, f in futures.items()}
        got |= {name: outcome(lambda s=s: next(s)) for name, s in streams.items()}
        silent = all(e == SILENT for e in got.values())
        if silent and probe is not None and outcome(lambda: client.request(probe)) == SILENT:
            got = dict.fromkeys(got, ZAP)
    return got


def answered(expect: Expect, got: Expect) -> bool:
    if expect == ANSWERED:
        return got == SERVED or (
            got.kind == "error" and got.code not in ("unauthorized", "internal")
        )
    return got == expect


# --- the matrix -----------------------------------------------------------------------------


def test_every_handler_has_a_rule(tables: dict[str, dict[str, frozenset[str]]]) -> None:
    manager = tables["manager"]
    assert set(manager) == {"remote", "hello", "control"}
    assert {n: set(names) for n, names in manager.items() if n != "control"} == {
        n: set(rules) for n, rules in RULES.items()
    }, "a handler without a rule in the role matrix (or a rule for none)"
    assert set(manager["control"]) == set(MANAGER_CONTROL)
    assert set(tables["worker"]) == {"control"}  # a worker serves nothing remotely
    assert set(bodies(Caller("x", generate_keypair()))) >= set().union(*RULES.values())


def test_remote_and_hello_answer_each_identity_as_their_rules_say(
    cluster: SecurityCluster, tables: dict[str, dict[str, frozenset[str]]]
) -> None:
    endpoints = {"remote": cluster.remote, "hello": cluster.hello}
    wrong: list[str] = []
    for endpoint, (address, server_key) in endpoints.items():
        names = tables["manager"][endpoint]
        for who in CALLERS:
            caller = cluster.callers[who]
            made = bodies(caller)
            calls = {name: made[name] for name in sorted(names)}
            got = call_all(address, server_key, caller, calls, PROBES[endpoint])
            for name in sorted(names):
                expect = RULES[endpoint][name][who]
                if not answered(expect, got[name]):
                    wrong.append(f"{endpoint} {name} as {who}: expected {expect}, got {got[name]}")
    assert not wrong, "\n".join(wrong)


def test_control_sockets_are_the_owners_and_answer_as_their_rules_say(
    cluster: SecurityCluster, tables: dict[str, dict[str, frozenset[str]]]
) -> None:
    wrong: list[str] = []
    for node, role, expect_of in (
        (cluster.leader, "manager", MANAGER_CONTROL.__getitem__),
        (cluster.worker, "worker", worker_control),
    ):
        mode = stat.S_IMODE(os.stat(node.socket).st_mode)
        assert mode == 0o600, f"{role} control socket mode {mode:o}"
        assert stat.S_IMODE(os.stat(node.state_dir).st_mode) == 0o700
        names = sorted(tables[role]["control"] - ({WORKER_LEAVES} if role == "worker" else set()))
        calls = {name: CONTROL_BODIES[name] for name in names}
        got = call_all(f"ipc://{Path(node.socket).absolute()}", None, None, calls, None)
        for name in names:
            if not answered(expect_of(name), got[name]):
                wrong.append(f"{role} control {name}: expected {expect_of(name)}, got {got[name]}")
    assert not wrong, "\n".join(wrong)


# --- every call speaks for its certificate (item 1), on real processes -------------------------


def unauthorized_events(cluster: SecurityCluster) -> list[dict[str, Any]]:
    return cluster.log_events(cluster.leader, "dispatcher.call.unauthorized")


def test_a_worker_cannot_open_a_session_as_the_manager(cluster: SecurityCluster) -> None:
    worker = cluster.callers["worker"]
    victim = cluster.leader.node_id
    address, server_key = cluster.remote
    with Client(address, server_key=server_key, keypair=worker.keys, timeout=TIMEOUT) as c:
        got = outcome(
            lambda: next(
                c.stream(
                    "dispatcher.session",
                    encode_session_request(victim, DESCRIPTION),
                    timeout=TIMEOUT,
                )
            )
        )
    assert got == UNAUTHORIZED
    event = poll(
        lambda: [e for e in unauthorized_events(cluster) if e.get("named_node") == victim],
        "the refusal logged on the leader",
    )[-1]
    assert event["certified_node"] == worker.node_id
    assert event["key_fingerprint"] == worker.keys.fingerprint


def test_heartbeat_and_status_for_another_node_are_refused(cluster: SecurityCluster) -> None:
    worker = cluster.callers["worker"]
    victim = cluster.follower.node_id
    address, server_key = cluster.remote
    failed = encode_status_updates([("t" * 25, TaskStatus(state=TaskState.FAILED))])
    calls = {
        "dispatcher.heartbeat": {"node_id": victim, "session_id": "any"},
        "dispatcher.status": {"node_id": victim, "session_id": "any", "updates": failed},
    }
    assert call_all(address, server_key, worker, calls, None) == dict.fromkeys(calls, UNAUTHORIZED)


def test_log_listen_and_publish_for_another_node_are_refused(cluster: SecurityCluster) -> None:
    worker = cluster.callers["worker"]
    victim = cluster.follower.node_id
    address, server_key = cluster.remote
    line = {"task_id": "t" * 25, "ts": 1, "stream": "stdout", "data": b"forged\n"}
    publish = {"node_id": victim, "subscription_id": NONE, "records": [line], "close": False}
    assert call_all(address, server_key, worker, {"logs.publish": publish}, None) == {
        "logs.publish": UNAUTHORIZED
    }
    with Client(address, server_key=server_key, keypair=worker.keys, timeout=TIMEOUT) as c:
        got = outcome(lambda: next(c.stream("logs.listen", {"node_id": victim}, timeout=TIMEOUT)))
    assert got == UNAUTHORIZED
    poll(
        lambda: [
            e
            for e in cluster.log_events(cluster.leader, "logs.call.unauthorized")
            if e.get("named_node") == victim and e.get("certified_node") == worker.node_id
        ],
        "the refusal logged on the leader",
    )


def test_sessions_under_made_up_node_ids_create_no_node(cluster: SecurityCluster) -> None:
    before = cluster.node_ids()
    address, server_key = cluster.remote
    made_up = ["p" * 25, "q" * 25]
    for who in ("worker", "manager"):
        caller = cluster.callers[who]
        with Client(address, server_key=server_key, keypair=caller.keys, timeout=TIMEOUT) as c:
            for node_id in made_up:
                request = encode_session_request(node_id, DESCRIPTION)
                got = outcome(lambda r=request: next(c.stream("dispatcher.session", r)))
                assert got == UNAUTHORIZED, (who, got)
    assert cluster.node_ids() == before


def test_raft_frames_with_a_forged_sender_are_dropped_and_counted(
    cluster: SecurityCluster,
) -> None:
    manager = cluster.callers["manager"]
    assert manager.raft_id is not None
    address, server_key = cluster.remote
    with Client(address, server_key=server_key, keypair=manager.keys, timeout=TIMEOUT) as c:
        term = int(c.request("raft.status", {})["term"])
        leader_id = int(c.request("raft.status", {})["node_id"])
        high = term + 1000

        def takeover(src: int) -> bytes:
            return encode_batch([Message(MessageType.HEARTBEAT, src, leader_id, high)])

        forgeries = {
            "own Raft id": {"from": leader_id, "seq": 0, "batch": takeover(leader_id)},
            "no member": {"from": 4242, "seq": 0, "batch": takeover(4242)},
            "a message inside": {"from": manager.raft_id, "seq": 0, "batch": takeover(4242)},
        }
        for reason, body in forgeries.items():

            def refused(reason: str = reason, body: Mapping[str, Any] = body) -> bool:
                c.send("raft.messages", body)  # again each poll: refusals log once a second
                events = cluster.log_events(cluster.leader, "raft.frame.refused")
                return any(reason in str(e.get("reason")) for e in events)

            poll(refused, f"a frame refused for {reason!r} logged on the leader")
        status = c.request("raft.status", {})
    assert int(status["term"]) < high and int(status["leader_id"]) == leader_id
    counts = [int(e["refused"]) for e in cluster.log_events(cluster.leader, "raft.frame.refused")]
    assert counts == sorted(counts) and counts[-1] >= len(forgeries)
