"""The web view's Application on the real HTTP shell, over a local store: the page, the
server-sent events pushed on store changes, the write scheme, the DNS-rebinding guard."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from actors.http import HttpAddress, HttpServer
from actors.web.app import web_app
from actors.web.auth import WriteAuth
from actors.web.child import parse_web_addr, read_token_file
from actors.web.feed import LiveFeed
from actors.web.logs import ControlLogTail
from api.errors import RemoteError
from api.task_state import TaskState
from cli import node_main
from tests.unit.control.helpers import Cluster

TOKEN = "s3cret-web-token-0123456789"


@contextmanager
def no_leader() -> Iterator[Any]:
    """The control API's log calls while no leader is known."""

    def call(kind: str, body: Any, timeout: float) -> dict[str, Any]:
        raise RemoteError("unavailable", "no leader is known (an election is under way?)")

    yield call


@contextmanager
def serving(cluster: Cluster, token: str | None = None, **feed: Any) -> Iterator[int]:
    server = HttpServer("web", HttpAddress(host="127.0.0.1", port=0), web.Application())
    server.app = web_app(
        server,
        LiveFeed(cluster.store, **feed),
        auth=WriteAuth(token),
        scale=cluster.services,
        logs=ControlLogTail(no_leader, threading.BoundedSemaphore(1), clock=time.monotonic),
    )
    server.start()
    try:
        yield int(server.bound().rsplit(":", 1)[1])
    finally:
        server.stop()


def request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


