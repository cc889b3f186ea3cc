"""An update written as the fields it changes (store entry format 3: actors/store/entry.py).

Most writes of a task change one or two of its fields (the scheduler its node and status,
the worker its status), yet an update written whole made every follower decode the whole
task again, three times in a task's life. A ``patch`` names the fields that differ from the
object the writer read (its ``base``: the stored version the update expects) with their
new values; every manager applies it to the object it holds at that version, which has the
same content on every manager, so all reach the same object. ``id`` and ``meta`` are never
in a patch (the id names the object; the store sets ``meta``).

- ``changed_fields(base, new)``: the patch, its values encoded (api/codec_objects.py), a
  task's status as a row, as in the entry's task rows (task_rows.py: the entry's layout
  names its fields);
- ``decode_changes(kind, raw, layout)``: the patch read back, ObjectDecodeError naming a
  bad field; a field the class does not have (a newer version's writer) is skipped, as
  api/codec_objects.py skips it in an object written whole;
- applying one is ``api.objects_copy.copy_object(current, meta, changes)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from actors.store.task_rows import TASK_ROWS
from api.codec_fast import Invalid, fast_decoder_for, field_types
from api.codec_objects import ObjectDecodeError, decode, encoder_for, inline_encoding
from api.objects import OBJECT_TYPES, Object, ObjectKind
from api.objects_copy import field_names

__all__ = ["changed_fields", "decode_changes"]

_Codec = Callable[[Any], Any]
# per class: (field name, its encoder), in field order, without id and meta
_ENCODERS: dict[type, list[tuple[str, _Codec]]] = {}
# per kind: field name -> (its type, its fast decoder, the row class it holds or None)
_DECODERS: dict[ObjectKind, dict[str, tuple[Any, _Codec, type | None]]] = {}
# per kind: the names of all its fields (id and meta too, which a patch may not change)
_FIELDS: dict[ObjectKind, frozenset[str]] = {
    kind: frozenset(f.name for f, _ in field_types(cls)) for kind, cls in OBJECT_TYPES.items()
}


def _row_class(cls: type, tp: Any) -> tuple[type | None, bool]:
    return TASK_ROWS.row_class(tp) if cls is TASK_ROWS.root else (None, False)


def _optional(codec: _Codec) -> _Codec:
    return lambda value: None if value is None else codec(value)


def _encoders(cls: type) -> list[tuple[str, _Codec]]:
    plan = _ENCODERS.get(cls)
    if plan is None:
        names = field_names(cls)
        plan = []
        for f, t in field_types(cls):
            if f.name not in names:
                continue
            row, optional = _row_class(cls, t)
            if row is None:
                plan.append((f.name, encoder_for(t)))
            else:
                encode = TASK_ROWS.encoder(row)
                plan.append((f.name, _optional(encode) if optional else encode))
        _ENCODERS[cls] = plan
    return plan


def _same(a: Any, b: Any) -> bool:
    # equal and of one type: 1 and 1.0 (or True) differ in what they decode to
    return a is b or (a == b and (type(a) is type(b) or isinstance(a, Mapping)))


def changed_fields(base: Object, new: Object) -> dict[str, Any] | None:
    """The fields of ``new`` that differ from ``base``, encoded; None when the two are not
    versions of one object (another type or id): the update is then written whole."""
    if type(base) is not type(new) or base.id != new.id:
        return None
    differ = _DIFFERS.get(type(new))
    if differ is None:
        differ = _DIFFERS[type(new)] = _build_differ(type(new))
    return differ(base, new)


# per class: a generated function comparing each field inline (a loop of getattr calls
# and an encoder call per field cost as much as the rest of a task's write)
_DIFFERS: dict[type, Callable[[Any, Any], dict[str, Any]]] = {}


def _build_differ(cls: type) -> Callable[[Any, Any], dict[str, Any]]:
    env: dict[str, Any] = {"same": _same}
    lines = ["def differ(base, new):", "    changes = {}"]
    inline = {f.name: inline_encoding(t, "b") for f, t in field_types(cls)}
    for i, (name, encode) in enumerate(_encoders(cls)):
        env[f"e{i}"] = encode
        value = inline[name]  # a plain value or an enumeration (a row class never is)
        lines += [
            f"    a = base.{name}",
            f"    b = new.{name}",
            "    if a is not b and not same(a, b):",
            f"        changes[{name!r}] = {value or f'e{i}(b)'}",
        ]
    lines.append("    return changes")
    exec("\n".join(lines) + "\n", env)  # built from the dataclass's own field names only
    differ: Callable[[Any, Any], dict[str, Any]] = env["differ"]
    return differ


def _decoders(kind: ObjectKind) -> dict[str, tuple[Any, _Codec, type | None]]:
    plan = _DECODERS.get(kind)
    if plan is None:
        cls = OBJECT_TYPES[kind]
        names = field_names(cls)
        plan = {}
        for f, t in field_types(cls):
            if f.name not in names:
                continue
            row, optional = _row_class(cls, t)
            if row is None:
                plan[f.name] = (t, fast_decoder_for(t, strict=False), None)
            else:
                decode_row = TASK_ROWS.decoder(row)
                plan[f.name] = (t, _optional(decode_row) if optional else decode_row, row)
        _DECODERS[kind] = plan
    return plan


def decode_changes(
    kind: ObjectKind, raw: Any, layout: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """A patch of an object of ``kind`` as field values; its rows written with ``layout``
    (None: this reader's own). ObjectDecodeError names the field that is unknown (or not
    to be patched) or whose value is not valid."""
    if type(raw) is not dict:
        raise ObjectDecodeError(kind.value, "a patch is a map of field names to values")
    plan = _decoders(kind)
    own = layout is None or layout == TASK_ROWS.layout
    changes: dict[str, Any] = {}
    for name, value in raw.items():
        entry = plan.get(name) if type(name) is str else None
        if entry is None:
            if name not in _FIELDS[kind]:
                continue  # a field a newer version has: not kept here (module docstring)
            raise ObjectDecodeError(f"{kind.value}.{name}", "not a field a patch may change")
        tp, fast, row = entry
        translate = None if own or row is None else TASK_ROWS.translator(layout, row)
        if own or translate is not None:
            try:
                if translate is not None and value is not None:
                    value = translate(value)  # another writer's row, in this layout
                changes[name] = fast(value)
                continue
            except (Invalid, IndexError, KeyError, TypeError):
                value = raw[name]  # decoded as a map below: the message names the field
        if row is not None and value is not None:
            try:
                names = TASK_ROWS.layout if layout is None else layout
                value = TASK_ROWS.as_map(value, names, row)
            except ValueError as exc:
                raise ObjectDecodeError(f"{kind.value}.{name}", str(exc)) from None
        changes[name] = decode(tp, value, f"{kind.value}.{name}", strict=False)
    return changes
