"""Compose files → stack specs (api/compose.py): pure, no files, no engine."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from api.compose import ComposeError, FileObjectPlan, NetworkPlan, load_stack
from api.compose_fields import LABEL_NAMESPACE, MAX_NODES, interpolate
from api.compose_merge import merge_documents
from api.enums import (
    FailureAction,
    MountType,
    PortProtocol,
    PublishMode,
    RestartCondition,
    UpdateOrder,
)
from api.specs import (
    ConfigReference,
    DNSConfig,
    GlobalJob,
    GlobalService,
    HealthConfig,
    LogDriver,
    Mount,
    NetworkAttachmentConfig,
    NetworkSpec,
    PlacementPreference,
    PortConfig,
    ReplicatedJob,
    ReplicatedService,
    SecretReference,
    ServiceSpec,
    Ulimit,
    VolumeDriver,
    VolumeOptions,
)

FULL = """
version: "3.8"
x-base: &base
  image: busybox:1.36
services:
  web:
    <<: *base
    entrypoint: /bin/sh -c
    command: ["exec httpd -f", "-p 80"]
    environment:
      - B=2
      - A=1
      - FROM_CLIENT
      - UNSET_HERE
    labels: {tier: front}
    user: "1000"
    working_dir: /srv
    hostname: web-host
    stop_signal: SIGINT
    stop_grace_period: 3s
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 1m
    secrets:
      - db_pass
      - source: api_key
        target: keys/api
        uid: "100"
        gid: "101"
        mode: 0400
    configs:
      - site
      - source: site
        target: etc/site.conf
        mode: "0440"
    deploy:
      replicas: 3
      labels:
        owner: team-a
      placement:
        constraints: [node.role==worker, node.labels.zone!=b]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "1.5", memory: 256M}
        reservations: {cpus: 0.25, memory: 64M}
      restart_policy:
        condition: on-failure
        delay: 2s
        max_attempts: 4
        window: 30s
      update_config:
        parallelism: 2
        delay: 5s
        failure_action: rollback
        monitor: 20s
        max_failure_ratio: 0.3
        order: start-first
      rollback_config:
        parallelism: 0
        failure_action: continue
  worker:
    image: busybox
    deploy: {mode: global}
secrets:
  db_pass: {file: ./secrets/db.txt, labels: [k=v]}
  api_key: {external: true, name: shared_api_key}
configs:
  site: {file: /etc/site.conf, name: custom_site, template_driver: golang}
