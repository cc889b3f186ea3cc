"""Endpoint behaviour in one process: ipc:// sockets, streams, slow and failing handlers."""

from __future__ import annotations

import itertools
import os
import socket
import stat
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from api.errors import ClientClosed, ErrorCode, FrameTooLarge, RemoteError, RequestTimeout
from api.schema.declare import INT, Field, MessageType
from api.schema.registry import register
from tests.integration import transport_server  # noqa: F401  (declares test.echo)
from tests.support.waiting import wait_for
from transport import Client, Endpoint, Handler, InlineHandler, Request, generate_keypair, inline

COUNT = register(MessageType("test.count", (Field("upto", INT),), reply="test.count.item"))
COUNT_ITEM = register(MessageType("test.count.item", (Field("i", INT, required=False),)))


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # ipc paths are limited to about 100 bytes; pytest's tmp_path can be longer
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sn-") as d:
        yield Path(d)


def serve(path: Path, handlers: Mapping[str, Handler], **kwargs: Any) -> tuple[Endpoint, Client]:
    endpoint = Endpoint(f"ipc://{path}", handlers, name="control", **kwargs)
    endpoint.start()
    return endpoint, Client(endpoint.address, timeout=10.0)


def test_ipc_socket_file_is_private_and_serves(short_dir: Path) -> None:
    path = short_dir / "control.sock"
    endpoint, client = serve(path, {"ping": lambda r: {}})
    try:
        assert endpoint.address == f"ipc://{path}"
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert client.request("ping") == {}
    finally:
        client.close()
        endpoint.stop()
        endpoint.stop()  # idempotent


def test_stale_socket_file_is_replaced(short_dir: Path) -> None:
    path = short_dir / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # leaves the file behind, as a crashed node would
    endpoint, client = serve(path, {"ping": lambda r: {}})
    try:
        assert client.request("ping") == {}
    finally:
        client.close()
        endpoint.stop()


def test_a_regular_file_is_not_removed(short_dir: Path) -> None:
    path = short_dir / "notasocket"
    path.write_text("keep me")
    with pytest.raises(FileExistsError):
        Endpoint(f"ipc://{path}", {}).start()
    assert path.read_text() == "keep me"


def test_tcp_requires_a_keypair() -> None:
    with pytest.raises(ValueError, match="CURVE"):
        Endpoint("tcp://127.0.0.1:0", {})
    with pytest.raises(ValueError, match="CURVE"):
        Client("tcp://127.0.0.1:1")


def test_streamed_replies_from_another_thread(short_dir: Path) -> None:
    def count(request: Request) -> None:
        def later() -> None:
            for i in range(request.body["upto"]):
                request.reply({"i": i}, more=True)
            request.reply({})

        threading.Thread(target=later).start()

    endpoint, client = serve(short_dir / "s.sock", {"test.count": count})
    try:
        assert list(client.stream("test.count", {"upto": 50})) == [{"i": i} for i in range(50)] + [
            {}
        ]
        # a plain request on a streaming type gets the final frame
        assert client.request("test.count", {"upto": 3}) == {}
    finally:
        client.close()
        endpoint.stop()


def test_stream_error_and_frame_timeout(short_dir: Path) -> None:
    def count(request: Request) -> None:
        upto = request.body["upto"]
        request.reply({"i": 0}, more=True)
        if upto < 0:
            request.error("bad_count", "negative")
        # upto >= 0: never finishes; the client's per-frame timeout ends the wait

    endpoint, client = serve(short_dir / "e.sock", {"test.count": count})
    try:
        frames = client.stream("test.count", {"upto": -1})
        assert next(frames) == {"i": 0}
        with pytest.raises(RemoteError) as info:
            next(frames)
        assert (info.value.code, info.value.message) == ("bad_count", "negative")
        frames = client.stream("test.count", {"upto": 1}, timeout=0.3)
        assert next(frames) == {"i": 0}
        with pytest.raises(RequestTimeout):
            next(frames)
    finally:
        client.close()
        endpoint.stop()


