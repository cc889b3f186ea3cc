"""``swarmctl service logs`` and ``swarmctl task logs``: tasks' output through the leader's
log broker (actors/logs/), with ``docker service logs``'s flags.

The client subscribes (``control.logs.subscribe``) and reads (``control.logs.read``, a
long poll) until the broker says ``done`` (without ``--follow``) or the user stops it.
stdout lines go to stdout and stderr lines to stderr, each prefixed
``service.slot.task@node |`` (``service.node.task`` for a global service's task) unless
``--raw``; ``--no-task-ids`` leaves the task id out, ``--no-trunc`` keeps it whole, ``-t``
puts the line's time first. ``--format json`` writes one JSON object per line instead.

A subscription lives on the leader: when the leader changes (the read fails, or the new
leader does not know it) the client subscribes again from just after the last line it
printed, and says on stderr that lines may have been missed. Notices of the broker (a node
that did not answer, lines dropped because this reader was slow) go to stderr too. When
the node whose socket it reads through goes away (its process ended, even by SIGKILL),
the read ends at once with an error: no other node can answer on that socket. A reader
stopped before the end (Ctrl-C, SIGTERM, SIGHUP, a closed pipe) closes its subscription
(``control.logs.close``), so the nodes stop sending at once; SIGTERM and SIGHUP then end
it with status 128 + the signal, as the signal would have. Stopped while its subscribe is
still unanswered, it waits briefly (``CLOSE_TIMEOUT``) for the subscription's id, to close
that one too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Final

from api.errors import ClientClosed, ConnectionLost, RemoteError, RequestTimeout
from api.timestamps import format_rfc3339_ns, parse_since
from cli.connection import ControlConnection, refusal
from cli.errors import CliError

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = [
    "LineFormat",
    "LogFollower",
    "add_log_flags",
    "follow_logs",
    "run_service_logs",
    "run_task_logs",
    "since_option",
    "tail_option",
]

READ_WAIT: Final = 2.0  # seconds one read may wait at the broker
RESUBSCRIBE_FOR: Final = 60.0  # seconds to keep trying to subscribe again
RETRY_PAUSE: Final = 0.5
SHORT_ID: Final = 12
CLOSE_TIMEOUT: Final = 2.0  # seconds a close may take on the way out
GONE_CODES: Final = frozenset({"unknown_subscription", "unavailable", "not_leader"})
MISSED: Final = "lines may have been missed"


def tail_option(text: str) -> int:
    if text == "all":
        return -1
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --tail value {text!r} (a number or all)"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid --tail value {text!r} (a number or all)")
    return value


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--follow", action="store_true", help="follow log output")
    parser.add_argument(
        "--tail",
        type=tail_option,
        default=-1,
        metavar="N",
        help="lines from the end of each task's log (default: all)",
    )
    parser.add_argument(
        "--since",
        default=None,
        metavar="TIME",
        help="lines since a time (2013-01-02T13:23:37Z, a Unix time) or a duration back (42m)",
    )
    parser.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    parser.add_argument(
        "--no-task-ids", action="store_true", help="leave task ids out of the prefix"
    )
    parser.add_argument("--no-trunc", action="store_true", help="do not truncate task ids")
    parser.add_argument("--raw", action="store_true", help="lines only, without prefix")


@dataclass(frozen=True, slots=True)
class LineFormat:
    timestamps: bool = False
    task_ids: bool = True
    trunc: bool = True
    raw: bool = False

    def prefix(self, context: Mapping[str, Any] | None, task_id: str) -> str:
        """``service.slot.task@node``, as ``docker service logs``."""
        ctx = context or {}
        service = str(ctx.get("service") or "?")
        slot = int(ctx.get("slot") or 0)
        where = str(slot) if slot else str(ctx.get("node_id") or "?")
        name = f"{service}.{where}"
        if self.task_ids:
            name += "." + (task_id if not self.trunc else task_id[:SHORT_ID])
        return f"{name}@{ctx.get('node') or ctx.get('node_id') or '?'}"

    def line(self, record: Mapping[str, Any], context: Mapping[str, Any] | None) -> bytes:
        data = bytes(record["data"])
        if not data.endswith(b"\n"):
            data += b"\n"
        head = f"{format_rfc3339_ns(int(record['ts']))} " if self.timestamps else ""
        if not self.raw:
            head += f"{self.prefix(context, str(record['task_id']))}    | "
        return head.encode() + data


def json_line(record: Mapping[str, Any], context: Mapping[str, Any] | None) -> bytes:
    ctx = context or {}
    document = {
        "time": format_rfc3339_ns(int(record["ts"])),
        "stream": record["stream"],
        "task_id": record["task_id"],
        "service": ctx.get("service", ""),
        "slot": ctx.get("slot", 0),
        "node": ctx.get("node", ""),
        "line": bytes(record["data"]).decode("utf-8", "replace").rstrip("\n"),
    }
    return (json.dumps(document) + "\n").encode()


Call = Callable[[str, Mapping[str, Any], float], dict[str, Any]]
AsyncCall = Callable[[str, Mapping[str, Any], float], "Future[dict[str, Any]]"]


@dataclass
class LogFollower:
    """Subscribe, read and subscribe again after a leader change (module docstring)."""

    call: Call
    selector: dict[str, Any]
    options: dict[str, Any]
    write: Callable[[Mapping[str, Any], Mapping[str, Any] | None], None]
    notice: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    contexts: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    last_ts: int = -1
    printed: int = 0
    # the subscribe's call, whose reply a stopped reader still takes (``call``'s if None)
    call_async: AsyncCall | None = None

    sub_id: str = ""  # the open subscription ("" once done or lost)

    def run(self) -> None:
        try:
            self.sub_id = self._subscribe(first=True)
            self._read()
        finally:
            self.close()

    def close(self) -> None:
        """Close the open subscription, if any (best effort: the broker drops one nobody
        reads after its idle timeout anyway)."""
        sub_id, self.sub_id = self.sub_id, ""
        if not sub_id:
            return
        with contextlib.suppress(RemoteError, RequestTimeout, ClientClosed, ConnectionLost):
            self.call("control.logs.close", {"subscription_id": sub_id}, CLOSE_TIMEOUT)

    def _read(self) -> None:
        after = 0
        while True:
            try:
                reply = self.call(
                    "control.logs.read",
                    {"subscription_id": self.sub_id, "after": after, "wait": READ_WAIT},
                    READ_WAIT + 8.0,
                )
            except ConnectionLost as exc:
                self.sub_id = ""
                raise _node_gone(exc) from None
            except (RemoteError, RequestTimeout, ClientClosed) as exc:
                if isinstance(exc, RemoteError) and exc.code not in GONE_CODES:
                    raise CliError(f"reading logs failed: {refusal(exc)}") from None
                self.notice(f"the log subscription was lost ({_reason(exc)}): {MISSED}")
                self.sub_id, after = "", 0
                self.sub_id = self._subscribe(first=False)
                continue
            after = int(reply["seq"])
            for ctx in reply.get("tasks") or ():
                self.contexts[str(ctx["id"])] = ctx
            for record in reply["records"]:
                self.write(record, self.contexts.get(str(record["task_id"])))
                self.last_ts = max(self.last_ts, int(record["ts"]))
                self.printed += 1
            for text in reply.get("notices") or ():
                self.notice(str(text))
            if reply.get("dropped"):
                self.notice(f"{reply['dropped']} lines dropped: this reader did not keep up")
            if reply.get("done"):
                self.sub_id = ""  # complete: the broker drops it itself
                return

    def _subscribe(self, *, first: bool) -> str:
        options = dict(self.options)
        if not first and self.last_ts >= 0:  # from just after the last line printed
            options["since"] = max(int(options["since"]), self.last_ts + 1)
            options["tail"] = -1
        deadline = self.clock() + RESUBSCRIBE_FOR
        body = {"selector": self.selector, "options": options}
        while True:
            try:
                return self._subscribed(body)
            except ConnectionLost as exc:
                raise _node_gone(exc) from None
            except (RemoteError, RequestTimeout, ClientClosed) as exc:
                if isinstance(exc, RemoteError) and exc.code not in GONE_CODES:
                    raise CliError(refusal(exc)) from None
                if self.clock() > deadline:
                    raise CliError(f"no leader took the log subscription: {_reason(exc)}") from None
                self.sleep(RETRY_PAUSE)

    def _subscribed(self, body: Mapping[str, Any]) -> str:
        """One subscribe's id. A reader stopped before it came (Ctrl-C, SIGTERM, SIGHUP)
        takes it if it comes within ``CLOSE_TIMEOUT``, so that ``run`` closes it too."""
        if self.call_async is None:
            return str(self.call("control.logs.subscribe", body, 10.0)["subscription_id"])
        answer = self.call_async("control.logs.subscribe", body, 10.0)
        try:
            return str(answer.result()["subscription_id"])
        except (KeyboardInterrupt, SystemExit):
            with contextlib.suppress(Exception):
                self.sub_id = str(answer.result(CLOSE_TIMEOUT)["subscription_id"])
            raise


def _node_gone(exc: ConnectionLost) -> CliError:
    """The node whose socket the logs come through is gone: no retry can reach another."""
    return CliError(f"the node went away ({exc}): the logs end here")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RemoteError):
        return f"{exc.code}: {exc.message}"
    return str(exc) or type(exc).__name__


def _writer(args: argparse.Namespace, out: IO[bytes], err: IO[bytes]) -> Callable[..., None]:
    fmt = LineFormat(args.timestamps, not args.no_task_ids, not args.no_trunc, args.raw)
    as_json = args.format == "json"

    def write(record: Mapping[str, Any], context: Mapping[str, Any] | None) -> None:
        if as_json:
            out.write(json_line(record, context))
            out.flush()
            return
        stream = err if record["stream"] == "stderr" else out
        stream.write(fmt.line(record, context))
        stream.flush()

    return write


def since_option(text: str | None) -> int:
    """``--since`` as nanoseconds since the epoch (0 without it); exit 2 when invalid."""
    if not text:
        return 0
    try:
        return parse_since(text, time.time_ns())
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from None


def follow_logs(
    connection: ControlConnection,
    selector: dict[str, Any],
    options: dict[str, Any],
    write: Callable[[Mapping[str, Any], Mapping[str, Any] | None], None],
) -> int:
    """Read a subscription to its end (or until interrupted), notices on stderr."""

    def notice(text: str) -> None:
        print(f"swarmctl: {text}", file=sys.stderr, flush=True)

    with connection.watching() as watched, _terminate_as_exit():
        try:
            LogFollower(
                watched.call, selector, options, write, notice, call_async=watched.call_async
            ).run()
        except BrokenPipeError:
            return 0
    return 0


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP (the terminal closed) raise ``SystemExit(128 + signal)``
    meanwhile, so the follower closes its subscription on the way out as it does for
    Ctrl-C (their default action ends the process there and then, leaving the nodes
    reading for it until the idle timeout)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread (a test calling from another)
        return

    def exit_on(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, exit_on) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace, connection: ControlConnection, selector: dict[str, Any]) -> int:
    options = {
        "follow": bool(args.follow),
        "tail": int(args.tail),
        "since": since_option(args.since),
    }
    return follow_logs(
        connection, selector, options, _writer(args, sys.stdout.buffer, sys.stderr.buffer)
    )


def run_service_logs(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    return _run(args, connection, {"services": [args.service]})


def run_task_logs(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    return _run(args, connection, {"tasks": [args.task]})
