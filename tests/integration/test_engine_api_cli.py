"""The real ``docker`` CLI against a real ``swarm-node --engine-api unix://...`` on the real
engine (issue 13 items 1, 2): every swarm verb, each result checked through ``swarmctl``."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import errors as docker_errors

from actors.engine_api.versions import API_VERSION
from actors.worker.task_files import default_files_root
from tests.support.engine_cli import DockerCli, engine_flags, start_engine_manager
from tests.support.httpd import http_get, serving
from tests.support.swarm import Swarm, SwarmNode, free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.docker

VOLUME = f"swarmnode-engine-api-test-{os.getpid()}"


class Engine:
    def __init__(self, swarm: Swarm, node: SwarmNode, docker: DockerCli) -> None:
        self.swarm = swarm
        self.node = node
        self.docker = docker


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, test_image: str
) -> Iterator[Engine]:
    tmp = tmp_path_factory.mktemp("engine")
    sock = tmp / "engine.sock"
    with Swarm(tmp, docker_client=docker_client) as swarm:
        node = start_engine_manager(swarm, sock)
        yield Engine(swarm, node, DockerCli(sock, cwd=tmp))


def inspect(node: SwarmNode, kind: str, ref: str) -> Any:
    """``swarmctl KIND inspect REF --format json``: the object."""
    [found] = node.ctl_json(kind, "inspect", ref)
    return found


def running(node: SwarmNode, service: str) -> int:
    return sum(1 for r in node.tasks(service) if r["state"] == "running")


def test_info_and_version(engine: Engine) -> None:
    swarm_info = json.loads(engine.docker.ok("info", "--format", "{{json .Swarm}}"))
    assert swarm_info["LocalNodeState"] == "active"
    assert swarm_info["ControlAvailable"] is True
    assert swarm_info["NodeID"] == engine.node.node_id
    assert swarm_info["NodeAddr"] == engine.node.listen_host
    assert (swarm_info["Nodes"], swarm_info["Managers"]) == (1, 1)
    cluster = engine.node.ctl_json("cluster", "inspect")
    assert swarm_info["Cluster"]["ID"] == cluster["id"]
    # the CLI negotiates this endpoint's newest version, docker 28.2's own
    both = engine.docker.ok("version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}")
    assert both.split() == [API_VERSION, API_VERSION] == ["1.50", "1.50"]


def test_what_changes_with_the_requests_version(engine: Engine, test_image: str) -> None:
    """dockerd's versioned answers: ``?status=`` from 1.41, ``EnableIPv4`` from 1.48, a
    version past 1.50 refused in Docker's words; what 1.44 added and no executor here
    runs (a health check's start interval) refused naming it."""
    docker, sock = engine.docker, engine.docker.socket
    try:
        docker.ok("service", "create", "-d", "--name", "ver", test_image, "sleep", "600")
        docker.ok("network", "create", "--driver", "bridge", "vernet")
        for version, shown in (("1.40", False), ("1.41", True), ("1.50", True)):
            status, listed = raw_get(sock, f"/v{version}/services?status=true")
            assert status == 200
            [ver] = [s for s in listed if s["Spec"]["Name"] == "ver"]
            assert ("ServiceStatus" in ver) is shown, version
        assert raw_get(sock, "/v1.48/networks/vernet")[1]["EnableIPv4"] is True
        assert "EnableIPv4" not in raw_get(sock, "/v1.47/networks/vernet")[1]
        refused = docker.fails(
            "service", "create", "-d", "--name", "early", "--health-cmd", "true",
            "--health-start-interval", "1s", test_image, "sleep", "600",
        )  # fmt: skip
        assert "Healthcheck.StartInterval is not supported" in refused, refused
        status, body = raw_get(sock, "/v1.51/info")
        assert status == 400
        assert body["message"] == (
            "client version 1.51 is too new. Maximum supported API version is 1.50"
        )
    finally:
        docker.run("service", "rm", "ver")
        docker.run("network", "rm", "vernet")


def test_swarm_inspect_update_and_tokens(engine: Engine) -> None:
    docker, node = engine.docker, engine.node
    token = docker.ok("swarm", "join-token", "-q", "worker").strip()
    assert token == node.join_token("worker")
    docker.ok("swarm", "update", "--task-history-limit", "3")
    cluster = node.ctl_json("cluster", "inspect")
    assert cluster["spec"]["orchestration"]["task_history_retention_limit"] == 3
    docker.ok("swarm", "join-token", "--rotate", "-q", "manager")
    assert node.join_token("manager") != docker.ok("swarm", "join-token", "-q", "worker")
    assert node.join_token("worker") == token  # only the manager token rotated
    assert "already part of a swarm" in docker.fails("swarm", "init")


def test_swarm_ca_shows_the_root_certificate(engine: Engine) -> None:
    """``docker swarm ca`` and ``swarmctl cluster ca`` print the cluster's root CA (PEM)."""
    root = engine.node.ctl_json("cluster", "inspect")["root_ca"]["ca_cert"].strip()
    assert root.startswith("-----BEGIN CERTIFICATE-----")
    assert engine.docker.ok("swarm", "ca").strip() == root
    assert engine.node.ctl("cluster", "ca").stdout.strip() == root
    assert engine.node.ctl_json("cluster", "ca")["ca_cert"].strip() == root


def test_node_ls_inspect_update_rm(engine: Engine) -> None:
    docker, node = engine.docker, engine.node
    [row] = docker.json_lines("node", "ls")
    assert (row["Hostname"], row["ManagerStatus"], row["Self"]) == ("m1", "Leader", True)
    assert row["TLSStatus"] == "Ready"  # certified by the swarm's root CA
    # filtered by the manager, by the rules of swarmctl node ls --filter
    assert docker.ok("node", "ls", "-q", "--filter", "role=manager").split() == [node.node_id]
    assert docker.ok("node", "ls", "-q", "--filter", "role=worker").split() == []
    assert "invalid filter 'role=boss'" in docker.fails("node", "ls", "--filter", "role=boss")
    [inspected] = docker.inspect("node", "inspect", "m1")
    assert inspected["ID"] == node.node_id
    assert inspected["Spec"]["Role"] == "manager"

    docker.ok("node", "update", "--label-add", "zone=a", "--availability", "drain", "m1")
    shown = inspect(node, "node", "m1")
    assert shown["spec"]["labels"] == {"zone": "a"}
    assert shown["spec"]["availability"] == "drain"
    docker.ok("node", "update", "--label-rm", "zone", "--availability", "active", "m1")
    shown = inspect(node, "node", "m1")
    assert shown["spec"]["labels"] == {}
    assert shown["spec"]["availability"] == "active"

    wsock = engine.node.state_dir.parent / "w1-engine.sock"
    joining = (*node.join_args(node.join_token("worker")), *engine_flags(wsock))
    worker = engine.swarm.start_node("w1", executor="process", extra=joining)
    wait_for(
        lambda: any(
            r["hostname"] == "w1" and r["status"] == "ready" for r in node.ctl_json("node", "ls")
        ),
        "w1 ready",
        timeout=60,
    )
    # a worker's endpoint shows the node, and refuses the cluster's state as Docker's does
    on_worker = DockerCli(wsock, cwd=wsock.parent)
    wait_for(wsock.exists, "w1's Engine API socket")
    swarm_info = json.loads(on_worker.ok("info", "--format", "{{json .Swarm}}"))
    assert (swarm_info["LocalNodeState"], swarm_info["ControlAvailable"]) == ("active", False)
    assert "not a manager" in on_worker.fails("service", "ls")
    assert "is not down" in docker.fails("node", "rm", "w1")
    docker.ok("node", "rm", "--force", "w1")
    assert [r["hostname"] for r in node.ctl_json("node", "ls")] == ["m1"]
    worker.terminate()


@pytest.fixture
def named_volume(engine: Engine) -> Iterator[str]:
    """VOLUME, removed after the test even when it fails (a named volume outlives its
    tasks and its service)."""
    yield VOLUME
    with contextlib.suppress(docker_errors.NotFound):
        engine.swarm.docker.volumes.get(VOLUME).remove(force=True)


def test_service_verbs(engine: Engine, test_image: str, named_volume: str) -> None:
    docker, node = engine.docker, engine.node
    # not detached: the CLI follows the tasks until the service converged
    docker.ok(
        "service", "create", "--name", "web", "--replicas", "2", "--label", "tier=front",
        "--env", "A=1", test_image, "sleep", "600",
    )  # fmt: skip
    assert running(node, "web") == 2
    spec = inspect(node, "service", "web")["spec"]
    assert spec["labels"] == {"tier": "front"}
    assert spec["task"]["container"]["env"] == ["A=1"]
    assert spec["task"]["container"]["args"] == ["sleep", "600"]

    [listed] = docker.json_lines("service", "ls")
    assert (listed["Name"], listed["Replicas"], listed["Mode"]) == ("web", "2/2", "replicated")
    assert docker.json_lines("service", "ls", "--filter", "label=tier=front")
    assert docker.json_lines("service", "ls", "--filter", "name=we")
    assert not docker.json_lines("service", "ls", "--filter", "mode=global")
    tasks = docker.json_lines("service", "ps", "web")
    assert sorted(t["Name"] for t in tasks) == ["web.1", "web.2"]
    assert {t["CurrentState"].split()[0] for t in tasks} == {"Running"}
    [inspected] = docker.inspect("service", "inspect", "web")
    assert inspected["Spec"]["Labels"] == {"tier": "front"}

    docker.update_rolled(
        "web", "--env-add", "B=2", "--mount-add", f"type=volume,source={VOLUME},target=/data"
    )
    shown = inspect(node, "service", "web")
    # the docker CLI rebuilds the list from a Go map on --env-add: its order is random
    assert sorted(shown["spec"]["task"]["container"]["env"]) == ["A=1", "B=2"]
    assert shown["spec_version"] == 2
    [mount] = shown["spec"]["task"]["container"]["mounts"]
    assert (mount["type"], mount["source"], mount["target"]) == ("volume", VOLUME, "/data")

    docker.ok("service", "scale", "-d", "web=3")
    wait_for(lambda: running(node, "web") == 3, "3 running", timeout=60)

    # back to the spec before the scale, through the control API's rollback
    docker.ok("service", "rollback", "-d", "web")
    rolled = inspect(node, "service", "web")
    assert rolled["spec"]["mode"] == {"replicated": {"replicas": 2}}
    assert rolled["spec"]["task"]["container"]["env"] == shown["spec"]["task"]["container"]["env"]
    wait_for(lambda: running(node, "web") == 2, "2 running after the rollback", timeout=60)
    [after] = docker.inspect("service", "inspect", "web")
    assert after["Spec"]["Mode"]["Replicated"]["Replicas"] == 2

    docker.ok("service", "rm", "web")
    wait_for(lambda: node.ctl("service", "inspect", "web").returncode, "web gone", timeout=60)
    wait_for(
        lambda: (
            # the low-level list: containers.list inspects each listed container, and one
            # removed between the list and its inspect raised NotFound
            not engine.swarm.docker.api.containers(
                all=True, filters={"label": f"com.docker.swarm.service.id={shown['id']}"}
            )
        ),
        "web's containers gone",
    )
    engine.swarm.docker.volumes.get(named_volume).remove()  # it outlives its tasks


def test_service_create_with_volume_options(engine: Engine, test_image: str) -> None:
    docker, node, client = engine.docker, engine.node, engine.swarm.docker
    volume = f"{VOLUME}-tmpfs"
    mount = (
        f"type=volume,source={volume},target=/d,volume-driver=local,"
        "volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=team=web,volume-nocopy"
    )
    try:
        docker.ok(
            "service", "create", "--name", "vol", "--mount", mount, test_image, "sleep", "600"
        )
        [inspected] = docker.inspect("service", "inspect", "vol")
        [shown] = inspected["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"]
        assert shown["VolumeOptions"] == {
            "NoCopy": True,
            "Labels": {"team": "web"},
            "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}},
        }
        [task] = [t for t in node.tasks("vol") if t["state"] == "running"]
        container = client.containers.get(task["container_id"])
        mounts = container.exec_run(["cat", "/proc/mounts"]).output.decode().splitlines()
        assert any(line.split()[1:3] == ["/d", "tmpfs"] for line in mounts), mounts
        assert client.volumes.get(volume).attrs["Options"] == {"type": "tmpfs", "device": "tmpfs"}
        # options the API refuses: its own 400, naming the field and what was wrong
        refused = docker.run(
            "service", "update", "-d", "--mount-add",
            "type=volume,source=other,target=/t,volume-driver=no such driver", "vol",
        )  # fmt: skip
        assert refused.returncode != 0
        assert "volume_options.driver.name" in refused.stderr, refused.stderr
        assert "not a volume driver's name" in refused.stderr, refused.stderr
    finally:
        docker.run("service", "rm", "vol")
        wait_for(lambda: _volume_gone(client, volume), f"{volume} removed", timeout=60)


def test_service_create_and_update_with_container_options(engine: Engine, test_image: str) -> None:
    docker, node, client = engine.docker, engine.node, engine.swarm.docker
    try:
        docker.ok(
            "service", "create", "--name", "opts", "--read-only", "--init", "-t",
            "--group", "1234", "--cap-add", "NET_ADMIN", "--cap-drop", "NET_RAW",
            "--ulimit", "nofile=512:1024", "--sysctl", "net.core.somaxconn=777",
            "--dns", "10.9.8.7", "--dns-search", "corp.example", "--dns-option", "ndots:3",
            "--host", "db:10.1.2.3", test_image, "sleep", "600",
        )  # fmt: skip
        [inspected] = docker.inspect("service", "inspect", "opts")
        spec = inspected["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert (spec["ReadOnly"], spec["Init"], spec["TTY"]) == (True, True, True)
        assert spec["Groups"] == ["1234"]
        assert (spec["CapabilityAdd"], spec["CapabilityDrop"]) == (
            ["CAP_NET_ADMIN"],
            ["CAP_NET_RAW"],
        )
        assert spec["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
        assert spec["Sysctls"] == {"net.core.somaxconn": "777"}
        assert spec["DNSConfig"] == {
            "Nameservers": ["10.9.8.7"],
            "Search": ["corp.example"],
            "Options": ["ndots:3"],
        }
        assert spec["Hosts"] == ["10.1.2.3 db"]
        [task] = wait_for(
            lambda: [t for t in node.tasks("opts") if t["state"] == "running"] or None,
            "a running task",
        )
        host = client.api.inspect_container(task["container_id"])["HostConfig"]
        assert host["ReadonlyRootfs"] and host["Init"] and host["ExtraHosts"] == ["db:10.1.2.3"]
        assert host["CapAdd"] == ["CAP_NET_ADMIN"] and host["Sysctls"] == spec["Sysctls"]
        # docker's update flags: off again, one capability moved, a host replaced
        docker.update_rolled(
            "opts", "--read-only=false", "--cap-drop", "NET_ADMIN", "--host-rm", "db",
            "--host-add", "cache:10.1.2.4", "--ulimit-rm", "nofile",
        )  # fmt: skip
        [inspected] = docker.inspect("service", "inspect", "opts")
        spec = inspected["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert "ReadOnly" not in spec and "Ulimits" not in spec
        # Docker's tri-state: dropping an added capability only takes it off the added
        assert "CapabilityAdd" not in spec and spec["CapabilityDrop"] == ["CAP_NET_RAW"]
        assert spec["Hosts"] == ["10.1.2.4 cache"]
        # a bad value: the API's own 400 naming the field and the value
        refused = docker.run("service", "update", "-d", "--group-add", "a b", "opts")
        assert refused.returncode != 0
        assert "container.groups[1]: group 'a b'" in refused.stderr, refused.stderr
    finally:
        docker.run("service", "rm", "opts")


def test_service_create_and_update_with_runtime_options(engine: Engine, test_image: str) -> None:
    """``--limit-pids``, ``--oom-score-adj``, ``--log-driver``/``--log-opt`` from the docker
    CLI: the spec holds them where Docker puts them, the container gets them, ``docker
    service logs`` of ``--log-driver none`` fails with the engine's words. The CLI sends
    ``--oom-score-adj`` to API 1.46 and later only: it negotiates 1.50 here; a client at
    1.41 cannot see the field, and its updates keep it."""
    docker, node, client = engine.docker, engine.node, engine.swarm.docker
    older = DockerCli(docker.socket, cwd=docker.cwd, api_version="1.41")
    try:
        docker.ok(
            "service", "create", "-d", "--name", "rt", "--limit-pids", "40",
            "--oom-score-adj", "100", "--log-driver", "none", "--log-opt", "mode=x",
            test_image, "sleep", "600",
        )  # fmt: skip
        assert inspect(node, "service", "rt")["spec"]["task"]["container"]["oom_score_adj"] == 100
        docker.update_rolled("rt", "--oom-score-adj", "300")
        [inspected] = docker.inspect("service", "inspect", "rt")
        template = inspected["Spec"]["TaskTemplate"]
        assert template["Resources"]["Limits"]["Pids"] == 40
        assert template["ContainerSpec"]["OomScoreAdj"] == 300
        assert template["LogDriver"] == {"Name": "none", "Options": {"mode": "x"}}
        # the CLI at 1.41 hides the flag; what it sends back keeps the service's value
        assert "1.46" in older.fails("service", "update", "-d", "--oom-score-adj", "5", "rt")
        older.update_rolled("rt", "--env-add", "OLDER=1")
        container = inspect(node, "service", "rt")["spec"]["task"]["container"]
        assert container["oom_score_adj"] == 300 and "OLDER=1" in container["env"]

        def with_oom() -> dict[str, Any] | None:
            for t in node.tasks("rt"):
                if t["state"] == "running" and t["desired_state"] == "running":
                    host = client.api.inspect_container(t["container_id"])["HostConfig"]
                    return host if host["OomScoreAdj"] == 300 else None
            return None

        host = wait_for(with_oom, "the updated task running", timeout=60)
        assert host["PidsLimit"] == 40
        assert host["LogConfig"] == {"Type": "none", "Config": {"mode": "x"}}
        refused = docker.run("service", "logs", "rt")
        assert refused.returncode != 0
        assert "configured logging driver does not support reading" in refused.stderr
        pretty = docker.ok("service", "inspect", "--pretty", "rt")
        assert "none" in pretty and "mode" in pretty, pretty  # the CLI's Log Driver section
        # docker's update: --log-driver with its --log-opt replaces the driver
        docker.update_rolled(
            "rt", "--limit-pids", "0", "--log-driver", "json-file", "--log-opt", "max-size=1m"
        )
        [inspected] = docker.inspect("service", "inspect", "rt")
        template = inspected["Spec"]["TaskTemplate"]
        assert "Pids" not in template["Resources"]["Limits"]  # 0: unlimited, left out
        assert template["ContainerSpec"]["OomScoreAdj"] == 300
        assert template["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "1m"}}
        bad = docker.run("service", "update", "-d", "--limit-pids", "-1", "rt")
        assert bad.returncode != 0
        assert "--limit-pids must be 0 (unlimited)" in bad.stderr, bad.stderr
    finally:
        docker.run("service", "rm", "rt")


def _volume_gone(client: Any, name: str) -> bool:
    try:
        client.volumes.get(name).remove()
    except Exception as exc:  # still in use by a container being removed
        return "no such volume" in str(exc).lower()
    return True


def test_jobs_are_followed_to_their_end(engine: Engine, test_image: str) -> None:
    """Not detached, ``service create`` of a job follows its tasks until the run completes
    (the CLI reads the job's iteration and its tasks' slots 0..N-1): never a hang."""
    docker, node = engine.docker, engine.node
    out = docker.ok(
        "service", "create", "--name", "once", "--mode", "replicated-job", "--replicas", "2",
        "--max-concurrent", "1", test_image, "true", timeout=60,
    )  # fmt: skip
    assert "job complete" in out, out
    assert [t["state"] for t in node.tasks("once")] == ["complete", "complete"]
    done = docker.json_lines("service", "ps", "--filter", "desired-state=complete", "once")
    assert len(done) == 2
    assert "job complete" in docker.ok("service", "update", "--force", "once", timeout=60)
    out = docker.ok("service", "create", "--name", "everywhere", "--mode", "global-job",
                    test_image, "true", timeout=60)  # fmt: skip
    assert "job complete" in out, out
    docker.ok("service", "rm", "once", "everywhere")
    wait_for(lambda: not node.ctl_json("service", "ls"), "the jobs gone", timeout=60)


def test_service_and_task_logs(engine: Engine, test_image: str) -> None:
    docker, node = engine.docker, engine.node
    # the pause orders the lines' times across the two streams (tail counts by time)
    script = "echo hello-out; echo hello-err >&2; sleep 1; echo second-out; exec sleep 600"
    docker.ok("service", "create", "-d", "--name", "talker", test_image, "sh", "-c", script)
    wait_for(lambda: running(node, "talker") == 1, "talker running", timeout=60)
    [task] = node.tasks("talker")

    def logged() -> subprocess.CompletedProcess[str] | None:
        result = docker.run("service", "logs", "talker")
        return result if "second-out" in result.stdout else None

    result = wait_for(logged, "talker's output through the Engine API", timeout=60)
    # the CLI names each line from the task context the endpoint gives it
    assert f"talker.1.{task['id'][:12]}@m1    | hello-out" in result.stdout
    assert "hello-err" in result.stderr and "hello-err" not in result.stdout
    raw = docker.run("service", "logs", "--raw", "--tail", "1", "talker")
    assert raw.stdout == "second-out\n", (raw.stdout, raw.stderr)
    stamped = docker.ok("service", "logs", "--timestamps", "--no-task-ids", "talker")
    assert stamped.splitlines()[0].split()[0].endswith("Z")  # RFC 3339 first
    by_task = docker.ok("service", "logs", "--raw", task["id"])  # a task's own logs
    assert by_task.splitlines() == ["hello-out", "second-out"]

    # --follow streams what a running task prints next
    ticker = "while true; do echo tick; sleep 1; done"
    docker.ok("service", "create", "-d", "--name", "ticker", test_image, "sh", "-c", ticker)
    wait_for(lambda: running(node, "ticker") == 1, "ticker running", timeout=60)
    argv = [docker.binary, "service", "logs", "--follow", "--raw", "--tail", "0", "ticker"]
    with subprocess.Popen(argv, env=docker.env, stdout=subprocess.PIPE, text=True) as follower:
        try:
            assert follower.stdout is not None
            lines: queue.SimpleQueue[str] = queue.SimpleQueue()
            reader = threading.Thread(
                target=lambda: [lines.put(line) for line in follower.stdout or ()], daemon=True
            )
            reader.start()
            assert lines.get(timeout=60) == "tick\n"  # bounded: never a hang
            assert lines.get(timeout=60) == "tick\n"
            assert follower.poll() is None  # still following
        finally:
            follower.kill()
    # the client gone, the endpoint closes its subscription: the node stops at once
    [followed] = [
        e["subscription_id"]
        for e in node.log_events()
        if e.get("event") == "logs.subscription.opened" and e.get("follow")
    ]
    wait_for(
        lambda: any(
            e.get("event") == "logs.subscription.closed" and e["subscription_id"] == followed
            for e in node.log_events()
        ),
        "the follow's subscription closed",
        timeout=60,
    )
    docker.ok("service", "rm", "ticker")
    docker.ok("service", "rm", "talker")


def test_a_tty_services_logs_come_raw(engine: Engine, test_image: str) -> None:
    """A ``-t`` service's output is one stream: ``--raw`` copies it as it comes, so frame
    headers would show as bytes in the output (dockerd sends it raw)."""
    docker, node = engine.docker, engine.node
    try:
        docker.ok("service", "create", "-d", "-t", "--name", "typist", test_image,
                  "sh", "-c", "echo typed; exec sleep 600")  # fmt: skip
        wait_for(lambda: running(node, "typist") == 1, "typist running", timeout=60)

        seen: list[subprocess.CompletedProcess[str]] = []

        def logged() -> str | None:
            seen[:] = [docker.run("service", "logs", "--raw", "typist")]
            return seen[0].stdout if "typed" in seen[0].stdout else None

        out = wait_for(logged, "typist's output", timeout=60, describe=lambda: seen)
        assert "\x00" not in out and out.strip() == "typed", repr(out)
    finally:
        docker.run("service", "rm", "typist")


def test_a_published_port_goes_through_the_routing_mesh(engine: Engine, test_image: str) -> None:
    docker, node = engine.docker, engine.node
    port = free_port()
    docker.ok(
        "service", "create", "-d", "--name", "mesh", "-p", f"{port}:80", "-p", "81",
        test_image, *serving("docker"),
    )  # fmt: skip
    [doc] = docker.inspect("service", "inspect", "mesh")
    ports = {p["TargetPort"]: p for p in doc["Endpoint"]["Ports"]}
    assert ports[80]["PublishedPort"] == port and ports[80]["PublishMode"] == "ingress"
    assert 30000 <= ports[81]["PublishedPort"] <= 32767  # allocated by the managers
    url = f"http://{node.listen_host}:{port}/"
    body = wait_for(lambda: _get(url), "the mesh's port", timeout=60, interval=0.2)
    assert body.startswith("docker ")
    assert "already published through the routing mesh by service mesh" in docker.fails(
        "service", "create", "-d", "--name", "again", "-p", f"{port}:80", test_image
    )
    docker.ok("service", "rm", "mesh")


def test_a_host_mode_port_shows_in_service_ps(engine: Engine, test_image: str) -> None:
    docker, node = engine.docker, engine.node
    port = free_port()
    docker.ok(
        "service", "create", "-d", "--name", "onhost",
        "-p", f"mode=host,target=80,published={port}", test_image, "sleep", "600",
    )  # fmt: skip
    wait_for(lambda: running(node, "onhost") == 1, "onhost running", timeout=60)
    [row] = docker.json_lines("service", "ps", "onhost")
    assert row["Ports"] == f"*:{port}->80/tcp"
    docker.ok("service", "rm", "onhost")


def test_a_pending_task_says_why(engine: Engine, test_image: str) -> None:
    """As Docker's: the scheduler's reason is the task's error (service ps ERROR)."""
    docker = engine.docker
    docker.ok(
        "service", "create", "-d", "--name", "nowhere", "--constraint", "node.labels.zone==mars",
        test_image, "sleep", "600",
    )  # fmt: skip
    row = wait_for(
        lambda: next(iter(docker.json_lines("service", "ps", "--no-trunc", "nowhere")), None),
        "nowhere's task",
    )
    assert row["CurrentState"].startswith("Pending")
    wait_for(
        lambda: "no suitable node" in docker.ok("service", "ps", "--no-trunc", "nowhere"),
        "the scheduler's reason as the task's error",
    )
    [row] = docker.json_lines("service", "ps", "--no-trunc", "nowhere")
    assert "constraint node.labels.zone==mars not satisfied" in row["Error"], row
    docker.ok("service", "rm", "nowhere")


def _get(url: str) -> str | None:
    try:
        return http_get(url)
    except OSError:
        return None


def test_a_service_created_without_a_name_gets_one(engine: Engine, test_image: str) -> None:
    """``docker service create IMAGE``: Docker names the service (adjective_surname)."""
    docker, node = engine.docker, engine.node
    service_id = docker.ok("service", "create", "-d", "-q", test_image, "sleep", "60").strip()
    [shown] = docker.inspect("service", "inspect", service_id)
    name = shown["Spec"]["Name"]
    assert re.fullmatch(r"[a-z]+_[a-z]+", name), name
    assert inspect(node, "service", name)["id"] == service_id
    docker.ok("service", "rm", name)


def test_service_errors_are_the_apis_own(engine: Engine, test_image: str) -> None:
    docker = engine.docker
    assert "no such service: nope" in docker.fails("service", "inspect", "nope")
    invalid = docker.fails("service", "ls", "--filter", "foo=bar")
    assert "invalid filter 'foo'" in invalid
    assert '{"message"' not in invalid  # the CLI read the error body as Docker's
    docker.ok("service", "create", "-d", "--name", "dup", test_image, "sleep", "60")
    assert "already in use" in docker.fails(
        "service", "create", "-d", "--name", "dup", test_image, "sleep", "60"
    )
    assert "not supported by swarmnode's Engine API" in docker.fails(
        "service", "create", "-d", "--name", "t", "--isolation", "hyperv", test_image
    )
    # the routing mesh carries TCP and UDP: an ingress SCTP port is refused in its words
    assert "forwards TCP and UDP only" in docker.fails(
        "service", "create", "-d", "--name", "dns", "-p", "53:53/sctp", test_image
    )
    docker.ok("service", "rm", "dup")
    # what the endpoint does not serve answers the API's own error, never a hang
    assert "not supported by swarmnode's Engine API" in docker.fails("ps")
    status, body = raw_get(engine.docker.socket, "/v1.99/info")
    assert status == 400 and "too new" in body["message"]
    status, body = raw_get(engine.docker.socket, "/v1.41/containers/json")
    assert status == 501 and "GET /v1.41/containers/json" in body["message"]


def test_secrets_and_configs(engine: Engine, test_image: str) -> None:
    docker, node = engine.docker, engine.node
    secret_id = docker.ok("secret", "create", "--label", "a=b", "pw", "-", input="s3cret\n").strip()
    [row] = docker.json_lines("secret", "ls")
    assert (row["ID"], row["Name"]) == (secret_id, "pw")
    assert [r["name"] for r in node.ctl_json("secret", "ls")] == ["pw"]
    [inspected] = docker.inspect("secret", "inspect", "pw")
    assert inspected["Spec"]["Labels"] == {"a": "b"} and "Data" not in inspected["Spec"]

    config_id = docker.ok("config", "create", "cf", "-", input="hello\n").strip()
    [crow] = docker.json_lines("config", "ls")
    assert (crow["ID"], crow["Name"]) == (config_id, "cf")
    [cinspected] = docker.inspect("config", "inspect", "cf")
    assert cinspected["Spec"]["Data"] == "aGVsbG8K"  # base64 of "hello\n"
    # a templated config: Docker's Templating, expanded on the node for each task
    template = '{{.Service.Name}}.{{.Task.Slot}} {{secret "pw"}}'
    docker.ok("config", "create", "--template-driver", "golang", "tpl", "-", input=template)
    [tinspected] = docker.inspect("config", "inspect", "tpl")
    assert tinspected["Spec"]["Templating"] == {"Name": "golang"}
    refused = docker.fails("config", "create", "--template-driver", "jinja", "bad", "-", input="x")
    assert "unknown template driver 'jinja'" in refused

    docker.ok(
        "service", "create", "-d", "--name", "uses", "--secret", "pw", "--config", "cf",
        "--config", "source=tpl,target=/tpl.conf", test_image, "sleep", "600",
    )  # fmt: skip
    spec = inspect(node, "service", "uses")["spec"]["task"]["container"]
    assert [s["secret_name"] for s in spec["secrets"]] == ["pw"]
    # the docker CLI sends its --config list in no set order
    assert sorted(c["config_name"] for c in spec["configs"]) == ["cf", "tpl"]
    row = wait_for(lambda: (rows := node.running("uses")) and rows[0], "uses running", timeout=60)
    expanded = default_files_root(node.node_id) / row["id"] / "configs" / "tpl.conf"
    assert expanded.read_text() == "uses.1 s3cret\n"
    assert "in use by service uses" in docker.fails("secret", "rm", "pw")
    docker.ok("service", "rm", "uses")
    # a removed service lets go of its secret and config at once, as Docker's
    docker.ok("secret", "rm", "pw")
    docker.ok("config", "rm", "cf", "tpl")
    assert node.ctl_json("secret", "ls") == [] and node.ctl_json("config", "ls") == []


def test_network_rm_removes_each_it_can(engine: Engine, test_image: str) -> None:
    """``docker network rm`` of several, one in use: the others go, the one in use is named
    on stderr, exit 1 (the CLI removes each on its own; the Engine API refuses only that)."""
    docker = engine.docker
    for name in ("rm-a", "rm-used", "rm-b"):
        docker.ok("network", "create", "--driver", "bridge", name)
    try:
        docker.ok(
            "service", "create", "-d", "--name", "rm-user", "--network", "rm-used",
            test_image, "sleep", "600",
        )  # fmt: skip
        result = docker.run("network", "rm", "rm-a", "rm-used", "rm-b")
        assert (result.returncode, result.stdout) == (1, "rm-a\nrm-b\n"), result.stderr
        assert "rm-used" in result.stderr and "in use" in result.stderr, result.stderr
        listed = {row["Name"] for row in docker.json_lines("network", "ls")}
        assert "rm-used" in listed and not listed & {"rm-a", "rm-b"}
    finally:
        docker.run("service", "rm", "rm-user")
        wait_for(
            lambda: docker.run("network", "rm", "rm-used").returncode == 0,
            "rm-used let go",
            timeout=60,
        )


def test_events_past_and_streamed(engine: Engine, test_image: str) -> None:
    docker, node = engine.docker, engine.node
    since = f"{time.time():.3f}"
    created = node.ctl_json("service", "create", "--name", "ev", test_image, "sleep", "60")
    docker.ok("service", "rm", "ev")
    # Docker logs the remove when `service rm` commits, before the task has stopped
    removed_at_rm = docker.json_lines(
        "events",
        "--since",
        since,
        "--until",
        f"{time.time() + 0.5:.3f}",
        "--filter",
        "event=remove",
    )
    assert [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in removed_at_rm] == [
        ("service", "remove", created["id"])
    ]
    # ... and not again when the store deletes the service object, once its task is gone
    wait_for(
        lambda: node.ctl("service", "inspect", created["id"]).returncode, "ev deleted", timeout=60
    )
    until = f"{time.time() + 0.5:.3f}"
    past = docker.json_lines(
        "events", "--since", since, "--until", until, "--filter", "type=service"
    )
    actions = [(e["Type"], e["Action"], e["Actor"]["Attributes"]["name"]) for e in past]
    assert actions.count(("service", "remove", "ev")) == 1, actions
    assert ("service", "create", "ev") in actions
    assert {e["scope"] for e in past} == {"swarm"}
    assert not {"status", "id", "from"} & set(past[0])  # dockerd's cluster events lack them

    # a swarm network's changes are events too, as dockerd logs them
    since = f"{time.time():.3f}"
    docker.ok("network", "create", "evnet")
    docker.ok("network", "rm", "evnet")
    until = f"{time.time() + 0.5:.3f}"
    window = ("events", "--since", since, "--until", until)
    networks = docker.json_lines(*window, "--filter", "type=network", "--filter", "type=secret")
    assert [(e["Type"], e["Action"]) for e in networks] == [
        ("network", "create"),
        ("network", "remove"),
    ]
    assert docker.json_lines(*window, "--filter", "network=evnet")
    assert not docker.json_lines(*window, "--filter", "network=other")

    # no until: the stream stays open and shows what happens next (since: from before the
    # create, so a CLI slow to connect still sees it)
    since = f"{time.time():.3f}"
    argv = [docker.binary, "events", "--since", since, "--filter", "type=secret"]
    with subprocess.Popen(
        [*argv, "--format", "{{json .}}"], env=docker.env, stdout=subprocess.PIPE, text=True
    ) as follower:
        try:
            assert follower.stdout is not None
            created = docker.ok("secret", "create", "live", "-", input="x").strip()
            event = json.loads(follower.stdout.readline())
            assert (event["Type"], event["Action"], event["Actor"]["ID"]) == (
                "secret",
                "create",
                created,
            )
            assert follower.poll() is None  # still streaming
        finally:
            follower.kill()
    docker.ok("secret", "rm", "live")


def raw_get(sock: Path, path: str) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("localhost", timeout=10)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(sock))
    conn.sock = s
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, json.loads(response.read())