"""


def stack(text: str, name: str = "st", **kw: Any) -> Any:
    return load_stack(name, [yaml.safe_load(text)], **kw)


def service(text: str, key: str = "web", **kw: Any) -> ServiceSpec:
    return {s.name: s for s in stack(text, **kw).services}[f"st_{key}"]


def refused(text: str, **kw: Any) -> str:
    with pytest.raises(ComposeError) as info:
        stack(text, **kw)
    return str(info.value)


def minimal(extra: str = "", top: str = "") -> str:
    return f"services:\n  web:\n    image: busybox\n{extra}{top}"


def test_a_full_service_converts_as_docker_stack_deploy_does() -> None:
    plan = stack(FULL, base_dir="/home/me/app", environ={"FROM_CLIENT": "yes"})
    web = {s.name: s for s in plan.services}["st_web"]
    c = web.task.container
    assert c.image == "busybox:1.36"
    assert c.command == ("/bin/sh", "-c") and c.args == ("exec httpd -f", "-p 80")
    assert c.env == ("A=1", "B=2", "FROM_CLIENT=yes", "UNSET_HERE")  # sorted, as Docker's
    assert c.labels == {"tier": "front", "com.docker.stack.namespace": "st"}
    assert (c.user, c.dir, c.hostname, c.stop_signal) == ("1000", "/srv", "web-host", "SIGINT")
    assert c.stop_grace_period == 3.0
    assert c.healthcheck == HealthConfig(("CMD", "true"), 10.0, 2.0, 3, 60.0)
    assert c.secrets == (
        SecretReference(secret_name="st_db_pass", target="db_pass"),
        SecretReference(secret_name="shared_api_key", target="keys/api", uid=100, gid=101,
                        mode=0o400),
    )  # fmt: skip
    assert c.configs == (
        ConfigReference(config_name="custom_site", target="/site"),
        ConfigReference(config_name="custom_site", target="/etc/site.conf", mode=0o440),
    )
    assert web.labels == {
        "owner": "team-a",
        "com.docker.stack.namespace": "st",
        "com.docker.stack.image": "busybox:1.36",
    }
    assert web.mode == ReplicatedService(replicas=3)
    p = web.task.placement
    assert p.constraints == ("node.role==worker", "node.labels.zone!=b")
    assert p.preferences == (PlacementPreference("node.labels.zone"),) and p.max_replicas == 2
    r = web.task.resources
    assert (r.limits.nano_cpus, r.limits.memory_bytes) == (1_500_000_000, 256 * 1024**2)
    assert (r.reservations.nano_cpus, r.reservations.memory_bytes) == (250_000_000, 64 * 1024**2)
    rp = web.task.restart_policy
    assert (rp.condition, rp.delay, rp.max_attempts, rp.window) == (
        RestartCondition.ON_FAILURE,
        2.0,
        4,
        30.0,
    )
    u = web.update_config
    assert (u.parallelism, u.delay, u.failure_action, u.monitor, u.max_failure_ratio, u.order) == (
        2,
        5.0,
        FailureAction.ROLLBACK,
        20.0,
        0.3,
        UpdateOrder.START_FIRST,
    )
    assert web.rollback_config.parallelism == 0
    assert web.rollback_config.failure_action == FailureAction.CONTINUE
    worker = {s.name: s for s in plan.services}["st_worker"]
    assert worker.mode == GlobalService()
    assert plan.secrets == (
        FileObjectPlan(
            "db_pass",
            "st_db_pass",
            file="/home/me/app/secrets/db.txt",
            labels={"k": "v", "com.docker.stack.namespace": "st"},
        ),
        FileObjectPlan("api_key", "shared_api_key", external=True),
    )
    assert plan.configs == (
        FileObjectPlan(
            "site",
            "custom_site",
            file="/etc/site.conf",
            labels={"com.docker.stack.namespace": "st"},
            template_driver="golang",
        ),
    )


def test_defaults_are_dockers() -> None:
    plan = stack(minimal())
    (web,) = plan.services
    assert web == ServiceSpec(
        name="st_web",
        labels={"com.docker.stack.namespace": "st", "com.docker.stack.image": "busybox"},
        task=web.task,
    )
    assert web.task.container.labels == {"com.docker.stack.namespace": "st"}
    # on the stack's default network, answering to its key in the file
    assert web.task.networks == (NetworkAttachmentConfig("st_default", ("web",)),)
    assert plan.networks == (
        NetworkPlan(
            "default",
            "st_default",
            spec=NetworkSpec("st_default", {"com.docker.stack.namespace": "st"}),
        ),
    )
    assert web.task.container.healthcheck is None
    assert web.mode == ReplicatedService(replicas=1)


def test_modes_and_healthcheck_forms() -> None:
    job = service(minimal("    deploy: {mode: replicated-job, replicas: 4}\n"))
    assert job.mode == ReplicatedJob(max_concurrent=4, total_completions=4)
    assert service(minimal("    deploy: {mode: global-job}\n")).mode == GlobalJob()
    shell = service(minimal("    healthcheck: {test: curl -f localhost}\n"))
    assert shell.task.container.healthcheck == HealthConfig(("CMD-SHELL", "curl -f localhost"))
    off = service(minimal("    healthcheck: {disable: true}\n"))
    assert off.task.container.healthcheck == HealthConfig(("NONE",))


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("    build: .\n", "services.web.build: not supported"),
        ("    links: [db]\n", "services.web.links: not supported"),
        ("    restart: always\n", "services.web.restart: not supported"),
        (
            "    deploy: {endpoint_mode: rr}\n",
            'deploy.endpoint_mode: invalid resolution mode: "rr"',
        ),
        ("    deploy: {resources: {reservations: {pids: 4}}}\n", "reservations.pids: not supp"),
        ("    deploy: {resources: {limits: {pids: -1}}}\n", "limits.pids: must be >= 0"),
        ("    logging: {driver: none, format: x}\n", "web.logging.format: not supported"),
        ("    oom_score_adj: -1001\n", "services.web.oom_score_adj: must be >= -1000"),
        ("    deploy: {mode: sideways}\n", "services.web.deploy.mode: unknown mode 'sideways'"),
        ("    deploy: {mode: global, replicas: 2}\n", "deploy.replicas: replicas cannot be"),
        ("    deploy: {replicas: -1}\n", "services.web.deploy.replicas: must be >= 0"),
        ("    deploy: {replicas: many}\n", "deploy.replicas: expected a whole number"),
        ("    deploy: {resources: {limits: {memory: lots}}}\n", "limits.memory: invalid memory"),
        ("    deploy: {restart_policy: {delay: 5}}\n", "restart_policy.delay: expected a dur"),
        ("    deploy: {restart_policy: {condition: always}}\n", "condition: unknown value"),
        ("    deploy: {rollback_config: {failure_action: rollback}}\n", "(expected pause|con"),
        ("    deploy: {update_config: {max_failure_ratio: 2}}\n", "must be in 0..1"),
        ("    deploy: {placement: {constraints: [zone=a]}}\n", "placement.constraints[0]: malf"),
        ("    secrets: [nope]\n", "services.web.secrets[0]: secret 'nope' is not declared"),
        ("    configs: [{target: /x}]\n", "services.web.configs[0].source: a config reference"),
        ("    environment: [=x]\n", "services.web.environment[0]: expected KEY=VALUE"),
        ("    healthcheck: {test: [curl, x]}\n", "healthcheck.test: a list starts with CMD"),
        ('    command: "sh -c \'unclosed"\n', "services.web.command: cannot split"),
    ],
)
def test_what_is_not_supported_or_wrong_is_refused_naming_its_key(extra: str, named: str) -> None:
    assert named in refused(minimal(extra))


def test_an_image_docker_cannot_pull_is_refused_naming_its_key() -> None:
    said = refused("services:\n  web:\n    image: 'BAD:IMAGE:@@'\n")
    assert said == (
        "services.web.image: 'BAD:IMAGE:@@' is not a valid repository/tag: "
        "the repository name 'BAD' must be lowercase"
    )


def test_env_files_come_from_the_callers_reader_under_the_environment() -> None:
    files = {"/app/a.env": ["A=1", "B=1"], "/app/b.env": ["B=2"]}
    text = minimal("    env_file: [a.env, ./b.env]\n    environment: [A=0, CLIENT]\n")
    web = service(text, base_dir="/app", environ={"CLIENT": "c"}, read_env_file=lambda p: files[p])
    assert web.task.container.env == ("A=0", "B=2", "CLIENT=c")
    assert refused(minimal("    env_file: a.env\n")) == (
        "services.web.env_file: env files cannot be read here"
    )
    assert "services.web.env_file: expected a list" in refused(
        minimal("    env_file: {path: a.env}\n"), read_env_file=lambda p: []
    )


def test_top_level_refusals() -> None:
    assert "name: not supported" in refused(minimal(top="name: app\n"))
    assert "secrets.s: a secret needs a file:" in refused(minimal(top="secrets: {s: {}}\n"))
    assert "secrets.s.driver: not supported" in refused(
        minimal(top="secrets: {s: {driver: vault}}\n")
    )
    assert "configs.c.file: an external config takes no file" in refused(
        minimal(top="configs: {c: {external: true, file: x}}\n")
    )
    assert "a stack needs at least one service" in refused("services: {}\n")
    assert "services.web.image: an image is required" in refused("services: {web: {}}\n")
    assert "invalid stack name" in refused(minimal(), name="bad.name")
    assert "invalid stack name" in refused(minimal(), name="x" * 63)


def test_extension_keys_are_allowed() -> None:
    spec = service(minimal("    x-note: hi\n    deploy: {x-more: 1}\n", top="x-top: {a: 1}\n"))
    assert spec.name == "st_web"


def test_interpolation() -> None:
    env = {"TAG": "1.2", "EMPTY": ""}
    doc = {
        "a": "img:${TAG}",
        "b": "$TAG-x",
        "c": "${MISSING:-def}",
        "d": "${EMPTY:-def}",
        "e": "${EMPTY-def}",
        "f": "${TAG:+alt}",
        "g": "$$HOME",
        "h": ["${MISSING}"],
        "i": {"k": 3},
    }
    assert interpolate(doc, env) == {
        "a": "img:1.2",
        "b": "1.2-x",
        "c": "def",
        "d": "def",
        "e": "",
        "f": "alt",
        "g": "$HOME",
        "h": [""],
        "i": {"k": 3},
    }
    with pytest.raises(ComposeError, match=r"^x\.y: required variable NEED is missing: set it"):
        interpolate({"x": {"y": "${NEED:?set it}"}}, env)
    with pytest.raises(ComposeError, match="invalid interpolation"):
        interpolate({"x": "cost $5"}, env)
    image = service(minimal().replace("busybox", "busybox:${TAG}"), environ=env)
    assert image.task.container.image == "busybox:1.2"


def test_aliases_cannot_expand_without_bound() -> None:
    laughs = "a: &a ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x']\n"
    for level in "bcdefg":
        prev = chr(ord(level) - 1)
        laughs += f"{level}: &{level} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    document = yaml.safe_load(laughs)  # shared references: cheap to load
    with pytest.raises(ComposeError, match=f"more than {MAX_NODES} values"):
        interpolate(document, {})


def test_several_files_merge() -> None:
    base = yaml.safe_load(
        "services:\n  web:\n    image: busybox:1\n    environment: [A=1, B=1]\n"
        "    deploy: {replicas: 2, labels: {a: '1'}}\n  db:\n    image: busybox\n"
    )
    override = yaml.safe_load(
        "services:\n  web:\n    image: busybox:2\n    environment: {B: 2}\n"
        "    deploy: {labels: {b: '2'}}\n"
    )
    merged = merge_documents([base, override], ["a.yml", "b.yml"])
    web = merged["services"]["web"]
    assert web["image"] == "busybox:2"
    assert web["environment"] == {"A": "1", "B": 2}
    assert web["deploy"] == {"replicas": 2, "labels": {"a": "1", "b": "2"}}
    plan = load_stack("st", [base, override])
    spec = {s.name: s for s in plan.services}["st_web"]
    assert spec.task.container.env == ("A=1", "B=2") and spec.mode == ReplicatedService(2)
    with pytest.raises(ComposeError, match=r"b\.yml: expected a mapping at the top"):
        merge_documents([base, ["x"]], ["a.yml", "b.yml"])


def test_a_later_file_adds_ports_secrets_volumes_and_networks_as_docker_merges_them() -> None:
    """docker stack deploy -c base.yml -c prod.yml: an override file adds to the lists of
    the service it names (they used to be replaced, dropping the base's ports, secrets,
    volumes, networks and constraints without a word)."""
    base = yaml.safe_load(
        "services:\n  web:\n    image: busybox\n    command: sleep 1\n"
        "    ports: ['8080:80']\n    secrets: [a, {source: b, target: b1}]\n"
        "    volumes: ['data:/data', 'logs:/logs']\n    networks: [front]\n"
        "    cap_add: [NET_ADMIN]\n"
        "    healthcheck: {test: [CMD, 'true'], interval: 5s}\n"
        "    deploy: {labels: [tier=web], placement: {constraints: [node.role==worker]}}\n"
        "secrets: {a: {file: ./a}, b: {file: ./b}, c: {file: ./c}}\n"
        "volumes: {data: {}, logs: {}, logs2: {}}\n"
        "networks: {front: {}, back: {}}\n"
    )
    override = yaml.safe_load(
        "services:\n  web:\n    command: [sleep, '2']\n"
        "    ports: [{published: 8080, target: 80}, '9090:90']\n"
        "    secrets: [{source: b, target: b2}, c]\n    volumes: ['logs2:/logs']\n"
        "    networks: {back: {aliases: [api]}}\n    cap_add: [NET_ADMIN, SYS_TIME]\n"
        "    healthcheck: {test: [CMD, 'false']}\n"
        "    deploy: {labels: {tier: api}, placement: {constraints: [node.labels.a==1]}}\n"
        "secrets: {a: {external: true}}\n"
    )
    web = merge_documents([base, override], ["a.yml", "b.yml"])["services"]["web"]
    assert web["command"] == ["sleep", "2"]
    assert web["ports"] == [{"published": 8080, "target": 80}, "9090:90"]  # 8080:80 once
    assert web["secrets"] == ["a", {"source": "b", "target": "b2"}, "c"]
    assert web["volumes"] == ["data:/data", "logs2:/logs"]
    assert web["networks"] == {"front": None, "back": {"aliases": ["api"]}}
    assert web["cap_add"] == ["NET_ADMIN", "SYS_TIME"]
    assert web["healthcheck"] == {"test": ["CMD", "false"], "interval": "5s"}
    assert web["deploy"] == {
        "labels": {"tier": "api"},
        "placement": {"constraints": ["node.role==worker", "node.labels.a==1"]},
    }
    plan = load_stack("st", [base, override])
    [spec] = plan.services
    assert [p.published_port for p in spec.endpoint.ports] == [8080, 9090]
    refs = spec.task.container.secrets
    assert [(r.secret_name, r.target) for r in refs] == [("a", "a"), ("st_b", "b2"), ("st_c", "c")]
    # a top-level object is replaced whole: the override's external secret has no file
    assert {p.key: p.external for p in plan.secrets} == {"a": True, "b": False, "c": False}
    assert [m.target for m in spec.task.container.mounts] == ["/data", "/logs"]
    assert [n.aliases for n in spec.task.networks] == [("web",), ("web", "api")]


def test_logging_and_ulimits_merge_as_dockers() -> None:
    logging = {"driver": "json-file", "options": {"max-size": "1m"}}
    ulimits = {"nofile": {"soft": 1, "hard": 2}}
    base = {"services": {"w": {"image": "b", "logging": logging, "ulimits": ulimits}}}
    more = {"logging": {"options": {"max-file": "2"}}, "ulimits": {"nofile": {"soft": 3}}}
    same = {"services": {"w": more}}
    other = {"services": {"w": {"logging": {"driver": "syslog"}}}}
    w = merge_documents([base, same], ["a", "b"])["services"]["w"]
    assert w["logging"] == {"driver": "json-file", "options": {"max-size": "1m", "max-file": "2"}}
    assert w["ulimits"] == {"nofile": {"soft": 3}}  # a limit is replaced whole
    w = merge_documents([base, other], ["a", "b"])["services"]["w"]
    assert w["logging"] == {"driver": "syslog"}


HOST = """
services:
  web:
    image: busybox
    ports:
      - "8080:80"
      - 9090
      - 53:53/udp
      - {target: 443, published: "8443", protocol: tcp, mode: host}
      - {target: 9000}
    volumes:
      - data:/var/data:ro
      - ./site:/srv/site
      - /etc/hosts.d:/etc/hosts.d:rw
      - /scratch
      - {type: tmpfs, target: /tmp/t}
      - {type: volume, source: shared, target: /shared, read_only: true}
    networks:
      front:
      back: {aliases: [api]}
  db:
    image: busybox
    networks: [back]
