"""``--env-file FILE``: environment variables read from a file, as Docker reads one.

Rules (docker/cli ``opts.ParseEnvFile``):
- One ``KEY=value`` a line; the value is taken as it is (no quotes removed, no trimming).
- Leading whitespace is dropped; blank lines and lines starting with ``#`` are skipped.
- A bare ``KEY`` takes the value of KEY in swarmctl's own environment, and is left out
  when swarmctl has none.
- A key with a space or tab in it, a line with no key (``=value``), bytes that are not
  UTF-8 and an unreadable file are errors naming the file (and the line).
- A UTF-8 byte order mark at the start is dropped; lines may end in CRLF.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["EnvFileError", "parse_env_file", "read_env_file"]

_BOM = b"\xef\xbb\xbf"
_BLANKS = " \t"


class EnvFileError(ValueError):
    """An env file that cannot be read as one; the message names the file and line."""


def parse_env_file(data: bytes, name: str, environ: Mapping[str, str]) -> list[str]:
    """The ``KEY=value`` entries of the env file ``name`` holding ``data``."""
    entries: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise EnvFileError(f"env file {name}: line {number} is not valid UTF-8") from None
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if any(ch in key for ch in _BLANKS):
            raise EnvFileError(
                f"env file {name}, line {number}: variable {key!r} contains whitespace"
            )
        if not key:
            raise EnvFileError(f"env file {name}, line {number}: no variable name in {line!r}")
        if eq:
            entries.append(f"{key}={value}")
        elif key in environ:
            entries.append(f"{key}={environ[key]}")
    return entries


def read_env_file(path: str, environ: Mapping[str, str]) -> list[str]:
    """The entries of the env file at ``path``; EnvFileError if it cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise EnvFileError(f"env file {path}: {exc.strerror or exc}") from None
    return parse_env_file(data, path, environ)
