"""Reading Docker's JSON documents (pure): fields looked up as Docker's Go decoder does,
each type checked, a bad one refused with 400 naming its path (``TaskTemplate.Mounts[0].``
+ key). Shared by the service spec's translation (service_spec.py) and its mounts
(mount_doc.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.engine_api.errors import bad_request, not_supported

__all__ = [
    "Doc",
    "bool_at",
    "enum_value",
    "get",
    "int_at",
    "is_set",
    "labels_at",
    "list_at",
    "object_at",
    "refuse_set",
    "str_at",
    "strings_at",
]

Doc = Mapping[str, Any]


def get(doc: Doc, key: str, default: Any = None) -> Any:
    """``doc[key]``, matching the key's case loosely as Docker's Go decoder does (the
    docker SDK sends ``{"replicated": ...}`` for ``Replicated``)."""
    if key in doc:
        return doc[key]
    lowered = key.lower()
    for name, value in doc.items():
        if isinstance(name, str) and name.lower() == lowered:
            return value
    return default


def object_at(doc: Doc, key: str, path: str) -> Doc:
    value = get(doc, key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad_request(f"{path}{key}: expected an object")
    return value


def list_at(doc: Doc, key: str, path: str) -> list[Any]:
    value = get(doc, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"{path}{key}: expected a list")
    return value


def strings_at(doc: Doc, key: str, path: str) -> tuple[str, ...]:
    values = list_at(doc, key, path)
    if not all(isinstance(v, str) for v in values):
        raise bad_request(f"{path}{key}: expected a list of strings")
    return tuple(values)


def labels_at(doc: Doc, key: str, path: str) -> dict[str, str]:
    labels = object_at(doc, key, path)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise bad_request(f"{path}{key}: expected string keys and values")
    return dict(labels)


def str_at(doc: Doc, key: str, path: str, default: str = "") -> str:
    value = get(doc, key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request(f"{path}{key}: expected a string")
    return value


def int_at(doc: Doc, key: str, path: str, default: int = 0) -> int:
    value = get(doc, key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{path}{key}: expected an integer")
    return value


def bool_at(doc: Doc, key: str, path: str) -> bool:
    """A boolean; null or absent is false (Docker's ``*bool`` unset)."""
    value = get(doc, key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{path}{key}: expected true or false")
    return value


def is_set(value: Any) -> bool:
    """Anything but zero values, looking inside objects and lists (the CLI sends
    ``{"NoCopy": false}`` for options it was not given)."""
    if isinstance(value, Mapping):
        return any(is_set(v) for v in value.values())
    if isinstance(value, list):
        return any(is_set(v) for v in value)
    return bool(value)


def refuse_set(doc: Doc, keys: tuple[str, ...], path: str) -> None:
    for key in keys:
        if is_set(get(doc, key)):
            raise not_supported(f"{path}{key}")


def enum_value(value: str, enum_cls: Any, path: str, default: Any) -> Any:
    if not value:
        return default
    try:
        return enum_cls(value)
    except ValueError:
        choices = "|".join(e.value for e in enum_cls)
        raise bad_request(f"{path}: invalid value {value!r} (expected {choices})") from None