def test_a_blocked_handler_does_not_stall_others(short_dir: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    def block(request: Request) -> Mapping[str, Any]:
        entered.set()
        release.wait(timeout=30)
        return dict(request.body)

    endpoint, client = serve(short_dir / "b.sock", {"test.echo": block, "ping": lambda r: {}})
    try:
        slow = client.request_async("test.echo", {"n": 1}, timeout=30)
        wait_for(entered.is_set)
        assert [client.request("ping") for _ in range(100)] == [{}] * 100
        assert not slow.done()
        release.set()
        assert slow.result(timeout=10) == {"n": 1}
    finally:
        release.set()
        client.close()
        endpoint.stop()


def test_handler_exception_becomes_internal_error(short_dir: Path) -> None:
    def boom(request: Request) -> Mapping[str, Any]:
        raise RuntimeError("kaboom")

    def bad_reply(request: Request) -> Mapping[str, Any]:
        return {"n": "not an int"}

    endpoint, client = serve(short_dir / "x.sock", {"ping": boom, "test.echo": bad_reply})
    try:
        with pytest.raises(RemoteError) as info:
            client.request("ping")
        assert info.value.code == ErrorCode.INTERNAL
        assert "kaboom" in info.value.message
        with pytest.raises(RemoteError) as invalid:
            client.request("test.echo", {"n": 1})
        assert invalid.value.code == ErrorCode.INTERNAL
        # still serving
        endpoint_still_up = client.request_async("ping")
        with pytest.raises(RemoteError):
            endpoint_still_up.result(timeout=10)
    finally:
        client.close()
        endpoint.stop()


def test_one_way_messages_get_no_reply(short_dir: Path) -> None:
    seen: list[int] = []

    def echo(request: Request) -> Mapping[str, Any]:
        seen.append(request.body["n"])
        return dict(request.body)

    endpoint, client = serve(short_dir / "o.sock", {"test.echo": echo})
    try:
        for n in range(5):
            client.send("test.echo", {"n": n})
        wait_for(lambda: len(seen) == 5)
        assert client.request("test.echo", {"n": 9}) == {"n": 9}  # no stray replies queued
    finally:
        client.close()
        endpoint.stop()


def test_peer_key_is_the_clients_curve_key(short_dir: Path) -> None:
    server_kp, client_kp = generate_keypair(), generate_keypair()
    keys: list[bytes | None] = []

    def who(request: Request) -> Mapping[str, Any]:
        keys.append(request.peer_key)
        return {}

    from transport import AllowList

    endpoint = Endpoint(
        "tcp://127.0.0.1:0",
        {"ping": who},
        keypair=server_kp,
        admission=AllowList([client_kp.public]),
    )
    endpoint.start()
    client = Client(endpoint.address, server_key=server_kp.public, keypair=client_kp)
    try:
        assert client.request("ping") == {}
        assert keys == [client_kp.public]
    finally:
        client.close()
        endpoint.stop()


def test_closed_client_fails_pending_and_new_requests(short_dir: Path) -> None:
    release = threading.Event()
    endpoint, client = serve(
        short_dir / "c.sock", {"ping": lambda r: (release.wait(timeout=30), {})[1]}
    )
    try:
        pending = client.request_async("ping", timeout=30)
        client.close()
        with pytest.raises(ClientClosed):
            pending.result(timeout=10)
        with pytest.raises(ClientClosed):
            client.request("ping")
    finally:
        release.set()
        endpoint.stop()


def test_inline_handlers_run_on_the_io_thread(short_dir: Path) -> None:
    threads: dict[str, list[str]] = {"inline": [], "pooled": []}

    def on_io(request: Request) -> Mapping[str, Any]:
        threads["inline"].append(threading.current_thread().name)
        return dict(request.body)

    def pooled(request: Request) -> Mapping[str, Any]:
        threads["pooled"].append(threading.current_thread().name)
        return {}

    endpoint, client = serve(short_dir / "i.sock", {"test.echo": inline(on_io), "ping": pooled})
    try:
        client.send("test.echo", {"n": 1})  # one way
        assert client.request("test.echo", {"n": 2}) == {"n": 2}
        assert client.request("ping") == {}
        wait_for(lambda: len(threads["inline"]) == 2)
        assert threads["inline"] == ["control-io", "control-io"]
        assert threads["pooled"][0].startswith("control-handler-")
    finally:
        client.close()
        endpoint.stop()


def test_a_failing_inline_handler_is_answered_and_the_socket_keeps_serving(
    short_dir: Path,
) -> None:
    def boom(request: Request) -> Mapping[str, Any]:
        raise RuntimeError("inline kaboom")

    endpoint, client = serve(
        short_dir / "f.sock", {"ping": inline(boom), "test.echo": lambda r: dict(r.body)}
    )
    try:
        with pytest.raises(RemoteError) as info:
            client.request("ping")
        assert info.value.code == ErrorCode.INTERNAL
        assert "inline kaboom" in info.value.message
        assert client.request("test.echo", {"n": 3}) == {"n": 3}
    finally:
        client.close()
        endpoint.stop()


def test_inline_handlers_are_served_while_every_pool_thread_is_blocked(short_dir: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    def block(request: Request) -> Mapping[str, Any]:
        entered.set()
        release.wait(timeout=30)
        return {}

    endpoint, client = serve(
        short_dir / "p.sock",
        {"ping": block, "test.echo": inline(lambda r: dict(r.body))},
        workers=1,
    )
    try:
        slow = client.request_async("ping", timeout=30)
        wait_for(entered.is_set)
        assert [client.request("test.echo", {"n": n}) for n in range(50)] == [
            {"n": n} for n in range(50)
        ]
        assert not slow.done()
        release.set()
        assert slow.result(timeout=10) == {}
    finally:
        release.set()
        client.close()
        endpoint.stop()


def test_an_inline_handlers_after_runs_once_per_batch_before_its_replies(
    short_dir: Path,
) -> None:
    """A batch's requests are only queued by the handler; its ``after`` answers them all."""
    events: list[str] = []
    queued: list[Request] = []

    def queue_it(request: Request) -> None:
        events.append("fn")
        queued.append(request)

    def answer_all() -> None:
        events.append(f"after:{threading.current_thread().name}")
        while queued:
            request = queued.pop(0)
            request.reply(dict(request.body))

    endpoint, client = serve(short_dir / "a.sock", {"test.echo": inline(queue_it, answer_all)})
    try:
        futures = [client.request_async("test.echo", {"n": n}) for n in range(200)]
        assert [f.result(timeout=10) for f in futures] == [{"n": n} for n in range(200)]
        assert events.count("fn") == 200
        afters = [e for e in events if e != "fn"]
        assert set(afters) == {"after:control-io"}
        # once per batch that ran the handler: each after follows at least one fn of its
        # own batch, and the last batch's after comes last
        assert events[0] == "fn" and events[-1] == "after:control-io"
        assert all(a != b or a == "fn" for a, b in itertools.pairwise(events))
    finally:
        client.close()
        endpoint.stop()


def test_a_reply_made_on_the_io_thread_leaves_before_the_batch_ends(short_dir: Path) -> None:
    """An inline handler's reply goes to the socket as it is made, not once the batch's
    ``after`` has returned: a Raft leader answers its writers before it fsyncs the next
    entries in the same round. The ``after`` here answers, then waits for the client to
    have the reply."""
    queued: list[Request] = []
    received = threading.Event()
    seen_in_after: list[bool] = []

    def answer_then_wait() -> None:
        while queued:
            queued.pop(0).reply({"n": 1})
            seen_in_after.append(received.wait(10))

    endpoint, client = serve(
        short_dir / "r.sock", {"test.echo": inline(queued.append, answer_then_wait)}
    )
    try:
        future = client.request_async("test.echo", {"n": 0})
        assert future.result(timeout=10) == {"n": 1}
        received.set()
        wait_for(lambda: seen_in_after, "the after to finish", 15)
        assert seen_in_after == [True]
    finally:
        received.set()
        client.close()
        endpoint.stop()


def test_handlers_sharing_one_after_run_it_once_per_batch(short_dir: Path) -> None:
    """Two message types whose ``after`` is one object's method (each attribute access
    makes a new bound method): a batch holding both runs it once, not once per type."""
    events: list[str] = []
    queued: list[Request] = []

    class Batcher:
        def queue(self, request: Request) -> None:
            events.append("fn")
            queued.append(request)

        def answer_all(self) -> None:
            events.append("after")
            while queued:
                request = queued.pop(0)
                request.reply(dict(request.body))

    batcher = Batcher()
    handlers = {
        "test.echo": inline(batcher.queue, batcher.answer_all),
        "ping": inline(batcher.queue, batcher.answer_all),
    }
    endpoint, client = serve(short_dir / "c.sock", handlers)
    try:
        futures = [
            client.request_async("test.echo", {"n": n}) if n % 2 else client.request_async("ping")
            for n in range(200)
        ]
        replies = [f.result(timeout=10) for f in futures]
        assert replies == [{"n": n} if n % 2 else {} for n in range(200)]
        assert events.count("fn") == 200 and events[-1] == "after"
        assert all(a != b or a == "fn" for a, b in itertools.pairwise(events))
    finally:
        client.close()
        endpoint.stop()


def test_an_inline_after_that_returns_seconds_is_called_again_without_frames(
    short_dir: Path,
) -> None:
    """An ``after`` may ask to be called again (a timer on the I/O thread, as the Raft
    leader's held commit notices are); None ends it."""
    calls: list[int] = []

    def after() -> float | None:
        calls.append(threading.get_ident())
        return 0.005 if len(calls) < 3 else None

    endpoint, client = serve(short_dir / "t.sock", {"ping": inline(lambda r: {}, after)})
    try:
        assert client.request("ping") == {}
        wait_for(lambda: len(calls) >= 3, "the after to be called twice more, by its timer", 10)
        assert len(set(calls)) == 1  # all on the endpoint's I/O thread
        assert client.request("ping") == {}  # a batch calls it (once) whatever its timer
        # after the reply, which leaves as the handler gives it (before the after runs)
        wait_for(lambda: len(calls) >= 4, "the after to be called by the batch", 10)
        assert len(calls) == 4
    finally:
        client.close()
        endpoint.stop()


def test_inline_marks_once() -> None:
    def handler(request: Request) -> None:
        return None

    marked = inline(handler)
    assert isinstance(marked, InlineHandler)
    assert inline(marked) is marked
    assert marked.fn is handler
    calls: list[str] = []
    hooked = inline(marked, lambda: calls.append("after"))
    assert hooked.fn is handler and hooked.after is not None
    hooked(None)  # type: ignore[arg-type]  # a direct call runs the hook at once
    assert calls == ["after"]


@pytest.fixture
def captured_logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event, debug included, while the test runs."""
    import logging

    import structlog
    from structlog.testing import capture_logs

    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as events:
            yield events
    finally:
        structlog.configure(**before)


def test_a_local_client_hanging_up_is_not_a_handshake_failure(
    short_dir: Path, captured_logs: list[dict[str, Any]]
) -> None:
    """What swarmctl does on the control socket: probe it (connect, close before any
    greeting), then connect, ask and hang up. Nothing for the node's log but debug lines."""
    path = short_dir / "control.sock"
    endpoint, client = serve(path, {"ping": lambda r: {}})
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(path))
        probe.close()
        assert client.request("ping") == {}
        client.close()

        def closed() -> int:
            return sum(1 for e in captured_logs if e.get("event") == "transport.peer.closed")

        wait_for(lambda: closed() >= 2, "both hang-ups seen by the monitor", 10.0)
    finally:
        client.close()
        endpoint.stop()
    loud = [
        e["event"]
        for e in captured_logs
        if e.get("subsystem") == "transport" and e.get("log_level") != "debug"
    ]
    assert loud == ["transport.endpoint.started", "transport.endpoint.stopped"]


def test_an_endpoint_takes_requests_up_to_its_request_cap_and_replies_past_it(
    short_dir: Path,
) -> None:
    """The control socket's shape: small requests in (``max_request_size``, ZeroMQ's own
    cap, so a bigger frame is never allocated), big replies out (``max_message_size``). A
    client told the cap refuses a bigger request naming it; a raw peer past it is dropped,
    and the endpoint serves on."""
    cap = 64 * 1024
    path = short_dir / "control.sock"
    endpoint, client = serve(
        path, {"test.echo": lambda r: dict(r.body)}, max_request_size=cap, max_message_size=1 << 20
    )
    capped = Client(endpoint.address, timeout=10.0, max_request_size=cap)
    try:
        text = "x" * (cap - 100)
        assert capped.request("test.echo", {"n": 1, "text": text}) == {"n": 1, "text": text}
        big = "y" * (cap + 1)
        with pytest.raises(FrameTooLarge, match=r"exceeds the limit of 64 KiB on ipc://"):
            capped.request("test.echo", {"n": 2, "text": big})
        # an echo handler answering past the request cap: replies keep the message limit
        endpoint_big, client_big = serve(
            short_dir / "big.sock",
            {"test.echo": lambda r: {"n": 3, "text": big}},
            max_request_size=cap,
            max_message_size=1 << 20,
        )
        try:
            assert client_big.request("test.echo", {"n": 3}) == {"n": 3, "text": big}
        finally:
            client_big.close()
            endpoint_big.stop()
        with pytest.raises(RequestTimeout):  # sent as is: ZeroMQ drops the connection
            client.request("test.echo", {"n": 4, "text": big}, timeout=1.0)
        assert capped.request("test.echo", {"n": 5}) == {"n": 5}
    finally:
        capped.close()
        client.close()
        endpoint.stop()
