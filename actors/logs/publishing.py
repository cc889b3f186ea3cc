"""One log subscription served by a node: its reads and the batches it publishes.

A ``Publishing`` runs on a thread of its own (started and stopped by the node's
publisher, publisher.py). For a subscription of tasks it scans the node's tasks every
``scan_interval`` (reads.py decides what to open) and runs each read on a reader thread
that puts lines on one bounded queue; a full queue blocks the readers (and so the
executor's stream), never grows. The publishing thread sends what the queue holds as
``logs.publish`` batches of up to ``MAX_BATCH_RECORDS`` records, at least every
``batch_interval``. While the broker's backlog for the subscription (its reader has not
read it yet) is above ``HOLD_BACK``, it sends nothing but an empty batch every
``batch_interval`` to learn the backlog again: a slow reader slows the node's reads
instead of losing lines. It ends when:

- the subscription does not follow and every read has ended: a last batch with
  ``close`` (and notices of reads that failed);
- the broker answers ``stop`` (the subscription is gone), a publish fails, or the
  publisher stops it (the subscription was closed, the listen stream ended).

A subscription of the node's own log reads the node's event ring (``EventSource``) the
same way, as one read.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from actors.log import get_logger
from actors.logs.reads import ReadState, plan_reads
from actors.logs.wire import (
    MAX_PUBLISH_NOTICES,
    MAX_RECORD_BYTES,
    Kind,
    LogRecord,
    PublishBatch,
    SubscriptionMessage,
)
from actors.worker.executors.base import ContainerNotFoundError, ExecutorError
from actors.worker.executors.output import OutputQuery, OutputStream
from api.errors import TransportError
from api.objects import Task
from api.task_state import TaskState

__all__ = ["EventSource", "Publishing", "TaskSource"]

_log = get_logger("logs")
QUEUE_RECORDS: Final = 2000  # lines waiting to be published, per subscription
MAX_BATCH_RECORDS: Final = 500
MAX_BATCH_BYTES: Final = 1024 * 1024
HOLD_BACK: Final = 16 * MAX_BATCH_RECORDS  # records the reader may be behind (of 20000)
_PUBLISH: Final = "logs.publish"


class TaskSource(Protocol):
    """The node's tasks and their output (the worker and its executor)."""

    def tasks(self) -> Sequence[tuple[Task, TaskState]]: ...

    def output(self, task: Task, query: OutputQuery) -> OutputStream: ...


class EventSource(Protocol):
    """The node's own structured log (its event ring)."""

    def events(self, message: SubscriptionMessage) -> Iterator[LogRecord]:
        """The events the subscription asks for; follows until ``close``."""
        ...

    def close_reads(self, message: SubscriptionMessage) -> None: ...


class Publisher(Protocol):
    def request(
        self, message_type: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]: ...


@dataclass(slots=True)
class _Reader:
    task_id: str
    query: OutputQuery
    stream: OutputStream | None = None