networks:
  front: {labels: {a: b}}
  back: {name: custom_back, internal: true}
  outside: {external: true}
volumes:
  data: {}
  shared: {external: true, name: team_shared}
"""


def test_ports_volumes_and_networks() -> None:
    plan = stack(HOST, base_dir="/home/me/app")
    web = {s.name: s for s in plan.services}["st_web"]
    tcp, udp, host = PortProtocol.TCP, PortProtocol.UDP, PublishMode.HOST
    ingress = PublishMode.INGRESS  # a mode left out is Docker's: the routing mesh
    assert web.endpoint.ports == (
        PortConfig(protocol=tcp, target_port=80, published_port=8080, publish_mode=ingress),
        PortConfig(protocol=tcp, target_port=9090, publish_mode=ingress),
        PortConfig(protocol=udp, target_port=53, published_port=53, publish_mode=ingress),
        PortConfig(protocol=tcp, target_port=443, published_port=8443, publish_mode=host),
        PortConfig(protocol=tcp, target_port=9000, publish_mode=ingress),
    )
    assert web.task.ports == web.endpoint.ports  # as the manager stores it
    stack_label = VolumeOptions(labels={LABEL_NAMESPACE: "st"})  # the stack's own volume
    assert web.task.container.mounts == (
        Mount(MountType.VOLUME, "st_data", "/var/data", readonly=True, volume_options=stack_label),
        Mount(MountType.BIND, "/home/me/app/site", "/srv/site"),
        Mount(MountType.BIND, "/etc/hosts.d", "/etc/hosts.d"),
        Mount(MountType.VOLUME, "", "/scratch"),
        Mount(MountType.TMPFS, "", "/tmp/t"),
        Mount(MountType.VOLUME, "team_shared", "/shared", readonly=True),
    )
    assert web.task.networks == (
        NetworkAttachmentConfig("st_front", ("web",)),
        NetworkAttachmentConfig("custom_back", ("web", "api")),
    )
    db = {s.name: s for s in plan.services}["st_db"]
    assert db.task.networks == (NetworkAttachmentConfig("custom_back", ("db",)),)
    ns = {"com.docker.stack.namespace": "st"}
    assert plan.networks == (
        NetworkPlan("front", "st_front", spec=NetworkSpec("st_front", {"a": "b", **ns})),
        NetworkPlan("back", "custom_back", spec=NetworkSpec("custom_back", ns, internal=True)),
        NetworkPlan("outside", "outside", external=True),
    )  # no default network: no service is on it


def test_a_port_range_is_one_port_per_number_as_dockers() -> None:
    """``8000-8002:80-82`` was refused; Docker's stack deploy makes three ports of it."""
    web = service(minimal("    ports: ['8000-8001:80-81/udp', '7000-7001:70', '60-61']\n"))
    ports = [(p.published_port, p.target_port, str(p.protocol)) for p in web.endpoint.ports]
    assert ports == [
        (8000, 80, "udp"),
        (8001, 81, "udp"),
        (7000, 70, "tcp"),
        (7001, 70, "tcp"),
        (0, 60, "tcp"),
        (0, 61, "tcp"),
    ]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("    ports: ['127.0.0.1:80:80']\n", "ports[0]: '127.0.0.1:80:80': a host address is"),
        ("    ports: ['8000-8002:80-81']\n", "ports[0]: '8000-8002:80-81': the published and"),
        ("    ports: ['1-200:80']\n", "ports[0]: port range '1-200': more than 128 ports"),
        ("    ports: ['9-8']\n", "services.web.ports[0]: invalid port range '9-8'"),
        ("    ports: [{target: 80, mode: bridge}]\n", "ports[0]: unknown mode 'bridge'"),
        ("    ports: ['53:53/sctp']\n", "ports[0].protocol: 53/sctp: the routing mesh"),
        ("    ports: [{published: 80}]\n", "services.web.ports[0]: a target port is required"),
        ("    ports: [{target: 80, host_ip: 0.0.0.0}]\n", "ports[0].host_ip: not supported"),
        ("    volumes: ['nope:/x']\n", "volumes[0]: volume 'nope' is not declared"),
        ("    volumes: ['/a:/b:z']\n", "volumes[0]: mode 'z' is not supported"),
        ("    volumes: ['~/a:/b']\n", "volumes[0]: '~/a': give the home directory's path"),
        ("    volumes: [{type: npipe, target: /x}]\n", "volumes[0]: unknown mount type 'npipe'"),
        ("    volumes: [{target: /x, bind: {propagation: shared}}]\n", "volumes[0].bind: not"),
        ("    volumes: [{type: tmpfs, source: x, target: /x}]\n", "takes no source"),
        ("    volumes: [{type: volume, source: x}]\n", "volumes[0].target: a mount needs a"),
        ("    volumes: ['/a:relative']\n", "services.web.volumes[0].target: the target must be"),
        ("    networks: [nope]\n", "services.web.networks.nope: network 'nope' is not decl"),
        ("    networks: {default: {ipv4_address: 1.2.3.4}}\n", "default.ipv4_address: not sup"),
    ],
)
def test_host_resources_refused_naming_their_key(extra: str, named: str) -> None:
    assert named in refused(minimal(extra))


