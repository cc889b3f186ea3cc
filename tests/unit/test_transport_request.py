"""What a handler is given (transport/request.py): a request's replies go out through the
endpoint's outbox, one final reply each, none for a one-way message; and the handler kinds
(inline, checked) called directly, as handlers call each other."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from api.errors import CodecError
from api.schema.frame import Envelope
from transport.codec import decode
from transport.outbox import Outbox
from transport.request import CheckedHandler, InlineHandler, Request, checked, inline

PEER = b"peer-identity"


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    box = Outbox()
    yield box
    box.close()


def request(outbox: Outbox, rid: int = 7, message_type: str = "ping") -> Request:
    envelope = Envelope(message_type, rid, {})
    return Request(envelope, None, PEER, outbox, endpoint="test", max_size=1 << 20)


def sent(outbox: Outbox) -> list[Sequence[bytes]]:
    return outbox.take(100)


def test_a_reply_goes_to_the_peer_and_only_one_final_reply_is_sent(outbox: Outbox) -> None:
    req = request(outbox)
    req.reply({})
    req.reply({})  # after the final one: dropped (and logged)
    req.error("internal", "too late")
    frames = sent(outbox)
    assert len(frames) == 1
    identity, frame = frames[0]
    assert identity == PEER
    reply = decode(frame)
    assert (reply.type, reply.id, reply.more) == ("pong", 7, False)
    assert req.answered


def test_streamed_frames_come_before_the_final_one(outbox: Outbox) -> None:
    req = request(outbox)
    req.reply({}, more=True)
    assert not req.answered
    req.error("internal", "failed midway")
    replies = [decode(frame) for _, frame in sent(outbox)]
    assert [(r.type, r.more) for r in replies] == [("pong", True), ("error", False)]
    assert replies[1].body["message"] == "failed midway"


def test_a_one_way_request_gets_no_reply_but_may_be_told(outbox: Outbox) -> None:
    req = request(outbox, rid=0)
    req.reply({})
    req.error("internal", "nobody hears this")
    assert sent(outbox) == []
    req.tell_sender("ping", {})
    [(identity, frame)] = sent(outbox)
    assert identity == PEER and decode(frame).id == 0


def test_a_reply_to_a_type_that_declares_none_is_refused(outbox: Outbox) -> None:
    with pytest.raises(CodecError, match="declares no reply type"):
        request(outbox, message_type="pong").reply({})
    assert sent(outbox) == []


def test_an_inline_handler_called_directly_runs_its_after_at_once(outbox: Outbox) -> None:
    calls: list[str] = []

    def handle(_: Request) -> Mapping[str, Any]:
        calls.append("handler")
        return {}

    def after() -> float | None:
        calls.append("after")
        return None

    marked = inline(handle, after=after)
    assert isinstance(marked, InlineHandler)
    assert marked(request(outbox)) == {}
    assert calls == ["handler", "after"]
    # marking again keeps the function; a new after replaces the old one
    assert inline(marked) is marked
    assert inline(marked, after=lambda: None).fn is handle


def test_a_checked_handler_runs_only_when_its_check_passes(outbox: Outbox) -> None:
    allowed = {"ok": True}
    guarded = checked(lambda _: allowed["ok"], lambda _: {"ran": True})
    assert isinstance(guarded, CheckedHandler)
    assert guarded(request(outbox)) == {"ran": True}
    allowed["ok"] = False
    assert guarded(request(outbox)) is None
