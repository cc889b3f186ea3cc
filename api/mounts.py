"""A service's mounts: the ``--mount`` flag's syntax, as ``docker service`` takes it, and
the checks of a spec's mounts (api/validation.py), whoever wrote them (swarmctl, the
Engine API, a compose file).

- ``type=volume|bind|tmpfs,source=NAME|PATH,target=PATH[,readonly]`` (``src``,
  ``dst``/``destination`` and ``ro`` as Docker spells them too);
- a volume's options, as Docker's: ``volume-driver=NAME``, ``volume-opt=KEY=VALUE`` and
  ``volume-label=KEY=VALUE`` (each repeatable; ``KEY`` alone is an empty value),
  ``volume-nocopy[=true|false]``. The flag is one CSV record, as Docker reads it, so an
  option whose value holds a comma is quoted: ``"volume-opt=o=size=1m,uid=1000"``;
- Docker's other mount options (propagation, tmpfs size, consistency) are refused by
  name, not ignored.

Pure: every check raises ``InvalidSpec`` naming the flag or field.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from api.enums import MountType
from api.spec_limits import (
    MAX_FIELD_BYTES,
    MAX_IMAGE_CHARS,
    MAX_LABEL_KEY_BYTES,
    MAX_LABEL_VALUE_BYTES,
    MAX_LABELS,
    InvalidSpec,
    check_count,
    check_labels,
    check_string,
    utf8_size,
)
from api.specs import Mount, VolumeDriver, VolumeOptions
from api.templates import example_context, example_refusal, expand_mount

__all__ = [
    "MAX_MOUNTS",
    "MAX_VOLUME_OPTIONS",
    "option_items",
    "parse_mount",
    "validate_mounts",
]

MAX_MOUNTS: Final = 128
# Docker bounds neither; a driver's options are few (local: type, device, o)
MAX_VOLUME_OPTIONS: Final = MAX_LABELS
# Docker's rule for volume names (volume/validate.go): at least two characters
_VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")
# a driver is a plugin reference (``local``, ``vieux/sshfs:latest``): no spaces or controls
_DRIVER_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.:/@-]*\Z")
_TRUE = {"", "1", "true", "yes"}
_FALSE = {"0", "false", "no"}
_KEYS = "type, source, target, readonly, volume-driver, volume-opt, volume-label, volume-nocopy"
_UNSUPPORTED_KEYS = (
    "bind-propagation",
    "bind-nonrecursive",
    "tmpfs-size",
    "tmpfs-mode",
    "consistency",
)


def option_items(text: str, flag: str) -> list[tuple[str, str, bool]]:
    """One CSV record of ``k=v`` items → (key, value, had "=") in order, as the docker
    CLI reads --mount and --publish (a quoted value may hold a comma); empty items
    refused."""
    try:
        records = list(csv.reader([text], skipinitialspace=False, strict=True))
    except csv.Error as exc:
        raise InvalidSpec(flag, f"{flag}: {exc} in {text!r}") from None
    out = []
    for item in records[0] if records else []:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not key:
            raise InvalidSpec(flag, f"{flag}: empty option in {text!r}")
        out.append((key, value.strip(), bool(sep)))
    return out


def _flag_bool(value: str, had_value: bool, flag: str, key: str) -> bool:
    lowered = value.lower()
    if not had_value or lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidSpec(flag, f"{flag}: {key} must be true or false, got {value!r}")


def _with_entry(entries: Mapping[str, str], value: str, flag: str, key: str) -> dict[str, str]:
    """Docker's ``KEY=VALUE`` (or ``KEY``: empty) added to a volume's options or labels."""
    name, _, item = value.partition("=")
    if not name:
        raise InvalidSpec(flag, f"{flag}: {key} needs KEY=VALUE, got {value!r}")
    return {**entries, name: item}


def _volume_option(options: VolumeOptions, key: str, value: str, had: bool, flag: str) -> Any:
    driver = options.driver or VolumeDriver()
    if key == "volume-nocopy":
        return replace(options, nocopy=_flag_bool(value, had, flag, key))
    if not had:
        raise InvalidSpec(flag, f"{flag}: {key} needs a value ({key}=...)")
    if key == "volume-driver":
        return replace(options, driver=replace(driver, name=value))
    if key == "volume-opt":
        options_ = _with_entry(driver.options, value, flag, key)
        return replace(options, driver=replace(driver, options=options_))
    return replace(options, labels=_with_entry(options.labels, value, flag, key))


def parse_mount(text: str, flag: str = "--mount") -> Mount:
    """``type=volume,source=data,target=/data,readonly,volume-opt=k=v`` → a Mount
    (validated alone)."""
    mount, volume = Mount(), None
    for key, value, had_value in option_items(text, flag):
        if key == "type":
            try:
                mount = replace(mount, type=MountType(value.lower()))
            except ValueError:
                raise InvalidSpec(
                    flag, f"{flag}: unknown mount type {value!r} (expected volume|bind|tmpfs)"
                ) from None
        elif key in ("source", "src"):
            mount = replace(mount, source=value)
        elif key in ("target", "destination", "dst"):
            mount = replace(mount, target=value)
        elif key in ("readonly", "ro"):
            mount = replace(mount, readonly=_flag_bool(value, had_value, flag, key))
        elif key in ("volume-driver", "volume-opt", "volume-label", "volume-nocopy"):
            volume = _volume_option(volume or VolumeOptions(), key, value, had_value, flag)
        elif key in _UNSUPPORTED_KEYS:
            raise InvalidSpec(flag, f"{flag}: mount option {key!r} is not supported")
        else:
            raise InvalidSpec(flag, f"{flag}: unknown mount option {key!r} (expected {_KEYS})")
    if volume is not None and mount.type is not MountType.VOLUME:
        raise InvalidSpec(
            flag, f"{flag}: volume-* options are for type=volume, not type={mount.type}"
        )
    mount = replace(mount, volume_options=volume)
    # templates ({{.Task.Slot}}, api/templates.py) are checked as their example values;
    # the spec's check expands them again with the service's name and labels
    example = expand_mount(mount, example_context("", None), flag)
    try:
        _check_mount(example, flag)
    except InvalidSpec as exc:
        if example is mount:
            raise
        raise example_refusal(exc) from None
    return mount


def _absolute(path: str) -> bool:
    return path.startswith("/") and "\x00" not in path


def _check_driver_options(options: Any, field: str) -> None:
    if not isinstance(options, Mapping):
        raise InvalidSpec(field, f"expected a map of strings, got {options!r}")
    check_count(options, field, MAX_VOLUME_OPTIONS)
    for key, value in options.items():
        if not isinstance(key, str) or not key:
            raise InvalidSpec(field, f"option names must be non-empty strings, got {key!r}")
        if utf8_size(key) > MAX_LABEL_KEY_BYTES:
            raise InvalidSpec(
                field, f"option name {key[:32]!r}... over the limit of {MAX_LABEL_KEY_BYTES} bytes"
            )
        if not isinstance(value, str):
            raise InvalidSpec(f"{field}.{key}", f"option values must be strings, got {value!r}")
        check_string(value, f"{field}.{key}", MAX_LABEL_VALUE_BYTES)


def _check_volume_options(options: VolumeOptions, field: str) -> None:
    if not isinstance(options.nocopy, bool):
        raise InvalidSpec(f"{field}.nocopy", f"expected true or false, got {options.nocopy!r}")
    check_labels(options.labels, f"{field}.labels")
    driver = options.driver
    if driver is None:
        return
    check_string(driver.name, f"{field}.driver.name", MAX_IMAGE_CHARS)
    if driver.name and not _DRIVER_RE.match(driver.name):
        raise InvalidSpec(
            f"{field}.driver.name",
            f"{driver.name!r} is not a volume driver's name (letters, digits and . _ - : / @)",
        )
    _check_driver_options(driver.options, f"{field}.driver.options")


def _check_mount(mount: Mount, field: str) -> None:
    if not isinstance(mount.type, MountType):
        raise InvalidSpec(f"{field}.type", f"unknown mount type {mount.type!r}")
    check_string(mount.source, f"{field}.source", MAX_FIELD_BYTES)
    check_string(mount.target, f"{field}.target", MAX_FIELD_BYTES)
    if not mount.target:
        raise InvalidSpec(f"{field}.target", "a mount needs a target (a path in the container)")
    if not _absolute(mount.target) or mount.target.rstrip("/") == "":
        raise InvalidSpec(
            f"{field}.target",
            f"the target must be an absolute path other than /, got {mount.target!r}",
        )
    if mount.volume_options is not None:
        if mount.type is not MountType.VOLUME:
            raise InvalidSpec(
                f"{field}.volume_options",
                f"volume options are for volume mounts, not a {mount.type} mount",
            )
        _check_volume_options(mount.volume_options, f"{field}.volume_options")
    if mount.type is MountType.BIND:
        if not _absolute(mount.source):
            raise InvalidSpec(
                f"{field}.source",
                f"a bind mount's source must be an absolute host path, got {mount.source!r}",
            )
    elif mount.type is MountType.VOLUME:
        if mount.source and not _VOLUME_NAME_RE.match(mount.source):
            raise InvalidSpec(
                f"{field}.source",
                f"{mount.source!r} is not a valid volume name (at least two of letters, "
                "digits, '_', '.', '-', starting with a letter or digit)",
            )
    elif mount.source:
        raise InvalidSpec(f"{field}.source", "a tmpfs mount takes no source")


def validate_mounts(mounts: Sequence[Mount], field: str) -> None:
    check_count(mounts, field, MAX_MOUNTS)
    targets: set[str] = set()
    for i, mount in enumerate(mounts):
        _check_mount(mount, f"{field}[{i}]")
        target = mount.target.rstrip("/")
        if target in targets:
            raise InvalidSpec(f"{field}[{i}].target", f"{mount.target!r} is mounted twice")
        targets.add(target)
