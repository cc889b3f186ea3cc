# ruff: noqa: E501  (tables of cases read best one per line)
"""Service templates (api/templates.py): Docker's placeholders in the container's hostname,
env values and mounts, the subset of Go's template syntax, and the refusals that name the
field and the template."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from api.mounts import parse_mount
from api.objects import NodeDescription, Platform, Task
from api.spec_limits import InvalidSpec
from api.specs import (
    ContainerSpec,
    Mount,
    ServiceSpec,
    TaskSpec,
    VolumeDriver,
    VolumeOptions,
)
from api.templates import (
    MAX_EXPANDED_BYTES,
    TemplateContext,
    TemplateError,
    example_context,
    expand_container,
    expand_task,
    parse_template,
    task_context,
)
from api.validation import validate_service_spec

NODE = NodeDescription(hostname="box-1", platform=Platform(os="linux", architecture="aarch64"))
CTX = TemplateContext(
    service_id="svc1",
    service_name="web",
    service_labels={"tier": "front", "a-b": "dash"},
    node_id="node1",
    node_hostname="box-1",
    node_os="linux",
    node_architecture="aarch64",
    task_id="task1",
    task_name="web.3.task1",
    task_slot="3",
)


def _task(**container: object) -> Task:
    return Task(
        id="task1",
        spec=TaskSpec(container=ContainerSpec(image="busybox", **container)),  # type: ignore[arg-type]
        service_id="svc1",
        service_name="web",
        service_labels={"tier": "front"},
        slot=3,
        node_id="node1",
    )


@pytest.mark.parametrize(
    ("template", "expanded"),
    [
        ("{{.Node.Hostname}}-{{.Task.Slot}}", "box-1-3"),
        ("{{.Service.ID}} {{.Service.Name}} {{.Node.ID}}", "svc1 web node1"),
        ("{{.Node.Platform.OS}}/{{.Node.Platform.Architecture}}", "linux/aarch64"),
        ("{{.Task.ID}} {{.Task.Name}} {{.Task.Slot}}", "task1 web.3.task1 3"),
        ("{{ .Service.Labels.tier }}", "front"),
        ('{{index .Service.Labels "a-b"}}', "dash"),
        ("{{index .Service.Labels `tier`}}", "front"),
        ('{{index .Service.Labels "none"}}!', "!"),  # index: a missing key is empty, as Go's
        ("a  {{- .Task.Slot -}}  b", "a3b"),
        ("a {{-  .Task.Slot}} b", "a3 b"),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ("no template }} here", "no template }} here"),
        ("", ""),
    ],
)
def test_placeholders_expand_as_docker_does(template: str, expanded: str) -> None:
    assert parse_template(template).expand(CTX) == expanded


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (
            "{{.Node.Name}}",
            "unknown field .Node.Name (known: .Node.ID, .Node.Hostname, .Node.Platform)",
        ),
        ("{{.Nodes.ID}}", "unknown field .Nodes"),
        ("{{.Node}}", ".Node is not a text value"),
        ("{{.Service.Labels}}", ".Service.Labels is not a text value"),
        ("{{.Service.Labels.none}}", "the service has no label 'none'"),
        ("{{.Task.ID.Short}}", ".Task.ID is text, it has no field 'Short'"),
        ("{{.}}", "unsupported '.}}'"),
        ('{{printf "%s" .Node.ID}}', "unsupported action 'printf'"),
        ("{{.Node.ID | printf}}", "unsupported '| printf}}'"),
        ("{{if .Node.ID}}x{{end}}", "unsupported action 'if'"),
        ("{{$x := 1}}", "unsupported '$x := 1}}'"),
        ('{{index .Node.ID "x"}}', "index takes .Service.Labels, not .Node.ID"),
        ("{{index .Service.Labels tier}}", "unsupported action 'index'"),
        ("{{.Node.ID", "unclosed action"),
        ("{{}}", "empty action"),
        ("{{/* open", "unclosed comment"),
        ('{{index .Service.Labels "x}}', "unterminated quoted string"),
        ('{{index .Service.Labels "\\q"}}', "unsupported escape"),
        ("{{.Node.ID-}}", "unsupported '-}}'"),
    ],
)
def test_anything_else_is_refused_saying_what(template: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason)):
        parse_template(template).expand(CTX)


def test_an_error_names_the_field_and_the_template() -> None:
    c = ContainerSpec(image="i", env=("A=1", "NODE={{.Node.Name}}"))
    with pytest.raises(TemplateError) as caught:
        expand_container(c, CTX)
    assert caught.value.field == "task.container.env[1]"
    assert str(caught.value) == (
        "invalid spec: task.container.env[1]: template '{{.Node.Name}}': unknown field "
        ".Node.Name (known: .Node.ID, .Node.Hostname, .Node.Platform)"
    )


def test_the_output_is_bounded() -> None:
    labels = {"big": "x" * 4096}
    ctx = replace(CTX, service_labels=labels)
    template = parse_template("{{.Service.Labels.big}}" * 8)
    assert len(template.expand(ctx)) == 8 * 4096 == MAX_EXPANDED_BYTES
    with pytest.raises(ValueError, match=f"expands to over {MAX_EXPANDED_BYTES} bytes"):
        parse_template("{{.Service.Labels.big}}" * 9).expand(ctx)


def test_a_task_gets_its_hostname_env_and_mounts_expanded_for_its_node() -> None:
    volume = VolumeOptions(
        labels={"slot": "{{.Task.Slot}}"},
        driver=VolumeDriver(name="local", options={"device": "/srv/{{.Node.Hostname}}"}),
    )
    task = _task(
        hostname="{{.Node.Hostname}}-{{.Task.Slot}}",
        env=("NODE={{.Node.ID}}", "PLAIN=x", "BARE", "TIER={{.Service.Labels.tier}}"),
        labels={"l": "{{.Node.ID}}"},
        command=("echo", "{{.Node.ID}}"),
        mounts=(
            Mount(
                source="data-{{.Task.Slot}}",
                target="/data/{{.Service.Name}}",
                volume_options=volume,
            ),
        ),
    )
    c = expand_task(task, NODE).spec.container
    assert c.hostname == "box-1-3"
    assert c.env == ("NODE=node1", "PLAIN=x", "BARE", "TIER=front")
    assert (c.mounts[0].source, c.mounts[0].target) == ("data-3", "/data/web")
    assert c.mounts[0].volume_options == VolumeOptions(
        labels={"slot": "3"}, driver=VolumeDriver(name="local", options={"device": "/srv/box-1"})
    )
    # as in Docker, labels and the command are not templates
    assert c.labels == {"l": "{{.Node.ID}}"}
    assert c.command == ("echo", "{{.Node.ID}}")


def test_a_task_without_templates_is_returned_as_it_is() -> None:
    task = _task(hostname="h", env=("A=1",), mounts=(Mount(source="data", target="/d"),))
    assert expand_task(task, NODE) is task


def test_a_global_task_s_slot_is_its_node_id_and_no_description_leaves_the_node_s_facts_empty() -> (
    None
):
    task = replace(_task(), slot=0)
    ctx = task_context(task, None)
    assert (ctx.task_slot, ctx.task_name) == ("node1", "web.node1.task1")
    assert (ctx.node_id, ctx.node_hostname, ctx.node_os) == ("node1", "", "")


def test_examples_look_like_real_values_and_unknown_labels_read_as_examples() -> None:
    ctx = example_context("web", None)
    assert (
        parse_template('{{.Service.Labels.any}}-{{index .Service.Labels "x"}}').expand(ctx)
        == "label-label"
    )
    known = example_context("web", {"tier": "front"})
    with pytest.raises(ValueError, match="no label 'x'"):
        parse_template("{{.Service.Labels.x}}").expand(known)
    assert parse_template("{{.Task.Name}}").expand(known) == "web.1." + "0" * 25


# --- checked when a spec is written (api/validation.py, api/mounts.py) -----------------


def _service(labels: dict[str, str] | None = None, **container: object) -> ServiceSpec:
    c = ContainerSpec(image="busybox", **container)  # type: ignore[arg-type]
    return ServiceSpec(name="web", labels=labels or {}, task=TaskSpec(container=c))


def test_a_spec_with_docker_s_templates_is_valid() -> None:
    validate_service_spec(
        _service(
            labels={"tier": "front"},
            hostname="{{ .Node.Hostname }}-{{.Task.Slot}}",  # its spaces are the template's
            env=("NODE={{.Node.ID}}", "TIER={{.Service.Labels.tier}}"),
            mounts=(Mount(source="data-{{.Task.Slot}}", target="/data/{{.Service.Name}}"),),
        )
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            _service(env=("A=1", "NODE={{.Node.Name}}")),
            "invalid spec: task.container.env[1]: template '{{.Node.Name}}': unknown field .Node.Name",
        ),
        (
            _service(hostname="{{.Node.Hostname"),
            "invalid spec: task.container.hostname: template '{{.Node.Hostname': unclosed action",
        ),
        (
            _service(mounts=(Mount(source="d", target="/d/{{printf .Task.Slot}}"),)),
            "invalid spec: task.container.mounts[0].target: template '/d/{{printf .Task.Slot}}': unsupported action 'printf'",
        ),
        (
            _service(labels={"tier": "front"}, env=("T={{.Service.Labels.zone}}",)),
            "invalid spec: task.container.env[0]: template '{{.Service.Labels.zone}}': the service has no label 'zone'",
        ),
        (  # the expanded value is checked as any
            _service(hostname="host {{.Task.Slot}}"),
            "invalid spec: task.container.hostname: hostname 'host 1' contains whitespace or control characters (its templates expanded with example values)",
        ),
        (
            _service(mounts=(Mount(source="data/{{.Task.Slot}}", target="/d"),)),
            "invalid spec: task.container.mounts[0].source: 'data/1' is not a valid volume name",
        ),
    ],
)
def test_a_spec_whose_template_cannot_expand_is_refused_naming_the_field(
    spec: ServiceSpec, message: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        validate_service_spec(spec)
    assert str(caught.value).startswith(message)


def test_the_mount_flag_takes_templates_and_refuses_a_bad_one_by_the_flag() -> None:
    mount = parse_mount("type=volume,source=data-{{.Task.Slot}},target=/data")
    assert mount.source == "data-{{.Task.Slot}}"  # stored as written, expanded on the node
    with pytest.raises(
        TemplateError, match=r"^invalid spec: --mount\.source: template 'd-\{\{\.Task\.Slt\}\}'"
    ):
        parse_mount("type=volume,source=d-{{.Task.Slt}},target=/data")
    with pytest.raises(InvalidSpec, match=r"'d 1' is not a valid volume name .* example values"):
        parse_mount("type=volume,source=d {{.Task.Slot}},target=/data")
