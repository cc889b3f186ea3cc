"""The template syntax Docker swarm's templates use: the subset of Go's text/template that
people write in a service's fields and in templated secrets and configs (pure: no I/O).

- ``{{.A.B}}``: a field's text; ``{{index .Service.Labels "KEY"}}``: a label's value;
  ``{{/* comments */}}``; the trim markers ``{{- `` and `` -}}``.
- Where the caller allows them (a templated secret's or config's data, SwarmKit's
  ``PayloadContext``), the calls ``{{secret "TARGET"}}``, ``{{config "TARGET"}}`` and
  ``{{env "NAME"}}``, each with one string argument.
- Anything else (pipelines, other functions, ``if``/``range``, variables) is refused with
  a ValueError saying what is supported. Nothing is evaluated: a template is parsed into
  text, field references and calls, and the caller supplies their values. The expanded
  text is bounded by the caller's limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from api.spec_limits import MAX_ARG_BYTES

__all__ = [
    "LABELS",
    "PAYLOAD_FUNCTIONS",
    "Template",
    "TemplateValues",
    "dotted",
    "parse_template",
]

OPEN: Final = "{{"
_CLOSE: Final = "}}"
_TRIM: Final = " \t\r\n"
_SUPPORTED: Final = '{{.Service.Name}}-style fields and {{index .Service.Labels "KEY"}}'
_CALLS: Final = '{{secret "TARGET"}}, {{config "TARGET"}} and {{env "NAME"}}'
_FIELD_RE = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES: Final = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
LABELS: Final = ("Service", "Labels")
PAYLOAD_FUNCTIONS: Final = frozenset({"secret", "config", "env"})


def dotted(path: tuple[str, ...]) -> str:
    return "".join(f".{name}" for name in path) or "."


class TemplateValues(Protocol):
    """What a template reads: a field's text and a label's value (ValueError: none)."""

    def text(self, path: tuple[str, ...]) -> str: ...

    def label(self, key: str) -> str: ...


Call = Callable[[str, str], str]  # (function, argument) -> text; ValueError: none


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


@dataclass(frozen=True, slots=True)
class _Call:
    function: str
    argument: str


_Part = str | _Field | _Index | _Call


def _size(value: str) -> int:
    # a payload's bytes that are not UTF-8 travel as surrogates (surrogateescape)
    return len(value.encode("utf-8", "surrogateescape"))


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: text, references and calls, in order."""

    parts: tuple[_Part, ...]

    def expand(
        self, values: TemplateValues, call: Call | None = None, limit: int = MAX_ARG_BYTES
    ) -> str:
        """The text with each reference's value (``call`` gives the calls'); ValueError
        for a reference without one or an output over ``limit`` bytes (by default one
        spec argument's limit)."""
        out: list[str] = []
        size = 0
        for part in self.parts:
            if isinstance(part, str):
                value = part
            elif isinstance(part, _Field):
                value = values.text(part.path)
            elif isinstance(part, _Index):
                value = values.label(part.key)
            elif call is None:
                raise ValueError(f"{{{{{part.function} ...}}}} has no value here")
            else:
                value = call(part.function, part.argument)
            size += _size(value)
            if size > limit:
                raise ValueError(f"expands to over {limit} bytes")
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


def _action(text: str, at: int, functions: frozenset[str]) -> tuple[_Part | None, int, bool, bool]:
    """The action opening at ``text[at]`` (``{{``) → (its part or None for a comment,
    index after its ``}}``, trims before, trims after)."""
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
            return _command(words, functions), i + 2, trim_before, False
        if text.startswith("-" + _CLOSE, i) and text[i - 1] in _TRIM:
            return _command(words, functions), i + 3, trim_before, True
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
            raise ValueError(
                f"unsupported {shown!r} in an action (supported: {_supported(functions)})"
            )


def _supported(functions: frozenset[str]) -> str:
    return f"{_SUPPORTED}, {_CALLS}" if functions else _SUPPORTED


def _command(words: list[str | _Field | _Literal], functions: frozenset[str]) -> _Part | None:
    """An action's words → the part it makes (None: a comment)."""
    match words:
        case ["/*"]:
            return None
        case [_Field() as field]:
            return field
        case ["index", _Field(path=path), _Literal(value=key)]:
            if path != LABELS:
                raise ValueError(f"index takes .Service.Labels, not {dotted(path)}")
            return _Index(path, key)
        case [str(name), _Literal(value=argument)] if name in PAYLOAD_FUNCTIONS:
            if name not in functions:
                raise ValueError(
                    f"{{{{{name} ...}}}} works only in a templated secret's or config's data"
                )
            return _Call(name, argument)
        case []:
            raise ValueError("empty action {{}}")
    first = words[0]
    if isinstance(first, _Field):
        shown = dotted(first.path) + " ..."
    elif isinstance(first, _Literal):
        shown = repr(first.value)
    else:
        shown = first
    raise ValueError(f"unsupported action {shown!r} (supported: {_supported(functions)})")


def parse_template(text: str, functions: frozenset[str] = frozenset()) -> Template:
    """``text`` parsed, with the calls ``functions`` allows; ValueError saying what is
    wrong (the caller names the field)."""
    parts: list[_Part] = []
    pos = 0
    trim_next = False
    while True:
        at = text.find(OPEN, pos)
        chunk = text[pos:] if at < 0 else text[pos:at]
        if trim_next:
            chunk = chunk.lstrip(_TRIM)
        if at < 0:
            if chunk:
                parts.append(chunk)
            return Template(tuple(parts))
        part, pos, trim_before, trim_next = _action(text, at, functions)
        if trim_before:
            chunk = chunk.rstrip(_TRIM)
        if chunk:
            parts.append(chunk)
        if part is not None:
            parts.append(part)
