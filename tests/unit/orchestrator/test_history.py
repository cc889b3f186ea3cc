"""Spec history and rollback planning (pure): what is kept, what changed, what a rollback
(to the previous spec or to any kept version) makes of a service."""

from __future__ import annotations

from dataclasses import replace

from actors.orchestrator.history import (
    HISTORY_BYTES,
    find_revision,
    history_of,
    history_rows,
    record,
    spec_changes,
    trim,
)
from actors.orchestrator.rollback import (
    MANUAL_ROLLBACK,
    rollback_config,
    rollback_refusal,
    rolled_back,
)
from api.enums import UpdateState
from api.objects import Meta, Service, SpecRevision
from api.specs import (
    ContainerSpec,
    HealthConfig,
    PortConfig,
    ReplicatedService,
    SecretReference,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from tests.unit.orchestrator.helpers import make_service


def _with_image(service: Service, image: str, at: float, limit: int = 10) -> Service:
    task = replace(service.spec.task, container=replace(service.spec.task.container, image=image))
    new = replace(
        service,
        spec=replace(service.spec, task=task),
        previous_spec=service.spec,
        spec_version=service.spec_version + 1,
    )
    return record(service, new, at, "update", limit)


def _versions(service: Service) -> list[int]:
    return [r.version for r in history_of(service)]


def _history(limit: int = 10) -> Service:
    s = make_service(image="app:1")
    s = replace(s, spec_history=(SpecRevision(1, s.spec, 100.0, "create"),))
    for i in range(2, 6):
        s = _with_image(s, f"app:{i}", 100.0 * i, limit)
    return s


def test_every_spec_change_is_a_revision_the_current_one_last() -> None:
    s = _history()
    assert _versions(s) == [1, 2, 3, 4, 5]
    assert s.spec_history[-1] == SpecRevision(5, s.spec, 500.0, "update")
    assert find_revision(s, 3) is not None and find_revision(s, 9) is None


def test_the_last_n_are_kept() -> None:
    s = _history(limit=3)
    assert _versions(s) == [3, 4, 5]
    assert trim(s.spec_history, 0) == s.spec_history[-1:]  # the current one always stays


def test_revisions_that_would_not_fit_the_object_go_first() -> None:
    big = "x" * (HISTORY_BYTES // 3)
    s = make_service()
    revisions = tuple(
        SpecRevision(v, replace(s.spec, labels={"blob": big}), float(v), "update")
        for v in range(1, 6)
    )
    kept = trim(revisions, 10)
    assert [r.version for r in kept] == [4, 5]


def test_a_service_from_before_histories_has_its_current_spec() -> None:
    s = replace(make_service(), spec_version=7, meta=Meta(3, 50.0, 60.0))
    assert history_of(s) == (SpecRevision(7, s.spec, 60.0, ""),)
    s2 = _with_image(s, "app:2", 70.0)
    assert _versions(s2) == [7, 8]


def test_what_changed() -> None:
    old = ServiceSpec(
        name="web",
        task=TaskSpec(container=ContainerSpec(image="app:1", env=("A=1", "B=2"))),
        mode=ReplicatedService(replicas=2),
        labels={"tier": "front"},
    )
    new = replace(
        old,
        task=replace(
            old.task, container=replace(old.task.container, image="app:2", env=("B=2", "C=3"))
        ),
        mode=ReplicatedService(replicas=5),
        labels={"tier": "back", "team": "a"},
        update_config=UpdateConfig(parallelism=3),
    )
    assert spec_changes(old, new) == [
        "labels: +tier=back +team=a",
        "container.image: app:1 → app:2",
        "container.env: +C=3 -A=1",
        "replicas: 2 → 5",
        "update_config.parallelism: 1 → 3",
    ]
    assert spec_changes(None, new) == []
    argv = replace(
        new, task=replace(new.task, container=replace(new.task.container, args=("a b",)))
    )
    assert spec_changes(new, argv) == ["container.args: (none) → 'a b'"]
    published = replace(
        new,
        endpoint=replace(new.endpoint, ports=(PortConfig(target_port=80, published_port=8080),)),
    )
    published = replace(published, task=replace(new.task, ports=published.endpoint.ports))
    (line,) = spec_changes(new, published)  # once: the task's copy is not a change of its own
    assert line == (
        "endpoint.ports: +protocol=tcp,target_port=80,published_port=8080,publish_mode=ingress"
    )
    assert spec_changes(new, new) == []
    long = replace(
        new, task=replace(new.task, container=replace(new.task.container, image="i" * 99))
    )
    (line,) = spec_changes(new, long)
    assert line.endswith("...") and len(line) < 140


def test_a_changed_list_of_references_shows_entries_not_python_reprs() -> None:
    """``service history`` showed a secret swap as ``container.secrets: {'secret_id':
    'ewio...', 'secret_name':... → {'secret_id': ...``."""

    def with_secrets(*refs: SecretReference) -> ServiceSpec:
        return ServiceSpec(
            name="db", task=TaskSpec(container=ContainerSpec(image="app:1", secrets=refs))
        )

    v1 = SecretReference("id1", "db_password", "db/password", 999, 999, 0o400)
    v2 = SecretReference("id2", "db_password_v2", "db/password", 999, 999, 0o400)
    assert spec_changes(with_secrets(v1), with_secrets(v2)) == [
        "container.secrets: +secret_name=db_password_v2,target=db/password,uid=999,gid=999,"
        "mode=256",
        "container.secrets: -secret_name=db_password,target=db/password,uid=999,gid=999,mode=256",
    ]
    extra = SecretReference("id3", "tls", "tls", 0, 0, 0o444)
    assert spec_changes(with_secrets(), with_secrets(extra)) == [
        "container.secrets: +secret_name=tls,target=tls,uid=0,gid=0,mode=292"
    ]
    assert spec_changes(with_secrets(v1, extra), with_secrets(extra)) == [
        "container.secrets: -secret_name=db_password,target=db/password,uid=999,gid=999,mode=256"
    ]
    assert spec_changes(with_secrets(v1, extra), with_secrets(extra, v1)) == [
        "container.secrets: reordered"
    ]


def test_history_rows() -> None:
    s = _history()
    rows = history_rows(s)
    assert [(r["version"], r["origin"], r["current"]) for r in rows] == [
        (1, "create", False),
        (2, "update", False),
        (3, "update", False),
        (4, "update", False),
        (5, "update", True),
    ]
    assert rows[0]["changes"] == [] and rows[0]["at"] == 100.0
    assert rows[2]["changes"] == ["container.image: app:2 → app:3"]


def test_rollback_to_the_previous_spec() -> None:
    s = _history()
    back = rolled_back(s, 900.0)
    assert back.spec == s.previous_spec and back.previous_spec == s.spec
    assert back.spec_version == 6
    assert back.update_status is not None
    assert back.update_status.state == UpdateState.ROLLBACK_STARTED
    assert (back.update_status.started_at, back.update_status.message) == (900.0, MANUAL_ROLLBACK)
    assert back.spec_history[-1] == SpecRevision(6, back.spec, 900.0, "rollback")
    assert _versions(back) == [1, 2, 3, 4, 5, 6]


def test_rollback_to_any_kept_version() -> None:
    s = _history(limit=4)
    back = rolled_back(s, 900.0, to_version=3, message="rollback to version 3", limit=4)
    assert back.spec.task.container.image == "app:3"
    assert back.previous_spec == s.spec
    assert _versions(back) == [3, 4, 5, 6]
    assert back.spec_history[-1].origin == "rollback to version 3"


def test_rollback_refusals() -> None:
    fresh = make_service()
    assert rollback_refusal(fresh, None) == "service web has no previous spec to roll back to"
    s = _history(limit=3)
    assert rollback_refusal(s, None) is None
    assert rollback_refusal(s, 4) is None
    assert rollback_refusal(s, 5) == "service web is at version 5 already"
    assert rollback_refusal(s, 1) == "version 1 of service web is not kept (kept: 3, 4, 5)"


def test_the_rollback_config_is_the_spec_lefts() -> None:
    s = _history()
    left = replace(s.spec, rollback_config=UpdateConfig(parallelism=7))
    s = replace(s, spec=left)
    back = rolled_back(s, 900.0)
    assert rollback_config(back).parallelism == 7
    assert rollback_config(make_service()).parallelism == 1


def test_container_option_changes() -> None:
    from api.specs import DNSConfig, Ulimit

    old = ServiceSpec(name="web", task=TaskSpec(container=ContainerSpec(image="app:1")))
    c = replace(
        old.task.container,
        read_only=True,
        cap_add=("CAP_NET_ADMIN",),
        ulimits=(Ulimit("nofile", 1, 2),),
        sysctls={"net.core.somaxconn": "1024"},
        dns_config=DNSConfig(nameservers=("10.0.0.2",)),
        hosts=("10.0.0.9 db",),
    )
    new = replace(old, task=replace(old.task, container=c))
    assert spec_changes(old, new) == [
        "container.read_only: False → True",
        "container.cap_add: +CAP_NET_ADMIN",
        "container.ulimits: +name=nofile,soft=1,hard=2",
        "container.sysctls: +net.core.somaxconn=1024",
        "container.dns_config.nameservers: +10.0.0.2",
        "container.hosts: +10.0.0.9 db",
    ]
    assert spec_changes(new, old)[3] == "container.sysctls: -net.core.somaxconn"


def test_an_empty_list_where_there_was_none_is_no_change() -> None:
    """``service update --health-cmd ''`` gives a healthcheck without a test (the image's,
    as Docker's CLI does): history said ``container.healthcheck.test: reordered``."""
    old = ServiceSpec(name="web", task=TaskSpec(container=ContainerSpec(image="app:1")))
    check = HealthConfig(test=())
    new = replace(
        old, task=replace(old.task, container=replace(old.task.container, healthcheck=check))
    )
    lines = spec_changes(old, new)
    assert lines and not any("reordered" in line or ".test" in line for line in lines)
