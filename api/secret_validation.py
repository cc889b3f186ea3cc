"""Validation of secret and config specs, before anything is written.

Rules (SwarmKit's ``validateConfigOrSecretAnnotations`` and ``MaxSecretSize``):
- a name of letters and digits, with ``-``, ``_`` and ``.`` inside, at most 64 characters;
- data of at least one byte and at most ``MAX_DATA_BYTES`` (500 KiB, Docker's limit for a
  secret; Docker allows configs twice that, ours are held to the same so that one stored
  object fits its budget, ``api.limits.MAX_OBJECT_BYTES``);
- labels as any spec's, and name and labels together within ``MAX_META_BYTES``: what the
  object budget leaves beside the largest data;
- a template driver, if any, that exists, and data that is a template it can expand
  (api/payload_templates.py).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

import msgpack

from api.codec_objects import encode
from api.limits import MAX_OBJECT_BYTES, format_bytes
from api.payload_templates import check_template_driver
from api.spec_limits import InvalidSpec, check_labels, shown_name
from api.specs import ConfigSpec, SecretSpec

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_META_BYTES",
    "MAX_NAME_CHARS",
    "check_data_size",
    "validate_config_spec",
    "validate_file_name",
    "validate_secret_spec",
]

MAX_DATA_BYTES: Final = 500 * 1024
MAX_NAME_CHARS: Final = 64
# the id, meta and the encoding's own bytes take well under 1 KiB
MAX_META_BYTES: Final = MAX_OBJECT_BYTES - MAX_DATA_BYTES - 1024

_NAME_RE = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?\Z")


def validate_file_name(name: str, what: str) -> None:
    """A secret's or config's name (``what``: "secret" or "config")."""
    if not name:
        raise InvalidSpec("name", f"a {what} needs a name")
    if len(name) > MAX_NAME_CHARS or not _NAME_RE.match(name):
        # SwarmKit's words (its controlapi's validateConfigOrSecretAnnotations)
        raise InvalidSpec(
            "name",
            f"{shown_name(name)}: invalid name, only {MAX_NAME_CHARS} [a-zA-Z0-9-_.] characters "
            "allowed, and the start and end character must be [a-zA-Z0-9]",
        )


def check_data_size(size: int, what: str) -> None:
    if size == 0:
        raise InvalidSpec("data", f"a {what} needs data (at least one byte)")
    if size > MAX_DATA_BYTES:
        raise InvalidSpec(
            "data",
            f"{what} data of {format_bytes(size)}, over the limit of "
            f"{format_bytes(MAX_DATA_BYTES)}",
        )


def _validate(spec: SecretSpec | ConfigSpec, what: str) -> None:
    validate_file_name(spec.name, what)
    check_labels(spec.labels, "labels")
    check_data_size(len(spec.data), what)
    check_template_driver(spec.templating, spec.data, what, MAX_DATA_BYTES)
    meta = len(msgpack.packb(encode(replace(spec, data=b"")), use_bin_type=True))
    if meta > MAX_META_BYTES:
        raise InvalidSpec(
            "labels",
            f"{what} {spec.name!r}: name and labels encode to {format_bytes(meta)}, over the "
            f"{format_bytes(MAX_META_BYTES)} left beside its data; shrink its labels",
        )


def validate_secret_spec(spec: SecretSpec) -> None:
    _validate(spec, "secret")


def validate_config_spec(spec: ConfigSpec) -> None:
    _validate(spec, "config")
