"""Objects ⇄ plain msgpack-able values, for Raft proposals, snapshots and the wire.

Rules, the same for every type in api/objects.py and api/specs.py:
- a dataclass becomes a dict of its fields by name (nothing is omitted);
- enumerations are written by value: ``StrEnum`` as its string, ``TaskState`` as its int;
- tuples become lists; label maps stay dicts; ``None`` stays ``None``;
- a service mode (a union of dataclasses) becomes ``{"replicated": {"replicas": 3}}``.

Decoding checks types: wrong types, unknown enumeration values and unknown variants of a
tagged union raise ``ObjectDecodeError`` naming the field path
(``spec.task.container.image``). A field missing from the input takes its default when it
has one, so fields can be added later.

A field the input has and the class does not is what a newer version writes (every
release adds some). The caller says what it means (``strict``, no default: each caller
chooses):
- the cluster's own data (Raft entries, snapshots, messages between nodes: the store,
  the dispatcher, the worker) is decoded tolerant: the field is skipped, as protobuf
  skips a field it does not know, so managers and workers of two versions work together
  during a rolling upgrade; an object re-encoded here has lost the field (a SwarmKit
  leader of the older version drops it the same way). ``decode_object`` is always so.
- a user's input (a spec in a control request) is decoded strict: the field is refused,
  named (``spec.task.container.imgae: unknown field of ContainerSpec``), never ignored.
An unknown enumeration value, variant or object kind is refused in both modes: it means
a real incompatibility, not an addition.

So that a newer client's request passes an older manager's strict decoding whenever it
uses nothing the older version lacks, a client writes its specs with `encode_sparse`:
every field at its default is left out, as protobuf leaves out a field at its zero value
(a default therefore never changes meaning from one version to the next).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from api.codec_fast import Invalid, fast_decoder_for, field_types, union_args

if TYPE_CHECKING:
    from api.objects import Object, ObjectKind

__all__ = [
    "ObjectDecodeError",
    "decode",
    "decode_all",
    "decode_object",
    "encode",
    "encode_object",
    "encode_sparse",
    "encoder_for",
    "encoder_with",
    "inline_encoding",
]

T = TypeVar("T")

_Encoder = Callable[[Any], Any]
_Decoder = Callable[[Any, str], Any]


class ObjectDecodeError(ValueError):
    """Input that is not a valid encoding; ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field or '<root>'}: {message}")


def encode(value: Any) -> Any:
    """Encode a dataclass value of the object model (an object, a spec, ...)."""
    return _encoder_for(type(value))(value)


def encode_sparse(value: Any) -> Any:
    """``encode`` without the fields at their defaults, at every depth (module rule); it
    decodes to the same value."""
    return _sparse_encoder_for(type(value))(value)


def decode(cls: type[T], data: Any, path: str = "", *, strict: bool) -> T:
    """Decode ``data`` as ``cls``; ObjectDecodeError names the bad field (the fast path,
    api/codec_fast.py, checks the same without naming it; on a failure the decoders below
    run again for the message). ``strict``: a field ``cls`` (or a class in it) does not
    know is refused; else skipped (the module's rule)."""
    try:
        fast: T = fast_decoder_for(cls, strict=strict)(data)
        return fast
    except Invalid:
        pass
    result: T = _decoder_for(cls, strict)(data, path)
    return result


def decode_all(cls: type[T], items: Iterable[Any], path: str, *, strict: bool) -> tuple[T, ...]:
    """``decode`` of each of ``items`` as ``cls``: on the fast path in one comprehension
    (a worker's session frame names no path for any of its tasks until one fails); when
    one fails, ObjectDecodeError names it as ``path[i]``."""
    fast = fast_decoder_for(cls, strict=strict)
    try:
        return tuple([fast(item) for item in items])
    except Invalid:
        pass
    return tuple(decode(cls, item, f"{path}[{i}]", strict=strict) for i, item in enumerate(items))


