"""Values as users type them, parsed the way Docker parses them.

- memory: ``64M``, ``1g``, ``512mb``, ``1.5GiB``, ``1024`` (bytes); units b, k, m, g, t, p
  with an optional ``b``/``ib`` suffix, all binary (1 k = 1024), as Docker's RAMInBytes;
- CPUs: ``0.5``, ``2`` → nano-CPUs (1e9 per CPU), at most nine decimals, as ``--cpus``;
- durations: Go's ``time.ParseDuration``: ``500ms``, ``5s``, ``1m30s``, ``1.5h``, ``0``;
  units ns, us (µs), ms, s, m, h; a unit is required except for ``0``;
- ``KEY=VALUE`` pairs (env, labels; a label's value may be empty, ``KEY`` alone means "").

Each parser raises ``ValueError`` with one line naming the input. Pure: no I/O.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "format_bytes",
    "format_cpus",
    "format_duration",
    "parse_cpus",
    "parse_duration",
    "parse_key_value",
    "parse_memory",
]

_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "μs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}


def parse_memory(text: str) -> int:
    """``64M`` → 67108864. Bytes, never negative."""
    m = _MEMORY_RE.match(text)
    if m is None:
        raise ValueError(
            f"invalid memory size {text!r} (expected a number with an optional "
            "unit b, k, m, g, t or p, e.g. 64M or 1.5g)"
        )
    number, unit, _suffix = m.groups()
    value = Decimal(number) * (1024 ** _MEMORY_UNITS[unit.lower()])
    return int(value)


def parse_cpus(text: str) -> int:
    """``0.5`` → 500000000 nano-CPUs."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"invalid CPU count {text!r} (expected a number, e.g. 0.5)") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"invalid CPU count {text!r} (must be a number >= 0)")
    nano = value * Decimal(1_000_000_000)
    if nano != nano.to_integral_value():
        raise ValueError(f"invalid CPU count {text!r}: more than nine decimal places")
    return int(nano)


def parse_duration(text: str) -> float:
    """``1m30s`` → 90.0 seconds. Negative durations are refused (no flag takes one)."""
    s = text.strip()
    if s in ("0", "+0"):
        return 0.0
    if s.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    body = s[1:] if s.startswith("+") else s
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total = Decimal(0)
    pos = 0
    for m in _DURATION_PART.finditer(body):
        if m.start() != pos:
            break
        total += Decimal(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(body) or pos == 0:
        hint = " (missing unit)" if re.fullmatch(r"\d+(?:\.\d+)?", body) else ""
        raise ValueError(f"invalid duration {text!r}{hint} (expected e.g. 500ms, 5s, 1m30s, 1h)")
    return float(total)


def parse_key_value(
    text: str, what: str = "label", *, value_required: bool = False
) -> tuple[str, str]:
    """``k=v`` → ``("k", "v")``; ``k`` alone → ``("k", "")`` unless a value is required."""
    key, sep, value = text.partition("=")
    if not key.strip() or key != key.strip():
        raise ValueError(f"invalid {what} {text!r} (expected KEY=VALUE)")
    if value_required and not sep:
        raise ValueError(f"invalid {what} {text!r} (expected KEY=VALUE)")
    return key, value


def format_bytes(n: int) -> str:
    """67108864 → ``64MiB`` (exact binary units when they fit, else bytes)."""
    for unit, power in (("PiB", 5), ("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        size = 1024**power
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.2f}MiB"
    return f"{n}B"


def format_cpus(nano: int) -> str:
    """500000000 → ``0.5``."""
    text = format(Decimal(nano) / Decimal(1_000_000_000), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_duration(seconds: float) -> str:
    """90.0 → ``1m30s``, 0.5 → ``500ms``, as Go prints durations (roughly)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{int(hours)}h"
    if hours or minutes:
        out += f"{int(minutes)}m"
    out += f"{secs:g}s"
    return out
