"""Service templates, as Docker swarm has them: ``--hostname '{{.Node.Hostname}}-{{.Task.Slot}}'``,
``--env 'NODE={{.Node.ID}}'``, ``--mount 'type=volume,source=data-{{.Task.Slot}},target=/d'``.

Rules (SwarmKit's ``template`` package):
- Expanded fields: the container's hostname, each env entry's value (after the first
  ``=``), and each mount's source, target, volume labels' values and volume driver
  options' values. Nothing else (labels, command, args) is a template, as in Docker.
- Values: ``.Service.ID|Name|Labels``, ``.Node.ID|Hostname``,
  ``.Node.Platform.OS|Architecture``, ``.Task.ID|Name|Slot``. ``.Task.Name`` is
  ``<service>.<slot>.<task id>`` (``<service>.<node id>.<task id>`` for a global task);
  ``.Task.Slot`` is the node id for a global task.
- Syntax: api/template_syntax.py (Go's text/template subset: fields, ``index`` of
  ``.Service.Labels``, comments, trim markers). ``{{.Service.Labels.KEY}}`` of a missing
  label is an error (Go's ``missingkey=error``), ``{{index .Service.Labels "KEY"}}`` is
  empty. A reference that is not a text value (``{{.Node}}``) is refused, naming the
  field and the template. The calls of templated secrets and configs
  (api/payload_templates.py) are refused here.
- No evaluation of anything: a template is parsed into text and field references. The
  expanded value is bounded (``MAX_EXPANDED_BYTES``).
- A spec's templates are checked when it is written (api/validation.py expands them with
  ``example_context``, as SwarmKit's control API does, and checks the expanded fields);
  the worker expands them with its node's description when it configures the task's
  container (``expand_task``, called by the docker and process executors).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from api.spec_limits import MAX_ARG_BYTES, InvalidSpec
from api.specs import ContainerSpec, Mount, VolumeOptions
from api.template_syntax import LABELS, OPEN, Template, dotted, parse_template

if TYPE_CHECKING:  # annotations only: swarmctl's spec checks do not load the object model
    from api.objects import NodeDescription, Task

__all__ = [
    "MAX_EXPANDED_BYTES",
    "Template",
    "TemplateContext",
    "TemplateError",
    "example_context",
    "example_refusal",
    "expand_container",
    "expand_mount",
    "expand_task",
    "parse_template",
    "task_context",
]

MAX_EXPANDED_BYTES: Final = MAX_ARG_BYTES  # one expanded value (an env entry's limit)
# examples shaped like the real values, so that an expanded example passes the checks the
# real values would (an id is 25 base36 characters; a hostname a DNS label)
_EXAMPLE_ID: Final = "0" * 25
_EXAMPLE_LABEL: Final = "label"
# each struct's fields, by the struct's path; every other field a path names is text
_STRUCTS: Final[Mapping[tuple[str, ...], tuple[str, ...]]] = {
    (): ("Service", "Node", "Task"),
    ("Service",): ("ID", "Name", "Labels"),
    ("Node",): ("ID", "Hostname", "Platform"),
    ("Node", "Platform"): ("OS", "Architecture"),
    ("Task",): ("ID", "Name", "Slot"),
}


class TemplateError(InvalidSpec):
    """A template that cannot be parsed or expanded; ``field`` names the spec field."""


@dataclass(frozen=True, slots=True)
class TemplateContext:
    """The values a template may use (SwarmKit's ``template.Context``)."""

    service_id: str = ""
    service_name: str = ""
    service_labels: Mapping[str, str] | None = None  # None: not known (an example's)
    node_id: str = ""
    node_hostname: str = ""
    node_os: str = ""
    node_architecture: str = ""
    task_id: str = ""
    task_name: str = ""
    task_slot: str = ""

    def text(self, path: tuple[str, ...]) -> str:
        """The text value at ``path`` (``("Node", "Hostname")``); ValueError saying why
        there is none."""
        where: tuple[str, ...] = ()
        for i, name in enumerate(path):
            if where == LABELS:
                labels = self.service_labels
                if i != len(path) - 1:
                    raise ValueError(f"{dotted(path)}: a label is text, it has no fields")
                if labels is None:
                    return _EXAMPLE_LABEL
                if name not in labels:
                    raise ValueError(
                        f"the service has no label {name!r} ({{{{index .Service.Labels "
                        f'"{name}"}}}} is empty instead)'
                    )
                return labels[name]
            fields = _STRUCTS.get(where)
            if fields is None:
                raise ValueError(f"{dotted(where)} is text, it has no field {name!r}")
            if name not in fields:
                known = ", ".join(dotted((*where, f)) for f in fields)
                raise ValueError(f"unknown field {dotted(path[: i + 1])} (known: {known})")
            where = (*where, name)
        if where == LABELS or where in _STRUCTS:
            raise ValueError(f"{dotted(where)} is not a text value; name one of its fields")
        return self._leaves()[where]

    def label(self, key: str) -> str:
        """``{{index .Service.Labels "key"}}``: the label's value, empty when missing."""
        if self.service_labels is None:
            return _EXAMPLE_LABEL
        return self.service_labels.get(key, "")

    def _leaves(self) -> Mapping[tuple[str, ...], str]:
        return {
            ("Service", "ID"): self.service_id,
            ("Service", "Name"): self.service_name,
            ("Node", "ID"): self.node_id,
            ("Node", "Hostname"): self.node_hostname,
            ("Node", "Platform", "OS"): self.node_os,
            ("Node", "Platform", "Architecture"): self.node_architecture,
            ("Task", "ID"): self.task_id,
            ("Task", "Name"): self.task_name,
            ("Task", "Slot"): self.task_slot,
        }


# --- fields of a container -------------------------------------------------------------


def _expand(text: str, ctx: TemplateContext, field: str) -> str:
    if OPEN not in text:
        return text
    try:
        return parse_template(text).expand(ctx)
    except ValueError as exc:
        shown = text if len(text) <= 200 else text[:200] + "..."
        raise TemplateError(field, f"template {shown!r}: {exc}") from None


def _expand_map(values: Mapping[str, str], ctx: TemplateContext, field: str) -> Mapping[str, str]:
    if not any(OPEN in v for v in values.values()):
        return values
    return {k: _expand(v, ctx, f"{field}.{k}") for k, v in values.items()}


def expand_mount(mount: Mount, ctx: TemplateContext, field: str) -> Mount:
    """``mount`` with its source, target and volume options' values expanded."""
    source = _expand(mount.source, ctx, f"{field}.source")
    target = _expand(mount.target, ctx, f"{field}.target")
    volume = mount.volume_options
    if volume is not None:
        labels = _expand_map(volume.labels, ctx, f"{field}.volume_options.labels")
        driver = volume.driver
        if driver is not None:
            options = _expand_map(driver.options, ctx, f"{field}.volume_options.driver.options")
            if options is not driver.options:
                driver = replace(driver, options=options)
        if labels is not volume.labels or driver is not volume.driver:
            volume = VolumeOptions(nocopy=volume.nocopy, labels=labels, driver=driver)
    if source is mount.source and target is mount.target and volume is mount.volume_options:
        return mount
    return replace(mount, source=source, target=target, volume_options=volume)


def _expand_env(entry: str, ctx: TemplateContext, field: str) -> str:
    name, sep, value = entry.partition("=")
    if not sep or OPEN not in value:
        return entry
    return f"{name}={_expand(value, ctx, field)}"


def expand_container(
    c: ContainerSpec, ctx: TemplateContext, field: str = "task.container"
) -> ContainerSpec:
    """``c`` with its templated fields expanded (``c`` itself when none is a template);
    TemplateError naming the field and the template."""
    env = tuple(_expand_env(e, ctx, f"{field}.env[{i}]") for i, e in enumerate(c.env))
    hostname = _expand(c.hostname, ctx, f"{field}.hostname")
    mounts = tuple(expand_mount(m, ctx, f"{field}.mounts[{i}]") for i, m in enumerate(c.mounts))
    same_env = all(a is b for a, b in zip(env, c.env, strict=True))
    same_mounts = all(a is b for a, b in zip(mounts, c.mounts, strict=True))
    if same_env and same_mounts and hostname is c.hostname:
        return c
    return replace(c, env=env, hostname=hostname, mounts=mounts)


def task_context(task: Task, node: NodeDescription | None) -> TemplateContext:
    """The values for ``task`` on the node ``node`` describes (SwarmKit's
    ``template.NewContext``; without a description only the node's id is known)."""
    slot = str(task.slot) if task.slot else task.node_id
    return TemplateContext(
        service_id=task.service_id,
        service_name=task.service_name,
        service_labels=task.service_labels,
        node_id=task.node_id,
        node_hostname=node.hostname if node is not None else "",
        node_os=node.platform.os if node is not None else "",
        node_architecture=node.platform.architecture if node is not None else "",
        task_id=task.id,
        task_name=f"{task.service_name}.{slot}.{task.id}",
        task_slot=slot,
    )


def expand_task(task: Task, node: NodeDescription | None) -> Task:
    """``task`` with its container's templates expanded for the node ``node`` describes
    (``task`` itself when it has none); TemplateError naming the field and template."""
    container = task.spec.container
    expanded = expand_container(container, task_context(task, node))
    if expanded is container:
        return task
    return replace(task, spec=replace(task.spec, container=expanded))


def example_context(service_name: str, labels: Mapping[str, str] | None) -> TemplateContext:
    """Example values to check a service's templates with before any task exists (as
    SwarmKit's control API expands a spec with a dummy node and task); ``labels`` None:
    not known yet (a flag parsed alone), every label reads as an example value."""
    return TemplateContext(
        service_id=_EXAMPLE_ID,
        service_name=service_name,
        service_labels=labels,
        node_id=_EXAMPLE_ID,
        node_hostname="node-hostname",
        node_os="linux",
        node_architecture="x86_64",
        task_id=_EXAMPLE_ID,
        task_name=f"{service_name}.1.{_EXAMPLE_ID}",
        task_slot="1",
    )


def example_refusal(exc: InvalidSpec) -> InvalidSpec:
    """``exc``, a check's refusal of a value expanded with example values, saying so (the
    value it shows is not the one written)."""
    return InvalidSpec(exc.field, f"{exc.reason} (its templates expanded with example values)")