class SseReader:
    """Reads server-sent events from a live stream, each read bounded by a deadline."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", "/api/stream")
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")

    def next(self) -> tuple[str, dict[str, Any]]:
        kind, data = "", ""
        while True:
            line = self.response.readline().decode()
            if line == "":
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
            elif line == "" and kind:
                return kind, json.loads(data)

    def until(self, predicate: Any, what: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kind, data = self.next()
            if predicate(kind, data):
                return data
        raise AssertionError(f"no event with {what} within {timeout} s")

    def close(self) -> None:
        self.conn.close()


def test_the_page_and_its_assets_are_served_with_a_strict_policy() -> None:
    cluster = Cluster()
    with serving(cluster) as port:
        status, headers, body = request(port, "GET", "/")
        assert status == 200 and b"<title>swarmnode</title>" in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"
        for name in ("web.js", "web.css"):
            assert request(port, "GET", f"/static/{name}")[0] == 200
        assert request(port, "GET", "/static/..%2Fapp.py")[0] == 404
        assert json.loads(request(port, "GET", "/api/info")[2]) == {"writes": False}


def test_a_foreign_host_name_is_refused_on_loopback() -> None:
    with serving(Cluster()) as port:
        status, _, body = request(port, "GET", "/api/state", headers={"Host": "evil.example"})
        assert status == 421 and b"loopback" in body


def test_the_stream_starts_with_the_document_then_pushes_store_changes() -> None:
    cluster = Cluster()
    node = cluster.add_node("m1", manager=True)
    sid = cluster.create(name="web", replicas=1)
    with serving(cluster) as port:
        reader = SseReader(port)
        try:
            kind, doc = reader.next()
            assert kind == "state"
            assert [n["hostname"] for n in doc["nodes"]] == ["m1"]
            assert [s["name"] for s in doc["services"]] == ["web"]
            assert any(e["type"] == "service" and e["name"] == "web" for e in doc["events"])

            cluster.add_task(sid, 1, node, state=TaskState.RUNNING)
            patch = reader.until(lambda k, d: k == "patch" and d["put"]["tasks"], "the new task")
            [task] = patch["put"]["tasks"]
            assert (task["name"], task["node"], task["state"]) == ("web.1", "m1", "running")
            assert patch["put"]["services"][0]["replicas_running"] == 1

            cluster.store.update(lambda tx: None)  # an empty entry: nothing to push
            cluster.create(name="db", replicas=1)
            patch = reader.until(lambda k, d: k == "patch", "the next patch")
            assert [s["name"] for s in patch["put"]["services"]] == ["db"]
        finally:
            reader.close()
        # the document the API serves agrees with the stream
        doc = json.loads(request(port, "GET", "/api/state")[2])
        assert sorted(s["name"] for s in doc["services"]) == ["db", "web"]


def test_writes_are_refused_without_a_token_configured() -> None:
    cluster = Cluster()
    cluster.create(name="web", replicas=1)
    with serving(cluster) as port:
        status, _, body = request(
            port,
            "POST",
            "/api/services/web/scale",
            {"replicas": 3},
            {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert status == 403 and b"read-only" in body
    assert cluster.service("web").spec.mode.replicas == 1


def test_scale_needs_the_bearer_token_and_uses_the_control_apis_checks() -> None:
    cluster = Cluster()
    cluster.create(name="web", replicas=1)
    cluster.create(name="all", mode="global")
    good = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with serving(cluster, TOKEN) as port:
        assert json.loads(request(port, "GET", "/api/info")[2]) == {"writes": True}
        status, headers, _ = request(port, "POST", "/api/services/web/scale", {"replicas": 3})
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert request(port, "POST", "/api/services/web/scale", {"replicas": 3}, wrong)[0] == 401
        assert cluster.service("web").spec.mode.replicas == 1

        status, _, body = request(port, "POST", "/api/services/web/scale", {"replicas": 3}, good)
        assert status == 200, body
        assert cluster.service("web").spec.mode.replicas == 3

        status, _, body = request(port, "POST", "/api/services/all/scale", {"replicas": 3}, good)
        assert status == 400 and b"replicated or replicated-job mode" in body
        assert request(port, "POST", "/api/services/nope/scale", {"replicas": 3}, good)[0] == 404
        assert request(port, "POST", "/api/services/web/scale", {"replicas": -1}, good)[0] == 400
        assert request(port, "POST", "/api/services/web/scale", {"replicas": "3"}, good)[0] == 400
        assert request(port, "POST", "/api/services/web/scale", [1], good)[0] == 400
        big = {"replicas": 1, "pad": "x" * 10_000}
        assert request(port, "POST", "/api/services/web/scale", big, good)[0] == 413


def test_the_log_panel_says_why_logs_are_not_available() -> None:
    with serving(Cluster()) as port:
        status, _, body = request(port, "GET", "/api/tasks/abc123/logs")
        answer = json.loads(body)
        assert status == 200 and answer["available"] is False and "no leader" in answer["message"]
        assert request(port, "GET", "/api/tasks/a.b/logs")[0] == 400


def test_web_addresses() -> None:
    assert parse_web_addr("8080") == HttpAddress(host="127.0.0.1", port=8080)
    assert parse_web_addr(":8080") == HttpAddress(host="127.0.0.1", port=8080)
    assert parse_web_addr("0.0.0.0:8080") == HttpAddress(host="0.0.0.0", port=8080)
    for bad in ("", "host:", "x:99999", "unix:///tmp/web.sock", "http://h:1"):
        with pytest.raises(ValueError, match="--web-addr"):
            parse_web_addr(bad)


def test_the_token_file_must_be_private_and_hold_one_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    path.chmod(0o600)
    assert read_token_file(path) == TOKEN
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        read_token_file(path)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(ValueError, match="at least 16"):
        read_token_file(path)
    with pytest.raises(ValueError, match="cannot read it"):
        read_token_file(tmp_path / "missing")


def test_swarm_node_refuses_bad_web_flags_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = ("--state-dir", str(tmp_path / "state"))
    assert node_main.main([*state, "--web-addr", "unix:///tmp/x.sock"]) == 2
    assert "--web-addr" in capsys.readouterr().err
    assert node_main.main([*state, "--web-token-file", str(tmp_path / "t")]) == 2
    assert "--web-token-file goes with --web-addr" in capsys.readouterr().err
    assert node_main.main([*state, "--web-addr", "0", "--web-token-file", "/nonexistent"]) == 2
    assert "cannot read it" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()  # refused before anything is written
