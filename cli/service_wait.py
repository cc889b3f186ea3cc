"""Waiting for a service change to converge, for ``service create|update|scale|rollback``
without ``--detach`` (the rules are cli/progress.py's): the change's reply names the spec
version it wrote, and the wait holds the service to it."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Mapping
from typing import Any, TextIO, cast

from cli.connection import ControlConnection

__all__ = ["finished_before", "job_run_before", "progress_stream", "wait_for_change"]


class _Discard(io.TextIOBase):
    """Where ``--quiet`` sends the progress (Docker's CLI: io.Discard)."""

    def write(self, text: str) -> int:
        return len(text)


def progress_stream(args: argparse.Namespace) -> TextIO:
    """Progress lines go to stdout, unless stdout carries the JSON document; nowhere with
    ``--quiet``."""
    if getattr(args, "quiet", False):
        return cast(TextIO, _Discard())
    return sys.stderr if args.format == "json" else sys.stdout


def finished_before(
    args: argparse.Namespace, connection: ControlConnection, service: str
) -> set[str]:
    """Tasks already finished before a change is written: their failures are old news."""
    if args.detach:
        return set()
    from cli.progress import finished_task_ids

    return finished_task_ids(connection.listing("control.service.ps", {"service": service}))


def job_run_before(connection: ControlConnection, service: str) -> int | None:
    """The current run of a job (None: not a job), read before a change."""
    job = connection.request("control.service.inspect", {"service": service})["summary"]["job"]
    return None if job is None else int(job["iteration"])


def wait_for_change(
    args: argparse.Namespace,
    connection: ControlConnection,
    reply: Mapping[str, Any],
    baseline: set[str],
    *,
    rollback: bool = False,
    job_run: int | None = None,
) -> None:
    """Unless ``--detach``: until the service a change ``reply`` names converges at the
    spec version it wrote; CliError (exit 1) saying why when it cannot. ``job_run``: the
    service is a job whose run before the change was this one; the next run must complete
    (cli/job_progress.py)."""
    if args.detach:
        return
    from cli.job_progress import JobJudge  # a detached command needs neither
    from cli.progress import ProgressJudge, wait_converged

    service_id = reply["id"]
    judge = (
        JobJudge(job_run)
        if job_run is not None
        else ProgressJudge(
            baseline=baseline,
            spec_version=(reply.get("service") or {}).get("spec_version"),
            rollback=rollback,
        )
    )
    wait_converged(
        lambda: connection.listing("control.service.ps", {"service": service_id}),
        out=progress_stream(args),
        timeout=args.converge_timeout,
        judge=judge,
    )
