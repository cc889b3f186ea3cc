"""Specs as swarmctl's flags make them, for the spec options' tests."""

from __future__ import annotations

from typing import Any

from api.service_options import apply_options
from api.specs import ServiceSpec
from api.validation import validate_service_spec
from cli.ctl import build_parser
from cli.service_flags import options_of

__all__ = ["create", "options"]


def options(*argv: str) -> dict[str, Any]:
    """The options swarmctl's parser makes of ``argv`` (``service create ...``)."""
    return options_of(build_parser().parse_args(list(argv)))


def create(**o: Any) -> ServiceSpec:
    """A validated spec of service ``web`` (busybox) with options ``o``."""
    spec = apply_options(ServiceSpec(), {"name": "web", "image": "busybox", **o})
    validate_service_spec(spec)
    return spec
