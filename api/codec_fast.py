"""The decoders' fast path (api/codec_objects.py): the same checks, without the field paths.

Every stored object is decoded on every follower for every write and again at each
snapshot restore; building the dotted path of every field (``spec.task.container.image``)
for an error that almost never comes cost more than the decoding itself. A fast decoder
makes every check the path-naming decoder makes (types, unknown fields, missing required
fields, enumeration values, tagged unions) and raises ``Invalid``, which says nothing;
``codec_objects.decode`` then runs the path-naming decoder on the same input for the
message. The two must accept exactly the same inputs and build equal values
(tests/unit/api/test_codec_fast.py checks them against each other).

Each type has two decoders, chosen by the caller (``strict``): a strict one refuses a
field it does not know (a user's spec: a typo is an error), a tolerant one skips it (the
cluster's own data: a newer version's object, as protobuf skips unknown fields; see
codec_objects). They differ only off the common path: a map with as many keys as the
class has fields, each found, is decoded by the same generated code in both modes; only
a map of another size goes to the loop, which refuses or skips the keys it does not know.

Scalars are checked inline in a dataclass's loop (one ``type(v) is t`` instead of a call).
The statements that build each object in the generated code come from `api.codec_build`.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from api.codec_build import build_lines

__all__ = [
    "Invalid",
    "fast_decoder_for",
    "field_types",
    "inline_decoding",
    "referencing_decoder",
    "union_args",
]

_FastDecoder = Callable[[Any], Any]


class Invalid(Exception):
    """The input is not a valid encoding; the path-naming decoder says where and why."""


def union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def field_types(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """Each field of dataclass ``cls`` with its type, resolved once (``get_type_hints``
    compiles each annotation's string again at every call: a row of another version's
    layout, read as a map, looked its classes' types up per task, 1 ms each)."""
    known = _FIELD_TYPES.get(cls)
    if known is None:
        hints = typing.get_type_hints(cls)
        known = _FIELD_TYPES[cls] = tuple((f, hints[f.name]) for f in dataclasses.fields(cls))
    return known


_FIELD_TYPES: dict[type, tuple[tuple[dataclasses.Field[Any], Any], ...]] = {}


_FAST: dict[tuple[Any, bool], _FastDecoder] = {}
# the scalars a dataclass checks inline: the exact type its value must have
_EXACT = (int, str, bool)


def fast_decoder_for(tp: Any, *, strict: bool) -> _FastDecoder:
    """The fast decoder of type ``tp``; ``strict``: a field a dataclass does not know is
    refused (else skipped), there and in every type nested in it."""
    dec = _FAST.get((tp, strict))
    if dec is None:
        dec = _build(tp, strict)
        _FAST[(tp, strict)] = dec
    return dec


def _exact(cls: type) -> _FastDecoder:
    def check(data: Any) -> Any:
        if type(data) is not cls:
            raise Invalid
        return data

    return check


def _float(data: Any) -> Any:
    if type(data) is float:
        return data
    if type(data) is int:
        return float(data)
    raise Invalid


def _bytes(data: Any) -> Any:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise Invalid


def _build(tp: Any, strict: bool) -> _FastDecoder:
    if tp in _EXACT:
        return _exact(tp)
    if tp is float:
        return _float
    if tp is bytes:
        return _bytes
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp, strict)
    args = union_args(tp)
    if args is not None:
        return _union(args, strict)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return _tuple(typing.get_args(tp)[0], strict)
    if origin in (dict, Mapping):
        key_dec = fast_decoder_for(typing.get_args(tp)[0], strict=strict)
        value_dec = fast_decoder_for(typing.get_args(tp)[1], strict=strict)

        def decode_map(data: Any) -> Any:
            if not isinstance(data, dict):
                raise Invalid
            return {key_dec(k): value_dec(v) for k, v in data.items()}

        return decode_map
    raise TypeError(f"no decoding for type {tp!r}")


