"""Sizes and counts of spec and node fields, and the ``InvalidSpec`` every check raises.

Docker's own limits where it has them, bounds of ours where it has none, each with its
source; a whole spec (or a node's description) must also encode within
``api.limits.MAX_SPEC_BYTES``, so every object that holds one fits the store's budgets.
`api.validation` applies them field by field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgpack

from api.codec_objects import encode
from api.limits import MAX_SPEC_BYTES, format_bytes

__all__ = [
    "MAX_ARGS",
    "MAX_ARG_BYTES",
    "MAX_CONSTRAINTS",
    "MAX_ENV",
    "MAX_FIELD_BYTES",
    "MAX_HOSTNAME_BYTES",
    "MAX_IMAGE_CHARS",
    "MAX_LABELS",
    "MAX_LABEL_KEY_BYTES",
    "MAX_LABEL_VALUE_BYTES",
    "MAX_NAME_CHARS",
    "MAX_REPLICAS",
    "InvalidSpec",
    "check_count",
    "check_labels",
    "check_spec_budget",
    "check_string",
    "check_strings",
    "shown_name",
    "utf8_size",
]

# SwarmKit (manager/controlapi/common.go validateAnnotations): a name is a DNS label,
# "DNS labels are limited to 63 characters".
MAX_NAME_CHARS: Final = 63
# Linux HOST_NAME_MAX: sethostname(2) refuses a longer name (EINVAL), which is how Docker
# fails a container whose --hostname is longer (moby/moby#21445); a node's hostname is its
# kernel's, so the same bound.
MAX_HOSTNAME_BYTES: Final = 64
# Docker sets no limit on labels ("any data that can be represented as a string", in its
# object labels guide): ours keep many reverse-DNS keys and sizeable values possible.
MAX_LABELS: Final = 128
MAX_LABEL_KEY_BYTES: Final = 256
MAX_LABEL_VALUE_BYTES: Final = 4096
# Docker sets none on env, command or args either; the kernel does: execve(2) fails with
# E2BIG for one string over MAX_ARG_STRLEN (128 KiB). Ours is a quarter of that, and a
# spec's total stays within MAX_SPEC_BYTES.
MAX_ENV: Final = 1024
MAX_ARGS: Final = 1024  # each of command, args and the healthcheck's test
MAX_ARG_BYTES: Final = 32 * 1024  # one env entry, command or args item
# docker/distribution's reference grammar: a name of at most 255 characters
# (NameTotalLengthMax), a tag of at most 128, a digest "sha256:" + 64 hex digits.
MAX_IMAGE_CHARS: Final = 255 + 1 + 128 + 1 + 71
MAX_FIELD_BYTES: Final = 4096  # any other string (PATH_MAX for dir; user, signal, ...)
MAX_CONSTRAINTS: Final = 128  # each of constraints, preferences, published ports
# Docker sets none (a uint64). A service's tasks live in every manager's memory (about
# 2 KB each at the leader, bench/scale.py), and a typo of a few digits would have the
# orchestrator create them all: 100,000, the most a cluster was measured at, per service.
MAX_REPLICAS: Final = 100_000


class InvalidSpec(ValueError):
    """A spec the system refuses; ``field`` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        # a flag's parser names the flag in its message already ("--mount: ..."): once
        named = message if message.startswith(f"{field}: ") else f"{field}: {message}"
        super().__init__(f"invalid spec: {named}")


def shown_name(name: str) -> str:
    """``name`` quoted for a refusal: whole up to twice a name's length, else its first 64
    characters and "..." (a name of 10,000 characters is not echoed back whole)."""
    return repr(name if len(name) <= 2 * MAX_NAME_CHARS else name[:64] + "...")


def utf8_size(text: str) -> int:
    """UTF-8 length; a string already longer in characters is long enough to refuse."""
    return len(text) if len(text) > 4 * MAX_ARG_BYTES else len(text.encode("utf-8", "replace"))


def check_string(value: str, field: str, limit: int = MAX_FIELD_BYTES) -> None:
    size = utf8_size(value)
    if size > limit:
        raise InvalidSpec(field, f"{format_bytes(size)} long, over the limit of {limit} bytes")


def check_count(items: Sequence[Any] | Mapping[str, Any], field: str, limit: int) -> None:
    if len(items) > limit:
        raise InvalidSpec(field, f"{len(items)} items, over the limit of {limit}")


def check_strings(items: Sequence[str], field: str, limit: int = MAX_ARGS) -> None:
    check_count(items, field, limit)
    for i, item in enumerate(items):
        check_string(item, f"{field}[{i}]", MAX_ARG_BYTES)


def check_spec_budget(spec: object, field: str, what: str) -> None:
    size = len(msgpack.packb(encode(spec), use_bin_type=True))
    if size > MAX_SPEC_BYTES:
        raise InvalidSpec(
            field,
            f"{what} encodes to {format_bytes(size)}, over the {format_bytes(MAX_SPEC_BYTES)} "
            "budget of one spec; shrink its labels, env or arguments",
        )


def check_labels(labels: Any, field: str) -> None:
    check_count(labels, field, MAX_LABELS)
    for key, value in labels.items():
        if not isinstance(key, str) or not key:
            raise InvalidSpec(field, f"label keys must be non-empty strings, got {key!r}")
        if utf8_size(key) > MAX_LABEL_KEY_BYTES:
            raise InvalidSpec(
                field,
                f"label key {key[:32]!r}... is {format_bytes(utf8_size(key))} long, over the "
                f"limit of {MAX_LABEL_KEY_BYTES} bytes",
            )
        if not isinstance(value, str):
            raise InvalidSpec(f"{field}.{key}", f"label values must be strings, got {value!r}")
        check_string(value, f"{field}.{key}", MAX_LABEL_VALUE_BYTES)
