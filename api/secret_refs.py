"""The secrets and configs a container spec references: the ``--secret`` / ``--config``
flag grammar, the ``-add`` / ``-rm`` edits of ``service update``, and their validation.

Rules (Docker's, ``docker service create --secret``):
- A flag value is a name (``--secret db_pass``) or ``key=value`` pairs separated by commas:
  ``source`` (or ``src``, the name; required), ``target`` (``dst`` and ``destination``
  too), ``uid``, ``gid`` (numbers) and ``mode`` (octal: ``0400``, ``400`` and ``0o400``
  are all ``r--------``).
- A secret's target is a relative path under ``/run/secrets`` (default: its name); a
  config's an absolute path (default ``/<name>``; a relative one is taken from ``/``).
- ``--secret-rm NAME`` removes every reference to that secret (by name or id), then
  ``--secret-add`` adds; the whole list (``--secret`` of create) replaces what was there.
- Two references of one container may not share a target (nor may a config's target be
  a secret's file). A reference names its object by name; the manager fills in the id
  (actors/control/references.py) and refuses one that does not exist.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final, TypeVar

from api.spec_limits import InvalidSpec, check_count, check_string
from api.specs import ConfigReference, ContainerSpec, SecretReference

__all__ = [
    "MAX_ID_NUMBER",
    "MAX_REFERENCES",
    "SECRETS_DIR",
    "apply_reference_options",
    "config_target",
    "parse_config_option",
    "parse_secret_option",
    "secret_target",
    "validate_references",
]

SECRETS_DIR: Final = "/run/secrets"
MAX_REFERENCES: Final = 128  # secrets, and configs, per container
MAX_ID_NUMBER: Final = 2**32 - 2  # the largest uid/gid (2**32 - 1 is "no id")
_MAX_TARGET_BYTES: Final = 1024

Ref = TypeVar("Ref", SecretReference, ConfigReference)

_KEYS: Final = {
    "source": "source",
    "src": "source",
    "target": "target",
    "dst": "target",
    "destination": "target",
    "uid": "uid",
    "gid": "gid",
    "mode": "mode",
}


def secret_target(ref: SecretReference) -> str:
    """The path under /run/secrets the secret's file takes."""
    return ref.target or ref.secret_name


def config_target(ref: ConfigReference) -> str:
    """The absolute path the config's file takes."""
    target = ref.target or ref.config_name
    return target if target.startswith("/") else "/" + target


def _number(value: str, key: str, flag: str, *, octal: bool = False) -> int:
    text = value.strip().lower()
    if octal and text.startswith("0o"):
        text = text[2:]
    try:
        number = int(text, 8 if octal else 10)
    except ValueError:
        kind = "an octal mode" if octal else "a number"
        raise InvalidSpec(key, f"{flag}: {key} must be {kind}, got {value!r}") from None
    return number


def _parse(text: str, flag: str) -> dict[str, Any]:
    if "=" not in text:
        return {"source": text.strip()}
    fields: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        name = _KEYS.get(key.strip().lower())
        if not sep or name is None:
            raise InvalidSpec(
                flag.lstrip("-"),
                f"{flag}: unknown field {key.strip()!r} in {text!r} "
                "(expected source, target, uid, gid, mode)",
            )
        value = value.strip()
        if name in ("uid", "gid"):
            fields[name] = _number(value, name, flag)
        elif name == "mode":
            fields[name] = _number(value, name, flag, octal=True)
        else:
            fields[name] = value
    if not fields.get("source"):
        raise InvalidSpec(flag.lstrip("-"), f"{flag}: source is required in {text!r}")
    return fields


def parse_secret_option(text: str, flag: str = "--secret") -> SecretReference:
    """``NAME`` or ``source=NAME,target=PATH,uid=N,gid=N,mode=0400``."""
    f = _parse(text, flag)
    return SecretReference(
        secret_name=f["source"],
        target=f.get("target") or f["source"],
        uid=f.get("uid", 0),
        gid=f.get("gid", 0),
        mode=f.get("mode", 0o444),
    )


def parse_config_option(text: str, flag: str = "--config") -> ConfigReference:
    """``NAME`` or ``source=NAME,target=/PATH,uid=N,gid=N,mode=0444``."""
    f = _parse(text, flag)
    target = f.get("target") or f["source"]
    return ConfigReference(
        config_name=f["source"],
        target=target if target.startswith("/") else "/" + target,
        uid=f.get("uid", 0),
        gid=f.get("gid", 0),
        mode=f.get("mode", 0o444),
    )