def _enum(cls: type[enum.Enum]) -> _FastDecoder:
    by_value = {m.value: m for m in cls}

    def decode_enum(data: Any) -> Any:
        if type(data) not in (int, str):
            raise Invalid
        member = by_value.get(data)
        if member is None:
            raise Invalid
        return member

    return decode_enum


def _union(args: tuple[Any, ...], strict: bool) -> _FastDecoder:
    optional = type(None) in args
    members = [a for a in args if a is not type(None)]
    if len(members) == 1:
        inner = fast_decoder_for(members[0], strict=strict)
    else:
        by_tag: dict[str, Any] = {m.TAG: m for m in members}

        def inner(data: Any) -> Any:
            if not isinstance(data, dict) or len(data) != 1:
                raise Invalid
            ((tag, body),) = data.items()
            member = by_tag.get(tag)
            if member is None:
                raise Invalid
            return fast_decoder_for(member, strict=strict)(body)

    def decode_union(data: Any) -> Any:
        if data is None:
            if optional:
                return None
            raise Invalid
        return inner(data)

    return decode_union


def _tuple(item_tp: Any, strict: bool) -> _FastDecoder:
    if item_tp in _EXACT:

        def decode_scalars(data: Any) -> Any:
            if not isinstance(data, (list, tuple)):
                raise Invalid
            for x in data:
                if type(x) is not item_tp:
                    raise Invalid
            return tuple(data)

        return decode_scalars
    item = fast_decoder_for(item_tp, strict=strict)

    def decode_tuple(data: Any) -> Any:
        if not isinstance(data, (list, tuple)):
            raise Invalid
        if not data:  # most are (a task's port statuses): no comprehension to run
            return ()
        return tuple([item(x) for x in data])

    return decode_tuple


def _dataclass(cls: type, strict: bool) -> _FastDecoder:
    """A generated function: when every field is present (as the encoder writes them) one
    call with each field checked inline; otherwise a loop that applies the defaults and
    refuses (``strict``) or skips the keys that name no field."""
    plan = _plan(cls, strict)
    env: dict[str, Any] = {"slow": _with_defaults(cls, plan, strict, None)}
    source = _all_fields_source(cls, plan, env, {}, "data", "slow(data, ())", strict)
    exec(source, env)  # built from the dataclass's own field names only
    decode: _FastDecoder = env["decode_dc"]
    return decode


def _with_defaults(
    cls: type,
    plan: list[tuple[str, type | None, _FastDecoder | None, bool]],
    strict: bool,
    given: str | None,
) -> Callable[[Any, Sequence[Any]], Any]:
    """The loop of a dataclass's decoder, off its common path (a field left out, or a key
    more): ``decode(data, table)``, applying the defaults and refusing (``strict``) or
    skipping the keys that name no field; ``given``: the field holding an index into
    ``table`` (required)."""
    names = frozenset(name for name, _, _, _ in plan)
    missing = object()

    def with_defaults(data: Any, table: Sequence[Any]) -> Any:
        if not isinstance(data, dict) or (strict and not names.issuperset(data)):
            raise Invalid
        kwargs: dict[str, Any] = {}
        for name, exact, dec, has_default in plan:
            value = data.get(name, missing)
            if name == given:
                if type(value) is not int or not 0 <= value < len(table):
                    raise Invalid
                kwargs[name] = table[value]
            elif value is missing:
                if not has_default:
                    raise Invalid
            elif exact is not None:
                if type(value) is not exact:
                    raise Invalid
                kwargs[name] = value
            else:
                kwargs[name] = dec(value)  # type: ignore[misc]
        return cls(**kwargs)

    return with_defaults


