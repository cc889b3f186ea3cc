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
- Syntax: the subset of Go's text/template people write there: ``{{.A.B}}``,
  ``{{.Service.Labels.KEY}}`` (a missing label is an error, as Go's ``missingkey=error``),
  ``{{index .Service.Labels "KEY"}}`` (a missing label is empty), ``{{/* comments */}}``
  and the trim markers ``{{- `` and `` -}}``. Anything else (pipelines, functions,
  ``if``/``range``, variables) is refused with a ``TemplateError`` naming the field and
  the template, as is a reference that is not a text value (``{{.Node}}``).
- No evaluation of anything: a template is parsed into text and field references. The
  expanded value is bounded (``MAX_EXPANDED_BYTES``).
- A spec's templates are checked when it is written (api/validation.py expands them with
  ``example_context``, as SwarmKit's control API does, and checks the expanded fields);
  the worker expands them with its node's description when it configures the task's
  container (``expand_task``, called by the docker and process executors).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from api.spec_limits import MAX_ARG_BYTES, InvalidSpec, utf8_size
from api.specs import ContainerSpec, Mount, VolumeOptions

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
_OPEN, _CLOSE = "{{", "}}"
_TRIM = " \t\r\n"
_SUPPORTED = '{{.Service.Name}}-style fields and {{index .Service.Labels "KEY"}}'
_FIELD_RE = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_LABELS: Final = ("Service", "Labels")
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


def _dotted(path: tuple[str, ...]) -> str:
    return "".join(f".{name}" for name in path) or "."


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
            if where == _LABELS:
                labels = self.service_labels
                if i != len(path) - 1:
                    raise ValueError(f"{_dotted(path)}: a label is text, it has no fields")
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
                raise ValueError(f"{_dotted(where)} is text, it has no field {name!r}")
            if name not in fields:
                known = ", ".join(_dotted((*where, f)) for f in fields)
                raise ValueError(f"unknown field {_dotted(path[: i + 1])} (known: {known})")
            where = (*where, name)
        if where == _LABELS or where in _STRUCTS:
            raise ValueError(f"{_dotted(where)} is not a text value; name one of its fields")
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


# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Literal:
    value: str


@dataclass(frozen=True, slots=True)
class _Index:
    path: tuple[str, ...]
    key: str


_Part = str | _Field | _Index


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: text and references, in order."""

    parts: tuple[_Part, ...]

    def expand(self, ctx: TemplateContext) -> str:
        """The text with each reference's value; ValueError for a reference without one
        or an output over ``MAX_EXPANDED_BYTES``."""
        out: list[str] = []
        size = 0
        for part in self.parts:
            if isinstance(part, str):
                value = part
            elif isinstance(part, _Field):
                value = ctx.text(part.path)
            else:
                value = ctx.label(part.key)
            size += utf8_size(value)
            if size > MAX_EXPANDED_BYTES:
                raise ValueError(f"expands to over {MAX_EXPANDED_BYTES} bytes")
            out.append(value)
        return "".join(out)


def _string(body: str, at: int) -> tuple[str, int]:
    """A Go string literal ("..." with \\ escapes, or `raw`) at ``body[at]`` → (value,
    index after it)."""
    quote = body[at]
    if quote == "`":
        end = body.find("`", at + 1)
        if end < 0:
            raise ValueError("unterminated raw string")
        return body[at + 1 : end], end + 1
    out: list[str] = []
    i = at + 1
    while i < len(body):
        ch = body[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\n":
            break
        if ch == "\\":
            escaped = body[i + 1 : i + 2]
            if escaped not in _ESCAPES:
                raise ValueError(f"unsupported escape \\{escaped} in a string")
            out.append(_ESCAPES[escaped])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ValueError("unterminated quoted string")


def _action(text: str, at: int) -> tuple[_Part | None, int, bool, bool]:
    """The action opening at ``text[at]`` (``{{``) → (its reference or None for a
    comment, index after its ``}}``, trims before, trims after)."""
    i = at + 2
    trim_before = text.startswith("-", i) and text[i + 1 : i + 2] in tuple(_TRIM)  # "{{- "
    if trim_before:
        i += 2
    words: list[str | _Field | _Literal] = []
    while True:
        while i < len(text) and text[i] in _TRIM:
            i += 1
        if i >= len(text):
            raise ValueError("unclosed action (no }})")
        if text.startswith(_CLOSE, i):
            return _command(words), i + 2, trim_before, False
        if text.startswith("-" + _CLOSE, i) and text[i - 1] in _TRIM:
            return _command(words), i + 3, trim_before, True
        if text.startswith("/*", i) and not words:
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unclosed comment")
            i = end + 2
            words.append("/*")
            continue
        ch = text[i]
        if ch in '"`':
            value, i = _string(text, i)
            words.append(_Literal(value))
            continue
        field = _FIELD_RE.match(text, i)
        word = _WORD_RE.match(text, i)
        if field is not None:
            words.append(_Field(tuple(field.group()[1:].split("."))))
            i = field.end()
        elif word is not None:
            words.append(word.group())
            i = word.end()
        else:
            shown = text[i : i + 12]
            raise ValueError(f"unsupported {shown!r} in an action (supported: {_SUPPORTED})")


def _command(words: list[str | _Field | _Literal]) -> _Part | None:
    """An action's words → the reference it makes (None: a comment)."""
    match words:
        case ["/*"]:
            return None
        case [_Field() as field]:
            return field
        case ["index", _Field(path=path), _Literal(value=key)]:
            if path != _LABELS:
                raise ValueError(f"index takes .Service.Labels, not {_dotted(path)}")
            return _Index(path, key)
        case []:
            raise ValueError("empty action {{}}")
    first = words[0]
    if isinstance(first, _Field):
        shown = _dotted(first.path) + " ..."
    elif isinstance(first, _Literal):
        shown = repr(first.value)
    else:
        shown = first
    raise ValueError(f"unsupported action {shown!r} (supported: {_SUPPORTED})")


def parse_template(text: str) -> Template:
    """``text`` parsed; ValueError saying what is wrong (the caller names the field)."""
    parts: list[_Part] = []
    pos = 0
    trim_next = False
    while True:
        at = text.find(_OPEN, pos)
        chunk = text[pos:] if at < 0 else text[pos:at]
        if trim_next:
            chunk = chunk.lstrip(_TRIM)
        if at < 0:
            if chunk:
                parts.append(chunk)
            return Template(tuple(parts))
        part, pos, trim_before, trim_next = _action(text, at)
        if trim_before:
            chunk = chunk.rstrip(_TRIM)
        if chunk:
            parts.append(chunk)
        if part is not None:
            parts.append(part)


# --- fields of a container -------------------------------------------------------------


def _expand(text: str, ctx: TemplateContext, field: str) -> str:
    if _OPEN not in text:
        return text
    try:
        return parse_template(text).expand(ctx)
    except ValueError as exc:
        shown = text if len(text) <= 200 else text[:200] + "..."
        raise TemplateError(field, f"template {shown!r}: {exc}") from None


def _expand_map(values: Mapping[str, str], ctx: TemplateContext, field: str) -> Mapping[str, str]:
    if not any(_OPEN in v for v in values.values()):
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
    if not sep or _OPEN not in value:
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