class Publishing:
    def __init__(
        self,
        message: SubscriptionMessage,
        *,
        node_id: str,
        client: Publisher,
        tasks: TaskSource,
        events: EventSource | None = None,
        on_end: Callable[[str], None] = lambda _sub: None,
        scan_interval: float = 0.5,
        batch_interval: float = 0.05,
        request_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.message = message
        self._node_id = node_id
        self._client = client
        self._tasks = tasks
        self._events = events
        self._on_end = on_end
        self._scan_interval = scan_interval
        self._batch_interval = batch_interval
        self._timeout = request_timeout
        self._clock = clock
        # the lines the readers have read and the publishing thread not sent yet: appends and
        # pops are atomic; the events only wake a side that waits (cheaper than a Queue's
        # locks per line, the hot path of a busy task's output)
        self._lines: collections.deque[LogRecord] = collections.deque()
        self._ready = threading.Event()  # lines are waiting
        self._room = threading.Event()  # fewer than QUEUE_RECORDS are waiting
        self._room.set()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._reads: dict[str, ReadState] = {}
        self._readers: dict[str, _Reader] = {}
        self._notices: list[str] = []
        self._backlog = 0
        self._thread = threading.Thread(
            target=self._run, name=f"logs-pub-{message.id[:8]}", daemon=True
        )

    @property
    def id(self) -> str:
        return self.message.id

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End soon (from any thread); the thread closes its reads."""
        self._stopped.set()
        with self._lock:
            readers = list(self._readers.values())
        for reader in readers:
            if reader.stream is not None:
                reader.stream.close()
        if self._events is not None and self.message.kind is Kind.NODE:
            self._events.close_reads(self.message)

    def join(self, timeout: float) -> None:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # --- the publishing thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            if self.message.kind is Kind.NODE:
                with self._lock:
                    self._reads[""] = ReadState(reading=True)
                self._start_thread("events", self._read_events)
            self._loop()
        except TransportError as exc:
            _log.info("logs.publish.ended", subscription_id=self.id, reason=str(exc)[:200])
        except Exception as exc:  # a bug: logged, the subscription ends; the node goes on
            _log.exception("logs.publish.failed", subscription_id=self.id, error=repr(exc))
        finally:
            self.stop()
            self._on_end(self.id)

    def _loop(self) -> None:
        next_scan = 0.0
        clock = self._clock
        while not self._stopped.is_set():
            finished = False
            if self.message.kind is Kind.TASKS and clock() >= next_scan:
                finished = self._scan()
                next_scan = clock() + self._scan_interval
            elif self.message.kind is Kind.NODE:
                with self._lock:
                    finished = not self.message.options.follow and all(
                        r.done for r in self._reads.values()
                    )
            if self._backlog > HOLD_BACK:
                self._stopped.wait(self._batch_interval)
                if self._publish([], close=False):
                    return
                continue
            records = self._take()
            if finished and not self._lines:
                self._publish(records, close=True)
                return
            if records and self._publish(records, close=False):
                return

    def _scan(self) -> bool:
        """Open the reads the plan asks for; True when nothing more will be read."""
        held = self._tasks.tasks()
        with self._lock:
            scan = plan_reads(self.message, held, self._reads)
            for task, query in scan.opens:
                state = self._reads.setdefault(task.id, ReadState())
                state.reading = True
                self._readers[task.id] = _Reader(task.id, query)
        for task, query in scan.opens:
            self._start_thread(task.id, functools.partial(self._read_task, task, query))
        return scan.finished

    def _take(self) -> list[LogRecord]:
        """Waiting lines, up to a batch: waits up to the batch interval for the first."""
        lines = self._lines
        if not lines:
            self._ready.clear()
            if not lines:  # a reader may have appended before the clear
                self._ready.wait(self._batch_interval)
        records: list[LogRecord] = []
        size = 0
        while lines and len(records) < MAX_BATCH_RECORDS and size < MAX_BATCH_BYTES:
            record = lines.popleft()
            records.append(record)
            size += record.size
        if records and not self._room.is_set():
            self._room.set()
        return records

    def _publish(self, records: list[LogRecord], *, close: bool) -> bool:
        """Send one batch; True when the broker says stop."""
        with self._lock:
            notices, self._notices = self._notices[:MAX_PUBLISH_NOTICES], []
        batch = PublishBatch(self.id, tuple(records), close=close, notices=tuple(notices))
        reply = self._client.request(_PUBLISH, batch.encode(self._node_id), self._timeout)
        if reply.get("refused"):
            _log.warning("logs.publish.refused", subscription_id=self.id, refused=reply["refused"])
        self._backlog = int(reply.get("backlog") or 0)
        return bool(reply.get("stop"))

    # --- readers -------------------------------------------------------------------------

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        threading.Thread(target=target, name=f"logs-read-{name[:8]}", daemon=True).start()

    def _put(self, record: LogRecord) -> bool:
        """Queue one record, waiting while QUEUE_RECORDS wait already; False once stopped."""
        lines = self._lines
        while len(lines) >= QUEUE_RECORDS:
            if self._stopped.is_set():
                return False
            self._room.clear()
            if len(lines) >= QUEUE_RECORDS:  # the publisher may have taken some meanwhile
                self._room.wait(0.2)
        if self._stopped.is_set():
            return False
        lines.append(record)
        if not self._ready.is_set():
            self._ready.set()
        return True

    def _read_task(self, task: Task, query: OutputQuery) -> None:
        last = -1
        try:
            stream = self._tasks.output(task, query)
            with self._lock:
                reader = self._readers.get(task.id)
                if reader is not None:
                    reader.stream = stream
            if self._stopped.is_set():
                stream.close()
            for line in stream:
                data = line.data[:MAX_RECORD_BYTES]
                if not self._put(LogRecord(task.id, line.ts, line.stream, data)):
                    break
                last = line.ts
        except ContainerNotFoundError:
            pass  # not created yet, or removed: a follow looks again at the next scan
        except ExecutorError as exc:
            self._notice(f"task {task.id}: its output could not be read: {exc}")
        except Exception as exc:
            _log.warning("logs.read.failed", task_id=task.id, error=repr(exc)[:200])
            self._notice(f"task {task.id}: its output could not be read")
        finally:
            with self._lock:
                state = self._reads.setdefault(task.id, ReadState())
                state.reading = False
                state.done = not query.follow
                if last >= 0:
                    state.last_ts = max(state.last_ts, last)
                self._readers.pop(task.id, None)

    def _read_events(self) -> None:
        events = self._events
        try:
            if events is None:
                self._notice("this node keeps no log events")
                return
            for record in events.events(self.message):
                if not self._put(record):
                    break
        finally:
            with self._lock:
                self._reads[""] = ReadState(done=True)

    def _notice(self, text: str) -> None:
        with self._lock:
            self._notices.append(text)
