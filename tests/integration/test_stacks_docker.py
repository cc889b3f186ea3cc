"""Stacks end to end: the real ``swarmctl stack`` against a real ``swarm-node`` (docker
executor) on the real engine.

A two-service compose file with a secret, a config, a published port and logging options
for the engine's default driver deploys: the
stack's objects carry Docker's stack labels and names, both containers run and read their
files, the port answers, web reaches db by its name in the file; deploying a
file where one service changed updates that service only (the other keeps its spec
version and its task); ``--prune`` removes a service the file no longer has; ``stack rm``
removes the services, then the secret and the config, and the containers go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.httpd import fetch, http_get, lookup, serving
from tests.support.swarm import SwarmNode, free_port, node_containers, poll

LONG = 90.0

COMPOSE = """\
version: "3.8"
services:
  web:
    image: {image}
    command: {web_command}
    environment:
      GREETING: hello
    stop_grace_period: 1s
    ports:
      - "{port}:80"
    secrets:
      - source: db_pass
        target: db/password
        mode: 0400
    deploy:
      replicas: 1  # its port goes through the routing mesh (the default mode)
      restart_policy: {{condition: on-failure, delay: 1s}}
      labels: [tier=front]
  db:
    image: {image}
    command: {db_command}
    stop_grace_period: 1s
    configs:
      - source: db_conf
        target: /etc/db.conf
    logging:
      options: {{max-size: 1m}}  # no driver: for the engine's default one
    environment:
      - VERSION={version}
    deploy:
      update_config: {{parallelism: 1, order: stop-first}}
secrets:
  db_pass:
    file: ./pass.txt
configs:
  db_conf:
    file: ./db.conf
