"""The Engine API on a manager that knows no Raft leader answers as dockerd does: cluster
reads refused 500 with SwarmKit's words behind gRPC's prefix, ``/info`` still served from
the node's own identity (actors/engine_api/errors.py, system.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, cast

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from actors.control.readiness import NO_LEADER_MESSAGE
from actors.engine_api import system
from actors.engine_api.app import ENGINE, Engine
from actors.engine_api.control import ControlCaller
from actors.engine_api.errors import EngineError
from actors.http import HttpServer

NODE_ID = "n" * 25
DOCKERD_SAYS = (
    "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that "
    "too few managers are online. Make sure more than half of the managers are online."
)


def test_a_no_leader_refusal_is_dockerds_500_and_words() -> None:
    err = EngineError.of_control("no_leader", NO_LEADER_MESSAGE)
    assert (err.status, err.body()) == (500, {"message": DOCKERD_SAYS})
    assert err.code == "no_leader"
    # the other refusals keep their status and words
    assert EngineError.of_control("unavailable", "still starting").body() == {
        "message": "still starting"
    }
    assert EngineError.of_control("unavailable", "x").status == 503


class LeaderlessControl:
    """The control API of a manager without a leader: ``version`` only."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def call(self, type_: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.calls.append(type_)
        if type_ == "version":
            return {"node_id": NODE_ID, "role": "manager", "version": "1.0"}
        raise EngineError.of_control("no_leader", NO_LEADER_MESSAGE)

    async def listing(
        self, type_: str, body: Mapping[str, Any], rows_key: str = "tasks"
    ) -> dict[str, Any]:
        return await self.call(type_, body)


def test_info_without_a_leader_shows_the_nodes_own_view_and_dockerds_error() -> None:
    control = LeaderlessControl()
    app = web.Application()
    app[ENGINE] = Engine(cast(ControlCaller, control), cast(HttpServer, None))

    async def ask() -> web.Response:
        request = make_mocked_request("GET", "/info", app=app)
        return cast(web.Response, await system.info(request))

    response = asyncio.run(ask())
    assert response.status == 200
    swarm = json.loads(cast(bytes, response.body))["Swarm"]
    assert swarm["NodeID"] == NODE_ID and swarm["ControlAvailable"] is True
    assert swarm["Error"] == DOCKERD_SAYS
    # as dockerd's: no node counts and no cluster, rather than stale ones
    assert "Nodes" not in swarm and "Managers" not in swarm and "Cluster" not in swarm
    assert "control.node.inspect" not in control.calls
