"""A task's runtime options: ``--limit-pids``, ``--oom-score-adj``, ``--log-driver`` and
``--log-opt``, as ``docker service create|update`` takes them; their edits, validation,
and whether a task's output can be read back.

Rules (Docker's):
- ``--limit-pids N``: the most processes the container may have at once (the Engine API's
  ``Resources.Limits.Pids``, SwarmKit's ``ContainerSpec.PidsLimit``); 0 is unlimited.
- ``--oom-score-adj N``: -1000..1000, refused outside with the engine's words.
- ``--log-driver NAME`` with ``--log-opt KEY=VALUE`` (repeatable): the driver a task's
  container logs with and its options (SwarmKit's ``TaskSpec.LogDriver``). On update, as
  Docker's ``updateLogDriver``, ``--log-driver`` sets the driver with exactly the
  ``--log-opt`` given beside it. Docker drops a ``--log-opt`` given without
  ``--log-driver`` silently; here it is refused, and ``--log-driver ''`` goes back to the
  engine's default driver (Docker has no way to). A driver with no name but options (from
  a compose file or the Engine API) is the engine's default driver with them.
- Output can be read back (``service logs``) unless the driver is ``none``, or is one
  that cannot read (any but json-file, local and journald) with the engine's read cache
  turned off by ``cache-disabled=true`` (Docker's dual logging): then ``service logs``
  fails with the engine's words (``LOGS_NOT_READABLE``). An engine whose daemon turns the
  cache off for all its containers refuses at the node, and the reader is told so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from api.spec_limits import InvalidSpec, check_count, check_string
from api.specs import LogDriver, TaskSpec

__all__ = [
    "LOGS_NOT_READABLE",
    "MAX_LOG_OPTS",
    "OOM_SCORE_ADJ_RANGE",
    "READING_LOG_DRIVERS",
    "RUNTIME_OPTION_TYPES",
    "apply_runtime_options",
    "log_reading_refusal",
    "validate_runtime_options",
]

# moby's logger.ErrReadLogsNotSupported, word for word
LOGS_NOT_READABLE: Final = "configured logging driver does not support reading"
# the drivers that read their own logs back (moby's daemon/logger: the LogReader ones)
READING_LOG_DRIVERS: Final = frozenset({"json-file", "local", "journald"})
OOM_SCORE_ADJ_RANGE: Final = (-1000, 1000)
MAX_LOG_OPTS: Final = 64  # Docker sets none; drivers take a dozen or two
_MAX_DRIVER_NAME: Final = 255  # a plugin's reference "vendor/name:tag" at most
_MAX_OPT_KEY: Final = 256
_MAX_OPT_VALUE: Final = 4096
_MAX_PIDS: Final = 2**63 - 1  # an int64, as the engine takes it
# a driver (json-file, gelf) or a logging plugin's reference (vendor/name:tag)
_DRIVER_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*\Z")
_TRUE_WORDS: Final = frozenset({"1", "t", "T", "true", "TRUE", "True"})  # Go's ParseBool

RUNTIME_OPTION_TYPES: Final[dict[str, type]] = {
    "limit_pids": int,
    "oom_score_adj": int,
    "log_driver": str,
    "log_opts": dict,
}


def apply_runtime_options(task: TaskSpec, o: Mapping[str, Any]) -> TaskSpec:
    """``task`` with the options above applied (the option map's types already checked)."""
    if not any(k in RUNTIME_OPTION_TYPES for k in o):
        return task
    c = task.container
    c = replace(
        c,
        pids_limit=o.get("limit_pids", c.pids_limit),
        oom_score_adj=o.get("oom_score_adj", c.oom_score_adj),
    )
    driver = task.log_driver
    if "log_opts" in o and "log_driver" not in o:
        raise InvalidSpec(
            "log_opts", "--log-opt: give --log-driver with it (the options go with the driver)"
        )
    if "log_driver" in o:
        name = o["log_driver"].strip()
        if not name and o.get("log_opts"):
            raise InvalidSpec("log_opts", "--log-opt: name the driver they are for")
        driver = LogDriver(name=name, options=dict(o.get("log_opts", {}))) if name else None
    return replace(task, container=c, log_driver=driver)


def validate_runtime_options(task: TaskSpec, field: str) -> None:
    """The options above of ``task`` (``field``: its path, ``task``)."""
    c = task.container
    if not 0 <= c.pids_limit <= _MAX_PIDS:
        raise InvalidSpec(
            f"{field}.container.pids_limit",
            f"--limit-pids must be 0 (unlimited) or a positive number, got {c.pids_limit}",
        )
    low, high = OOM_SCORE_ADJ_RANGE
    if not low <= c.oom_score_adj <= high:
        raise InvalidSpec(  # the engine's words
            f"{field}.container.oom_score_adj",
            f"Invalid value {c.oom_score_adj}, range for oom score adj is [{low}, {high}]",
        )
    driver = task.log_driver
    if driver is None:
        return
    where = f"{field}.log_driver"
    if not driver.name and not driver.options:
        raise InvalidSpec(f"{where}.name", "a logging driver without a name needs options")
    if driver.name and not _DRIVER_NAME_RE.match(driver.name):
        raise InvalidSpec(
            f"{where}.name", f"logging driver name {driver.name[:64]!r} is empty or not valid"
        )
    check_string(driver.name, f"{where}.name", _MAX_DRIVER_NAME)
    check_count(driver.options, f"{where}.options", MAX_LOG_OPTS)
    for key, value in driver.options.items():
        if not isinstance(key, str) or not key or "=" in key or key != key.strip():
            raise InvalidSpec(f"{where}.options", f"option name {str(key)[:64]!r} is not valid")
        check_string(key, f"{where}.options", _MAX_OPT_KEY)
        if not isinstance(value, str):
            raise InvalidSpec(f"{where}.options.{key}", f"value {value!r} is not a string")
        check_string(value, f"{where}.options.{key}", _MAX_OPT_VALUE)


def log_reading_refusal(task: TaskSpec) -> str | None:
    """Why the output of a task of ``task`` cannot be read back (``LOGS_NOT_READABLE``),
    or None when it can, as far as the spec tells (the node's engine has the last word)."""
    driver = task.log_driver
    if driver is None or not driver.name or driver.name in READING_LOG_DRIVERS:
        return None  # no name: the engine's default driver, which the engine knows
    if driver.name == "none" or driver.options.get("cache-disabled", "") in _TRUE_WORDS:
        return LOGS_NOT_READABLE
    return None
