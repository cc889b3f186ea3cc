"""The control socket's request cap (api/limits.py) holds what its clients legitimately
send: any one object (a secret's or config's data with its labels), a spec refused past its
own budget by name, and twice the Engine API's largest body (JSON becomes msgpack)."""

from __future__ import annotations

from actors.engine_api.app import MAX_BODY
from api.limits import CONTROL_MAX_REQUEST_BYTES, MAX_FRAME_BYTES, MAX_OBJECT_BYTES, MAX_SPEC_BYTES


def test_the_cap_holds_every_legitimate_control_request() -> None:
    assert CONTROL_MAX_REQUEST_BYTES >= 8 * MAX_OBJECT_BYTES
    assert CONTROL_MAX_REQUEST_BYTES >= 32 * MAX_SPEC_BYTES
    assert CONTROL_MAX_REQUEST_BYTES >= 2 * MAX_BODY
    assert CONTROL_MAX_REQUEST_BYTES < MAX_FRAME_BYTES
