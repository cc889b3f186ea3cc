"""Templated secrets and configs: ``secret create --template-driver golang`` (SwarmKit's
``PayloadContext``), pure.

Rules:
- A secret's or config's spec may name a template driver; ``golang`` is the only one
  there is (SwarmKit's), and any other is refused when the object is created. Its data is
  then a template (api/template_syntax.py), parsed when the object is created, so a
  template that cannot work is refused then, naming what is wrong. Bytes that are not
  UTF-8 are kept as they are.
- The node expands it for each task that gets the file, with the task's values (those of
  service templates: ``.Service``, ``.Node``, ``.Task``) and the calls
  ``{{secret "TARGET"}}`` and ``{{config "TARGET"}}``, the data of the task's own secret
  or config whose file target is TARGET (the object's name when its reference gives no
  target), and ``{{env "NAME"}}``, NAME's value in the task's container env (empty when
  it has none, as SwarmKit). A target the task has not got is an error naming it: a
  template reaches only what its task was given.
- The expanded data is bounded by the caller's limit (a secret's largest data,
  api/secret_validation.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from api.spec_limits import InvalidSpec
from api.template_syntax import PAYLOAD_FUNCTIONS, parse_template
from api.templates import TemplateContext, example_context

__all__ = [
    "TEMPLATE_DRIVERS",
    "PayloadSources",
    "check_template_driver",
    "expand_payload",
]

TEMPLATE_DRIVERS: Final = ("golang",)


@dataclass(frozen=True, slots=True)
class PayloadSources:
    """What a task's templated file may read: its secrets' and configs' data by file
    target, and its container's env entries (``NAME=value``)."""

    secrets: Mapping[str, bytes]
    configs: Mapping[str, bytes]
    env: Sequence[str] = ()

    def call(self, function: str, argument: str) -> str:
        if function == "env":
            for entry in self.env:
                name, sep, value = entry.partition("=")
                if sep and name == argument:
                    return value
            return ""
        held = self.secrets if function == "secret" else self.configs
        if argument not in held:
            raise ValueError(
                f"{function} target {argument!r} not found among the task's {function}s"
            )
        return _text(held[argument])


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def check_template_driver(driver: str, data: bytes, what: str, limit: int) -> None:
    """A spec's template driver and, with one, its data parsed as a template;
    InvalidSpec naming what is wrong (``what``: "secret" or "config")."""
    if not driver:
        return
    if driver not in TEMPLATE_DRIVERS:
        known = ", ".join(TEMPLATE_DRIVERS)
        raise InvalidSpec(
            "templating", f"unknown template driver {driver!r} for a {what} (known: {known})"
        )
    try:
        template = parse_template(_text(data), PAYLOAD_FUNCTIONS)
        # fields checked with example values; the calls' values come from a task's files
        template.expand(example_context("service", None), _any_value, limit)
    except ValueError as exc:
        raise InvalidSpec("data", f"the {what}'s template: {exc}") from None


def _any_value(_function: str, _argument: str) -> str:
    return ""


def expand_payload(data: bytes, ctx: TemplateContext, sources: PayloadSources, limit: int) -> bytes:
    """``data`` (a ``golang`` template) expanded for one task, to at most ``limit``
    bytes; ValueError saying why not."""
    text = parse_template(_text(data), PAYLOAD_FUNCTIONS).expand(ctx, sources.call, limit)
    return text.encode("utf-8", "surrogateescape")