"""


def write_compose(tmp_path: Path, image: str, version: str, port: int) -> Path:
    (tmp_path / "pass.txt").write_bytes(b"s3cret-stack\n")
    (tmp_path / "db.conf").write_bytes(b"listen 5432\n")
    path = tmp_path / "stack.yml"
    path.write_text(
        COMPOSE.format(
            image=image,
            version=version,
            port=port,
            # a compose file interpolates $: the shell's $(hostname) is written $$(hostname)
            web_command=json.dumps(serving("web answers")).replace("$", "$$"),
            db_command=json.dumps(serving("db answers")).replace("$", "$$"),
        )
    )
    return path


def stack_json(node: SwarmNode, *args: str) -> Any:
    return node.ctl_json("stack", *args)


def container_of(node: SwarmNode, docker: Any, row: dict[str, Any]) -> Any:
    found = [
        c
        for c in node_containers(docker, node.node_id)
        if c.labels.get("com.docker.swarm.task.id") == row["id"]
    ]
    assert found, f"no container for task {row['id']}"
    return found[0]


def read_in(node: SwarmNode, docker: Any, row: dict[str, Any], path: str) -> str:
    code, out = container_of(node, docker, row).exec_run(["cat", path])
    assert code == 0, out
    return str(out.decode())


@pytest.mark.usefixtures("engine_dns_steady")
@pytest.mark.timeout(600)  # a wait for the swarm-mode benches, then the test
def test_a_stack_deploys_updates_only_what_changed_and_is_removed(
    docker_node: SwarmNode, docker_client: Any, test_image: str, tmp_path: Path
) -> None:
    node = docker_node
    port = free_port()
    compose = write_compose(tmp_path, test_image, "1", port)
    result = stack_json(node, "deploy", "-c", str(compose), "st")
    assert {(s["name"], s["result"]) for s in result["services"]} == {
        ("st_web", "created"),
        ("st_db", "created"),
    }

    # the stack as both CLIs see it: names, labels
    assert stack_json(node, "ls") == [{"name": "st", "services": 2}]
    services = {s["name"]: s for s in stack_json(node, "services", "st")}
    assert set(services) == {"st_web", "st_db"}
    web = node.ctl_json("service", "inspect", "st_web")[0]["spec"]
    assert web["labels"] == {
        "tier": "front",
        "com.docker.stack.namespace": "st",
        "com.docker.stack.image": test_image,
    }
    assert web["task"]["container"]["labels"] == {"com.docker.stack.namespace": "st"}
    for kind, name in (("secret", "st_db_pass"), ("config", "st_db_conf")):
        rows = {r["name"]: r for r in node.ctl_json(kind, "ls")}
        assert rows[name]["labels"] == {"com.docker.stack.namespace": "st"}

    # both services run, in real containers that read their secret and config
    def running() -> dict[str, list[dict[str, Any]]] | None:
        rows = [t for t in stack_json(node, "ps", "st") if t["state"] == "running"]
        by = {n: [t for t in rows if t["service_name"] == n] for n in ("st_web", "st_db")}
        return by if len(by["st_web"]) == 1 and len(by["st_db"]) == 1 else None

    first = poll(running, "the stack's two tasks running", LONG)
    assert read_in(node, docker_client, first["st_web"][0], "/run/secrets/db/password") == (
        "s3cret-stack\n"
    )
    assert read_in(node, docker_client, first["st_db"][0], "/etc/db.conf") == "listen 5432\n"
    # logging options without a driver: the engine's default driver, with them
    host_config = container_of(node, docker_client, first["st_db"][0]).attrs["HostConfig"]
    assert host_config["LogConfig"]["Type"] == docker_client.info()["LoggingDriver"]
    assert host_config["LogConfig"]["Config"]["max-size"] == "1m"
    # the published port answers on the host (through the routing mesh: compose ports
    # are ingress by default); web reaches db by its name in the file, on
    # the stack's default network
    answer = poll(lambda: http_get(f"http://127.0.0.1:{port}/"), "web's published port", LONG)
    assert answer.startswith("web answers ")
    reached = poll(
        lambda: (r := fetch(docker_client, first["st_web"][0], "db"))[0] == 0 and r[1],
        "web reaches db by name",
        LONG,
        # a CI run under load once timed out here; this says what was seen instead
        describe=lambda: {
            "fetch": fetch(docker_client, first["st_web"][0], "db"),
            "lookup": lookup(docker_client, first["st_web"][0], "db"),
            "tasks": [
                (t["service_name"], t["state"], t["desired_state"], t["container_id"][:12])
                for t in stack_json(node, "ps", "st")
            ],
        },
    )
    assert reached.startswith("db answers ")
    networks = {r["name"]: r for r in node.ctl_json("network", "ls")}
    assert networks["st_default"]["labels"] == {"com.docker.stack.namespace": "st"}

    # the same file again changes nothing; a changed db updates db only
    again = stack_json(node, "deploy", "-c", str(compose), "st")
    assert {s["result"] for s in again["services"]} == {"unchanged"}
    write_compose(tmp_path, test_image, "2", port)
    plain = node.ctl("stack", "deploy", "-c", str(compose), "st")
    assert plain.returncode == 0, plain.stderr
    assert "Updating service st_db" in plain.stdout
    assert "Unchanged: service st_web" in plain.stdout
    assert "Keeping secret st_db_pass" in plain.stdout
    after = {s["name"]: s for s in stack_json(node, "services", "st")}
    assert after["st_web"]["spec_version"] == services["st_web"]["spec_version"]
    assert after["st_db"]["spec_version"] == services["st_db"]["spec_version"] + 1
    db = node.ctl_json("service", "inspect", "st_db")[0]["spec"]
    assert "VERSION=2" in db["task"]["container"]["env"]

    def db_replaced() -> dict[str, list[dict[str, Any]]] | None:
        now = running()
        if now is None or now["st_db"][0]["id"] == first["st_db"][0]["id"]:
            return None
        return now

    second = poll(db_replaced, "st_db's task replaced", LONG)
    assert {t["id"] for t in second["st_web"]} == {t["id"] for t in first["st_web"]}

    # a service the file no longer has is kept, and named; --prune removes it
    without_db = tmp_path / "web-only.yml"
    text = compose.read_text()
    without_db.write_text(text[: text.index("  db:\n")] + text[text.index("\nsecrets:\n") + 1 :])
    kept = node.ctl("stack", "deploy", "-c", str(without_db), "st")
    assert "Not in the files (kept; --prune removes them): st_db" in kept.stdout, kept.stderr
    pruned = stack_json(node, "deploy", "--prune", "-c", str(without_db), "st")
    assert {(s["name"], s["result"]) for s in pruned["services"]} == {
        ("st_web", "unchanged"),
        ("st_db", "removed"),
    }
    assert [s["name"] for s in stack_json(node, "services", "st")] == ["st_web"]

    # a config never changes: a changed file is refused, naming it, and nothing is written
    (tmp_path / "db.conf").write_bytes(b"listen 6543\n")
    changed = node.ctl("stack", "deploy", "-c", str(without_db), "st")
    assert changed.returncode == 1
    assert "config st_db_conf exists with other data" in changed.stderr
    assert [s["spec_version"] for s in stack_json(node, "services", "st")] == [
        services["st_web"]["spec_version"]
    ]

    # rm: the services, then the secret and the config; the containers go
    removed = stack_json(node, "rm", "st")
    assert {(r["kind"], r["name"]) for r in removed} == {
        ("service", "st_web"),
        ("secret", "st_db_pass"),
        ("config", "st_db_conf"),
        ("network", "st_default"),
    }
    assert stack_json(node, "ls") == []
    assert "st_default" not in {r["name"] for r in node.ctl_json("network", "ls")}
    assert node.ctl_json("service", "ls") == []
    assert not [r for r in node.ctl_json("secret", "ls") if r["name"] == "st_db_pass"]
    assert not [r for r in node.ctl_json("config", "ls") if r["name"] == "st_db_conf"]
    poll(
        lambda: not node_containers(docker_client, node.node_id, all=False),
        "the stack's containers gone",
        LONG,
    )
    assert json.loads(node.ctl("stack", "ls", "--format", "json").stdout) == []


def test_deploy_refuses_what_it_does_not_support_before_writing(
    docker_node: SwarmNode, test_image: str, tmp_path: Path
) -> None:
    node = docker_node
    compose = tmp_path / "bad.yml"
    compose.write_text(
        f"services:\n  web:\n    image: {test_image}\n    build: .\n    deploy:\n"
        "      replicas: 1\n"
    )
    result = node.ctl("stack", "deploy", "-c", str(compose), "st")
    assert result.returncode == 1
    assert "services.web.build: not supported by swarmctl stack deploy" in result.stderr
    missing = tmp_path / "missing.yml"
    missing.write_text(
        f"services:\n  web:\n    image: {test_image}\n    secrets: [pw]\n    configs: [nope]\n"
        "secrets:\n  pw:\n    file: ./pw.txt\nconfigs:\n  nope:\n    external: true\n"
    )
    (tmp_path / "pw.txt").write_text("pw")
    result = node.ctl("stack", "deploy", "-c", str(missing), "st")
    assert result.returncode == 1 and "config nope (external: true) not found" in result.stderr
    # checked before anything is written
    assert node.ctl_json("secret", "ls") == [] and node.ctl_json("network", "ls") == []
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  web:\n    image: [x\n")
    result = node.ctl("stack", "deploy", "-c", str(broken), "st")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "broken.yml: not valid YAML: " in result.stderr and "(line 4, column 1)" in result.stderr
    assert node.ctl_json("service", "ls") == []
