"""A task's log tail for the page's log panel.

- `ControlLogTail` reads it as ``swarmctl task logs --tail N`` does: through the control
  API's log calls (``control.logs.subscribe``, then ``control.logs.read`` until the broker
  says ``done``), so any manager serves it (a follower relays to the leader's broker) and
  the same rules apply. ``call`` is that API, given by the shell (actors/web/child.py); the
  reading here is pure. A tail is bounded in lines, in bytes per line, in time
  (``deadline``: what came by then is shown, with a notice) and in number at once
  (``max_at_once``: each holds a thread of the server's pool while it reads).
- When the log calls fail (no leader, a broker that does not answer) the answer says so
  (``available`` false, the reason in ``message``) rather than showing an empty log as if
  the task printed nothing.

The answer: ``{"available": bool, "lines": [{"ts", "stream", "line"}], "notices": [...],
"message": str}`` (``ts`` in nanoseconds since the epoch).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from api.errors import ClientClosed, RemoteError, RequestTimeout

__all__ = ["Call", "ControlLogTail", "read_tail"]

READ_WAIT: Final = 2.0  # seconds one read may wait at the broker
CALL_MARGIN: Final = 5.0  # seconds a call may take beyond its own wait
DEADLINE: Final = 10.0
MAX_LINE: Final = 4096  # characters of one line shown

Call = Callable[[str, Mapping[str, Any], float], dict[str, Any]]
Clock = Callable[[], float]


class _Slots(Protocol):
    def acquire(self, blocking: bool = ...) -> bool: ...
    def release(self) -> None: ...


def _unavailable(message: str) -> dict[str, Any]:
    return {"available": False, "lines": [], "notices": [], "message": message}


def read_tail(
    call: Call, task_id: str, lines: int, *, clock: Clock, deadline: float
) -> dict[str, Any]:
    """The last ``lines`` lines of the task's output, read until the broker is done or the
    clock passes ``deadline`` (an absolute time of ``clock``)."""
    options = {"follow": False, "tail": lines, "since": 0}
    reply = call(
        "control.logs.subscribe", {"selector": {"tasks": [task_id]}, "options": options}, 10.0
    )
    sub_id = str(reply["subscription_id"])
    kept: deque[dict[str, Any]] = deque(maxlen=lines)
    notices: list[str] = []
    after = 0
    while True:
        left = deadline - clock()
        if left <= 0:
            notices.append("the log did not end in time: these are the lines that came")
            break
        wait = min(READ_WAIT, left)
        reply = call(
            "control.logs.read",
            {"subscription_id": sub_id, "after": after, "wait": wait},
            wait + CALL_MARGIN,
        )
        after = int(reply["seq"])
        for record in reply["records"]:
            text = bytes(record["data"]).decode("utf-8", "replace").rstrip("\n")
            kept.append(
                {"ts": int(record["ts"]), "stream": str(record["stream"]), "line": text[:MAX_LINE]}
            )
        notices.extend(str(n) for n in reply.get("notices") or ())
        if reply.get("dropped"):
            notices.append(f"{reply['dropped']} lines dropped on the way")
        if reply.get("done"):
            break
    return {"available": True, "lines": list(kept), "notices": notices, "message": ""}


class ControlLogTail:
    def __init__(
        self,
        connect: Callable[[], contextlib.AbstractContextManager[Call]],
        slots: _Slots,
        *,
        clock: Clock,
        timeout: float = DEADLINE,
    ) -> None:
        self._connect = connect
        self._slots = slots
        self._clock = clock
        self._timeout = timeout

    def tail(self, task_id: str, lines: int) -> dict[str, Any]:
        if not self._slots.acquire(False):
            return _unavailable("too many log tails are being read at once; try again")
        try:
            with self._connect() as call:
                deadline = self._clock() + self._timeout
                return read_tail(call, task_id, lines, clock=self._clock, deadline=deadline)
        except RemoteError as exc:
            return _unavailable(f"{exc.code}: {exc.message}")
        except (RequestTimeout, ClientClosed) as exc:
            return _unavailable(f"the manager did not answer the log read: {exc}")
        finally:
            self._slots.release()