VOLUMES = """
services:
  web:
    image: busybox
    volumes:
      - scratch:/scratch
      - {type: volume, source: data, target: /data, volume: {nocopy: true}}
      - {type: volume, source: shared, target: /shared, volume: {nocopy: true}}
volumes:
  scratch:
    driver_opts: {type: tmpfs, device: tmpfs}
    labels: [team=web]
  data:
    driver: rexray/ebs
    name: web-data
  shared: {external: true}
"""


def test_named_volumes_carry_their_driver_options_and_labels_as_dockers() -> None:
    (web,) = stack(VOLUMES).services
    scratch, data, shared = web.task.container.mounts
    assert scratch == Mount(
        MountType.VOLUME,
        "st_scratch",
        "/scratch",
        volume_options=VolumeOptions(
            labels={"team": "web", LABEL_NAMESPACE: "st"},
            driver=VolumeDriver("", {"type": "tmpfs", "device": "tmpfs"}),
        ),
    )
    assert (data.source, data.volume_options) == (
        "web-data",
        VolumeOptions(
            nocopy=True, labels={LABEL_NAMESPACE: "st"}, driver=VolumeDriver("rexray/ebs")
        ),
    )
    # an external volume is used as it is: only the service's own nocopy
    assert (shared.source, shared.volume_options) == ("shared", VolumeOptions(nocopy=True))
    assert "a tmpfs mount takes no volume options" in refused(
        minimal("    volumes: [{type: tmpfs, target: /t, volume: {nocopy: true}}]\n")
    )
    assert "not a volume driver's name" in refused(
        minimal("    volumes: [v:/v]\n", top="volumes: {v: {driver: 'a b'}}\n")
    )


