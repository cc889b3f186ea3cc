"""``docker stack deploy`` through the Engine API (issue 13 item 2): the real docker CLI
parses a two-service compose file (``deploy:`` replicas, mode, placement, resources,
restart_policy, update_config, endpoint_mode; a secret, a config, a port through the
routing mesh) and drives a real ``swarm-node --engine-api``; the result is checked through
``swarmctl``, the published port answers, a named volume is made with its driver options
(a tmpfs) and labels, and ``stack ls|services|ps|rm`` see and remove the stack."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.engine_cli import DockerCli, start_engine_manager
from tests.support.httpd import http_get
from tests.support.swarm import Swarm, free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.docker

NAMESPACE = "com.docker.stack.namespace"
# serves what the task was given: its config and its secret
SCRIPT = (
    "mkdir -p /www && cat /etc/web.conf /run/secrets/db_password > /www/index.html "
    "&& exec httpd -f -p 80 -h /www"
)

COMPOSE = """\
version: "3.8"
services:
  web:
    image: {image}
    command: ["sh", "-c", "{script}"]
    ports:
      - "{port}:80"
    secrets: [db_password]
    configs:
      - source: web_config
        target: /etc/web.conf
    deploy:
      replicas: 1
      resources:
        limits:
          memory: 64M
        reservations:
          cpus: "0.1"
      restart_policy:
        condition: on-failure
        max_attempts: 3
      update_config:
        parallelism: 1
        order: start-first
      placement:
        constraints: [node.role == manager]
  worker:
    image: {image}
    command: ["sleep", "3600"]
    volumes:
      - scratch:/scratch
    init: true
    cap_drop: [NET_RAW]
    ulimits:
      nofile: {{soft: 512, hard: 1024}}
    sysctls:
      net.core.somaxconn: "777"
    dns_search: [corp.example]
    extra_hosts: ["db:10.1.2.3"]
    deploy:
      mode: global
      endpoint_mode: dnsrr
volumes:
  scratch:
    name: {volume}
    driver_opts:
      type: tmpfs
      device: tmpfs
    labels:
      team: web
networks:
  default:
    driver: bridge
secrets:
  db_password:
    file: ./db_password.txt
configs:
  web_config:
    file: ./web.conf
"""


BARE = """\
version: "3.8"
services:
  only:
    image: {image}
    command: ["sleep", "60"]
