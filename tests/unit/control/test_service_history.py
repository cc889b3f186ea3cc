"""Service history and rollback through the control API (local store): every spec change
is a revision, ``history`` shows what changed, ``rollback`` goes back to the previous spec
or any kept version and starts a rollback the orchestrator paces."""

from __future__ import annotations

import pytest

from actors.control import ControlCode, ControlError, call
from api.enums import UpdateState
from api.task_state import TaskState
from tests.unit.control.helpers import Cluster


def refused(fn: object, body: dict[str, object]) -> ControlError:
    with pytest.raises(ControlError) as info:
        call(fn, body)  # type: ignore[arg-type]
    return info.value


def _versions(c: Cluster, ref: str) -> list[tuple[int, str, bool]]:
    rows = call(c.services.history, {"service": ref})["history"]
    return [(r["version"], r["origin"], r["current"]) for r in rows]


def test_every_spec_change_is_a_revision() -> None:
    c = Cluster()
    c.create(name="web", replicas=1)
    c.clock.now = 1_010.0
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})
    c.clock.now = 1_020.0
    call(c.services.scale, {"service": "web", "replicas": 3})
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})  # no change
    reply = call(c.services.history, {"service": "web"})
    assert reply["service"]["name"] == "web"
    rows = reply["history"]
    assert [(r["version"], r["at"], r["origin"], r["current"]) for r in rows] == [
        (1, 1_000.0, "create", False),
        (2, 1_010.0, "update", False),
        (3, 1_020.0, "scale", True),
    ]
    assert rows[1]["changes"] == ["container.image: busybox → busybox:2"]
    assert rows[2]["changes"] == ["replicas: 1 → 3"]


def test_the_cluster_setting_bounds_the_history() -> None:
    c = Cluster()
    c.store.update(lambda tx: tx.create(_default_cluster(limit=3)))
    c.create(name="web")
    for i in range(2, 7):
        call(c.services.update, {"service": "web", "changes": {"image": f"busybox:{i}"}})
    assert [v for v, _, _ in _versions(c, "web")] == [4, 5, 6]


def test_rollback_to_the_previous_spec() -> None:
    c = Cluster()
    sid = c.create(name="web")
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})
    c.clock.now = 1_100.0
    reply = call(c.services.rollback, {"service": "web"})
    assert reply["changed"] and reply["id"] == sid
    stored = c.service(sid)
    assert stored.spec.task.container.image == "busybox"
    assert stored.previous_spec.task.container.image == "busybox:2"
    assert stored.spec_version == 3
    assert stored.update_status is not None
    assert (stored.update_status.state, stored.update_status.message) == (
        UpdateState.ROLLBACK_STARTED,
        "manually requested rollback",
    )
    assert stored.update_status.started_at == 1_100.0
    assert _versions(c, "web")[-1] == (3, "rollback", True)


def test_rollback_to_a_kept_version() -> None:
    c = Cluster()
    sid = c.create(name="web")
    for image in ("busybox:2", "busybox:3", "busybox:4"):
        call(c.services.update, {"service": "web", "changes": {"image": image}})
    call(c.services.rollback, {"service": "web", "to_version": 2})
    stored = c.service(sid)
    assert stored.spec.task.container.image == "busybox:2"
    assert stored.previous_spec.task.container.image == "busybox:4"
    assert stored.update_status.message == "rollback to version 2"
    assert _versions(c, "web")[-1] == (5, "rollback to version 2", True)
    rows = call(c.services.history, {"service": "web"})["history"]
    assert rows[-1]["changes"] == ["container.image: busybox:4 → busybox:2"]


def test_rollback_refusals_write_nothing() -> None:
    c = Cluster()
    c.create(name="web")
    version = c.store.version
    err = refused(c.services.rollback, {"service": "web"})
    assert (err.code, err.message) == (
        ControlCode.INVALID_ARGUMENT,
        "service web has no previous spec to roll back to",
    )
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})
    version = c.store.version
    assert refused(c.services.rollback, {"service": "web", "to_version": 2}).message == (
        "service web is at version 2 already"
    )
    assert refused(c.services.rollback, {"service": "web", "to_version": 7}).message == (
        "version 7 of service web is not kept (kept: 1, 2)"
    )
    assert refused(c.services.rollback, {"service": "web", "to_version": 0}).code == (
        ControlCode.INVALID_ARGUMENT
    )
    assert refused(c.services.rollback, {"service": "nope"}).code == ControlCode.NOT_FOUND
    assert refused(c.services.rollback, {"service": "web", "version": 1}).code == (
        ControlCode.CONFLICT
    )
    assert c.store.version == version


def test_an_update_after_a_rollback_resets_the_status() -> None:
    c = Cluster()
    sid = c.create(name="web")
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})
    call(c.services.rollback, {"service": "web"})
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:3"}})
    assert c.service(sid).update_status is None


def _default_cluster(limit: int) -> object:
    from api.objects import Cluster as ClusterObject
    from api.specs import ClusterSpec, OrchestrationConfig

    return ClusterObject(
        id="c" * 25,
        spec=ClusterSpec(orchestration=OrchestrationConfig(service_history_limit=limit)),
    )


def test_a_rollback_can_be_planned() -> None:
    """``service rollback|update --rollback --dry-run``: the plan of the rollback, refused
    as the rollback would be; nothing written."""
    from actors.control.plans import ServicePlans

    c = Cluster()
    n = c.add_node("n1")
    c.create(name="web", replicas=1)
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})
    c.set_task(c.add_task("web", 1, n), TaskState.RUNNING)
    plans = ServicePlans(c.store, clock=c.clock)
    version = c.store.version
    err = refused(plans.plan, {"service": "web", "rollback": True, "to_version": 2})
    assert err.message == "service web is at version 2 already"
    plan = call(plans.plan, {"service": "web", "rollback": True})
    assert [(s["action"], s["slot"]) for s in plan["steps"]] == [("replace", "1")]
    assert plan["notes"][0].startswith("the rollback replaces 1 task(s)")
    assert call(plans.plan, {"service": "web", "rollback": True, "to_version": 1}) == plan
    assert c.store.version == version
    assert c.service("web").spec.task.container.image == "busybox:2"


def test_a_rollback_to_a_secret_since_removed_is_refused() -> None:
    """Rotation, then the old secret removed: going back to it fails at once, saying why,
    instead of giving the tasks a secret that is gone (before, the rollback was written)."""
    from actors.control.plans import ServicePlans
    from actors.control.secrets import SecretControl
    from api.codec_objects import encode
    from api.specs import SecretSpec

    c = Cluster()
    secrets = SecretControl(c.store)
    for name in ("pw_v1", "pw_v2"):
        call(secrets.create, {"spec": encode(SecretSpec(name=name, data=name.encode()))})
    c.create(name="web", secrets=["source=pw_v1,target=pw"])
    changes = {"secret_rm": ["pw_v1"], "secret_add": ["source=pw_v2,target=pw"]}
    call(c.services.update, {"service": "web", "changes": changes})
    call(secrets.rm, {"secrets": ["pw_v1"]})
    version = c.store.version
    for attempt in (
        lambda: call(c.services.rollback, {"service": "web"}),
        lambda: call(ServicePlans(c.store).plan, {"service": "web", "rollback": True}),
    ):
        with pytest.raises(ControlError) as refused_:
            attempt()
        assert "secret 'pw_v1' not found" in refused_.value.message, refused_.value.message
    assert c.store.version == version