def test_top_level_networks_and_volumes_refusals() -> None:
    assert "networks.n.driver: unknown driver 'overlay'" in refused(
        minimal(top="networks: {n: {driver: overlay}}\n")
    )
    assert "networks.n.ipam: not supported" in refused(minimal(top="networks: {n: {ipam: {}}}\n"))
    assert "networks.n.internal: an external network takes no internal" in refused(
        minimal(top="networks: {n: {external: true, internal: true}}\n")
    )
    assert "volumes.v.driver_opts[0]: expected KEY=VALUE" in refused(
        minimal(top="volumes: {v: {driver_opts: [7]}}\n")
    )
    assert "volumes.v.external: expected" not in refused(
        minimal(top="volumes: {v: {external: true, labels: [a=b]}}\n")
    )
    assert "an external volume takes no labels" in refused(
        minimal(top="volumes: {v: {external: true, labels: [a=b]}}\n")
    )


def test_container_options_convert_as_docker_stack_deploy_does() -> None:
    web = service(
        minimal(
            "    read_only: true\n"
            "    init: true\n"
            "    tty: true\n"
            "    group_add: [audio, 1001]\n"
            "    cap_add: [NET_ADMIN]\n"
            "    cap_drop: [net_raw]\n"
            "    ulimits: {nproc: 512, nofile: {soft: 1024, hard: 2048}}\n"
            "    sysctls: {net.core.somaxconn: 1024}\n"
            "    dns: 10.0.0.2\n"
            "    dns_search: [example.com]\n"
            "    dns_opt: [ndots:2]\n"
            "    extra_hosts: ['db:10.0.0.9', 'v6=fd00::9']\n"
        )
    )
    c = web.task.container
    assert (c.read_only, c.init, c.tty) == (True, True, True)
    assert c.groups == ("audio", "1001")
    assert (c.cap_add, c.cap_drop) == (("CAP_NET_ADMIN",), ("CAP_NET_RAW",))
    assert c.ulimits == (Ulimit("nproc", 512, 512), Ulimit("nofile", 1024, 2048))
    assert c.sysctls == {"net.core.somaxconn": "1024"}
    assert c.dns_config == DNSConfig(("10.0.0.2",), ("example.com",), ("ndots:2",))
    assert c.hosts == ("10.0.0.9 db", "fd00::9 v6")
    mapped = service(minimal("    extra_hosts: {db: 10.0.0.9}\n    sysctls: [a.b=1]\n"))
    assert mapped.task.container.hosts == ("10.0.0.9 db",)
    assert mapped.task.container.sysctls == {"a.b": "1"}
    # none given: the defaults, so a stack deployed before compares equal
    plain = service(minimal()).task.container
    assert (plain.read_only, plain.ulimits, plain.dns_config) == (False, (), DNSConfig())


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("    read_only: yes please\n", "services.web.read_only: expected true or false"),
        ("    ulimits: [nofile]\n", "services.web.ulimits: expected a mapping"),
        ("    ulimits: {nofile: {soft: 1}}\n", "services.web.ulimits.nofile: give both"),
        ("    ulimits: {nofile: lots}\n", "services.web.ulimits.nofile: expected a whole"),
        ("    ulimits: {nofiles: 1}\n", "ulimits[0]: unknown ulimit 'nofiles'"),
        ("    extra_hosts: [db]\n", "services.web.extra_hosts[0]: expected HOST:IP or HOST=IP"),
        ("    extra_hosts: ['db:nowhere']\n", "services.web.extra_hosts[0]: the address of"),
        ("    dns: [dns.google]\n", "services.web.dns[0]: DNS server 'dns.google' is not"),
        ("    group_add: ['a b']\n", "services.web.group_add[0]: group 'a b' is empty"),
        ("    dns_opt: ['a b']\n", "services.web.dns_opt[0]: DNS option 'a b'"),
        ("    cap_add: [NET-ADMIN]\n", "capability 'CAP_NET-ADMIN' is not CAP_NAME"),
        ("    devices: [/dev/fuse]\n", "services.web.devices: not supported"),
    ],
)
def test_container_options_refused_naming_their_key(extra: str, named: str) -> None:
    assert named in refused(minimal(extra))


def test_pids_oom_score_adj_and_logging_convert_as_docker_stack_deploy_does() -> None:
    web = service(
        minimal(
            "    oom_score_adj: -200\n"
            "    logging: {driver: json-file, options: {max-size: 1m}}\n"
            "    deploy: {resources: {limits: {pids: 50, memory: 64M}}}\n"
        )
    )
    assert web.task.container.pids_limit == 50
    assert web.task.container.oom_score_adj == -200
    assert web.task.log_driver == LogDriver("json-file", {"max-size": "1m"})
    assert web.task.resources.limits.memory_bytes == 64 << 20
    plain = service(minimal("    logging: {}\n"))
    assert plain.task.log_driver is None and plain.task.container.pids_limit == 0
    # options without a driver: the engine's default driver with them, as docker stack
    # deploy sends them (a driver with no name; dockerd fills in its default)
    default = service(minimal("    logging: {options: {max-size: 1m, max-file: '3'}}\n"))
    assert default.task.log_driver == LogDriver("", {"max-size": "1m", "max-file": "3"})
    assert service(minimal("    logging: {options: {}}\n")).task.log_driver is None