def encoder_for(tp: Any) -> Callable[[Any], Any]:
    """The encoder of type ``tp`` (a dataclass, an enumeration, a union, a tuple...)."""
    return _encoder_for(tp)


def encoder_with(cls: type, **fields: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The encoder of dataclass ``cls`` with the given fields encoded by the functions
    given instead of by their type's encoder (the same shape: a caller that has some
    field's encoding at hand, the dispatcher its tasks' shared specs, passes it in)."""
    unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)}")
    return _dataclass_encoder(cls, fields)


def inline_encoding(tp: Any, expr: str) -> str | None:
    """Python source encoding the value of type ``tp`` that ``expr`` evaluates to, without
    a call (a plain value as it is, an enumeration as its ``_value_``: the attribute
    ``.value`` reads through a descriptor), for generated encoders; None when the type
    needs its encoder (``encoder_for``)."""
    enc = _encoder_for(tp)
    if enc is _identity:
        return expr
    if enc is _enum_value:
        return f"{expr}._value_"
    return None


class _ObjectModel:
    """api/objects.py's kinds, imported when a stored object is first encoded or decoded,
    not with this module: swarmctl encodes specs only, and the object model's classes
    were a sixth of its start-up. After the first use they are plain attributes."""

    def __getattr__(self, name: str) -> Any:
        from api import objects

        self.OBJECT_TYPES = objects.OBJECT_TYPES
        self.ObjectKind = objects.ObjectKind
        self.kind_of = objects.kind_of
        return getattr(objects, name)


_model = _ObjectModel()


def encode_object(obj: Object) -> dict[str, Any]:
    """Encode a stored object; its kind is implied by the caller's context."""
    _model.kind_of(obj)  # TypeError for anything that is not a stored object
    result: dict[str, Any] = encode(obj)
    return result


def decode_object(kind: ObjectKind | str, data: Any) -> Object:
    """Decode a stored object (the cluster's own data: tolerant of fields it does not
    know); an unknown kind is refused."""
    kinds = _model.ObjectKind
    try:
        cls = _model.OBJECT_TYPES[kinds(kind)]
    except ValueError:
        raise ObjectDecodeError("kind", f"unknown object kind {kind!r}") from None
    where = kind.value if isinstance(kind, kinds) else kind
    result: Object = decode(cls, data, where, strict=False)
    return result


# --- machinery: one encoder and one decoder per type, built once and cached ------------

_ENCODERS: dict[Any, _Encoder] = {}
_DECODERS: dict[tuple[Any, bool], _Decoder] = {}


def _identity(value: Any) -> Any:
    return value


def _encoder_for(tp: Any) -> _Encoder:
    enc = _ENCODERS.get(tp)
    if enc is None:
        enc = _build_encoder(tp)
        _ENCODERS[tp] = enc
    return enc


def _decoder_for(tp: Any, strict: bool) -> _Decoder:
    dec = _DECODERS.get((tp, strict))
    if dec is None:
        dec = _build_decoder(tp, strict)
        _DECODERS[(tp, strict)] = dec
    return dec


def _build_encoder(tp: Any) -> _Encoder:
    if tp in (int, float, str, bool, bytes, type(None)):
        return _identity
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_encoder(tp)
    args = union_args(tp)
    if args is not None:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            inner = _encoder_for(members[0])
            return lambda v: None if v is None else inner(v)
        # a tagged union of dataclasses: {"tag": {...}}
        return lambda v: None if v is None else {v.TAG: _encoder_for(type(v))(v)}
    origin = typing.get_origin(tp)
    if origin is tuple:
        item = _encoder_for(typing.get_args(tp)[0])
        if item is _identity:
            return list
        return lambda v: [item(x) for x in v]
    if origin in (dict, Mapping):
        value_enc = _encoder_for(typing.get_args(tp)[1])
        if value_enc is _identity:
            return dict
        return lambda v: {k: value_enc(x) for k, x in v.items()}
    raise TypeError(f"no encoding for type {tp!r}")


