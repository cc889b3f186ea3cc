"""Dataclasses as rows: a list of field values in field order, for bulk encodings.

A snapshot holds 100,000 tasks; as maps, each repeats some 25 field names that msgpack
writes, reads and interns one by one, and the decoder looks up by name. As rows the names
are written once, in the snapshot's header (``layout``), and the decoder indexes. The
classes in ``rows`` are written as rows wherever they appear as a field (or an optional
one); every other field keeps its ordinary encoding (api/codec_objects.py). A reader
whose classes have other fields than a header names (an older or newer writer: a rolling
upgrade) reorders its rows into its own layout (``translator``: a field the writer lacked
takes its default, one the reader lacks is dropped) and decodes them as its own; a row
that does not fit is turned back into a map (``as_map``) and decoded as one, with the
message naming what is wrong. The fast decoder raises ``Invalid`` for anything but a
well-formed row.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from typing import Any

from api.codec_build import build_lines
from api.codec_fast import Invalid, fast_decoder_for, field_types, inline_decoding, union_args
from api.codec_objects import encoder_for, inline_encoding

__all__ = ["RowCodec"]


def _row_class(tp: Any, rows: frozenset[type]) -> tuple[type | None, bool]:
    """(the row class a field of type ``tp`` holds, whether it may be None)."""
    if tp in rows:
        return tp, False
    args = union_args(tp)
    if args is not None and len(args) == 2 and type(None) in args:
        (member,) = (a for a in args if a is not type(None))
        if member in rows:
            return member, True
    return None, False


class RowCodec:
    """Rows for ``root`` (whose field ``given`` is the caller's: a reference) and the
    classes in ``rows`` nested in it."""

    def __init__(
        self,
        root: type,
        rows: frozenset[type],
        given: str,
        share: Mapping[type, frozenset[str]] | None = None,
        empty: Mapping[Any, Any] | None = None,
    ) -> None:
        self.root = root
        self._rows = rows | {root}
        self._given = given
        self._share = share or {}
        self._empty = empty
        # by class name: the same bytes in every process (a set's order is its hashes')
        self.layout: dict[str, list[str]] = {
            cls.__name__: [f.name for f, _ in field_types(cls)]
            for cls in sorted(self._rows, key=lambda c: c.__name__)
        }
        self._encoders: dict[type, Callable[..., Any]] = {}
        self._decoders: dict[type, Callable[..., Any]] = {}
        # another writer's layout: translators by (layout, class), the last layout asked
        self._translators: dict[tuple[_LayoutKey, type], Callable[[Any], list[Any]] | None] = {}
        self._last_layout: tuple[Any, Any] = (None, None)
        self.encode: Callable[[Any, Any], list[Any]] = self._build_encoder(root)
        self.decode: Callable[[Any, Any], Any] = self._build_decoder(root)
        # ``decode`` whose strings in ``share`` (by class, field names) are the copies a
        # map of strings gives, and whose empty maps in ``share`` are ``empty``
        self.decode_shared: Callable[[Any, Any, Mapping[str, str]], Any] = self._build_decoder(
            root, shared=True
        )

    def row_class(self, tp: Any) -> tuple[type | None, bool]:
        """(the class written as a row that a field of type ``tp`` holds, or None; whether
        the field may be None)."""
        row, optional = _row_class(tp, self._rows)
        return (row, optional) if row is not self.root else (None, False)

    def encoder(self, cls: type) -> Callable[[Any], list[Any]]:
        """The row encoder of ``cls``, one of the classes written as rows (not the root)."""
        return self._encoder(cls)

    def decoder(self, cls: type) -> Callable[[Any], Any]:
        """The row decoder of ``cls`` (``Invalid`` for anything but a well-formed row)."""
        return self._decoder(cls)

    # --- encoding ---------------------------------------------------------------------
    def _build_encoder(self, cls: type) -> Callable[..., Any]:
        """One generated function for ``cls`` and the rows nested in it: a nested row's
        object is read into a local once and its list built inline, not by a call of its
        own encoder (a task's row was six calls: its meta, status and container status,
        its port statuses, its labels; the snapshot of 100,000 tasks spent a fifth of its
        time in them); an empty tuple or map is written without its encoder's call."""
        env: dict[str, Any] = {}
        lines: list[str] = []
        row = self._row_source(cls, "value", env, lines, inline=True)
        params = "value, given" if cls is self.root else "value"
        body = "".join(f"    {line}\n" for line in lines)
        exec(f"def encode_row({params}):\n{body}    return {row}\n", env)
        return env["encode_row"]  # type: ignore[no-any-return]

    def _row_source(
        self, cls: type, var: str, env: dict[str, Any], lines: list[str], *, inline: bool
    ) -> str:
        """The list display encoding ``cls`` held by the local ``var``; ``lines`` gets the
        statements reading its nested rows' objects into locals. ``inline``: nested rows
        may be read by statements (not inside an optional row's branch, where ``var`` may
        be None: there they are their encoder's calls)."""
        items = []
        for f, t in field_types(cls):
            expr = f"{var}.{f.name}"
            if cls is self.root and f.name == self._given:
                items.append("given")
                continue
            row, optional = _row_class(t, self._rows)
            if row is not None:
                items.append(self._nested_source(row, optional, expr, env, lines, inline))
            elif (plain := inline_encoding(t, expr)) is not None:
                items.append(plain)  # a plain value or an enumeration: no call
            else:
                name = f"e{len(env)}"
                env[name] = encoder_for(t)
                empty = _empty_encoding(t)
                if empty is None:
                    items.append(f"{name}({expr})")
                else:  # most tasks publish no port and carry no label
                    local = f"x{len(env)}"
                    items.append(f"({name}({local}) if ({local} := {expr}) else {empty})")
        return f"[{', '.join(items)}]"

    def _nested_source(
        self,
        row: type,
        optional: bool,
        expr: str,
        env: dict[str, Any],
        lines: list[str],
        inline: bool,
    ) -> str:
        if not inline:
            name = f"e{len(env)}"
            env[name] = self._encoder(row)
            if optional:
                return f"(None if {expr} is None else {name}({expr}))"
            return f"{name}({expr})"
        local = f"v{len(lines)}"
        lines.append(f"{local} = {expr}")
        if optional:
            inner = self._row_source(row, local, env, lines, inline=False)
            return f"(None if {local} is None else {inner})"
        return self._row_source(row, local, env, lines, inline=True)

    def _encoder(self, cls: type) -> Callable[..., Any]:
        if cls not in self._encoders:
            self._encoders[cls] = self._build_encoder(cls)
        return self._encoders[cls]

    # --- decoding ---------------------------------------------------------------------
    def _build_decoder(self, cls: type, shared: bool = False) -> Callable[..., Any]:
        """One generated function for ``cls`` and the rows nested in it, read inline (a
        task's row was four calls of nested rows' decoders and five of its floats' and
        enumerations'; a restore of 100,000 tasks makes them all). ``shared``: the
        function takes ``strings`` too, a map of each string in ``share`` to the copy to
        hold, and an empty map in ``share`` is ``empty``."""
        env: dict[str, Any] = {"bad": _bad, "empty": self._empty}
        lines: list[str] = []
        out = self._decode_source(cls, "data", env, lines, "    ", [0], shared)
        params = "data, given" if cls is self.root else "data"
        if shared:
            params += ", strings"
        source = f"def decode_row({params}):\n{''.join(lines)}    return {out}\n"
        exec(source, env)  # built from the dataclasses' own field names only
        return env["decode_row"]  # type: ignore[no-any-return]

    def _decode_source(
        self,
        cls: type,
        var: str,
        env: dict[str, Any],
        lines: list[str],
        indent: str,
        counter: list[int],
        shared: bool,
    ) -> str:
        """Statements (into ``lines``) that check the row in the local ``var`` and build
        its ``cls``; returns the local that holds it. ``counter`` numbers the objects
        built, to keep their names apart."""
        n = counter[0]
        counter[0] += 1
        fields = field_types(cls)
        lines.append(f"{indent}if type({var}) is not list or len({var}) != {len(fields)}:\n")
        lines.append(f"{indent}    bad()\n")
        values = []
        for i, (f, t) in enumerate(fields):
            item = f"{var}[{i}]"
            if cls is self.root and f.name == self._given:
                values.append("given")
                continue
            row, optional = _row_class(t, self._rows)
            if row is not None:
                local = f"r{n}_{i}"
                lines.append(f"{indent}{local} = {item}\n")
                if not optional:
                    values.append(
                        self._decode_source(row, local, env, lines, indent, counter, shared)
                    )
                    continue
                lines.append(f"{indent}if {local} is not None:\n")
                inner = self._decode_source(
                    row, local, env, lines, indent + "    ", counter, shared
                )
                lines.append(f"{indent}    {local} = {inner}\n")
                values.append(local)
            elif t in (int, str, bool):
                env[f"t{n}_{i}"] = t
                value = "strings[v]" if shared and f.name in self._share.get(cls, ()) else "v"
                values.append(f"({value} if type(v := {item}) is t{n}_{i} else bad())")
            else:
                env[f"d{n}_{i}"] = fast_decoder_for(t, strict=False)
                if shared and f.name in self._share.get(cls, ()) and _empty_encoding(t) == "{}":
                    values.append(
                        f"(empty if type(v := {item}) is dict and not v else d{n}_{i}(v))"
                    )
                else:
                    values.append(inline_decoding(t, item, f"d{n}_{i}", f"{n}_{i}", env, False))
        lines += [line + "\n" for line in build_lines(cls, env, values, indent, str(n))]
        return f"out{n}"

    def _decoder(self, cls: type) -> Callable[..., Any]:
        if cls not in self._decoders:
            self._decoders[cls] = self._build_decoder(cls)
        return self._decoders[cls]

    # --- another writer's layout --------------------------------------------------------
    def translator(self, layout: Any, cls: type | None = None) -> Callable[[Any], list[Any]] | None:
        """A function turning a row of ``cls`` (the root by default) written with
        ``layout`` into one of this codec's own layout, for its fast decoders: a field the
        writer lacked takes its default's encoding, one this version lacks is dropped;
        ``Invalid`` for a row that is not a list of the layout's length. None when rows of
        ``layout`` cannot be so read (malformed, a class or a required field missing): the
        caller reads them as maps. One generated function per layout and class; the last
        ``layout`` asked about is known by identity (a decoded entry's, never changed)."""
        cls = cls or self.root
        held, key = self._last_layout  # an entry's patches ask again with one layout
        if held is not layout:
            key = _layout_key(layout)
            self._last_layout = (layout, key)
        return None if key is None else self._translator(key, cls)

    def _translator(self, key: _LayoutKey, cls: type) -> Callable[[Any], list[Any]] | None:
        if (key, cls) not in self._translators:
            self._translators[(key, cls)] = self._build_translator(key, cls)
        return self._translators[(key, cls)]

    def _build_translator(self, key: _LayoutKey, cls: type) -> Callable[[Any], list[Any]] | None:
        names = dict(key).get(cls.__name__)
        if names is None:
            return None
        at = {name: i for i, name in enumerate(names)}
        env: dict[str, Any] = {"bad": _bad}
        items = []
        for i, (f, t) in enumerate(field_types(cls)):
            row, optional = _row_class(t, self._rows)
            given = cls is self.root and f.name == self._given
            if f.name in at:
                item = f"row[{at[f.name]}]"
                if row is None or given:
                    items.append(item)
                    continue
                nested = self._translator(key, row)
                if nested is None:
                    return None
                env[f"t{i}"] = nested
                items.append(
                    f"(None if (v := {item}) is None else t{i}(v))" if optional else f"t{i}({item})"
                )
            elif not given and f.default is not dataclasses.MISSING:
                env[f"d{i}"] = self._default_encoding(f.default, t, row)
                items.append(f"d{i}")
            elif not given and f.default_factory is not dataclasses.MISSING:
                env[f"d{i}"] = self._default_encoding(f.default_factory(), t, row)
                items.append(f"d{i}")
            else:
                return None  # a required field the writer did not write: read as a map
        source = (
            "def translate(row):\n"
            f"    if type(row) is not list or len(row) != {len(names)}:\n"
            "        bad()\n"
            f"    return [{', '.join(items)}]\n"
        )
        exec(source, env)  # the class's own field names, the layout's positions
        return env["translate"]  # type: ignore[no-any-return]

    def _default_encoding(self, default: Any, tp: Any, row: type | None) -> Any:
        """A field's default as a row of this layout holds it (never changed: the fast
        decoders build tuples and maps of their own)."""
        if row is not None and default is not None:
            return self._encoder(row)(default)
        return encoder_for(tp)(default)

    def as_map(self, row: Any, layout: Mapping[str, list[str]], cls: type | None = None) -> Any:
        """``row`` (written with ``layout``) as the map the ordinary decoder reads;
        ``ValueError`` when it does not have the layout's shape."""
        cls = cls or self.root
        names = layout.get(cls.__name__)
        if names is None:
            raise ValueError(f"the layout names no fields of {cls.__name__}")
        if type(row) is not list or len(row) != len(names):
            raise ValueError(f"a {cls.__name__} row is not a list of {len(names)} values")
        types = {f.name: t for f, t in field_types(cls)}
        out: dict[str, Any] = {}
        for name, value in zip(names, row, strict=True):
            nested, _ = _row_class(types[name], self._rows) if name in types else (None, False)
            if nested is not None and value is not None:
                value = self.as_map(value, layout, nested)
            out[name] = value
        return out


_LayoutKey = tuple[tuple[str, tuple[str, ...]], ...]


def _layout_key(layout: Any) -> _LayoutKey | None:
    """``layout`` (class name -> field names) as a hashable value; None if malformed."""
    if type(layout) is not dict:
        return None
    key = []
    for name, fields in layout.items():
        if type(name) is not str or type(fields) is not list:
            return None
        if any(type(f) is not str for f in fields) or len(set(fields)) != len(fields):
            return None
        key.append((name, tuple(fields)))
    return tuple(sorted(key))


def _empty_encoding(tp: Any) -> str | None:
    """The source of an empty tuple's or map's encoding (what its encoder makes of one),
    for a field of type ``tp``; None for any other type."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "[]"
    if origin in (dict, Mapping):
        return "{}"
    return None


def _bad() -> Any:
    raise Invalid