def _edit(
    current: tuple[Ref, ...],
    options: Mapping[str, Any],
    keys: tuple[str, str, str],
    parse: Any,
    name_of: Any,
) -> tuple[Ref, ...]:
    whole, rm, add = keys
    flag = "--" + whole.rstrip("s")
    refs: list[Ref] = (
        [parse(t, flag) for t in options[whole]] if whole in options else list(current)
    )
    removed = set(options.get(rm, ()))
    refs = [r for r in refs if not removed.intersection(name_of(r))]
    refs.extend(parse(t, f"{flag}-add") for t in options.get(add, ()))
    return tuple(refs)


def apply_reference_options(c: ContainerSpec, options: Mapping[str, Any]) -> ContainerSpec:
    """``secrets``/``secret_rm``/``secret_add`` and ``configs``/``config_rm``/``config_add``
    applied to ``c``; InvalidSpec names a malformed flag value."""
    secrets = _edit(
        c.secrets,
        options,
        ("secrets", "secret_rm", "secret_add"),
        parse_secret_option,
        lambda r: {r.secret_name, r.secret_id} - {""},
    )
    configs = _edit(
        c.configs,
        options,
        ("configs", "config_rm", "config_add"),
        parse_config_option,
        lambda r: {r.config_name, r.config_id} - {""},
    )
    if secrets == c.secrets and configs == c.configs:
        return c
    return replace(c, secrets=secrets, configs=configs)


def _check_ids(ref: SecretReference | ConfigReference, field: str) -> None:
    for key in ("uid", "gid"):
        value = getattr(ref, key)
        if not 0 <= value <= MAX_ID_NUMBER:
            raise InvalidSpec(f"{field}.{key}", f"must be in 0..{MAX_ID_NUMBER}, got {value}")
    if not 0 <= ref.mode <= 0o777:
        raise InvalidSpec(f"{field}.mode", f"must be in 0..0777 (octal), got {ref.mode:o}")


def _check_path(path: str, field: str, *, absolute: bool) -> None:
    check_string(path, field, _MAX_TARGET_BYTES)
    parts = path.strip("/").split("/") if path.strip("/") else []
    if "\0" in path or not parts or any(p in ("", ".", "..") for p in parts):
        raise InvalidSpec(
            field, f"{path!r} is not a file path (no empty, '.' or '..' parts, no NUL)"
        )
    if absolute and not path.startswith("/"):
        raise InvalidSpec(field, f"a config's target must be an absolute path, got {path!r}")
    if not absolute and path.startswith("/"):
        raise InvalidSpec(
            field, f"a secret's target is a path under {SECRETS_DIR}, not absolute: {path!r}"
        )


def _named(ref_id: str, name: str, field: str, what: str) -> None:
    if not ref_id and not name:
        raise InvalidSpec(field, f"a {what} reference needs the {what}'s name")


def validate_references(c: ContainerSpec, field: str) -> None:
    """Counts, ids, modes and targets of ``c``'s secrets and configs (module rules)."""
    check_count(c.secrets, f"{field}.secrets", MAX_REFERENCES)
    check_count(c.configs, f"{field}.configs", MAX_REFERENCES)
    taken: dict[str, str] = {}
    for i, s in enumerate(c.secrets):
        sub = f"{field}.secrets[{i}]"
        _named(s.secret_id, s.secret_name, sub, "secret")
        _check_ids(s, sub)
        target = secret_target(s)
        _check_path(target, f"{sub}.target", absolute=False)
        _claim(taken, posixpath.join(SECRETS_DIR, target), f"{sub}.target", s.secret_name)
    for i, cf in enumerate(c.configs):
        sub = f"{field}.configs[{i}]"
        _named(cf.config_id, cf.config_name, sub, "config")
        _check_ids(cf, sub)
        target = config_target(cf)
        _check_path(target, f"{sub}.target", absolute=True)
        _claim(taken, posixpath.normpath(target), f"{sub}.target", cf.config_name)


def _claim(taken: dict[str, str], path: str, field: str, name: str) -> None:
    holder = taken.get(path)
    if holder is not None:
        raise InvalidSpec(field, f"{path} is the target of both {holder!r} and {name!r}")
    taken[path] = name