_SPARSE: dict[Any, _Encoder] = {}


def _sparse_encoder_for(tp: Any) -> _Encoder:
    """``_encoder_for``'s shapes, with dataclasses written sparse (requests only: built
    for clarity, not for a hot path)."""
    enc = _SPARSE.get(tp)
    if enc is not None:
        return enc
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        enc = _sparse_dataclass_encoder(tp)
    elif (args := union_args(tp)) is not None:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            inner = _sparse_encoder_for(members[0])
            enc = lambda v: None if v is None else inner(v)  # noqa: E731
        else:
            enc = lambda v: None if v is None else {v.TAG: _sparse_encoder_for(type(v))(v)}  # noqa: E731
    elif typing.get_origin(tp) is tuple:
        item = _sparse_encoder_for(typing.get_args(tp)[0])
        enc = lambda v: [item(x) for x in v]  # noqa: E731
    elif typing.get_origin(tp) in (dict, Mapping):
        value_enc = _sparse_encoder_for(typing.get_args(tp)[1])
        enc = lambda v: {k: value_enc(x) for k, x in v.items()}  # noqa: E731
    else:
        enc = _encoder_for(tp)  # a plain value or an enumeration
    _SPARSE[tp] = enc
    return enc


def _sparse_dataclass_encoder(cls: type) -> _Encoder:
    fields = [(f.name, f.default, f.default_factory, t) for f, t in field_types(cls)]

    def encode_sparse_dc(value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, default, factory, tp in fields:
            v = getattr(value, name)
            if default is not dataclasses.MISSING:
                if v == default:
                    continue
            elif factory is not dataclasses.MISSING and v == factory():
                continue
            out[name] = _sparse_encoder_for(tp)(v)
        return out

    return encode_sparse_dc


def _enum_value(value: Any) -> Any:
    return value.value


def _dataclass_encoder(cls: type, overrides: Mapping[str, _Encoder] | None = None) -> _Encoder:
    """A generated function building the dict in one display: each field read inline and
    only those that are not plain values passed to their encoder (a loop of calls cost
    about as much as the rest of a snapshot); ``overrides``: the encoders of some fields
    (encoder_with)."""
    env: dict[str, Any] = {}
    items = []
    for i, (f, t) in enumerate(field_types(cls)):
        if overrides and f.name in overrides:
            env[f"e{i}"] = overrides[f.name]
            items.append(f"{f.name!r}: e{i}(value.{f.name})")
            continue
        inline = inline_encoding(t, f"value.{f.name}")
        if inline is not None:
            items.append(f"{f.name!r}: {inline}")
        else:
            env[f"e{i}"] = _encoder_for(t)
            items.append(f"{f.name!r}: e{i}(value.{f.name})")
    source = f"def encode_dc(value):\n    return {{{', '.join(items)}}}\n"
    exec(source, env)  # built from the dataclass's own field names only
    encode_dc: _Encoder = env["encode_dc"]
    return encode_dc


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _build_decoder(tp: Any, strict: bool) -> _Decoder:
    if tp is bool:
        return _scalar_decoder(bool, "a boolean")
    if tp is int:
        return _int_decoder
    if tp is float:
        return _float_decoder
    if tp is str:
        return _scalar_decoder(str, "a string")
    if tp is bytes:
        return _scalar_decoder(bytes, "bytes")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_decoder(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_decoder(tp, strict)
    args = union_args(tp)
    if args is not None:
        optional = type(None) in args
        members = [a for a in args if a is not type(None)]
        inner = (
            _decoder_for(members[0], strict)
            if len(members) == 1
            else _tagged_decoder(members, strict)
        )

        def decode_union(data: Any, path: str) -> Any:
            if data is None:
                if optional:
                    return None
                raise ObjectDecodeError(path, "must not be null")
            return inner(data, path)

        return decode_union
    origin = typing.get_origin(tp)
    if origin is tuple:
        item = _decoder_for(typing.get_args(tp)[0], strict)

        def decode_tuple(data: Any, path: str) -> Any:
            if not isinstance(data, (list, tuple)):
                raise ObjectDecodeError(path, f"expected a list, got {type(data).__name__}")
            return tuple(item(x, f"{path}[{i}]") for i, x in enumerate(data))

        return decode_tuple
    if origin in (dict, Mapping):
        key_dec = _decoder_for(typing.get_args(tp)[0], strict)
        value_dec = _decoder_for(typing.get_args(tp)[1], strict)

        def decode_map(data: Any, path: str) -> Any:
            if not isinstance(data, dict):
                raise ObjectDecodeError(path, f"expected a map, got {type(data).__name__}")
            return {
                key_dec(k, f"{path}.<key>"): value_dec(v, f"{path}.{k}") for k, v in data.items()
            }

        return decode_map
    raise TypeError(f"no decoding for type {tp!r}")


def _scalar_decoder(cls: type, what: str) -> _Decoder:
    def decode_scalar(data: Any, path: str) -> Any:
        if type(data) is not cls:
            if cls is bytes and isinstance(data, (bytearray, memoryview)):
                return bytes(data)
            raise ObjectDecodeError(path, f"expected {what}, got {type(data).__name__}")
        return data

    return decode_scalar


def _int_decoder(data: Any, path: str) -> Any:
    if type(data) is not int:
        raise ObjectDecodeError(path, f"expected an integer, got {type(data).__name__}")
    return data


def _float_decoder(data: Any, path: str) -> Any:
    if type(data) is float:
        return data
    if type(data) is int:
        return float(data)
    raise ObjectDecodeError(path, f"expected a number, got {type(data).__name__}")


def _enum_decoder(cls: type[enum.Enum]) -> _Decoder:
    by_value = {m.value: m for m in cls}
    choices = ", ".join(repr(m.value) for m in cls)

    def decode_enum(data: Any, path: str) -> Any:
        if type(data) not in (int, str):
            raise ObjectDecodeError(path, f"expected one of {choices}, got {type(data).__name__}")
        try:
            return by_value[data]
        except KeyError:
            raise ObjectDecodeError(
                path, f"unknown value {data!r} (expected one of {choices})"
            ) from None

    return decode_enum


def _dataclass_decoder(cls: type, strict: bool) -> _Decoder:
    """Reads the fields ``cls`` has; a key naming none is refused (``strict``) or not read."""
    plan: list[tuple[str, _Decoder, bool]] = []
    for f, t in field_types(cls):
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        plan.append((f.name, _decoder_for(t, strict), has_default))
    names = {name for name, _, _ in plan}

    def decode_dc(data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            raise ObjectDecodeError(
                path, f"expected a map for {cls.__name__}, got {type(data).__name__}"
            )
        if strict:
            for key in data:
                if key not in names:
                    sub = f"{path}.{key}" if path else str(key)
                    raise ObjectDecodeError(sub, f"unknown field of {cls.__name__}")
        kwargs: dict[str, Any] = {}
        for name, dec, has_default in plan:
            sub = f"{path}.{name}" if path else name
            if name in data:
                kwargs[name] = dec(data[name], sub)
            elif not has_default:
                raise ObjectDecodeError(sub, "missing required field")
        return cls(**kwargs)

    return decode_dc


def _tagged_decoder(members: list[Any], strict: bool) -> _Decoder:
    by_tag: dict[str, Any] = {m.TAG: m for m in members}
    choices = ", ".join(repr(t) for t in by_tag)

    def decode_tagged(data: Any, path: str) -> Any:
        if not isinstance(data, dict) or len(data) != 1:
            raise ObjectDecodeError(path, f"expected a map with one key, one of {choices}")
        ((tag, body),) = data.items()
        member = by_tag.get(tag)
        if member is None:
            raise ObjectDecodeError(path, f"unknown variant {tag!r} (expected one of {choices})")
        return _decoder_for(member, strict)(body, f"{path}.{tag}" if path else str(tag))

    return decode_tagged
