"""--limit-pids, --oom-score-adj, --log-driver/--log-opt (api/runtime_options.py): flags,
edits, validation, the docker executor's config, the process executor's refusal, the
Engine API both ways, compose, and which drivers' output can be read back."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from docker.types import HostConfig

from actors.engine_api.service_doc import docker_spec
from actors.engine_api.service_spec import from_docker_spec
from actors.worker.executors.docker_config import container_config
from actors.worker.executors.process_policy import refused_fields
from api.objects import Task
from api.runtime_options import LOGS_NOT_READABLE, log_reading_refusal
from api.service_options import apply_options
from api.specs import ContainerSpec, LogDriver, TaskSpec
from api.validation import InvalidSpec, validate_service_spec
from cli.ctl import build_parser
from tests.unit.api.flag_specs import create, options

# --- flags and edits -------------------------------------------------------------------


def test_create_flags_become_options_and_the_spec() -> None:
    o = options(
        "service", "create", "--name", "web",
        "--limit-pids", "64", "--oom-score-adj", "-500",
        "--log-driver", "json-file", "--log-opt", "max-size=1m", "--log-opt", "max-file=2",
        "busybox",
    )  # fmt: skip
    assert {k: o[k] for k in ("limit_pids", "oom_score_adj", "log_driver", "log_opts")} == {
        "limit_pids": 64,
        "oom_score_adj": -500,
        "log_driver": "json-file",
        "log_opts": {"max-size": "1m", "max-file": "2"},
    }
    spec = create(**{k: v for k, v in o.items() if k != "name"})
    assert spec.task.container.pids_limit == 64
    assert spec.task.container.oom_score_adj == -500
    assert spec.task.log_driver == LogDriver("json-file", {"max-size": "1m", "max-file": "2"})


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("--limit-pids", "-1"), "must be >= 0"),
        (("--limit-pids", "many"), "invalid integer 'many'"),
        (("--oom-score-adj", "x"), "invalid integer 'x'"),
        (("--log-opt", "=v"), "invalid log option '=v'"),
    ],
)
def test_bad_flags_are_refused_by_argparse(
    argv: tuple[str, ...], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["service", "create", *argv, "busybox"])
    assert words in capsys.readouterr().err


def test_update_changes_pids_and_replaces_the_driver_with_its_options() -> None:
    spec = create(limit_pids=64, log_driver="json-file", log_opts={"max-size": "1m"})
    o = options(
        "service", "update", "--limit-pids", "0", "--oom-score-adj", "300",
        "--log-driver", "local", "--log-opt", "max-file=3", "web",
    )  # fmt: skip
    updated = apply_options(spec, o)
    assert updated.task.container.pids_limit == 0  # 0: unlimited
    assert updated.task.container.oom_score_adj == 300
    assert updated.task.log_driver == LogDriver("local", {"max-file": "3"})  # as Docker
    # an empty name goes back to the engine's default driver
    assert apply_options(updated, {"log_driver": ""}).task.log_driver is None
    # other flags keep them
    kept = apply_options(updated, {"env_add": ["A=1"]})
    assert kept.task.log_driver == updated.task.log_driver
    assert kept.task.container.pids_limit == 0


def test_a_log_opt_without_its_driver_is_refused_not_dropped() -> None:
    spec = create(log_driver="json-file")
    with pytest.raises(InvalidSpec, match="--log-opt: give --log-driver with it"):
        apply_options(spec, {"log_opts": {"max-size": "1m"}})
    with pytest.raises(InvalidSpec, match="--log-opt: name the driver they are for"):
        apply_options(spec, {"log_driver": "", "log_opts": {"max-size": "1m"}})


@pytest.mark.parametrize(
    ("o", "field", "words"),
    [
        ({"oom_score_adj": 1001}, "oom_score_adj", "range for oom score adj is [-1000, 1000]"),
        ({"oom_score_adj": -1001}, "oom_score_adj", "Invalid value -1001"),
        ({"limit_pids": -5}, "pids_limit", "--limit-pids must be 0 (unlimited)"),
        ({"log_driver": "bad name"}, "log_driver.name", "is empty or not valid"),
        ({"log_driver": "x" * 300}, "log_driver.name", "over the limit of 255 bytes"),
        (
            {"log_driver": "gelf", "log_opts": {f"k{i}": "v" for i in range(65)}},
            "log_driver.options",
            "65 items, over the limit of 64",
        ),
        (
            {"log_driver": "gelf", "log_opts": {"k": "v" * 5000}},
            "log_driver.options.k",
            "over the limit of 4096 bytes",
        ),
    ],
)
def test_validation_names_the_field(o: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        create(**o)
    assert field in caught.value.field
    assert words in str(caught.value)


def test_bounds_that_pass() -> None:
    create(oom_score_adj=-1000, limit_pids=2**63 - 1, log_driver="grafana/loki:2.9")
    create(oom_score_adj=1000)


# --- reading logs back -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("driver", "readable"),
    [
        (None, True),
        (LogDriver("json-file"), True),
        (LogDriver("local", {"cache-disabled": "true"}), True),  # reads its own
        (LogDriver("journald"), True),
        (LogDriver("gelf", {"gelf-address": "udp://h:1"}), True),  # the engine's cache
        (LogDriver("none"), False),
        (LogDriver("syslog", {"cache-disabled": "true"}), False),
        (LogDriver("syslog", {"cache-disabled": "false"}), True),
    ],
)
def test_which_drivers_can_be_read_back(driver: LogDriver | None, readable: bool) -> None:
    refusal = log_reading_refusal(TaskSpec(log_driver=driver))
    assert refusal == (None if readable else LOGS_NOT_READABLE)
    assert LOGS_NOT_READABLE == "configured logging driver does not support reading"


# --- executors -------------------------------------------------------------------------


def task_of(spec: TaskSpec) -> Task:
    return Task(id="t1", service_id="s1", service_name="web", slot=1, node_id="n1", spec=spec)


def test_the_docker_executor_passes_them_to_the_engine() -> None:
    spec = TaskSpec(
        container=ContainerSpec(image="busybox", pids_limit=32, oom_score_adj=-200),
        log_driver=LogDriver("json-file", {"max-size": "1m"}),
    )
    host = container_config(task_of(spec)).host_config_kwargs()
    assert host["pids_limit"] == 32
    assert host["oom_score_adj"] == -200
    assert host["log_config"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    built = HostConfig(version="1.41", **host)  # the SDK takes them as they are
    assert built["PidsLimit"] == 32 and built["OomScoreAdj"] == -200
    assert built["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    plain = container_config(task_of(TaskSpec(container=ContainerSpec(image="busybox"))))
    assert not {"pids_limit", "oom_score_adj", "log_config"} & set(plain.host_config_kwargs())


def test_the_process_executor_refuses_them_by_flag() -> None:
    base = TaskSpec(container=ContainerSpec(image="busybox", command=("top",)))
    assert refused_fields(base, ["nobody"]) is None
    for spec, words in (
        (replace(base, container=replace(base.container, pids_limit=5)), "--limit-pids"),
        (replace(base, container=replace(base.container, oom_score_adj=5)), "--oom-score-adj"),
        (replace(base, log_driver=LogDriver("json-file")), "logging driver 'json-file'"),
    ):
        refusal = refused_fields(spec, ["nobody"])
        assert refusal is not None and words in refusal
        assert "the process executor cannot honour" in refusal


# --- the Engine API --------------------------------------------------------------------


def test_engine_api_both_ways() -> None:
    doc: dict[str, Any] = {
        "Name": "web",
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox", "OomScoreAdj": -300},
            "Resources": {"Limits": {"Pids": 100}, "Reservations": {}},
            "LogDriver": {"Name": "local", "Options": {"max-size": "5m"}},
        },
    }
    spec = from_docker_spec(doc)
    assert spec.task.container.pids_limit == 100
    assert spec.task.container.oom_score_adj == -300
    assert spec.task.log_driver == LogDriver("local", {"max-size": "5m"})
    back = docker_spec(spec)["TaskTemplate"]
    assert back["Resources"]["Limits"]["Pids"] == 100
    assert back["ContainerSpec"]["OomScoreAdj"] == -300
    assert back["LogDriver"] == {"Name": "local", "Options": {"max-size": "5m"}}
    assert from_docker_spec(docker_spec(spec)) == spec
    # unset: left out, as Docker's omitempty fields; a nameless driver is the default
    plain_doc = {"Name": "p", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
    plain = docker_spec(from_docker_spec({**plain_doc}))["TaskTemplate"]
    assert "Pids" not in plain["Resources"]["Limits"]
    assert "OomScoreAdj" not in plain["ContainerSpec"] and "LogDriver" not in plain
    nameless = {**plain_doc, "TaskTemplate": {**plain_doc["TaskTemplate"], "LogDriver": {}}}
    assert from_docker_spec(nameless).task.log_driver is None
    full = create(limit_pids=7, oom_score_adj=9, log_driver="none")
    assert from_docker_spec(docker_spec(full)) == full
    # options without a Name: the engine's default driver with them (docker stack deploy's
    # body for a compose file's logging.options without driver)
    optioned = {
        **plain_doc,
        "TaskTemplate": {**plain_doc["TaskTemplate"], "LogDriver": {"Options": {"a": "b"}}},
    }
    spec = from_docker_spec(optioned)
    assert spec.task.log_driver == LogDriver("", {"a": "b"})
    assert docker_spec(spec)["TaskTemplate"]["LogDriver"] == {"Name": "", "Options": {"a": "b"}}


def test_a_nameless_driver_with_options_is_the_engines_default_with_them() -> None:
    spec = replace(create(), task=replace(create().task, log_driver=LogDriver("", {"a": "b"})))
    validate_service_spec(spec)
    bare = replace(spec, task=replace(spec.task, log_driver=LogDriver("")))
    with pytest.raises(InvalidSpec, match="a logging driver without a name needs options"):
        validate_service_spec(bare)
    # the engine's default driver: readable as far as the spec tells (the engine decides)
    assert log_reading_refusal(replace(spec.task, log_driver=LogDriver("", {"x": "y"}))) is None
    host = container_config(task_of(spec.task)).host_config_kwargs()
    assert host["log_config"] == {"Type": "", "Config": {"a": "b"}}  # dockerd's default
    assert HostConfig(version="1.41", **host)["LogConfig"] == {"Type": "", "Config": {"a": "b"}}


def test_service_inspect_pretty_shows_them_as_their_flags_give_them() -> None:
    from api.codec_objects import encode
    from cli.service_inspect import spec_lines

    spec = create(limit_pids=64, oom_score_adj=-250, log_driver="gelf", log_opts={"a": "b"})
    lines = {label.strip(): value for label, value in spec_lines(encode(spec))}
    assert lines["PIDs Limit"] == "64"
    assert lines["OOM Score Adjustment"] == "-250"
    assert lines["Log Driver"] == "gelf a=b"
    nameless = replace(spec, task=replace(spec.task, log_driver=LogDriver("", {"a": "b"})))
    lines = {label.strip(): value for label, value in spec_lines(encode(nameless))}
    assert lines["Log Driver"] == "(engine default) a=b"
    assert {label.strip(): v for label, v in spec_lines(encode(create()))}["Log Driver"] == "-"


def test_service_history_shows_their_changes() -> None:
    from actors.orchestrator.history import spec_changes

    before = create()
    after = apply_options(before, {"limit_pids": 5, "log_driver": "gelf", "log_opts": {"a.b": "v"}})
    changes = spec_changes(before, after)
    assert "container.pids_limit: 0 → 5" in changes
    assert "log_driver.name: (none) → gelf" in changes
    # the options diffed as one map (a key with a dot is no path)
    [options] = [c for c in changes if c.startswith("log_driver.options")]
    assert "a.b=v" in options
