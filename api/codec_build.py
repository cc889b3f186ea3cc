"""How generated decoders build an object of the object model: `build_lines`.

api/codec_fast.py, api/codec_rows.py and actors/store/entry.py generate decoders whose
last statements build the decoded object: a frozen dataclass of slots alone (the whole
object model) as its twin, a plain class with the same slots made once per class
(`_twin`), any other class by calling it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["build_lines"]


def build_lines(
    cls: type, env: dict[str, Any], values: list[str], indent: str, name: str = ""
) -> list[str]:
    """Generated statements that build ``out`` (``out{name}``), a ``cls`` (``env``'s
    ``cls{name}``) whose fields are ``values`` (one expression per field, in field order),
    adding what they use to ``env``; ``name`` sets apart the names of several objects built
    in one function.

    A frozen dataclass with slots and no ``__post_init__`` (the whole object model) is
    not built by its ``__init__``, which sets each field through ``object.__setattr__``:
    it is built as its ``_twin`` (a plain class with the same slots), whose fields are set
    as plain attributes, and then made the class it is (``__class__``). Setting the slots
    through their descriptors, as before, took 1.0 us for a task's twelve fields, the twin
    0.4 us; every follower builds every object it stores this way, and a restore 400,000
    objects for 100,000 tasks."""
    names = [f.name for f in dataclasses.fields(cls)]
    env[f"cls{name}"] = cls
    twin = _twin(cls)
    if twin is None:
        kwargs = ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
        return [f"{indent}out{name} = cls{name}({kwargs})"]
    env["new"] = object.__new__
    env[f"twin{name}"] = twin
    lines = [f"{indent}v{name}_{i} = {value}" for i, value in enumerate(values)]
    lines.append(f"{indent}out{name} = new(twin{name})")
    lines += [f"{indent}out{name}.{n} = v{name}_{i}" for i, n in enumerate(names)]
    lines.append(f"{indent}out{name}.__class__ = cls{name}")
    return lines


_TWINS: dict[type, type | None] = {}


def _twin(cls: type) -> type | None:
    """A class with ``cls``'s slots and no more, whose objects can become ``cls``'s; None
    when ``cls`` is not a frozen dataclass of slots alone without ``__post_init__``."""
    if cls in _TWINS:
        return _TWINS[cls]
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls) if params is not None else ()
    twin: type | None = None
    if (
        params is not None
        and params.frozen
        and cls.__bases__ == (object,)
        and cls.__dict__.get("__slots__") == tuple(f.name for f in fields)
        and not hasattr(cls, "__post_init__")
        and all(f.init for f in fields)
    ):
        twin = type(f"{cls.__name__}Twin", (), {"__slots__": cls.__slots__})  # type: ignore[attr-defined]
        try:  # the same layout, or the interpreter refuses it here, once
            probe: Any = object.__new__(twin)
            probe.__class__ = cls
        except TypeError:
            twin = None
    _TWINS[cls] = twin
    return twin