def referencing_decoder(
    cls: type, field: str, *, strict: bool
) -> Callable[[Any, Sequence[Any]], Any]:
    """A fast decoder of dataclass ``cls`` whose ``field`` holds an index into a table of
    values already decoded, which the caller passes: ``decode(data, table)`` (a session
    frame's tasks name their shared spec this way; actors/dispatcher/wire.py). ``field``
    is required; the others take their defaults, and a key naming no field is refused
    (``strict``) or skipped, as by the decoder of ``cls``. Anything else raises
    ``Invalid``, and the caller names what is wrong with the path-naming decoder."""
    plan = _plan(cls, strict)
    if field not in {name for name, _, _, _ in plan}:
        raise TypeError(f"{cls.__name__} has no field {field!r}")
    env: dict[str, Any] = {"slow": _with_defaults(cls, plan, strict, field)}
    index = f"data[{field!r}]"
    value = f"(table[v] if type(v := {index}) is int and 0 <= v < len(table) else bad())"
    params = "data, table"
    source = _all_fields_source(cls, plan, env, {field: value}, params, "slow(data, table)", strict)
    exec(source, env)  # built from the dataclass's own field names only
    decode: Callable[[Any, Sequence[Any]], Any] = env["decode_dc"]
    return decode


def _plan(cls: type, strict: bool) -> list[tuple[str, type | None, _FastDecoder | None, bool]]:
    """Per field: (name, exact scalar type or None, decoder or None, has a default)."""
    plan: list[tuple[str, type | None, _FastDecoder | None, bool]] = []
    for f, t in field_types(cls):
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if t in _EXACT:
            plan.append((f.name, t, None, has_default))
        else:
            plan.append((f.name, None, fast_decoder_for(t, strict=strict), has_default))
    return plan


def _all_fields_source(
    cls: type,
    plan: list[tuple[str, type | None, _FastDecoder | None, bool]],
    env: dict[str, Any],
    given: Mapping[str, str],
    params: str,
    otherwise: str,
    strict: bool,
) -> str:
    """The source of ``decode_dc(params)``: when every field is present (as the encoder
    writes them), one build with each field checked inline (``given``: the expression of
    some fields, instead); otherwise ``otherwise``."""
    env.update(cls=cls, bad=_bad)
    values = []
    types_ = [t for _, t in field_types(cls)]
    for i, (t, (name, exact, dec, _)) in enumerate(zip(types_, plan, strict=True)):
        if name in given:
            values.append(given[name])
        elif exact is not None:
            env[f"t{i}"] = exact
            values.append(f"(v if type(v := data[{name!r}]) is t{i} else bad())")
        else:
            env[f"d{i}"] = dec
            values.append(inline_decoding(t, f"data[{name!r}]", f"d{i}", i, env, strict))
    # as many keys as fields, each field found: the same keys (no set built per object)
    build = "\n".join(build_lines(cls, env, values, "            "))
    return (
        f"def decode_dc({params}):\n"
        f"    if type(data) is dict and len(data) == {len(plan)}:\n"
        "        try:\n"
        f"{build}\n"
        "            return out\n"
        "        except KeyError:\n"
        "            pass\n"
        f"    return {otherwise}\n"
    )


def inline_decoding(
    tp: Any, item: str, dec: str, i: int | str, env: dict[str, Any], strict: bool
) -> str:
    """The source decoding ``item`` of type ``tp`` inside a dataclass's decoder, whose
    decoder is ``dec`` (of mode ``strict``): what the decoder would do, inline where that
    spares its call (a task has some forty such fields; each call was most of its own
    cost)."""
    if tp is float:
        return f"(v if type(v := {item}) is float else {dec}(v))"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        env[f"m{i}"] = {m.value: m for m in tp}
        env["keys"] = (int, str)
        return f"(m if type(v := {item}) in keys and (m := m{i}.get(v)) is not None else bad())"
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"(() if type(v := {item}) is list and not v else {dec}(v))"
    if origin in (dict, Mapping):
        return f"({{}} if type(v := {item}) is dict and not v else {dec}(v))"
    args = union_args(tp)
    if args is not None and type(None) in args:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            env[f"o{i}"] = fast_decoder_for(members[0], strict=strict)
            return f"(None if (v := {item}) is None else o{i}(v))"
    return f"{dec}({item})"


def _bad() -> Any:
    raise Invalid
