"""Reading a compose file's values: typed getters that name the key they read, and variable
interpolation.

Rules (Docker's compose loader, as ``docker stack deploy`` applies it):
- A mapping of the file is read as a `Section` that declares the keys it supports; any
  other key is refused with its path (``services.web.build: not supported ...``), never
  dropped. Extension keys (``x-...``) are allowed everywhere: they hold YAML anchors.
- Values are interpolated from the client's environment before anything else:
  ``$VAR``, ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}`` (unset),
  ``${VAR:?message}`` / ``${VAR?message}`` (refused when unset), ``${VAR:+alt}`` /
  ``${VAR+alt}``, and ``$$`` for a literal ``$``. An unset variable is empty.
- Several files (``-c a.yml -c b.yml``) merge in order: api/compose_merge.py.

Pure: no I/O; the environment is a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Final

from api.units import parse_cpus, parse_duration, parse_memory

__all__ = [
    "LABEL_IMAGE",
    "LABEL_NAMESPACE",
    "MAX_NODES",
    "ComposeError",
    "Section",
    "interpolate",
    "key_values",
    "type_name",
]

# Docker's stack labels (docker/cli cli/compose/convert/compose.go)
LABEL_NAMESPACE: Final = "com.docker.stack.namespace"
LABEL_IMAGE: Final = "com.docker.stack.image"

# A file's values once its YAML aliases are expanded: a few aliases of aliases (the
# "billion laughs") would otherwise cost exponential time before anything is sent.
MAX_NODES: Final = 200_000

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)"
    r"|\{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}|(?P<invalid>))"
)


class ComposeError(ValueError):
    """A compose file refused: ``path`` names the key (``services.web.deploy.replicas``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "a mapping", list: "a list", str: "a string", int: "a number"}.get(
        type(value), type(value).__name__
    )


# --- interpolation ---------------------------------------------------------------------


def _substitute(text: str, environ: Mapping[str, str], path: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group("escaped") is not None:
            return "$"
        if m.group("named") is not None:
            return environ.get(m.group("named"), "")
        name = m.group("braced")
        if name is None:
            raise ComposeError(path, f"invalid interpolation in {text!r} (use $$ for a '$')")
        op, arg = m.group("op"), m.group("arg")
        if op is None:
            if arg:
                raise ComposeError(path, f"invalid interpolation in {text!r}")
            return environ.get(name, "")
        value = environ.get(name)
        missing = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if missing else str(value)
        if op.endswith("?"):
            if missing:
                raise ComposeError(path, f"required variable {name} is missing: {arg}")
            return str(value)
        return "" if missing else arg  # the "+" forms

    return _VARIABLE.sub(one, text)


def interpolate(document: Any, environ: Mapping[str, str]) -> Any:
    """``document`` with every string value interpolated (keys are not); refused past
    ``MAX_NODES`` values."""
    budget = [MAX_NODES]

    def walk(value: Any, path: str) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ComposeError(
                "", f"the file holds more than {MAX_NODES} values once its aliases are expanded"
            )
        if isinstance(value, str):
            return _substitute(value, environ, path) if "$" in value else value
        if isinstance(value, Mapping):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    return walk(document, "")


# --- reading ---------------------------------------------------------------------------


def key_values(value: Any, path: str, *, keep_none: bool = False) -> dict[str, Any]:
    """``["K=V", "K"]`` or ``{K: V}`` → a mapping of strings. A key without a value is
    ``None`` when ``keep_none`` (an environment variable taken from the client), else ""."""
    out: dict[str, Any] = {}
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item or item.startswith("="):
                raise ComposeError(f"{path}[{i}]", f"expected KEY=VALUE, got {item!r}")
            key, sep, text = item.partition("=")
            out[key] = text if sep else (None if keep_none else "")
        return out
    if isinstance(value, Mapping):
        for key, item in value.items():
            if item is None:
                out[str(key)] = None if keep_none else ""
            elif isinstance(item, bool):
                out[str(key)] = "true" if item else "false"
            elif isinstance(item, str | int | float):
                out[str(key)] = str(item)
            else:
                raise ComposeError(f"{path}.{key}", f"expected a value, got {type_name(item)}")
        return out
    raise ComposeError(path, f"expected a list of KEY=VALUE or a mapping, got {type_name(value)}")


class Section:
    """One mapping of the file (module rules); ``supported`` None: any key (names of
    objects). Getters return the default for an absent key (or ``null``) and raise
    `ComposeError` naming the key for a wrong type."""

    def __init__(self, value: Any, path: str, supported: Collection[str] | None) -> None:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ComposeError(path, f"expected a mapping, got {type_name(value)}")
        for key in value:
            if not isinstance(key, str):
                raise ComposeError(path, f"keys are strings, got {key!r}")
            if supported is not None and key not in supported and not key.startswith("x-"):
                shown = ", ".join(sorted(supported))
                raise ComposeError(
                    self._join(path, key),
                    f"not supported by swarmctl stack deploy (supported here: {shown})",
                )
        self.values: Mapping[str, Any] = value
        self.path = path

    @staticmethod
    def _join(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key

    def at(self, key: str) -> str:
        return self._join(self.path, key)

    def __contains__(self, key: str) -> bool:
        return self.values.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.values.get(key)

    def items(self) -> Iterator[tuple[str, Any]]:
        """The entries that are not extension keys."""
        return ((k, v) for k, v in self.values.items() if not k.startswith("x-"))

    def section(self, key: str, supported: Collection[str]) -> Section:
        return Section(self.values.get(key), self.at(key), supported)

    def text(self, key: str, default: str = "") -> str:
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ComposeError(self.at(key), f"expected a string, got {type_name(value)}")
        return str(value)

    def integer(self, key: str, default: int = 0, *, minimum: int = 0) -> int:
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ComposeError(self.at(key), f"expected a whole number, got {value!r}")
        if value < minimum:
            raise ComposeError(self.at(key), f"must be >= {minimum}, got {value}")
        return value

    def number(self, key: str, default: float = 0.0) -> float:
        value = self.values.get(key)
        if value is None:
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise ComposeError(self.at(key), f"expected a number, got {value!r}") from None

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.values.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ComposeError(self.at(key), f"expected true or false, got {value!r}")
        return value

    def _parsed(self, key: str, parse: Any, default: Any) -> Any:
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ComposeError(self.at(key), f"expected a value, got {type_name(value)}")
        try:
            return parse(str(value))
        except ValueError as exc:
            raise ComposeError(self.at(key), str(exc)) from None

    def duration(self, key: str, default: float = 0.0) -> float:
        """A Go duration (``10s``, ``1m30s``) in seconds."""
        value = self.values.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value != 0:
            raise ComposeError(self.at(key), f"expected a duration with a unit (10s), got {value}")
        return float(self._parsed(key, parse_duration, default))

    def memory(self, key: str, default: int = 0) -> int:
        return int(self._parsed(key, parse_memory, default))

    def cpus(self, key: str, default: int = 0) -> int:
        return int(self._parsed(key, parse_cpus, default))

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings (numbers taken as their text)."""
        value = self.values.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ComposeError(self.at(key), f"expected a list, got {type_name(value)}")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ComposeError(f"{self.at(key)}[{i}]", f"expected a string, got {item!r}")
            out.append(str(item))
        return tuple(out)

    def entries(self, key: str) -> list[Any]:
        """A list of anything (short or long syntax items), or [] when absent."""
        value = self.values.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ComposeError(self.at(key), f"expected a list, got {type_name(value)}")
        return list(value)