"""


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["name"]): r for r in rows}


def test_stack_deploy_ls_services_ps_rm(
    tmp_path: Path, docker_client: Any, test_image: str
) -> None:
    sock = tmp_path / "engine.sock"
    port = free_port()
    volume = f"swarmnode-stack-test-{uuid.uuid4().hex[:12]}"
    (tmp_path / "db_password.txt").write_text("s3cret\n")
    (tmp_path / "web.conf").write_text("hello from the config\n")
    (tmp_path / "compose.yml").write_text(
        COMPOSE.format(image=test_image, port=port, script=SCRIPT, volume=volume)
    )
    try:
        _deploy_check_remove(tmp_path, sock, port, volume, docker_client, test_image)
    finally:
        _remove_volume(docker_client, volume)


def _deploy_check_remove(
    tmp_path: Path, sock: Path, port: int, volume: str, docker_client: Any, test_image: str
) -> None:
    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        node = start_engine_manager(swarm, sock)
        docker = DockerCli(sock, cwd=tmp_path)

        # a file that names no network: the CLI asks for an overlay default network, and
        # the refusal says what to write instead
        (tmp_path / "bare.yml").write_text(BARE.format(image=test_image))
        refused = docker.fails("stack", "deploy", "--resolve-image", "never", "-c", "bare.yml", "b")
        assert "networks: {default: {driver: bridge}}" in refused
        assert not node.ctl_json("service", "ls")

        docker.ok("stack", "deploy", "--resolve-image", "never", "-c", "compose.yml", "app")

        services = by_name(node.ctl_json("service", "ls"))
        assert set(services) == {"app_web", "app_worker"}
        [web] = node.ctl_json("service", "inspect", "app_web")
        spec = web["spec"]
        assert spec["labels"][NAMESPACE] == "app"
        assert spec["mode"] == {"replicated": {"replicas": 1}}
        assert spec["task"]["placement"]["constraints"] == ["node.role == manager"]
        assert spec["task"]["resources"]["limits"]["memory_bytes"] == 64 * 1024 * 1024
        assert spec["task"]["resources"]["reservations"]["nano_cpus"] == 100_000_000
        assert spec["task"]["restart_policy"]["condition"] == "on-failure"
        assert spec["task"]["restart_policy"]["max_attempts"] == 3
        assert spec["update_config"]["order"] == "start-first"
        assert [s["secret_name"] for s in spec["task"]["container"]["secrets"]] == [
            "app_db_password"
        ]
        assert [c["config_name"] for c in spec["task"]["container"]["configs"]] == [
            "app_web_config"
        ]
        [published] = spec["endpoint"]["ports"]
        # the compose file's short syntax: Docker's CLI asks for the routing mesh
        assert (published["published_port"], published["publish_mode"]) == (port, "ingress")
        [worker] = node.ctl_json("service", "inspect", "app_worker")
        assert worker["spec"]["mode"] == {"global": {}}
        assert worker["spec"]["endpoint"]["mode"] == "dnsrr"
        assert web["spec"]["endpoint"]["mode"] == "vip"
        [mount] = worker["spec"]["task"]["container"]["mounts"]
        assert (mount["source"], mount["target"]) == (volume, "/scratch")
        assert mount["volume_options"]["labels"] == {NAMESPACE: "app", "team": "web"}
        assert mount["volume_options"]["driver"]["options"] == {"type": "tmpfs", "device": "tmpfs"}
        container = worker["spec"]["task"]["container"]
        assert container["init"] and container["cap_drop"] == ["CAP_NET_RAW"]
        assert container["ulimits"] == [{"name": "nofile", "soft": 512, "hard": 1024}]
        assert container["sysctls"] == {"net.core.somaxconn": "777"}
        assert container["dns_config"]["search"] == ["corp.example"]
        assert container["hosts"] == ["10.1.2.3 db"]
        [inspected] = docker.inspect("service", "inspect", "app_worker")
        [docker_mount] = inspected["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"]
        assert inspected["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
        assert docker_mount["VolumeOptions"]["DriverConfig"]["Options"]["type"] == "tmpfs"
        made = wait_for(lambda: _volume(docker_client, volume), "the volume made", timeout=90)
        assert made["Options"] == {"type": "tmpfs", "device": "tmpfs"}
        assert made["Labels"] == {NAMESPACE: "app", "team": "web"}
        assert [r["name"] for r in node.ctl_json("secret", "ls")] == ["app_db_password"]
        assert [r["name"] for r in node.ctl_json("config", "ls")] == ["app_web_config"]
        assert "app_default" in [r["name"] for r in node.ctl_json("network", "ls")]

        # the published port serves the config and the secret the task was given (through
        # the node's routing mesh)
        page = wait_for(lambda: _get(f"http://127.0.0.1:{port}/"), "app_web answering", timeout=90)
        assert "hello from the config" in page and "s3cret" in page

        [stack] = docker.json_lines("stack", "ls")
        assert (stack["Name"], stack["Services"]) == ("app", "2")
        listed = {r["Name"]: r for r in docker.json_lines("stack", "services", "app")}
        assert set(listed) == {"app_web", "app_worker"}
        assert listed["app_web"]["Mode"] == "replicated"
        tasks = docker.json_lines("stack", "ps", "app")
        assert {t["Name"].split(".")[0] for t in tasks} == {"app_web", "app_worker"}

        # a second deploy of the same file changes nothing
        before = {name: row["version"] for name, row in services.items()}
        docker.ok("stack", "deploy", "--resolve-image", "never", "-c", "compose.yml", "app")
        after = by_name(node.ctl_json("service", "ls"))
        assert {n: r["spec_version"] for n, r in after.items()} == {
            n: r["spec_version"] for n, r in services.items()
        }
        assert set(before) == set(after)

        docker.ok("stack", "rm", "app")
        wait_for(
            lambda: (
                not node.ctl_json("service", "ls")
                and not node.ctl_json("secret", "ls")
                and not node.ctl_json("config", "ls")
                and "app_default" not in [r["name"] for r in node.ctl_json("network", "ls")]
            ),
            "the stack removed",
            timeout=120,
        )
        assert json.loads(docker.ok("stack", "ls", "--format", "json") or "null") is None


def _volume(docker_client: Any, name: str) -> dict[str, Any] | None:
    try:
        return dict(docker_client.volumes.get(name).attrs)
    except Exception:  # not made yet
        return None


def _remove_volume(docker_client: Any, name: str) -> None:
    # docker stack rm leaves volumes, as Docker's does; the tasks are gone by now
    if _volume(docker_client, name) is not None:
        wait_for(lambda: _removed(docker_client, name), f"volume {name} removed", timeout=60)


def _removed(docker_client: Any, name: str) -> bool:
    try:
        docker_client.volumes.get(name).remove()
    except Exception as exc:  # still in use by a container being removed
        return "no such volume" in str(exc).lower()
    return True


def _get(url: str) -> str:
    try:
        return http_get(url)
    except OSError:
        return ""
